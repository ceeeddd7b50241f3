/*
 * mail_msg.c: the message context and the decision at end of message
 * (see mail_msg.h): the direction, then mail_outbound.c or mail_inbound.c.
 * What a failure class answers is decided in mail_msg_fail(), the one
 * table of SMTP replies.
 */
#include "mail/mail_msg.h"
#include "ops/ops_metrics.h"
#include "directory/dir_lookup.h"
#include "mail/mail_inbound.h"
#include "ops/ops_log.h"
#include "mail/mail_outbound.h"
#include "mail/mail_policy.h"
#include "mail/mail_queue.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <gmime/gmime.h>

mail_msg_t *
mail_msg_new(conf_t *conf, keystore_t *ks)
{
	mail_msg_t *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->conf = conf_ref(conf);
	m->keystore = ks;
	strcpy(m->qid, "NOQUEUE");
	/* The harvest store is the lookup's (issue 3): what inbound stores,
	 * outbound encryption reads first. */
	if (conf->harvest && conf->lookup != NULL &&
	    (m->harvest = dir_lookup_harvest(conf->lookup)) != NULL)
		m->harvest_put = dir_harvest_put_pref;
	m->body = mail_spool_new(conf->spool_dir, (size_t)conf->spool_memory,
	    conf->max_message_size);
	if (m->body == NULL) {
		mail_msg_free(m);
		return NULL;
	}
	return m;
}

static void
result_clear(mail_result_t *r)
{
	for (size_t i = 0; i < r->nadd; i++) {
		free(r->add_name[i]);
		free(r->add_value[i]);
	}
	free(r->add_name);
	free(r->add_value);
	for (size_t i = 0; i < r->nstrip; i++)
		free(r->strip[i]);
	for (size_t i = 0; i < r->nset; i++) {
		free(r->set_name[i]);
		free(r->set_value[i]);
	}
	mail_spool_free(r->new_body);
	mail_policy_free(r->policy);
	mail_queue_split_free(r->split);
	memset(r, 0, sizeof(*r));
}

void
mail_msg_free(mail_msg_t *m)
{
	if (m == NULL)
		return;
	result_clear(&m->result);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	for (size_t i = 0; i < m->nhdrs; i++) {
		free(m->hdrs[i].name);
		free(m->hdrs[i].value);
	}
	free(m->hdrs);
	mail_spool_free(m->body);
	free(m->auth);
	free(m->sender);
	conf_unref(m->conf);
	free(m);
}

char *
mail_msg_unbracket(const char *path)
{
	const char *p = path, *end;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		p++;
		end = strchr(p, '>');
		if (end == NULL)
			end = p + strlen(p);
	} else {
		end = p + strcspn(p, " ");
	}
	return strndup(p, (size_t)(end - p));
}

int
mail_msg_set_sender(mail_msg_t *m, const char *sender)
{
	free(m->sender);
	m->sender = mail_msg_unbracket(sender);
	return m->sender ? 0 : -1;
}

int
mail_msg_add_rcpt(mail_msg_t *m, const char *rcpt)
{
	char *r;

	if ((long long)m->nrcpts >= m->conf->max_recipients)
		return 1;
	if (m->nrcpts == m->rcap) {
		size_t cap = m->rcap ? m->rcap * 2 : 8;
		char **p = realloc(m->rcpts, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		m->rcpts = p;
		m->rcap = cap;
	}
	if ((r = mail_msg_unbracket(rcpt)) == NULL)
		return -1;
	m->rcpts[m->nrcpts++] = r;
	return 0;
}

int
mail_msg_add_header(mail_msg_t *m, const char *name, const char *value)
{
	mail_hdr_t *h;
	long long len = (long long)(strlen(name) + strlen(value) + 3);

	if (m->too_big)
		return -1;
	m->hdr_octets += len;
	if (m->hdr_octets > m->conf->max_message_size) {
		m->too_big = 1;
		return -1;
	}
	if (len > m->conf->max_header_length || (long long)m->nhdrs >= m->conf->max_headers) {
		m->too_big = 1;
		m->over_limit = len > m->conf->max_header_length ? MAIL_LIMIT_HEADER_LENGTH
		    : MAIL_LIMIT_HEADERS;
		return -1;
	}
	if (m->nhdrs == m->hcap) {
		size_t cap = m->hcap ? m->hcap * 2 : 32;
		h = realloc(m->hdrs, cap * sizeof(*h));
		if (h == NULL)
			return -1;
		m->hdrs = h;
		m->hcap = cap;
	}
	h = &m->hdrs[m->nhdrs];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return -1;
	}
	m->nhdrs++;
	return 0;
}

int
mail_msg_add_body(mail_msg_t *m, const void *buf, size_t len)
{
	int rc;

	if (m->too_big)
		return -1;
	/* MaximumMessageSize counts the header block and the body together. */
	if ((long long)len > m->conf->max_message_size - m->hdr_octets -
	    mail_spool_size(m->body)) {
		m->too_big = 1;
		return -1;
	}
	rc = mail_spool_write(m->body, buf, len);
	if (rc == MAIL_SPOOL_TOOBIG)
		m->too_big = 1;
	return rc == MAIL_SPOOL_OK ? 0 : -1;
}

int
mail_msg_is_content_header(const char *name)
{
	return strncasecmp(name, "Content-", 8) == 0 ||
	    strcasecmp(name, "MIME-Version") == 0;
}

const char *
mail_msg_header(const mail_msg_t *m, const char *name)
{
	for (size_t i = 0; i < m->nhdrs; i++) {
		if (strcasecmp(m->hdrs[i].name, name) == 0)
			return m->hdrs[i].value;
	}
	return NULL;
}

char *
mail_msg_content_headers(const mail_msg_t *m)
{
	size_t len = 1, off = 0;
	char *s;

	for (size_t i = 0; i < m->nhdrs; i++)
		if (strncasecmp(m->hdrs[i].name, "Content-", 8) == 0)
			len += strlen(m->hdrs[i].name) + strlen(m->hdrs[i].value) + 3;
	if ((s = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < m->nhdrs; i++)
		if (strncasecmp(m->hdrs[i].name, "Content-", 8) == 0)
			off += (size_t)sprintf(s + off, "%s: %s\n", m->hdrs[i].name,
			    m->hdrs[i].value);
	s[off] = '\0';
	return s;
}

char *
mail_msg_from_address(const mail_msg_t *m)
{
	const char *value = mail_msg_header(m, "From");
	InternetAddressList *list;
	char *addr = NULL;

	if (value == NULL || (list = internet_address_list_parse(NULL, value)) == NULL)
		return NULL;
	if (internet_address_list_length(list) == 1) {
		InternetAddress *ia = internet_address_list_get_address(list, 0);

		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			addr = strdup(internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(ia)));
	}
	g_object_unref(list);
	return addr;
}

int
mail_result_strip(mail_result_t *r, const char *name)
{
	if (mail_result_strips(r, name))
		return 0;
	if (r->nstrip == MAIL_RESULT_HDRS || (r->strip[r->nstrip] = strdup(name)) == NULL)
		return -1;
	r->nstrip++;
	return 0;
}

int
mail_result_set(mail_result_t *r, const char *name, const char *value)
{
	if (r->nset == MAIL_RESULT_HDRS)
		return -1;
	r->set_name[r->nset] = strdup(name);
	r->set_value[r->nset] = strdup(value);
	if (r->set_name[r->nset] == NULL || r->set_value[r->nset] == NULL) {
		free(r->set_name[r->nset]);
		free(r->set_value[r->nset]);
		return -1;
	}
	r->nset++;
	return 0;
}

int
mail_result_strips(const mail_result_t *r, const char *name)
{
	for (size_t i = 0; i < r->nstrip; i++)
		if (strcasecmp(r->strip[i], name) == 0)
			return 1;
	return 0;
}

const char *
mail_addr_domain(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;

	return at ? at + 1 : NULL;
}

/*
 * Outbound: a local sender from a client the gateway trusts to sign for
 * (a login, InternalHosts: as before, whatever the recipients), or mail
 * that leaves: a local (or the null) sender and some recipient outside
 * LocalDomains, whoever the client is.  The client's trust decides
 * whether the gateway may sign (mail_outbound.c), never whether the
 * policy's encryption applies: mail that the MTA lets leave from a client
 * the gateway does not trust (a host of its mynetworks not in
 * InternalHosts, a sendmail(1) submission) is encrypted as the policy
 * says and never signed.  Such mail for local recipients only stays
 * inbound.
 */
static int
is_outbound(const mail_msg_t *m)
{
	const conf_t *c = m->conf;
	int trusted = m->auth != NULL || m->client_internal;

	if (m->from_spool)
		return 1;               /* held as outbound mail */
	if (m->sender != NULL && m->sender[0] != '\0') {
		if (!conf_is_local_domain(c, mail_addr_domain(m->sender)))
			return 0;
		if (trusted)
			return 1;
	}
	/* The null sender (a bounce, an auto-reply), or a local sender
	 * from an untrusted client: outbound when it leaves, so that the
	 * policy says whether it must be encrypted (the null sender is
	 * never signed, nor is mail of an untrusted client:
	 * mail_outbound.c). */
	if (c->local_domains == NULL || c->local_domains[0] == NULL)
		return 0;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (!conf_is_local_domain(c, mail_addr_domain(m->rcpts[i])))
			return 1;
	return 0;
}

void
mail_msg_pass(mail_msg_t *m, const char *action, const char *fmt, ...)
{
	mail_result_t *r = &m->result;
	va_list ap;

	r->what = MAIL_DO_PASS;
	r->action = action;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

/*
 * The failure classes and their SMTP answers: the one table.  Internal
 * errors answer as OnInternalError says; the reason goes to the log only,
 * never to the client.
 */
/* The reply to a policy refusal names who and why (issue 6b: every
 * recipient refused), on one line of printable ASCII without '%'. */
static void
policy_reply(mail_result_t *r, const char *reason)
{
	size_t k;

	if (strncmp(reason, "policy: ", 8) == 0)
		reason += 8;
	k = (size_t)snprintf(r->reply, sizeof(r->reply), "Delivery refused by policy: ");
	for (; *reason != '\0' && k + 1 < sizeof(r->reply); reason++)
		r->reply[k++] = *reason >= 0x20 && *reason < 0x7f && *reason != '%' ? *reason : ' ';
	r->reply[k] = '\0';
}

/* OnInternalError accept delivers the message as it came: never outbound
 * mail that a rule wants encrypted (encrypt=always), nor when that cannot
 * be told.  Such mail is tempfailed instead. */
static int
accept_unsafe(mail_msg_t *m)
{
	return is_outbound(m) && mail_policy_must_encrypt(m) != 0;
}

void
mail_msg_fail(mail_msg_t *m, enum mail_fail cls, const char *reason)
{
	mail_result_t *r = &m->result;
	int on = cls == MAIL_FAIL_INTERNAL ? m->conf->on_internal_error : CONF_ON_REJECT;
	static const char *const cls_names[] = {
		[MAIL_FAIL_INTERNAL] = "internal", [MAIL_FAIL_TOOBIG] = "toobig",
		[MAIL_FAIL_UNAUTHORIZED] = "unauthorized", [MAIL_FAIL_POLICY] = "policy",
		[MAIL_FAIL_LIMIT] = "limit",
	};
	_Static_assert(sizeof(cls_names) / sizeof(cls_names[0]) == MAIL_FAIL_LIMIT + 1,
	    "a metrics name for every failure class");

	ops_metrics_error((size_t)cls < sizeof(cls_names) / sizeof(cls_names[0])
	    ? cls_names[cls] : "other");
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	switch (on) {
	case CONF_ON_ACCEPT:
		if (accept_unsafe(m)) {
			char why[sizeof(r->reason)];

			snprintf(why, sizeof(why), "%.300s; not accepted in clear "
			    "(OnInternalError accept): a recipient's rules say "
			    "encrypt=always", reason);
			mail_msg_tempfail(m, why);
			return;
		}
		r->what = MAIL_DO_PASS;
		r->action = "unsigned";
		return;
	case CONF_ON_TEMPFAIL:
		mail_msg_tempfail(m, reason);
		return;
	}
	r->what = MAIL_DO_REJECT;
	r->action = "rejected";
	switch (cls) {
	case MAIL_FAIL_TOOBIG:
		r->rcode = "552";
		r->xcode = "5.3.4";
		snprintf(r->reply, sizeof(r->reply), "Message size exceeds fixed limit");
		break;
	case MAIL_FAIL_LIMIT:
		switch (m->over_limit) {
		case MAIL_LIMIT_HEADER_LENGTH:
			r->rcode = "552";
			r->xcode = "5.3.4";
			snprintf(r->reply, sizeof(r->reply), "Message header field exceeds fixed "
			    "limit of %lld octets", m->conf->max_header_length);
			break;
		case MAIL_LIMIT_HEADERS:
			r->rcode = "552";
			r->xcode = "5.3.4";
			snprintf(r->reply, sizeof(r->reply), "Too many message header fields "
			    "(limit %lld)", m->conf->max_headers);
			break;
		default:
			r->rcode = "554";
			r->xcode = "5.6.0";
			snprintf(r->reply, sizeof(r->reply), "MIME structure too complex "
			    "(limits: %lld parts, %lld levels)", m->conf->max_mime_parts,
			    m->conf->max_mime_depth);
			break;
		}
		break;
	case MAIL_FAIL_UNAUTHORIZED:
		r->rcode = "550";
		r->xcode = "5.7.1";
		snprintf(r->reply, sizeof(r->reply), "Not authorized to send as this sender");
		break;
	case MAIL_FAIL_POLICY:
		r->rcode = "550";
		r->xcode = "5.7.1";
		policy_reply(r, reason);
		break;
	default:
		r->rcode = "550";
		r->xcode = "5.3.0";
		snprintf(r->reply, sizeof(r->reply), "Gateway failure");
		break;
	}
}

void
mail_msg_tempfail(mail_msg_t *m, const char *reason)
{
	mail_result_t *r = &m->result;

	mail_spool_free(r->new_body);
	r->new_body = NULL;
	mail_queue_cancel(m);       /* issue 6b: copies already written go */
	r->signer[0] = '\0';
	r->what = MAIL_DO_TEMPFAIL;
	r->action = "tempfail";
	r->rcode = "451";
	r->xcode = "4.3.0";
	snprintf(r->reply, sizeof(r->reply), "Temporary gateway failure, try again later");
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

const mail_result_t *
mail_msg_process(mail_msg_t *m)
{
	mail_result_t *r = &m->result;

	result_clear(r);
	r->direction = is_outbound(m) ? "outbound" : "inbound";
	if (m->too_big && m->over_limit == MAIL_LIMIT_HEADER_LENGTH)
		mail_msg_fail(m, MAIL_FAIL_LIMIT, "header field too long (MaximumHeaderLength)");
	else if (m->too_big && m->over_limit == MAIL_LIMIT_HEADERS)
		mail_msg_fail(m, MAIL_FAIL_LIMIT, "too many header fields (MaximumHeaders)");
	else if (m->too_big)
		mail_msg_fail(m, MAIL_FAIL_TOOBIG, "message too large (MaximumMessageSize)");
	else if (mail_queue_mark(m))
		;                       /* issue 6b: our own copy, re-injected */
	else if (strcmp(r->direction, "outbound") == 0) {
		/* Who may sign is known before any hold, split or spool
		 * decision, so that no copy is made for a refused submitter
		 * and each copy is decided for the submitter it came with. */
		if (mail_outbound_signer(m) == 0 && mail_queue_split(m) == 0) {
			mail_outbound_process(m);
			mail_queue_respool(m);  /* issue 6b: held in our spool */
		}
	} else
		mail_inbound_process(m);
	/* Our result header is ours alone, whichever way the mail goes: a
	 * message held in the MTA (released later without us) included. */
	if ((r->what == MAIL_DO_PASS || r->what == MAIL_DO_REPLACE || r->what == MAIL_DO_HOLD)
	    && !mail_result_strips(r, m->conf->result_header)
	    && mail_result_strip(r, m->conf->result_header) != 0)
		mail_msg_tempfail(m, "out of memory");
	if (!m->defer_commit)
		mail_queue_commit(m);   /* issue 6b: copies durable before the answer */
	return r;
}

void
mail_msg_log(const mail_msg_t *m)
{
	const mail_result_t *r = &m->result;
	char to[1024];
	size_t off = 0;

	to[0] = '\0';
	for (size_t i = 0; i < m->nrcpts && off < sizeof(to); i++)
		off += (size_t)snprintf(to + off, sizeof(to) - off, "%s<%s>",
		    i ? "," : "", m->rcpts[i]);
	ops_log(r->what == MAIL_DO_TEMPFAIL ? LOG_WARNING : LOG_INFO, m->qid,
	    "from=<%s>, to=%s, direction=%s, action=%s%s%s%s%s%s",
	    m->sender ? m->sender : "", to, r->direction ? r->direction : "none",
	    r->action ? r->action : "none",
	    r->signer[0] ? ", signer=<" : "", r->signer, r->signer[0] ? ">" : "",
	    r->reason[0] ? ", reason=" : "", r->reason);
	mail_policy_log(m);
}

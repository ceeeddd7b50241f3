/*
 * mail_msg.c: the message context and its result, as data (see
 * mail_msg.h): collecting, accessors, the result's setters and frees.
 * What a failure class answers is decided in mail_msg_fail(), the one
 * table of SMTP replies.  Nothing here calls a stage of the pipeline.
 */
#include "mail/mail_msg.h"
#include "ops/ops_metrics.h"
#include "directory/dir_lookup.h"
#include "ops/ops_log.h"
#include "smime/smime.h"

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
	/* The harvest store is the lookup's: what inbound stores,
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

void
mail_result_policy_free(mail_policy_res_t *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; p->certs != NULL && i < p->res.n; i++)
		X509_free(p->certs[i]);
	free(p->certs);
	free(p->gcm);
	policy_result_clear(&p->res);
	policy_unref(p->policy);
	free(p->forms);
	free(p->group);
	free(p);
}

void
mail_result_split_free(mail_split_t *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->ndel; i++)
		free(s->del[i]);
	free(s->del);
	for (size_t i = 0; i < s->nc; i++) {
		if (s->c[i].kind == MAIL_COPY_NOTICE)
			for (size_t j = 0; j < s->c[i].n; j++)
				free(s->c[i].rcpts[j]);
		free(s->c[i].rcpts);    /* else the strings are in del or m */
		free(s->c[i].data);
		mail_msg_free(s->c[i].sub);
	}
	free(s->c);
	free(s->group);
	free(s);
}

void
mail_result_clear(mail_result_t *r)
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
	mail_result_policy_free(r->policy);
	mail_result_policy_free(r->plan);
	free(r->group);
	mail_result_split_free(r->split);
	memset(r, 0, sizeof(*r));
}

void
mail_msg_free(mail_msg_t *m)
{
	if (m == NULL)
		return;
	mail_result_clear(&m->result);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	for (size_t i = 0; i < m->nhdrs; i++) {
		free(m->hdrs[i].name);
		free(m->hdrs[i].value);
	}
	free(m->hdrs);
	for (size_t i = 0; i < m->nmemo; i++) {
		free(m->memo[i].addr);
		X509_free(m->memo[i].cert);
	}
	free(m->memo);
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

/*
 * Outbound: a local sender from a client the gateway trusts to sign for
 * (a login, InternalHosts, whatever the recipients), or mail
 * that leaves: a local (or the null) sender and some recipient outside
 * LocalDomains, whoever the client is.  The client's trust decides
 * whether the gateway may sign (mail_outbound.c), never whether the
 * policy's encryption applies: mail that the MTA lets leave from a client
 * the gateway does not trust (a host of its mynetworks not in
 * InternalHosts, a sendmail(1) submission) is encrypted as the policy
 * says and never signed.  Such mail for local recipients only stays
 * inbound.
 */
int
mail_msg_outbound(const mail_msg_t *m)
{
	const conf_t *c = m->conf;
	int trusted = m->auth != NULL || m->client_internal;

	if (m->from_spool)
		return 1;               /* held as outbound mail */
	if (m->sender != NULL && m->sender[0] != '\0') {
		if (!conf_is_local_domain(c, util_addr_domain(m->sender)))
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
		if (!conf_is_local_domain(c, util_addr_domain(m->rcpts[i])))
			return 1;
	return 0;
}

int
mail_msg_encrypted(mail_msg_t *m)
{
	char *chdrs;
	smime_body_t body = { NULL, 0, -1 };
	int enc = 0;

	if (m->enc_checked != 0)
		return m->enc_checked == 2 ? 0 : m->enc_checked;
	if (smime_classify(mail_msg_header(m, "Content-Type")) != SMIME_KIND_ENCRYPTED) {
		m->enc_checked = 2;
		return 0;
	}
	if ((chdrs = mail_msg_content_headers(m)) == NULL)
		return -1;
	body.mem = mail_spool_mem(m->body, &body.len);
	body.fd = mail_spool_fd(m->body);
	if (smime_encrypted_check(chdrs, &body, (unsigned)m->conf->max_mime_parts,
	    (unsigned)m->conf->max_mime_depth, &enc) != SMIME_OK)
		m->enc_checked = -1;
	else
		m->enc_checked = enc ? 1 : 2;
	free(chdrs);
	return m->enc_checked == 2 ? 0 : m->enc_checked;
}

int
mail_msg_can_split(const mail_msg_t *m)
{
	return m->conf->reinject_keylen > 0 && !m->no_split;
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
/* The reply to a policy refusal names who and why (every recipient
 * refused), on one line of printable ASCII without '%'. */
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

/* 1 when a recipient's rules say encrypt=always and the message is not
 * really encrypted already (the decision passes it through), 0 when none
 * does, -1 when it cannot be told (the policy decided nothing yet). */
static int
must_encrypt(const mail_msg_t *m)
{
	const mail_policy_res_t *p = m->result.policy ? m->result.policy : m->result.plan;
	int must = 0;

	if (p == NULL)
		return -1;
	for (size_t i = 0; i < p->res.n; i++)
		must |= p->res.d[i].v[POLICY_ENCRYPT] == POLICY_ENC_ALWAYS
		    && !p->res.d[i].passthrough;
	return must;
}

/* OnInternalError accept delivers the message as it came: never outbound
 * mail that a rule wants encrypted (encrypt=always), nor when that cannot
 * be told.  Such mail is tempfailed instead. */
static int
accept_unsafe(mail_msg_t *m)
{
	return mail_msg_outbound(m) && must_encrypt(m) != 0;
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
	r->signer[0] = '\0';
	r->what = MAIL_DO_TEMPFAIL;
	r->action = "tempfail";
	r->rcode = "451";
	r->xcode = "4.3.0";
	snprintf(r->reply, sizeof(r->reply), "Temporary gateway failure, try again later");
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

/* One log line per recipient the policy decided for: the form, the rule
 * that decided, why. */
static void
policy_log(const mail_msg_t *m)
{
	const mail_policy_res_t *p = m->result.policy;
	char rule[600];

	for (size_t i = 0; p != NULL && i < p->res.n; i++) {
		const policy_form_t *f = &p->forms[i];

		ops_log(LOG_INFO, m->qid, "policy: to=<%s>, form=%s%s%s, copy=%zu/%zu, "
		    "rule=%s, why=%s (%s)", m->rcpts[i], policy_outcome_name(f->outcome),
		    f->sign ? ",sign" : "", !f->encrypt ? "" : f->key_agreement
		    ? ",encrypt(ecdh)" : ",encrypt", p->group[i] + 1,
		    p->ngroups, policy_rule_describe(p->res.d[i].decided, rule, sizeof(rule)),
		    p->res.d[i].why, f->why);
	}
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
	    "from=<%s>, to=%s, direction=%s, action=%s%s%s%s%s%s%s%s",
	    m->sender ? m->sender : "", to, r->direction ? r->direction : "none",
	    r->action ? r->action : "none",
	    r->signer[0] ? ", signer=<" : "", r->signer, r->signer[0] ? ">" : "",
	    r->hp[0] ? ", hp=" : "", r->hp,
	    r->reason[0] ? ", reason=" : "", r->reason);
	policy_log(m);
}

char *const *
mail_msg_delrcpts(const mail_msg_t *m, size_t *n)
{
	const mail_split_t *s = m->result.split;

	*n = s ? s->ndel : 0;
	return s ? s->del : NULL;
}

int
mail_msg_dropped(const mail_msg_t *m, size_t k, const char **rcpt, int *held,
    const char **reason)
{
	const mail_split_t *s = m->result.split;

	for (size_t i = 0; s != NULL && i < s->nc; i++) {
		const mail_copy_t *cp = &s->c[i];

		if (!cp->dropped || (cp->kind != MAIL_COPY_HOLD && cp->kind != MAIL_COPY_REFUSED))
			continue;
		if (k < cp->n) {
			*rcpt = cp->rcpts[k];
			*held = cp->kind == MAIL_COPY_HOLD;
			*reason = cp->reason;
			return 1;
		}
		k -= cp->n;
	}
	return 0;
}

const mail_msg_t *
mail_msg_copy(const mail_msg_t *m, size_t k)
{
	const mail_split_t *s = m->result.split;

	for (size_t i = 0; s != NULL && i < s->nc; i++)
		if (s->c[i].kind == MAIL_COPY_SEND && s->c[i].written && s->c[i].sub != NULL
		    && k-- == 0)
			return s->c[i].sub;
	return NULL;
}

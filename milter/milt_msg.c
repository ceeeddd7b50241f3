/*
 * milt_msg.c: the message context and the decision at end of message
 * (see milt_msg.h).  Direction, the signing-oracle check and the call into
 * smime/ live here; what a failure class answers is decided in
 * result_fail(), the one table of SMTP replies.
 */
#include "milter/milt_msg.h"
#include "milter/milt_log.h"
#include "directory/dir_map.h"
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
#include <openssl/bn.h>
#include <openssl/x509.h>

/* Headers beyond this count are refused like an oversized message. */
#define MILT_MAX_HEADERS 1000

milt_msg_t *
milt_msg_new(milt_conf_t *conf, keystore_t *ks)
{
	milt_msg_t *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->conf = milt_conf_ref(conf);
	m->keystore = ks;
	strcpy(m->qid, "NOQUEUE");
	m->body = milt_spool_new(conf->spool_dir, (size_t)conf->spool_memory,
	    conf->max_message_size);
	if (m->body == NULL) {
		milt_msg_free(m);
		return NULL;
	}
	return m;
}

static void
result_clear(milt_result_t *r)
{
	for (size_t i = 0; i < r->nadd; i++) {
		free(r->add_name[i]);
		free(r->add_value[i]);
	}
	free(r->add_name);
	free(r->add_value);
	milt_spool_free(r->new_body);
	memset(r, 0, sizeof(*r));
}

void
milt_msg_free(milt_msg_t *m)
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
	milt_spool_free(m->body);
	free(m->auth);
	free(m->sender);
	milt_conf_unref(m->conf);
	free(m);
}

char *
milt_msg_unbracket(const char *path)
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
milt_msg_set_sender(milt_msg_t *m, const char *sender)
{
	free(m->sender);
	m->sender = milt_msg_unbracket(sender);
	return m->sender ? 0 : -1;
}

int
milt_msg_add_rcpt(milt_msg_t *m, const char *rcpt)
{
	char *r;

	if (m->nrcpts == m->rcap) {
		size_t cap = m->rcap ? m->rcap * 2 : 8;
		char **p = realloc(m->rcpts, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		m->rcpts = p;
		m->rcap = cap;
	}
	if ((r = milt_msg_unbracket(rcpt)) == NULL)
		return -1;
	m->rcpts[m->nrcpts++] = r;
	return 0;
}

int
milt_msg_add_header(milt_msg_t *m, const char *name, const char *value)
{
	milt_hdr_t *h;

	m->hdr_octets += (long long)(strlen(name) + strlen(value) + 3);
	if (m->nhdrs >= MILT_MAX_HEADERS || m->hdr_octets > m->conf->max_message_size) {
		m->too_big = 1;
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
milt_msg_add_body(milt_msg_t *m, const void *buf, size_t len)
{
	int rc;

	if (m->too_big)
		return -1;
	/* MaximumMessageSize counts the header block and the body together. */
	if ((long long)len > m->conf->max_message_size - m->hdr_octets -
	    milt_spool_size(m->body)) {
		m->too_big = 1;
		return -1;
	}
	rc = milt_spool_write(m->body, buf, len);
	if (rc == MILT_SPOOL_TOOBIG)
		m->too_big = 1;
	return rc == MILT_SPOOL_OK ? 0 : -1;
}

int
milt_msg_is_content_header(const char *name)
{
	return strncasecmp(name, "Content-", 8) == 0 ||
	    strcasecmp(name, "MIME-Version") == 0;
}

const char *
milt_msg_header(const milt_msg_t *m, const char *name)
{
	for (size_t i = 0; i < m->nhdrs; i++) {
		if (strcasecmp(m->hdrs[i].name, name) == 0)
			return m->hdrs[i].value;
	}
	return NULL;
}

static const char *
addr_domain(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;

	return at ? at + 1 : NULL;
}

/* Outbound: an authenticated or internal client, and a local sender. */
static int
is_outbound(const milt_msg_t *m)
{
	if (m->auth == NULL && !m->client_internal)
		return 0;
	return milt_conf_is_local_domain(m->conf, addr_domain(m->sender));
}

/* The one mailbox of the From header, malloc'ed, or NULL. */
static char *
from_address(const milt_msg_t *m)
{
	const char *value = milt_msg_header(m, "From");
	InternetAddressList *list;
	InternetAddress *ia;
	char *addr = NULL;

	if (value == NULL)
		return NULL;
	list = internet_address_list_parse(NULL, value);
	if (list == NULL)
		return NULL;
	if (internet_address_list_length(list) == 1) {
		ia = internet_address_list_get_address(list, 0);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			addr = strdup(internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(ia)));
	}
	g_object_unref(list);
	return addr;
}

/* The signing-oracle check: may this client have mail signed as addr? */
static int
signer_authorized(const milt_msg_t *m, const char *addr)
{
	const dir_map_t *map = m->conf->signer_map;

	if (m->auth == NULL)
		return m->client_internal;
	if (map != NULL && dir_map_has_login(map, m->auth))
		return dir_map_allows(map, m->auth, addr);
	return keystore_addr_equal(m->auth, addr);
}

static void result_pass(milt_result_t *r, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
result_pass(milt_result_t *r, const char *action, const char *fmt, ...)
{
	va_list ap;

	r->what = MILT_DO_PASS;
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
enum fail_class { FAIL_INTERNAL, FAIL_TOOBIG, FAIL_UNAUTHORIZED };

static void
result_fail(milt_msg_t *m, enum fail_class cls, const char *reason)
{
	milt_result_t *r = &m->result;
	int on = cls == FAIL_INTERNAL ? m->conf->on_internal_error : MILT_ON_REJECT;

	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	switch (on) {
	case MILT_ON_ACCEPT:
		r->what = MILT_DO_PASS;
		r->action = "unsigned";
		return;
	case MILT_ON_TEMPFAIL:
		milt_msg_tempfail(m, reason);
		return;
	}
	r->what = MILT_DO_REJECT;
	r->action = "rejected";
	switch (cls) {
	case FAIL_TOOBIG:
		r->rcode = "552";
		r->xcode = "5.3.4";
		snprintf(r->reply, sizeof(r->reply), "Message size exceeds fixed limit");
		break;
	case FAIL_UNAUTHORIZED:
		r->rcode = "550";
		r->xcode = "5.7.1";
		snprintf(r->reply, sizeof(r->reply), "Not authorized to send as this sender");
		break;
	default:
		r->rcode = "550";
		r->xcode = "5.3.0";
		snprintf(r->reply, sizeof(r->reply), "Gateway failure");
		break;
	}
}

void
milt_msg_tempfail(milt_msg_t *m, const char *reason)
{
	milt_result_t *r = &m->result;

	milt_spool_free(r->new_body);
	r->new_body = NULL;
	r->signer[0] = '\0';
	r->what = MILT_DO_TEMPFAIL;
	r->action = "tempfail";
	r->rcode = "451";
	r->xcode = "4.3.0";
	snprintf(r->reply, sizeof(r->reply), "Temporary gateway failure, try again later");
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

/* Joins the Content-* headers (not MIME-Version) as "Name: value\n" lines. */
static char *
content_headers(const milt_msg_t *m)
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

static int
result_take_headers(milt_result_t *r, const smime_sign_t *s)
{
	size_t n = smime_sign_nheaders(s);

	r->add_name = calloc(n ? n : 1, sizeof(char *));
	r->add_value = calloc(n ? n : 1, sizeof(char *));
	if (r->add_name == NULL || r->add_value == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		r->add_name[i] = strdup(smime_sign_header_name(s, i));
		r->add_value[i] = strdup(smime_sign_header_value(s, i));
		r->nadd = i + 1;
		if (r->add_name[i] == NULL || r->add_value[i] == NULL)
			return -1;
	}
	return 0;
}

/* What the audit log records of the signer's certificate. */
static void
result_cert_facts(milt_result_t *r, EVP_PKEY *key, X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	if (X509_digest(cert, EVP_sha256(), md, &mdlen))
		for (unsigned i = 0; i < mdlen && i < 32; i++)
			sprintf(r->signer_sha256 + 2 * i, "%02x", md[i]);
	snprintf(r->signer_serial, sizeof(r->signer_serial), "%s", hex ? hex : "");
	snprintf(r->sig_alg, sizeof(r->sig_alg), "%s",
	    EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? "ecdsa-with-SHA256"
	    : "sha256WithRSAEncryption");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* Signs the message as addr with the given key; fills the result. */
static void
sign_with(milt_msg_t *m, const char *addr, EVP_PKEY *key, X509 *cert,
    STACK_OF(X509) *chain)
{
	milt_result_t *r = &m->result;
	smime_sign_t *s = smime_sign_new();
	char *chdrs = content_headers(m);
	smime_body_t body = { NULL, 0, -1 };
	smime_status_t st;

	r->new_body = milt_spool_new(m->conf->spool_dir, (size_t)m->conf->spool_memory,
	    LLONG_MAX);
	if (s == NULL || chdrs == NULL || r->new_body == NULL) {
		result_fail(m, FAIL_INTERNAL, "out of memory");
		goto done;
	}
	body.mem = milt_spool_mem(m->body, &body.len);
	body.fd = milt_spool_fd(m->body);
	smime_sign_set_opaque(s, m->conf->signing_mode == MILT_SIGN_OPAQUE);
	smime_sign_set_tmpdir(s, m->conf->spool_dir, (size_t)m->conf->spool_memory);
	st = smime_sign_set_signer(s, key, cert, chain);
	if (st == SMIME_OK)
		st = smime_sign_run(s, chdrs, &body, milt_spool_writer, r->new_body);
	if (st != SMIME_OK) {
		char why[512];
		snprintf(why, sizeof(why), "signing failed: %s", smime_sign_error(s));
		result_fail(m, FAIL_INTERNAL, why);
		goto done;
	}
	if (result_take_headers(r, s) != 0) {
		result_fail(m, FAIL_INTERNAL, "out of memory");
		goto done;
	}
	r->what = MILT_DO_REPLACE;
	r->action = "signed";
	snprintf(r->signer, sizeof(r->signer), "%s", addr);
	result_cert_facts(r, key, cert);
done:
	if (r->what != MILT_DO_REPLACE) {
		milt_spool_free(r->new_body);
		r->new_body = NULL;
	}
	free(chdrs);
	smime_sign_free(s);
}

/* An outbound message: sign it when we may and can. */
static void
process_outbound(milt_msg_t *m)
{
	milt_result_t *r = &m->result;
	smime_kind_t kind = smime_classify(milt_msg_header(m, "Content-Type"));
	char *addr = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	keystore_err_t kerr;
	keystore_status_t ks;

	if (!m->conf->sign_outbound)
		return result_pass(r, "pass", "signing disabled (Sign no)");
	if (kind == SMIME_KIND_SIGNED)
		return result_pass(r, "pass", "already signed");
	if (kind == SMIME_KIND_ENCRYPTED)
		return result_pass(r, "pass", "already encrypted");
	if ((addr = from_address(m)) == NULL)
		return result_pass(r, "unsigned", "no single From address");
	if (!milt_conf_is_local_domain(m->conf, addr_domain(addr))) {
		result_pass(r, "unsigned", "From <%s> is not in LocalDomains", addr);
	} else if (!signer_authorized(m, addr)) {
		char why[512];
		snprintf(why, sizeof(why), "login %s may not sign as <%s>", m->auth, addr);
		if (m->conf->on_unauthorized_sender == MILT_UNAUTH_REJECT)
			result_fail(m, FAIL_UNAUTHORIZED, why);
		else
			result_pass(r, "unsigned", "%s", why);
	} else if ((ks = keystore_signer(m->keystore, addr, &key, &cert, &chain,
	    &kerr)) == KEYSTORE_NOTFOUND) {
		result_pass(r, "unsigned", "%s", kerr.msg);
	} else if (ks != KEYSTORE_OK) {
		result_fail(m, FAIL_INTERNAL, kerr.msg);
	} else {
		sign_with(m, addr, key, cert, chain);
	}
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	free(addr);
}

const milt_result_t *
milt_msg_process(milt_msg_t *m)
{
	milt_result_t *r = &m->result;

	result_clear(r);
	r->direction = is_outbound(m) ? "outbound" : "inbound";
	if (m->too_big)
		result_fail(m, FAIL_TOOBIG, "message too large (MaximumMessageSize)");
	else if (strcmp(r->direction, "outbound") == 0)
		process_outbound(m);
	else
		result_pass(r, "pass", "%s", "");
	return r;
}

void
milt_msg_log(const milt_msg_t *m)
{
	const milt_result_t *r = &m->result;
	char to[1024];
	size_t off = 0;

	to[0] = '\0';
	for (size_t i = 0; i < m->nrcpts && off < sizeof(to); i++)
		off += (size_t)snprintf(to + off, sizeof(to) - off, "%s<%s>",
		    i ? "," : "", m->rcpts[i]);
	milt_log(r->what == MILT_DO_TEMPFAIL ? LOG_WARNING : LOG_INFO, m->qid,
	    "from=<%s>, to=%s, direction=%s, action=%s%s%s%s%s%s",
	    m->sender ? m->sender : "", to, r->direction ? r->direction : "none",
	    r->action ? r->action : "none",
	    r->signer[0] ? ", signer=<" : "", r->signer, r->signer[0] ? ">" : "",
	    r->reason[0] ? ", reason=" : "", r->reason);
}

/*
 * mail_inbound.c: what happens to inbound mail for local recipients.
 *
 *   1. A whole body that is S/MIME enveloped-data or authEnveloped-data
 *      is decrypted, when Decrypt is on, for a local recipient with an
 *      escrowed key of that recipient (its certificate names the
 *      envelope address) that one of its RecipientInfos names; never
 *      with another's key, never for a copy that leaves us.
 *      Recipients for whom decryption gives different outcomes (a key or
 *      none, or keys that open to different plaintext) are split: their
 *      groups go back to the pipeline in the result, which makes each
 *      other group's copy, in its form, and calls this again for the
 *      group that stays.
 *      Enveloped-data without integrity protection (CBC) is delivered
 *      decrypted as UnprotectedContent says: when the plaintext is signed
 *      by the From address (verified in step 2), always, or never.
 *      Nothing else is decrypted (EFAIL).
 *   2. A signed body (the message's own, or what decryption gave) is
 *      verified when Verify is on; opaque signed-data with a good
 *      signature becomes multipart/signed (ConvertOpaqueSigned).  A
 *      signer's good chain check is kept in the configuration's table
 *      (conf->signer_verdicts, VerdictCacheSize) for as long as it holds;
 *      the signature itself is verified every time.
 *   3. The signer's certificates (its own, and a separate encryption
 *      certificate its key preference names) and capabilities of a
 *      signature that passed are harvested (HarvestCertificates,
 *      m->harvest_put).
 *
 * What happened goes into one header (ResultHeader), which the pipeline
 * deletes from the incoming message (mail_pipeline.c): items
 * "keyword (detail)" joined by "; ", documented in smimegate(8).  A
 * failure never goes back to the sender: the message is delivered as it
 * came, with the header saying why.  The exception is a MIME structure
 * that passes MaximumMimeParts or MaximumMimeDepth where smimegate reads
 * it (the body decrypted or verified, what decryption revealed, the
 * content of opaque signed-data): refused with 554 5.6.0, as outbound.
 *
 * Threads: as the message context (one thread).
 */
#include "mail/mail_inbound.h"
#include "directory/dir_verdict.h"
#include "ops/ops_log.h"
#include "smime/smime.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <gmime/gmime.h>
#include <openssl/crypto.h>

#define INBOUND_DETAIL_MAX 200     /* octets of one item's detail */
#define IN_SPLIT 2                 /* the recipients are to be split first */

/* The message's state as it goes through the steps. */
typedef struct inbound {
	mail_msg_t *m;
	char *chdrs;                /* Content-* headers of the current body */
	smime_body_t body;          /* the current body */
	mail_spool_t *spool;        /* the current body when it is new */
	char **hname, **hvalue;     /* the current headers when new */
	size_t nh;
	char header[1024];          /* the result header's value */
	int decrypted, verified;
	int authenticated;          /* what was decrypted was authEnveloped-data */
	int passed;                 /* the signature verified: pass */
	char *inner;                /* the decrypted entity's other header fields
	                               ("Name: value\n" lines): protected ones */
} inbound_t;

/* What decryption gives one recipient. */
typedef struct in_outcome {
	smime_status_t st;
	int nonlocal;               /* not in LocalDomains: nothing tried */
	int authenticated;
	unsigned char digest[32];   /* SMIME_OK: of the plaintext's beginning */
} in_outcome_t;

/* A key lookup for one recipient's keys only. */
typedef struct in_lookup {
	mail_msg_t *m;
	const char *rcpt;
} in_lookup_t;

static char *in_message_chdrs(const mail_msg_t *m);

/* ---- small things ---- */

static void
in_free_headers(inbound_t *in)
{
	for (size_t i = 0; i < in->nh; i++) {
		free(in->hname[i]);
		free(in->hvalue[i]);
	}
	free(in->hname);
	free(in->hvalue);
	in->hname = in->hvalue = NULL;
	in->nh = 0;
}

/* Appends "keyword (detail)" to the header value; the detail made safe
 * for a header: printable ASCII, no parentheses or semicolons. */
static void
in_item(inbound_t *in, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
in_item(inbound_t *in, const char *keyword, const char *fmt, ...)
{
	char detail[INBOUND_DETAIL_MAX + 1];
	size_t n = strlen(in->header);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	for (char *p = detail; *p != '\0'; p++) {
		if ((unsigned char)*p < 32 || (unsigned char)*p > 126)
			*p = '?';
		else if (*p == '(' || *p == ')' || *p == ';')
			*p = *p == ';' ? ',' : *p == '(' ? '[' : ']';
	}
	if (n < sizeof(in->header))
		snprintf(in->header + n, sizeof(in->header) - n, "%s%s%s%s%s",
		    n > 0 ? "; " : "", keyword, detail[0] ? " (" : "", detail,
		    detail[0] ? ")" : "");
}

/* "Name: value\n" lines of the given headers. */
static char *
in_join(char *const *names, char *const *values, size_t n, int content_only)
{
	size_t len = 1, off = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + strlen(values[i]) + 3;
	if ((s = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!content_only || strncasecmp(names[i], "Content-", 8) == 0)
			off += (size_t)sprintf(s + off, "%s: %s\n", names[i], values[i]);
	s[off] = '\0';
	return s;
}

/* 1 when every recipient (all: else any) is in LocalDomains. */
static int
in_rcpts_local(const mail_msg_t *m, int all)
{
	size_t local = 0;

	for (size_t i = 0; i < m->nrcpts; i++)
		local += conf_is_local_domain(m->conf, util_addr_domain(m->rcpts[i]));
	return m->nrcpts > 0 && (all ? local == m->nrcpts : local > 0);
}

/* Makes a new body and headers the current ones. */
static int
in_take(inbound_t *in, mail_spool_t *spool, size_t nh,
    const char *(*name)(const void *, size_t), const char *(*value)(const void *, size_t),
    const void *h)
{
	char *chdrs;

	in_free_headers(in);
	in->hname = calloc(nh ? nh : 1, sizeof(char *));
	in->hvalue = calloc(nh ? nh : 1, sizeof(char *));
	if (in->hname == NULL || in->hvalue == NULL)
		return -1;
	for (size_t i = 0; i < nh; i++) {
		in->hname[i] = strdup(name(h, i));
		in->hvalue[i] = strdup(value(h, i));
		in->nh = i + 1;
		if (in->hname[i] == NULL || in->hvalue[i] == NULL)
			return -1;
	}
	if ((chdrs = in_join(in->hname, in->hvalue, in->nh, 1)) == NULL)
		return -1;
	free(in->chdrs);
	in->chdrs = chdrs;
	mail_spool_free(in->spool);
	in->spool = spool;
	in->body.mem = mail_spool_mem(spool, &in->body.len);
	in->body.fd = mail_spool_fd(spool);
	return 0;
}

static const char *dec_name(const void *d, size_t i) { return smime_decrypt_header_name(d, i); }
static const char *dec_value(const void *d, size_t i) { return smime_decrypt_header_value(d, i); }
static const char *ver_name(const void *v, size_t i) { return smime_verify_header_name(v, i); }
static const char *ver_value(const void *v, size_t i) { return smime_verify_header_value(v, i); }

static mail_spool_t *
in_spool(const mail_msg_t *m)
{
	return mail_spool_new(m->conf->spool_dir, (size_t)m->conf->spool_memory, LLONG_MAX);
}

/* ---- 1. decryption ---- */

static int
in_key_lookup(void *arg, const X509_NAME *issuer, const ASN1_INTEGER *serial,
    const ASN1_OCTET_STRING *skid, EVP_PKEY **key, X509 **cert)
{
	const in_lookup_t *lk = arg;
	keystore_err_t kerr;

	switch (keystore_decrypter(lk->m->keystore, lk->rcpt, issuer, serial, skid, key,
	    cert, &kerr)) {
	case KEYSTORE_OK:
		return 0;
	case KEYSTORE_NOTFOUND:
		return 1;
	case KEYSTORE_RETIRED:         /* a leaver's keys, destroyed */
		ops_log(LOG_WARNING, lk->m->qid, "not decrypted for <%s>: %s", lk->rcpt,
		    kerr.msg);
		return 1;
	default:
		ops_log(LOG_ERR, lk->m->qid, "keystore: %s", kerr.msg);
		return -1;
	}
}

static smime_decrypt_t *
in_decrypter(const mail_msg_t *m)
{
	smime_decrypt_t *d = smime_decrypt_new();

	if (d != NULL && smime_decrypt_set_tmpdir(d, m->conf->spool_dir) != 0) {
		smime_decrypt_free(d);
		return NULL;
	}
	if (d != NULL) {
		smime_decrypt_set_limits(d, (unsigned)m->conf->max_mime_parts,
		    (unsigned)m->conf->max_mime_depth);
		smime_decrypt_set_header_limit(d, (size_t)m->conf->max_header_length);
	}
	return d;
}

/* Refuses the message: its MIME structure passes a limit (554 5.6.0). */
static int
in_refuse_limit(inbound_t *in, const char *step, const char *why)
{
	char reason[512];

	snprintf(reason, sizeof(reason), "%s: %s (MaximumMimeParts, MaximumMimeDepth)",
	    step, why);
	in->m->over_limit = MAIL_LIMIT_MIME;
	mail_msg_fail(in->m, MAIL_FAIL_LIMIT, reason);
	return 1;
}

/* The header fields decryption revealed pass MaximumHeaderLength and
 * MaximumHeaders as the message's own did; else the message is refused
 * (552 5.3.4) and 1 returned. */
static int
in_check_inner_headers(inbound_t *in, const smime_decrypt_t *d)
{
	mail_msg_t *m = in->m;
	size_t nh = smime_decrypt_nheaders(d);

	for (size_t i = 0; i < nh; i++) {
		size_t len = strlen(smime_decrypt_header_name(d, i)) + 3 +
		    strlen(smime_decrypt_header_value(d, i));

		if ((long long)len > m->conf->max_header_length) {
			m->over_limit = MAIL_LIMIT_HEADER_LENGTH;
			mail_msg_fail(m, MAIL_FAIL_LIMIT, "decrypted header field too long "
			    "(MaximumHeaderLength)");
			return 1;
		}
	}
	if ((long long)(m->nhdrs + nh) > m->conf->max_headers) {
		m->over_limit = MAIL_LIMIT_HEADERS;
		mail_msg_fail(m, MAIL_FAIL_LIMIT, "too many header fields with the decrypted "
		    "ones (MaximumHeaders)");
		return 1;
	}
	return 0;
}

/* The decrypted entity's other header fields, for header protection. */
static int
in_keep_inner(inbound_t *in, const smime_decrypt_t *d)
{
	size_t n = smime_decrypt_ninner(d);
	char **names = calloc(n + 1, sizeof(char *)), **values = calloc(n + 1, sizeof(char *));
	int rc = -1;

	if (names != NULL && values != NULL) {
		for (size_t i = 0; i < n; i++) {
			names[i] = (char *)smime_decrypt_inner_name(d, i);
			values[i] = (char *)smime_decrypt_inner_value(d, i);
		}
		free(in->inner);
		rc = (in->inner = in_join(names, values, n, 0)) != NULL ? 0 : -1;
	}
	free(names);
	free(values);
	return rc;
}

/* 0 done (whatever the outcome), 1 refused (a limit), -1 internal error. */
static int
in_decrypt(inbound_t *in)
{
	mail_msg_t *m = in->m;
	smime_decrypt_t *d = in_decrypter(m);
	mail_spool_t *sp = in_spool(m);
	in_lookup_t lk = { m, m->rcpts[0] };   /* the group's keys give one plaintext */
	smime_status_t st;
	int rc = 0;

	if (d == NULL || sp == NULL) {
		smime_decrypt_free(d);
		mail_spool_free(sp);
		return -1;
	}
	st = smime_decrypt_run(d, in->chdrs, &in->body, in_key_lookup, &lk,
	    mail_spool_writer, sp);
	switch (st) {
	case SMIME_OK:
		if ((rc = in_check_inner_headers(in, d)) != 0)
			break;
		if (in_take(in, sp, smime_decrypt_nheaders(d), dec_name, dec_value, d) != 0) {
			rc = -1;
			break;
		}
		sp = NULL;
		if (in_keep_inner(in, d) != 0) {
			rc = -1;
			break;
		}
		in->decrypted = 1;
		in->authenticated = smime_decrypt_authenticated(d);
		if (smime_decrypt_authenticated(d))
			in_item(in, "decrypted", "authEnveloped-data, integrity-protected");
		else
			in_item(in, "decrypted", "enveloped-data, not integrity-protected");
		break;
	case SMIME_ERR_NOKEY:
		in_item(in, "no-key", "not encrypted to a key of the recipient: %s",
		    smime_decrypt_error(d));
		break;
	case SMIME_ERR_LIMIT:
		if (smime_decrypt_header_too_long(d)) {
			m->over_limit = MAIL_LIMIT_HEADER_LENGTH;
			mail_msg_fail(m, MAIL_FAIL_LIMIT, "decrypted header field too long "
			    "(MaximumHeaderLength)");
			rc = 1;
		} else {
			rc = in_refuse_limit(in, "decryption", smime_decrypt_error(d));
		}
		break;
	case SMIME_ERR_INPUT:
		in_item(in, "malformed", "%s", smime_decrypt_error(d));
		break;
	case SMIME_ERR_CRYPTO:
		in_item(in, "undecryptable", "%s", smime_decrypt_error(d));
		break;
	default:
		ops_log(LOG_ERR, m->qid, "decryption: %s", smime_decrypt_error(d));
		rc = -1;
		break;
	}
	if (rc == 0 && st != SMIME_OK)
		ops_log(LOG_INFO, m->qid, "not decrypted: %s", smime_decrypt_error(d));
	mail_spool_free(sp);
	smime_decrypt_free(d);
	return rc;
}

/* ---- 1a. for whom: one outcome per recipient ---- */

static int
in_same(const in_outcome_t *a, const in_outcome_t *b)
{
	return a->st == b->st && a->nonlocal == b->nonlocal && (a->st != SMIME_OK
	    || (a->authenticated == b->authenticated
	    && memcmp(a->digest, b->digest, sizeof(a->digest)) == 0));
}

/* 1 for an outcome that depends on whose keys were tried. */
static int
in_per_rcpt(const in_outcome_t *o)
{
	return o->nonlocal || o->st == SMIME_OK || o->st == SMIME_ERR_NOKEY
	    || o->st == SMIME_ERR_CRYPTO;
}

/* What each recipient's own keys give (smime_decrypt_probe(), the body
 * parsed once); nothing is tried for one who is not local.  0: o[] filled,
 * 1: an outcome for the message as a whole, -1 out of memory. */
static int
in_outcomes(inbound_t *in, in_outcome_t *o)
{
	mail_msg_t *m = in->m;
	in_lookup_t *lk = calloc(m->nrcpts, sizeof(*lk));
	void **args = calloc(m->nrcpts, sizeof(*args));
	smime_probe_t *p = calloc(m->nrcpts, sizeof(*p));
	smime_decrypt_t *d = in_decrypter(m);
	int rc = -1;

	if (lk != NULL && args != NULL && p != NULL && d != NULL) {
		for (size_t i = 0; i < m->nrcpts; i++) {
			o[i].nonlocal = !conf_is_local_domain(m->conf,
			    util_addr_domain(m->rcpts[i]));
			lk[i].m = m;
			lk[i].rcpt = o[i].nonlocal ? NULL : m->rcpts[i];   /* no key */
			args[i] = &lk[i];
		}
		rc = smime_decrypt_probe(d, in->chdrs, &in->body, in_key_lookup, args,
		    m->nrcpts, p) == SMIME_OK ? 0 : 1;
		for (size_t i = 0; rc == 0 && i < m->nrcpts; i++) {
			o[i].st = p[i].st;
			o[i].authenticated = p[i].authenticated;
			memcpy(o[i].digest, p[i].digest, sizeof(o[i].digest));
		}
	}
	if (p != NULL)
		OPENSSL_cleanse(p, m->nrcpts * sizeof(*p));
	free(p);
	free(args);
	free(lk);
	smime_decrypt_free(d);
	return rc;
}

/*
 * Groups m's recipients by what decryption with their own keys gives:
 * the same group, the same delivered form (group[i]; *ng groups, the
 * first recipient's is 0).  One group when the outcome does not depend
 * on the recipient (malformed, a limit, a failed lookup: decided for the
 * message as a whole).  0, or -1 out of memory.
 */
static int
in_groups(inbound_t *in, size_t *group, size_t *ng)
{
	mail_msg_t *m = in->m;
	in_outcome_t *o = calloc(m->nrcpts, sizeof(*o));
	size_t i, j;
	int rc;

	*ng = 1;
	memset(group, 0, m->nrcpts * sizeof(*group));
	if (o == NULL)
		return -1;
	if ((rc = in_outcomes(in, o)) != 0) {
		free(o);
		return rc < 0 ? -1 : 0;
	}
	for (i = 0; i < m->nrcpts; i++)
		if (!in_per_rcpt(&o[i])) {
			free(o);
			return 0;
		}
	*ng = 0;
	for (i = 0; i < m->nrcpts; i++) {
		for (j = 0; j < i && !in_same(&o[j], &o[i]); j++)
			;
		group[i] = j < i ? group[j] : (*ng)++;
	}
	free(o);
	return 0;
}

/*
 * Step 1: recipients with different outcomes are split first: their
 * groups go to the result (m->result.group, ngroups) and the pipeline
 * makes each other group's copy (IN_SPLIT); called again, the message is
 * decrypted for the group that stays, with the keys of its first
 * recipient (the others' give the same plaintext).  0 go on, IN_SPLIT,
 * -1 internal error.
 */
static int
in_step_decrypt(inbound_t *in)
{
	mail_msg_t *m = in->m;
	mail_result_t *r = &m->result;
	size_t *group, ng = r->ngroups;

	if (ng == 0 && m->nrcpts > 1) {
		if ((group = calloc(m->nrcpts, sizeof(*group))) == NULL)
			return -1;
		if (in_groups(in, group, &ng) != 0) {
			free(group);
			return -1;
		}
		if (ng > 1 && mail_msg_can_split(m)) {
			free(r->group);
			r->group = group;
			r->ngroups = ng;
			return IN_SPLIT;
		}
		free(group);
	}
	if (ng > 1 && m->nrcpts > 1) {
		in_item(in, "no-key", "not decrypted: the recipients differ in keys "
		    "and the message is not split");
		return 0;
	}
	if (!conf_is_local_domain(m->conf, util_addr_domain(m->rcpts[0]))) {
		in_item(in, "no-key", "not decrypted: the recipient is not local");
		return 0;
	}
	return in_decrypt(in);
}

/* Back to the body as it came (UnprotectedContent): why says what the
 * decrypted entity lacked.  0, or -1 out of memory. */
static int
in_keep_encrypted(inbound_t *in, const char *why)
{
	mail_msg_t *m = in->m;

	in_free_headers(in);
	mail_spool_free(in->spool);
	in->spool = NULL;
	free(in->chdrs);
	if ((in->chdrs = in_message_chdrs(m)) == NULL)
		return -1;
	in->body.mem = mail_spool_mem(m->body, &in->body.len);
	in->body.fd = mail_spool_fd(m->body);
	in->decrypted = in->verified = in->passed = 0;
	m->result.signer[0] = '\0';
	in->header[0] = '\0';
	in_item(in, "unprotected", "enveloped-data is not integrity-protected and %s: "
	    "delivered encrypted", why);
	ops_log(LOG_INFO, m->qid, "not decrypted: enveloped-data is not "
	    "integrity-protected and %s (UnprotectedContent)", why);
	return 0;
}

/* ---- 2. verification, 3. harvesting ---- */

/* Every certificate of the signature that names the signer (its own, and
 * a separate encryption certificate), each with whether the signer's key
 * preference named it. */
static void
in_harvest(inbound_t *in, const smime_verify_t *v)
{
	mail_msg_t *m = in->m;
	const unsigned char *caps;
	size_t caps_len;
	char err[256];
	X509 *x;
	int pref;

	if (!m->conf->harvest || m->harvest == NULL || m->harvest_put == NULL)
		return;
	caps = smime_verify_caps(v, &caps_len);
	for (size_t i = 0; (x = smime_verify_cert(v, i, &pref)) != NULL; i++)
		if (m->harvest_put(m->harvest, smime_verify_signer(v), x, caps, caps_len,
		    smime_verify_signing_time(v), pref, err, sizeof(err)) != 0)
			ops_log(LOG_WARNING, m->qid, "harvest <%s>: %s",
			    smime_verify_signer(v), err);
}

static int
in_verify(inbound_t *in)
{
	mail_msg_t *m = in->m;
	smime_verify_t *v = smime_verify_new(m->conf->trust);
	mail_spool_t *sp = in_spool(m);
	char *from = mail_msg_from_address(m);
	smime_chain_cache_t cache;
	smime_verdict_t vd;
	smime_status_t st;
	int rc = 0;

	if (v == NULL || sp == NULL || smime_verify_set_tmpdir(v, m->conf->spool_dir) != 0) {
		rc = -1;
		goto out;
	}
	smime_verify_set_from(v, from);
	dir_verdict_chain_cache(m->conf->signer_verdicts, &cache);
	smime_verify_set_chain_cache(v, &cache);
	smime_verify_set_convert(v, m->conf->convert_opaque);
	smime_verify_set_limits(v, (unsigned)m->conf->max_mime_parts,
	    (unsigned)m->conf->max_mime_depth);
	st = smime_verify_run(v, in->chdrs, &in->body, mail_spool_writer, sp);
	if (st == SMIME_ERR_LIMIT) {
		rc = in_refuse_limit(in, "verification", smime_verify_error(v));
		goto out;
	}
	if (st != SMIME_OK) {
		in_item(in, "malformed", "signature: %s", smime_verify_error(v));
		goto out;
	}
	vd = smime_verify_verdict(v);
	in->verified = 1;
	in->passed = vd == SMIME_VERDICT_PASS;
	if (smime_verify_signer(v)[0] != '\0')
		snprintf(m->result.signer, sizeof(m->result.signer), "%s", smime_verify_signer(v));
	if (vd == SMIME_VERDICT_PASS)
		in_item(in, "pass", "signer=<%s>", smime_verify_signer(v));
	else
		in_item(in, smime_verdict_name(vd), "%s", smime_verify_detail(v));
	if (vd == SMIME_VERDICT_PASS)
		in_harvest(in, v);
	if (smime_verify_converted(v)) {
		if (in_take(in, sp, smime_verify_nheaders(v), ver_name, ver_value, v) != 0)
			rc = -1;
		else
			sp = NULL;
	}
out:
	free(from);
	mail_spool_free(sp);
	smime_verify_free(v);
	return rc;
}

/* ---- 4. header protection (RFC 9788) ---- */

static const char *hp_name(const void *h, size_t i) { return smime_hp_in_header_name(h, i); }
static const char *hp_value(const void *h, size_t i) { return smime_hp_in_header_value(h, i); }

/* Appends name to a list of names in buf ("Subject,To"). */
static void
in_hp_list(char *buf, size_t size, const char *name)
{
	size_t off = strlen(buf);

	if (off < size)
		snprintf(buf + off, size - off, "%s%s", off ? "," : "", name);
}

/* What each protected field does to the outer message (smime_hp_judge()):
 * restored or overriding fields replace the outer ones; the lists name
 * what was restored, what differed and won, what differed and lost. */
static int
in_hp_apply(inbound_t *in, const smime_hp_in_t *h, char *restored, char *over,
    char *refused, size_t size)
{
	mail_msg_t *m = in->m;
	mail_result_t *r = &m->result;
	const char *signer = in->passed && r->signer[0] != '\0' ? r->signer : NULL;

	for (size_t i = 0; i < smime_hp_in_nfields(h); i++) {
		const char *name = smime_hp_in_field_name(h, i);
		const char *inner = smime_hp_in_field_value(h, i);
		smime_hp_verdict_t v;

		if (!smime_hp_restorable(name) || smime_hp_in_field(h, name) != inner
		    || mail_result_strips(r, name))
			continue;           /* the first of each name only */
		v = smime_hp_judge(name, inner, mail_msg_header(m, name),
		    smime_hp_in_recorded(h, name), in->passed, signer);
		if (v == SMIME_HP_REFUSED) {
			in_hp_list(refused, size, name);
			continue;
		}
		if (v == SMIME_HP_SAME)
			continue;
		in_hp_list(v == SMIME_HP_RESTORE ? restored : over, size, name);
		if (mail_result_strip(r, name) != 0 || mail_result_set(r, name, inner) != 0)
			return -1;
	}
	return 0;
}

/* Outer sender and destination fields the payload does not have: with a
 * signature over the payload they go (the sender's are inside), without
 * one they are only named. */
static int
in_hp_outer_only(inbound_t *in, const smime_hp_in_t *h, char *list, size_t size)
{
	static const char *const names[] = { "From", "Sender", "Reply-To", "To", "Cc",
		"Subject", "Followup-To", NULL };
	mail_msg_t *m = in->m;

	for (size_t i = 0; names[i] != NULL; i++) {
		if (smime_hp_in_field(h, names[i]) != NULL
		    || mail_msg_header(m, names[i]) == NULL)
			continue;
		in_hp_list(list, size, names[i]);
		if (in->passed && !mail_result_strips(&m->result, names[i])
		    && mail_result_strip(&m->result, names[i]) != 0)
			return -1;
	}
	return 0;
}

static void
in_hp_item(inbound_t *in, const smime_hp_in_t *h, const char *restored,
    const char *over, const char *refused, const char *outer_only)
{
	int legacy = smime_hp_in_legacy(h);

	in_item(in, "headers-protected", "hp=%s%s%s%s%s%s%s%s%s%s%s",
	    smime_hp_mode_name(smime_hp_in_mode(h)),
	    restored[0] ? " restored=" : "", restored,
	    over[0] ? " differs-inner-kept=" : "", over,
	    refused[0] ? " differs-outer-kept=" : "", refused,
	    outer_only[0] ? (in->passed ? " unprotected-dropped=" : " unprotected=") : "",
	    outer_only,
	    legacy == 2 ? " legacy-display-removed" : legacy == 1
	    ? " legacy-display-kept-under-signature" : "",
	    in->passed ? "" : " unsigned-or-unverified");
	if (over[0] != '\0' || refused[0] != '\0')
		ops_log(LOG_WARNING, in->m->qid, "protected header fields differ from the "
		    "outer ones: inner kept: %s; outer kept: %s", over[0] ? over : "-",
		    refused[0] ? refused : "-");
}

/* After decryption and verification: a protected payload's fields go to
 * the outer message as smime_hp_judge() says, and a payload not under a
 * signature loses its legacy display.  0, 1 refused (a limit), -1 error. */
static int
in_hp(inbound_t *in)
{
	mail_msg_t *m = in->m;
	smime_hp_in_t *h = smime_hp_in_new();
	mail_spool_t *sp = in_spool(m);
	char restored[200] = "", over[200] = "", refused[200] = "", outer_only[200] = "";
	char *hdrs = NULL;
	smime_status_t st;
	int rc = 0;

	if (h == NULL || sp == NULL || smime_hp_in_set_tmpdir(h, m->conf->spool_dir) != 0
	    || asprintf(&hdrs, "%s%s",
	    in->decrypted && in->inner != NULL ? in->inner : "", in->chdrs) < 0) {
		hdrs = NULL;
		rc = -1;
		goto out;
	}
	smime_hp_in_set_limits(h, (unsigned)m->conf->max_mime_parts,
	    (unsigned)m->conf->max_mime_depth);
	st = smime_hp_in_run(h, hdrs, &in->body, mail_spool_writer, sp);
	if (st == SMIME_ERR_LIMIT) {
		rc = in_refuse_limit(in, "header protection", smime_hp_in_error(h));
		goto out;
	}
	if (st != SMIME_OK) {
		ops_log(LOG_INFO, m->qid, "header protection not read: %s", smime_hp_in_error(h));
		goto out;
	}
	if (smime_hp_in_mode(h) == SMIME_HP_NONE)
		goto out;
	if (in_hp_apply(in, h, restored, over, refused, sizeof(restored)) != 0
	    || in_hp_outer_only(in, h, outer_only, sizeof(outer_only)) != 0) {
		rc = -1;
		goto out;
	}
	in_hp_item(in, h, restored, over, refused, outer_only);
	if (smime_hp_in_rewritten(h)) {
		if (in_take(in, sp, smime_hp_in_nheaders(h), hp_name, hp_value, h) != 0)
			rc = -1;
		else
			sp = NULL;
	}
out:
	free(hdrs);
	mail_spool_free(sp);
	smime_hp_in_free(h);
	return rc;
}

/* ---- the result ---- */

static int
in_result(inbound_t *in)
{
	mail_msg_t *m = in->m;
	mail_result_t *r = &m->result;

	if (in->header[0] != '\0' && mail_result_set(r, m->conf->result_header, in->header) != 0)
		return -1;
	r->action = in->decrypted && in->verified ? "decrypted+verified"
	    : in->decrypted ? "decrypted" : in->verified ? "verified" : "pass";
	snprintf(r->reason, sizeof(r->reason), "%.500s", in->header);
	if (in->spool == NULL) {
		r->what = MAIL_DO_PASS;
		return 0;
	}
	r->what = MAIL_DO_REPLACE;
	r->new_body = in->spool;
	in->spool = NULL;
	r->add_name = in->hname;
	r->add_value = in->hvalue;
	r->nadd = in->nh;
	in->hname = in->hvalue = NULL;
	in->nh = 0;
	return 0;
}

static int
in_is_pkcs7_mime(const char *ct)
{
	return ct != NULL && (strcasestr(ct, "application/pkcs7-mime") != NULL
	    || strcasestr(ct, "application/x-pkcs7-mime") != NULL);
}

/* The Content-Type of the current body. */
static const char *
in_content_type(const inbound_t *in)
{
	if (in->spool == NULL)
		return mail_msg_header(in->m, "Content-Type");
	for (size_t i = 0; i < in->nh; i++)
		if (strcasecmp(in->hname[i], "Content-Type") == 0)
			return in->hvalue[i];
	return NULL;
}

/* The message's own Content-* headers as "Name: value\n" lines. */
static char *
in_message_chdrs(const mail_msg_t *m)
{
	char **n = calloc(m->nhdrs + 1, sizeof(char *));
	char **v = calloc(m->nhdrs + 1, sizeof(char *));
	char *s = NULL;

	if (n != NULL && v != NULL) {
		for (size_t i = 0; i < m->nhdrs; i++) {
			n[i] = m->hdrs[i].name;
			v[i] = m->hdrs[i].value;
		}
		s = in_join(n, v, m->nhdrs, 1);
	}
	free(n);
	free(v);
	return s;
}

int
mail_inbound_process(mail_msg_t *m)
{
	inbound_t in = { .m = m, .body = { NULL, 0, -1 } };
	const char *ct = mail_msg_header(m, "Content-Type");
	int rc = 0;

	/* Called again after a split (m->result.ngroups set), whatever
	 * recipients stayed. */
	if (m->result.ngroups == 0 && !in_rcpts_local(m, 0))
		return mail_msg_pass(m, "pass", "%s", ""), 0;
	if ((in.chdrs = in_message_chdrs(m)) == NULL)
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "out of memory"), 0;
	in.body.mem = mail_spool_mem(m->body, &in.body.len);
	in.body.fd = mail_spool_fd(m->body);
	if (m->conf->decrypt_inbound && smime_classify(ct) == SMIME_KIND_ENCRYPTED
	    && in_is_pkcs7_mime(ct))
		rc = in_step_decrypt(&in);
	if (rc == 0 && in.decrypted && !in.authenticated
	    && m->conf->unprotected_content == CONF_UNPROT_KEEP)
		rc = in_keep_encrypted(&in, "UnprotectedContent is keep");
	if (rc == 0 && m->conf->verify_inbound && m->conf->trust != NULL
	    && smime_classify(in_content_type(&in)) == SMIME_KIND_SIGNED)
		rc = in_verify(&in);
	if (rc == 0 && in.decrypted && !in.authenticated && !in.passed
	    && m->conf->unprotected_content == CONF_UNPROT_SIGNED)
		rc = in_keep_encrypted(&in, "not validly signed by the From address");
	if (rc == 0 && (in.decrypted || in.verified))
		rc = in_hp(&in);
	if (rc == 0)
		rc = in_result(&in);
	if (rc < 0)
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "inbound: out of memory or spool failure");
	in_free_headers(&in);
	mail_spool_free(in.spool);
	free(in.chdrs);
	free(in.inner);
	return rc == IN_SPLIT;
}

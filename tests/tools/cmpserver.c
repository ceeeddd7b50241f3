/*
 * cmpserver: a small CMP CA for tests (OpenSSL's OSSL_CMP_SRV_* server,
 * libevent's evhttp on 127.0.0.1), which, unlike `openssl cmp`'s mock
 * server (one fixed certificate whatever is asked), issues a certificate
 * for the key and subjectAltName of each request: ir and cr protected
 * with the shared secret (PBM, answered the same way), kur signed with
 * the key of a certificate this CA issued (answered signed with the CA's
 * key).  Never installed.
 *
 *   cmpserver PORT CA.crt CA.key SECRET DAYS-IR DAYS-KUR [MODE]
 *
 * MODE (what a hostile or broken CA answers): ok (default), wrong-address
 * (the certificate names evil@example.org instead), wrong-key (for a key
 * of the server's own instead of the requested one), reject (a
 * rejection).  Each issue is logged on stderr as "issued TYPE SUBJECT".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/bn.h>
#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static X509 *ca_cert;
static EVP_PKEY *ca_key;
static long days_ir, days_kur;
static const char *mode = "ok";
static const char *secret;
static ASN1_OCTET_STRING *kur_tid;     /* the kur transaction going on */

/* The template's publicKey ([6] IMPLICIT SubjectPublicKeyInfo): OpenSSL
 * 3.0 has no getter, so its DER is walked with ASN1_get_object(). */
static EVP_PKEY *
tmpl_key(const OSSL_CRMF_CERTTEMPLATE *t)
{
	unsigned char *der = NULL, *copy;
	const unsigned char *p, *end, *start, *q;
	long len;
	int tag, cls, n = i2d_OSSL_CRMF_CERTTEMPLATE(t, &der);
	EVP_PKEY *key = NULL;

	p = der;
	if (n <= 0 || (ASN1_get_object(&p, &len, &tag, &cls, n) & 0x80))
		goto done;
	for (end = p + len; p < end && key == NULL; p += len) {
		start = p;
		if (ASN1_get_object(&p, &len, &tag, &cls, end - p) & 0x80)
			break;
		if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 6) {
			size_t whole = (size_t)(p + len - start);

			if ((copy = OPENSSL_memdup(start, whole)) == NULL)
				break;
			copy[0] = 0x30;
			q = copy;
			key = d2i_PUBKEY(NULL, &q, (long)whole);
			OPENSSL_free(copy);
		}
	}
done:
	OPENSSL_free(der);
	return key;
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&v, ca_cert, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	ok = e != NULL && X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/* The requested rfc822Name (the template's subjectAltName), "" none. */
static void
tmpl_email(const OSSL_CRMF_CERTTEMPLATE *t, char *out, size_t size)
{
	X509_EXTENSIONS *exts = OSSL_CRMF_CERTTEMPLATE_get0_extensions(t);
	GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;

	out[0] = '\0';
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_EMAIL)
			snprintf(out, size, "%.*s", g->d.rfc822Name->length,
			    (const char *)g->d.rfc822Name->data);
	}
	GENERAL_NAMES_free(gens);
}

/* A random 63-bit serial. */
static int
serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn != NULL && BN_rand(bn, 63, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY)
	    && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;

	BN_free(bn);
	return ok;
}

static X509 *
issue(const OSSL_CRMF_MSG *crm, int kur)
{
	const OSSL_CRMF_CERTTEMPLATE *t = OSSL_CRMF_MSG_get0_tmpl(crm);
	EVP_PKEY *key = strcmp(mode, "wrong-key") == 0 ? EVP_RSA_gen(2048) : tmpl_key(t);
	const X509_NAME *subj = OSSL_CRMF_CERTTEMPLATE_get0_subject(t);
	X509 *x = X509_new();
	char email[300], san[320];
	int ok;

	tmpl_email(t, email, sizeof(email));
	snprintf(san, sizeof(san), "email:%s",
	    strcmp(mode, "wrong-address") == 0 ? "evil@example.org" : email);
	ok = key != NULL && x != NULL && email[0] != '\0' && X509_set_version(x, 2)
	    && serial(x)
	    && X509_set_subject_name(x, subj != NULL ? subj : X509_get_subject_name(ca_cert))
	    && X509_set_issuer_name(x, X509_get_subject_name(ca_cert))
	    && X509_gmtime_adj(X509_getm_notBefore(x), -300)
	    && X509_time_adj_ex(X509_getm_notAfter(x), (int)(kur ? days_kur : days_ir), 0, NULL)
	    && X509_set_pubkey(x, key)
	    && add_ext(x, NID_basic_constraints, "critical,CA:FALSE")
	    && add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment")
	    && add_ext(x, NID_ext_key_usage, "emailProtection")
	    && add_ext(x, NID_subject_alt_name, san)
	    && add_ext(x, NID_authority_key_identifier, "keyid:always")
	    && X509_sign(x, ca_key, EVP_sha256()) > 0;
	EVP_PKEY_free(key);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	fprintf(stderr, "issued %s %s\n", kur ? "kur" : "ir", email);
	return x;
}

static OSSL_CMP_PKISI *
cert_request(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, int id,
    const OSSL_CRMF_MSG *crm, const X509_REQ *p10, X509 **out,
    STACK_OF(X509) **chain, STACK_OF(X509) **capubs)
{
	int kur = OSSL_CMP_MSG_get_bodytype(req) == OSSL_CMP_KUR;

	(void)srv; (void)id; (void)p10;
	*chain = NULL;
	*capubs = NULL;
	if (strcmp(mode, "reject") == 0 || crm == NULL || (*out = issue(crm, kur)) == NULL)
		return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_rejection,
		    1 << OSSL_CMP_PKIFAILUREINFO_badRequest, "refused");
	if (!kur && (*capubs = sk_X509_new_null()) != NULL)   /* the CA, as EJBCA does */
		X509_add_cert(*capubs, ca_cert, X509_ADD_FLAG_UP_REF);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

static OSSL_CMP_PKISI *
rr(OSSL_CMP_SRV_CTX *s, const OSSL_CMP_MSG *q, const X509_NAME *i, const ASN1_INTEGER *n)
{
	(void)s; (void)q; (void)i; (void)n;
	return NULL;
}

static int
genm(OSSL_CMP_SRV_CTX *s, const OSSL_CMP_MSG *q, const STACK_OF(OSSL_CMP_ITAV) *in,
    STACK_OF(OSSL_CMP_ITAV) **out)
{
	(void)s; (void)q; (void)in; (void)out;
	return 0;
}

static void
error_cb(OSSL_CMP_SRV_CTX *s, const OSSL_CMP_MSG *q, const OSSL_CMP_PKISI *si,
    const ASN1_INTEGER *c, const OSSL_CMP_PKIFREETEXT *d)
{
	(void)s; (void)q; (void)si; (void)c; (void)d;
}

static int
certconf(OSSL_CMP_SRV_CTX *s, const OSSL_CMP_MSG *q, int id,
    const ASN1_OCTET_STRING *h, const OSSL_CMP_PKISI *si)
{
	(void)s; (void)q; (void)id; (void)h; (void)si;
	return 1;
}

static int
pollreq(OSSL_CMP_SRV_CTX *s, const OSSL_CMP_MSG *q, int id, OSSL_CMP_MSG **r, int64_t *a)
{
	(void)s; (void)q; (void)id; (void)r; (void)a;
	return 0;
}

/* A kur (and its certConf) is answered signed, anything else with PBM. */
static void
protection_for(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	const ASN1_OCTET_STRING *tid = OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(req));
	int sig = OSSL_CMP_MSG_get_bodytype(req) == OSSL_CMP_KUR;

	if (sig) {
		ASN1_OCTET_STRING_free(kur_tid);
		kur_tid = ASN1_OCTET_STRING_dup(tid);
	} else
		sig = kur_tid != NULL && tid != NULL && ASN1_OCTET_STRING_cmp(kur_tid, tid) == 0;
	if (sig)
		OSSL_CMP_CTX_set1_secretValue(ctx, NULL, 0);
	else
		OSSL_CMP_CTX_set1_secretValue(ctx, (const unsigned char *)secret,
		    (int)strlen(secret));
}

static void
handle(struct evhttp_request *r, void *arg)
{
	OSSL_CMP_SRV_CTX *srv = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(r), *out;
	size_t n = evbuffer_get_length(in);
	const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
	OSSL_CMP_MSG *req = p ? d2i_OSSL_CMP_MSG(NULL, &p, (long)n) : NULL, *rsp = NULL;
	unsigned char *der = NULL;
	int len;

	if (req != NULL) {
		protection_for(OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv), req);
		rsp = OSSL_CMP_SRV_process_request(srv, req);
	}
	if (rsp == NULL || (len = i2d_OSSL_CMP_MSG(rsp, &der)) <= 0) {
		ERR_print_errors_fp(stderr);
		evhttp_send_error(r, 400, "bad request");
	} else {
		out = evbuffer_new();
		evbuffer_add(out, der, (size_t)len);
		evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Type",
		    "application/pkixcmp");
		evhttp_send_reply(r, 200, "OK", out);
		evbuffer_free(out);
	}
	ERR_clear_error();
	OPENSSL_free(der);
	OSSL_CMP_MSG_free(req);
	OSSL_CMP_MSG_free(rsp);
}

static int
load(const char *crt, const char *key)
{
	FILE *f = fopen(crt, "r"), *g = fopen(key, "r");

	ca_cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	ca_key = g ? PEM_read_PrivateKey(g, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (g)
		fclose(g);
	return ca_cert != NULL && ca_key != NULL ? 0 : -1;
}

static OSSL_CMP_SRV_CTX *
server(void)
{
	OSSL_CMP_SRV_CTX *srv = OSSL_CMP_SRV_CTX_new(NULL, NULL);
	OSSL_CMP_CTX *ctx = srv ? OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv) : NULL;
	X509_STORE *ts = X509_STORE_new();

	if (ctx == NULL || ts == NULL || !X509_STORE_add_cert(ts, ca_cert)
	    || !OSSL_CMP_SRV_CTX_init(srv, NULL, cert_request, rr, genm, error_cb, certconf,
	    pollreq)
	    || !OSSL_CMP_CTX_set1_cert(ctx, ca_cert) || !OSSL_CMP_CTX_set1_pkey(ctx, ca_key)
	    || !OSSL_CMP_CTX_set0_trustedStore(ctx, ts))
		return NULL;
	return srv;
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	OSSL_CMP_SRV_CTX *srv;

	if (argc < 7 || argc > 8) {
		fprintf(stderr, "usage: cmpserver PORT CA.crt CA.key SECRET DAYS-IR DAYS-KUR [MODE]\n");
		return 2;
	}
	secret = argv[4];
	days_ir = atol(argv[5]);
	days_kur = atol(argv[6]);
	if (argc > 7)
		mode = argv[7];
	if (load(argv[2], argv[3]) != 0 || (srv = server()) == NULL) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if ((base = event_base_new()) == NULL || (http = evhttp_new(base)) == NULL
	    || evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)atoi(argv[1])) != 0) {
		fprintf(stderr, "cmpserver: cannot listen on 127.0.0.1:%s\n", argv[1]);
		return 1;
	}
	evhttp_set_gencb(http, handle, srv);
	event_base_dispatch(base);
	return 0;
}

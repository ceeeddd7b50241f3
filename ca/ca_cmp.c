/*
 * ca_cmp.c: certificates from an external CA over CMP (see ca_cmp.h);
 * the key is escrowed through keystore's public API.
 */
#include "ca/ca_cmp.h"
#include "ca/ca_int.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/cmp.h>
#include <openssl/x509v3.h>

/* The subjectAltName rfc822Name (openssl cmp -sans would make a DNS name). */
static int
cmp_san(OSSL_CMP_CTX *ctx, const char *address)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	int ok = gn != NULL && ia5 != NULL && ASN1_STRING_set(ia5, address, -1);

	if (ok) {
		GENERAL_NAME_set0_value(gn, GEN_EMAIL, ia5);
		ia5 = NULL;
		ok = OSSL_CMP_CTX_push1_subjectAltName(ctx, gn);
	}
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	return ok;
}

static OSSL_CMP_CTX *
cmp_ctx(const ca_cmp_settings_t *s, const char *address, EVP_PKEY *key)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	char host[256];
	const char *colon = strrchr(s->server, ':');
	X509_NAME *name = ca_make_name(s->subject, address, NULL);
	int ok = ctx != NULL && name != NULL && colon != NULL
	    && (size_t)(colon - s->server) < sizeof(host);

	if (ok) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s->server), s->server);
		ok = OSSL_CMP_CTX_set1_server(ctx, host)
		    && OSSL_CMP_CTX_set_serverPort(ctx, atoi(colon + 1))
		    && OSSL_CMP_CTX_set1_serverPath(ctx, s->path)
		    && OSSL_CMP_CTX_set1_referenceValue(ctx, (const unsigned char *)s->reference,
		    (int)strlen(s->reference))
		    && OSSL_CMP_CTX_set1_secretValue(ctx, (const unsigned char *)s->secret,
		    (int)strlen(s->secret))
		    && OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MSG_TIMEOUT, s->timeout)
		    && OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT, s->timeout)
		    && OSSL_CMP_CTX_set1_subjectName(ctx, name) && cmp_san(ctx, address)
		    && EVP_PKEY_up_ref(key);
		if (ok && !OSSL_CMP_CTX_set0_newPkey(ctx, 1, key)) {
			EVP_PKEY_free(key);
			ok = 0;
		}
	}
	X509_NAME_free(name);
	if (!ok) {
		OSSL_CMP_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The status the server gave, for the message. */
static void
cmp_why(OSSL_CMP_CTX *ctx, char *buf, size_t size)
{
	if (OSSL_CMP_CTX_get_status(ctx) < 0 || OSSL_CMP_CTX_snprint_PKIStatus(ctx, buf, size) == NULL)
		snprintf(buf, size, "no answer");
}

static keystore_status_t
cmp_escrow(keystore_t *ks, OSSL_CMP_CTX *ctx, X509 *cert, EVP_PKEY *key,
    keystore_err_t *err)
{
	STACK_OF(X509) *chain = OSSL_CMP_CTX_get1_extraCertsIn(ctx);
	keystore_status_t rc;

	if (chain == NULL && (chain = sk_X509_new_null()) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	rc = keystore_escrow(ks, cert, chain, key, err);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

keystore_status_t
ca_cmp_enroll(keystore_t *ks, const ca_cmp_settings_t *s,
    const char *address, EVP_PKEY *key, X509 **cert, keystore_err_t *err)
{
	EVP_PKEY *k = key;
	OSSL_CMP_CTX *ctx = NULL;
	X509 *x = NULL;
	char status[300];
	keystore_status_t rc;

	if (k == NULL)
		k = ca_new_key(s->key_type);
	else
		EVP_PKEY_up_ref(k);
	if (k == NULL || (ctx = cmp_ctx(s, address, k)) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_INPUT, "CMP %s: cannot set up the request",
		    s->server);
	else if ((x = OSSL_CMP_exec_IR_ses(ctx)) == NULL) {
		cmp_why(ctx, status, sizeof(status));
		rc = util_err_ssl(err, KEYSTORE_ERR_IO, "CMP %s: no certificate for %s (%s)",
		    s->server, address, status);
	} else if ((x = X509_dup(x)) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else
		rc = cmp_escrow(ks, ctx, x, k, err);
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(k);
	if (rc == KEYSTORE_OK && cert != NULL)
		*cert = x;
	else
		X509_free(x);
	return rc;
}

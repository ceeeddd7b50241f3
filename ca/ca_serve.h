/*
 * ca_serve.h: the gateway's side of the embedded CA: its settings from the
 * configuration, issuing and publishing, and the handlers of the
 * CAHTTPListen server (net_http.h) that serve the CRL (/ca.crl, re-issued
 * every CACRLInterval by a timer on that server's loop) and the issuing
 * certificate (/ca.crt), and the enrollment pickup portal (GET
 * /pickup?t=TOKEN, a form; POST /pickup, the PKCS#12 once, with the
 * password; enroll_pickup.h).
 *
 * Ownership and threads: ca_serve_http_open() returns a handle whose
 * handlers and timer run on the server's loop thread; free it with
 * ca_serve_free() after that loop ended and before net_http_free().  It
 * borrows ks and ca, which must outlive it.
 */
#ifndef CA_SERVE_H
#define CA_SERVE_H

#include "keystore/keystore_ca.h"
#include "conf/conf.h"
#include "net/net_http.h"
#include "net/net_httplimit.h"

/* Octets: the largest request body on CAHTTPListen (the pickup form). */
#define CA_SERVE_MAX_BODY 2000

typedef struct ca_serve_http ca_serve_http_t;

/* Fills s from conf (pointers into conf). */
void ca_serve_settings(const conf_t *conf, keystore_ca_settings_t *s);

/* Issues a certificate for address under profile, key escrowed: over CMP
 * when CMPServer is set (key: NULL, or one to use), else from ca (may
 * then not be NULL).  0 with *cert, or -1 with why. */
int ca_serve_issue(const conf_t *conf, keystore_ca_t *ca, keystore_t *ks,
    const char *address, keystore_ca_profile_t profile, EVP_PKEY *key, X509 **cert,
    char *why, size_t size);

/* Opens the CA of conf, making it first when it does not exist yet.
 * NULL with a message in why on failure. */
keystore_ca_t *ca_serve_open(const conf_t *conf, keystore_t *ks,
    char *why, size_t size);

/* Publishes an issued certificate for address: into the harvest store,
 * and out of the lookup cache's negative answers.  0, or -1 with why. */
int ca_serve_publish(const conf_t *conf, const char *address, X509 *cert,
    char *why, size_t size);

/* Serves the CA's files and the portal on srv (CAHTTPListen's, the limits'
 * max_body CA_SERVE_MAX_BODY) and signs a first CRL; NULL with why filled.
 * ca NULL (enrollment over CMP only): the portal alone. */
ca_serve_http_t *ca_serve_http_open(net_http_t *srv, const conf_t *conf,
    keystore_ca_t *ca, keystore_t *ks, char *why, size_t size);
/* NULL is fine. */
void ca_serve_free(ca_serve_http_t *h);
/* The pickup portal's failure limits. */
typedef struct ca_portal_limits {
	int max_failures;              /* PickupMaxFailures: wrong passwords a link */
	int client_max;                /* PickupClientMaxFailures */
	long client_window;            /* PickupClientWindow, seconds */
	const conf_netlist_t *proxies; /* PickupTrustedProxies (copied) */
} ca_portal_limits_t;

/* Fills pl from conf (proxies points into conf). */
void ca_serve_portal_limits(const conf_t *conf, ca_portal_limits_t *pl);

/* For tests and fuzzers: the endpoint's request handling (the same
 * settings, limits and handlers) on the caller's evhttp, run by the
 * caller's loop: the portal on pickup_dir with ks, no CA, no thread.
 * ca_serve_free() frees the handle (not http): call it after evhttp_free(). */
struct evhttp;
ca_serve_http_t *ca_serve_portal_attach(struct evhttp *http, keystore_t *ks,
    const char *pickup_dir, const ca_portal_limits_t *pl,
    const net_httplimit_conf_t *lim);

#endif

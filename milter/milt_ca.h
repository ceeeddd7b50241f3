/*
 * milt_ca.h: the gateway's side of the embedded CA (issue 5): its settings
 * from the configuration, and the HTTP endpoint (libevent's evhttp, on
 * CAHTTPListen) that serves the CRL (/ca.crl, re-issued every CACRLInterval)
 * and the issuing certificate (/ca.crt) from its own thread, and the
 * enrollment pickup portal (GET /pickup?t=TOKEN, a form; POST /pickup, the
 * PKCS#12 once, with the password; milt_pickup.h).
 *
 * Ownership: milt_ca_start() returns a handle that milt_ca_stop() stops and
 * frees; it borrows ks and ca, which must outlive it.
 */
#ifndef MILT_CA_H
#define MILT_CA_H

#include "keystore/keystore_ca.h"
#include "milter/milt_conf.h"
#include "milter/milt_httplimit.h"

typedef struct milt_ca_http milt_ca_http_t;

/* Fills s from conf (pointers into conf). */
void milt_ca_settings(const milt_conf_t *conf, keystore_ca_settings_t *s);

/* Issues a certificate for address under profile, key escrowed: over CMP
 * when CMPServer is set (key: NULL, or one to use), else from ca (may
 * then not be NULL).  0 with *cert, or -1 with why. */
int milt_ca_issue(const milt_conf_t *conf, keystore_ca_t *ca, keystore_t *ks,
    const char *address, keystore_ca_profile_t profile, EVP_PKEY *key, X509 **cert,
    char *why, size_t size);

/* Opens the CA of conf, making it first when it does not exist yet.
 * NULL with a message in why on failure. */
keystore_ca_t *milt_ca_open(const milt_conf_t *conf, keystore_t *ks,
    char *why, size_t size);

/* Publishes an issued certificate for address: into the harvest store,
 * and out of the lookup cache's negative answers.  0, or -1 with why. */
int milt_ca_publish(const milt_conf_t *conf, const char *address, X509 *cert,
    char *why, size_t size);

/* Binds CAHTTPListen and serves from a thread; NULL with why filled.  ca
 * NULL (enrollment over CMP only): the portal alone. */
milt_ca_http_t *milt_ca_start(const milt_conf_t *conf, keystore_ca_t *ca,
    keystore_t *ks, char *why, size_t size);
void milt_ca_stop(milt_ca_http_t *h);
/* The pickup portal's failure limits. */
typedef struct milt_portal_limits {
	int max_failures;              /* PickupMaxFailures: wrong passwords a link */
	int client_max;                /* PickupClientMaxFailures */
	long client_window;            /* PickupClientWindow, seconds */
	const milt_netlist_t *proxies; /* PickupTrustedProxies (copied) */
} milt_portal_limits_t;

/* Fills pl from conf (proxies points into conf). */
void milt_ca_portal_limits(const milt_conf_t *conf, milt_portal_limits_t *pl);

/* For tests and fuzzers: the endpoint's request handling (the same
 * settings, limits and handlers) on the caller's evhttp, run by the
 * caller's loop: the portal on pickup_dir with ks, no CA, no thread.
 * milt_ca_stop() frees the handle (not http): call it after evhttp_free(). */
struct evhttp;
milt_ca_http_t *milt_ca_portal_attach(struct evhttp *http, keystore_t *ks,
    const char *pickup_dir, const milt_portal_limits_t *pl,
    const milt_httplimit_conf_t *lim);

#endif

/*
 * ca_serve.h: the gateway's side of the embedded CA: its settings from
 * the configuration, first-start creation, issuing (the embedded CA or
 * CMPServer) and publishing, and the HTTP endpoint (libevent's evhttp,
 * on CAHTTPListen) that serves the CRL (/ca.crl, re-issued every
 * CACRLInterval) and the issuing certificate (/ca.crt) from its own
 * thread.  The gateway adds a handler of its own to the endpoint (the
 * enrollment pickup portal, enroll/enroll_portal.h); this side knows
 * nothing of it.
 *
 * Ownership: ca_serve_start() returns a handle that ca_serve_stop() stops and
 * frees; it borrows ca and the handler's arg, which must outlive it.
 */
#ifndef CA_SERVE_H
#define CA_SERVE_H

#include "ca/ca.h"
#include "conf/conf.h"
#include "net/net_httplimit.h"

typedef struct ca_serve_http ca_serve_http_t;

/* Fills s from conf (pointers into conf). */
void ca_serve_settings(const conf_t *conf, ca_settings_t *s);

/* Issues a certificate for address under profile, key escrowed: over CMP
 * when CMPServer is set (key: NULL, or one to use), else from ca (may
 * then not be NULL).  0 with *cert, or -1 with why. */
int ca_serve_issue(const conf_t *conf, ca_t *ca, keystore_t *ks,
    const char *address, ca_profile_t profile, EVP_PKEY *key, X509 **cert,
    char *why, size_t size);

/* Opens the CA of conf, making it first when it does not exist yet.
 * NULL with a message in why on failure. */
ca_t *ca_serve_open(const conf_t *conf, keystore_t *ks,
    char *why, size_t size);

/* Publishes an issued certificate for address: into the harvest store,
 * and out of the lookup cache's negative answers.  0, or -1 with why. */
int ca_serve_publish(const conf_t *conf, const char *address, X509 *cert,
    char *why, size_t size);

struct evhttp;
struct evhttp_request;

/* A handler added to the endpoint: called on its thread for each request
 * within the limits, before the CA's own paths; returns 1 when it
 * answered req, 0 to leave req to the endpoint (404, or 405 for a method
 * other than GET). */
typedef int (*ca_serve_handler_t)(struct evhttp_request *req, void *arg);

/* Binds CAHTTPListen and serves from a thread, with handler (may be
 * NULL) called with arg; NULL with why filled.  ca NULL (enrollment over
 * CMP only): the handler alone. */
ca_serve_http_t *ca_serve_start(const conf_t *conf, ca_t *ca,
    ca_serve_handler_t handler, void *arg, char *why, size_t size);
void ca_serve_stop(ca_serve_http_t *h);

/* For tests and fuzzers: the endpoint's request handling (the same
 * settings, limits and handler) on the caller's evhttp, run by the
 * caller's loop: no CA, no thread.  ca_serve_stop() frees the handle
 * (not http): call it after evhttp_free(). */
ca_serve_http_t *ca_serve_attach(struct evhttp *http, const net_httplimit_conf_t *lim,
    ca_serve_handler_t handler, void *arg);

#endif

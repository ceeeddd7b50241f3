/*
 * ca_serve.h: the gateway's side of the embedded CA: its settings from the
 * configuration, issuing (the embedded CA or CMPServer) and publishing,
 * and the handlers of the CAHTTPListen server (net_http.h) that serve the
 * CRL (/ca.crl, re-issued every CACRLInterval by a timer on that server's
 * loop) and the issuing certificate (/ca.crt).  The gateway adds a
 * handler of its own to that server (the enrollment pickup portal,
 * enroll/enroll_portal.h); this side knows nothing of it.
 *
 * Ownership and threads: ca_serve_http_open() returns a handle whose
 * handlers and timer run on the server's loop thread; free it with
 * ca_serve_free() after that loop ended and before net_http_free().  It
 * borrows ca and the handler's arg, which must outlive it.
 */#ifndef CA_SERVE_H
#define CA_SERVE_H

#include "ca/ca.h"
#include "ca/ca_cmp.h"
#include "audit/audit.h"
#include "conf/conf.h"
#include "net/net_http.h"
#include "net/net_httplimit.h"

/* Octets: the largest request body on CAHTTPListen (the pickup form). */
#define CA_SERVE_MAX_BODY 2000

typedef struct ca_serve_http ca_serve_http_t;

/* Fills s from conf (pointers into conf). */
void ca_serve_settings(const conf_t *conf, ca_settings_t *s);

/* Issues a certificate for address under profile, key escrowed: over CMP
 * when CMPServer is set (key: NULL, or one to use), else from ca (may
 * then not be NULL), and records it in the audit log (cert-issued).  0
 * with *cert, or -1 with why. */
int ca_serve_issue(const conf_t *conf, ca_t *ca, keystore_t *ks,
    const char *address, ca_profile_t profile, EVP_PKEY *key, X509 **cert,
    char *why, size_t size);

/* CMPServer's settings from conf (pointers into conf), with the shared
 * secret read from CMPSecretFile when secret is 1 (a kur needs none).
 * 0, or -1 with why; ca_serve_cmp_done() cleanses the secret. */
int ca_serve_cmp_settings(const conf_t *conf, int secret, ca_cmp_settings_t *s,
    char *why, size_t size);
void ca_serve_cmp_done(ca_cmp_settings_t *s);

/* A key event of the CA (cert-issued, cert-revoked...) in the audit log:
 * ops_audit_key_event() with cert's facts and reason.  0, or -1 with why.
 * ca_serve_issue() records its issues itself. */
int ca_serve_key_event(const conf_t *conf, audit_action_t action,
    const char *address, X509 *cert, const char *reason, char *why, size_t size);

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

/* A handler added to the server: called on its loop thread for each
 * request within the limits, before the CA's own paths; returns 1 when it
 * answered req, 0 to leave req to the CA (404, or 405 for a method other
 * than GET). */
typedef int (*ca_serve_handler_t)(struct evhttp_request *req, void *arg);

/* Serves the CA's files on srv (CAHTTPListen's, the limits' max_body
 * CA_SERVE_MAX_BODY), with handler (may be NULL) called with arg, and
 * signs a first CRL; NULL with why filled.  ca NULL (enrollment over CMP
 * only): the handler alone. */
ca_serve_http_t *ca_serve_http_open(net_http_t *srv, const conf_t *conf,
    ca_t *ca, ca_serve_handler_t handler, void *arg, char *why, size_t size);
/* NULL is fine. */
void ca_serve_free(ca_serve_http_t *h);

/* For tests and fuzzers: the same request handling (limits and handler)
 * on the caller's evhttp, run by the caller's loop: no CA, no thread.
 * ca_serve_free() frees the handle (not http): call it after evhttp_free(). */
ca_serve_http_t *ca_serve_attach(struct evhttp *http, const net_httplimit_conf_t *lim,
    ca_serve_handler_t handler, void *arg);

#endif

/*
 * enroll_portal.h: the pickup portal, where an enrolled outsider fetches
 * the key and certificate issued for them, once: GET /pickup?t=TOKEN
 * (&l=LANG) answers the page (what this is, the form, the file format
 * chosen for the visitor's platform, import instructions, the CA's
 * certificate and fingerprint; from the templates, TemplateDirectory),
 * POST /pickup (t, password, format=modern|legacy, l) the PKCS#12 under
 * that password, or an error page saying what to do next (enroll_pickup.h checks the link and counts its wrong
 * passwords).  Failed pickups are also counted per client address:
 * PickupClientMaxFailures within PickupClientWindow, the address being
 * the one PickupTrustedProxies name in X-Forwarded-For when the peer is
 * one of them.
 *
 * With LookupService on, GET /certs is the public-key retrieval service
 * (enroll_lookup.h), LookupClientMaxRequests per client address within
 * PickupClientWindow (the same table of clients; over it, 429).
 *
 * The portal runs on the CA endpoint's HTTP server (CAHTTPListen,
 * ca/ca_serve.h): the gateway hands enroll_portal_handle() and the handle
 * to ca_serve_http_open(), which calls it for every request within the
 * server's limits.
 *
 * Ownership and threads: enroll_portal_new() returns a handle freed with
 * enroll_portal_free() once the server is stopped; it borrows ks (NULL:
 * every download fails), which must outlive it.  enroll_portal_handle()
 * runs on the server's thread only, which alone touches the handle.
 */
#ifndef ENROLL_PORTAL_H
#define ENROLL_PORTAL_H

#include "ca/ca.h"
#include "conf/conf.h"
#include "keystore/keystore.h"

struct evhttp_request;

typedef struct enroll_portal enroll_portal_t;

/* The pickup portal's failure limits. */
typedef struct enroll_portal_limits {
	int max_failures;              /* PickupMaxFailures: wrong passwords a link */
	int client_max;                /* PickupClientMaxFailures */
	long client_window;            /* PickupClientWindow, seconds */
	const conf_netlist_t *proxies; /* PickupTrustedProxies (copied) */
	int lookup_on;                 /* LookupService: GET /certs */
	int lookup_max;                /* LookupClientMaxRequests */
} enroll_portal_limits_t;

/* Fills pl from conf (proxies points into conf). */
void enroll_portal_limits(const conf_t *conf, enroll_portal_limits_t *pl);

/* The portal on the links in pickup_dir with the limits pl; NULL when
 * out of memory.  enroll_portal_open(): the same from conf (PickupDir and
 * the Pickup* limits). */
enroll_portal_t *enroll_portal_new(keystore_t *ks, const char *pickup_dir,
    const enroll_portal_limits_t *pl);
enroll_portal_t *enroll_portal_open(conf_t *conf, keystore_t *ks);
/* The pages' templates (TemplateDirectory) come from conf given to
 * enroll_portal_open() (none: plain text pages), or, once this is called,
 * from fn(arg): the configuration in force, one reference that the
 * portal drops; call before the server runs. */
void enroll_portal_follow(enroll_portal_t *p, conf_t *(*fn)(void *), void *arg);
void enroll_portal_free(enroll_portal_t *p);
/* The embedded CA whose revocations the lookup service honours
 * (borrowed; NULL: none); before the server runs. */
void enroll_portal_ca(enroll_portal_t *p, ca_t *ca);

/* Answers req when it is the portal's (GET or POST /pickup, GET /certs
 * when the lookup service is on) and returns
 * 1; returns 0, answering nothing, for any other request.  arg: the
 * handle. */
int enroll_portal_handle(struct evhttp_request *req, void *arg);

#endif

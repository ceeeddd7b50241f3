/*
 * enroll_lookup.h: the public-key retrieval service on the portal's
 * server (CAHTTPListen): GET /certs?mail=ADDRESS[&format=pem|p7c]
 * answers the certificates others encrypt to ADDRESS with, and their
 * chains, and nothing else: the keystore's entries of ADDRESS that are
 * valid now, allow encryption and are not CA certificates
 * (keystore_public_certs()), less those the embedded CA has revoked.
 * format=pem (the default): application/pem-certificate-chain, the
 * certificates first, newest first, then the chains; format=p7c: the
 * same as a certs-only PKCS#7 (DER), application/pkcs7-mime;
 * smime-type=certs-only.  An address without such a certificate, known
 * or not, is 404 with the same text; a request without a usable address
 * or with another format 400.
 *
 * The portal (enroll_portal.c) routes /certs here when LookupService is
 * on, after its per-client limit (LookupClientMaxRequests).
 *
 * Threads: runs on the server's thread; ks and ca (may be NULL) are
 * borrowed and shared as their headers say.
 */
#ifndef ENROLL_LOOKUP_H
#define ENROLL_LOOKUP_H

#include "ca/ca.h"
#include "keystore/keystore.h"

struct evhttp_request;

/* Answers req (a GET of /certs). */
void enroll_lookup_answer(struct evhttp_request *req, keystore_t *ks, ca_t *ca);

#endif

/*
 * enroll_seal.h: S/MIME protection of the gateway's own mails (the
 * password notice to the sender): a whole message, signed by the
 * gateway's key when it has one, then encrypted to one certificate; or
 * signed only (the invitation to the recipient).
 *
 * The input holds a secret: every buffer this makes of the plaintext is
 * cleansed before it is freed.  Thread-safe (no shared state).
 */
#ifndef ENROLL_SEAL_H
#define ENROLL_SEAL_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * msg: a whole message (CRLF line ends, as net_smtp_compose() makes).
 * Its Content-* and MIME-Version headers and body become the encrypted
 * entity (signed first when key and signer are given; chain may be NULL);
 * the other headers stay outside.  Returns the new message (malloc'ed,
 * no secret in it; free()) or NULL with why filled.
 */
char *enroll_seal(const char *msg, X509 *to, EVP_PKEY *key, X509 *signer,
    STACK_OF(X509) *chain, char *why, size_t size);

/* The same, signed only (multipart/signed): for a mail without a secret
 * (the invitation). */
char *enroll_sign(const char *msg, EVP_PKEY *key, X509 *signer, STACK_OF(X509) *chain,
    char *why, size_t size);

#endif

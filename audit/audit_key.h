/*
 * audit_key.h: the audit key, key ids and the signatures of checkpoints.
 *
 * Internal to audit/: declares audit_key.c's functions only; each file of
 * audit/ includes the headers of the files it calls.
 */
#ifndef AUDIT_KEY_H
#define AUDIT_KEY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "audit/audit.h"

/* Loads (creating when create and absent) the key and audit.pub. */
audit_status_t audit_key_open(const char *key_file, const char *pub_file,
    int create, EVP_PKEY *given, EVP_PKEY **key, int *created, audit_err_t *err);
/* Hex SHA-256 of the DER SubjectPublicKeyInfo into out[65]. */
audit_status_t audit_key_id(EVP_PKEY *key, char out[65], audit_err_t *err);
/* The base64 signature of a checkpoint (malloc'ed). */
char *audit_key_sign(EVP_PKEY *key, uint64_t seq, const char *time,
    const char *prev, audit_err_t *err);
/* 1 when sig is key's signature of the checkpoint, else 0. */
int audit_key_verify(EVP_PKEY *pub, uint64_t seq, const char *time,
    const char *prev, const char *sig);
/* Hex SHA-256 of data into out[65]. */
void audit_sha256_hex(const void *data, size_t len, char out[65]);

#endif

/*
 * keystore_entry.h: one entry: its PEM file, its key sealed with AES-GCM.
 *
 * Ownership: an entry belongs to the index that loaded it (or to the one
 * caller that made it, for an import).
 *
 * Internal to keystore/: declares keystore_entry.c's functions only; each file
 * of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_ENTRY_H
#define KEYSTORE_ENTRY_H

#include <stddef.h>
#include <openssl/bio.h>
#include <openssl/x509.h>

#include "keystore/keystore.h"
#include "keystore/keystore_cert.h"

#define KEYSTORE_KEY_PEM_NAME "SMIMEGATE ENCRYPTED PRIVATE KEY"
#define KEYSTORE_ENTRY_MAX    (1024L * 1024L)   /* an entry file's size limit */

typedef struct keystore_entry {
	char *file;                    /* its file name in the directory */
	X509 *cert;
	STACK_OF(X509) *chain;
	unsigned char fp[KEYSTORE_FP_LEN];
	unsigned char *sealed;         /* version, nonce, ciphertext, tag */
	size_t sealed_len;
	char **addresses;              /* NULL-terminated */
	keystore_info_t info;          /* info.addresses points to addresses */
	char *origin;                  /* where it came from (keystore_escrow_origin()),
	                                  bound to the sealed key; NULL: none said */
} keystore_entry_t;

/* A new entry for cert (up-ref'ed), chain (copied, certs up-ref'ed) and
 * key, sealed under master; origin (copied; NULL: none) is sealed with
 * the key (KEYSTORE_ORIGIN_MAX octets, printable, no line end). */
keystore_status_t keystore_entry_new(X509 *cert, STACK_OF(X509) *chain,
    EVP_PKEY *key, const char *origin, const unsigned char *master,
    keystore_entry_t **entry, keystore_err_t *err);
/* Loads the file name in dir. */
keystore_status_t keystore_entry_load(const char *dir, const char *name,
    keystore_entry_t **entry, keystore_err_t *err);
/* Parses an entry from its bytes (the file's); where names them. */
keystore_status_t keystore_entry_parse(const unsigned char *data, size_t len,
    const char *where, keystore_entry_t **entry, keystore_err_t *err);
/* The entry's bytes (the file's), in a new memory BIO. */
keystore_status_t keystore_entry_encode(const keystore_entry_t *entry,
    BIO **out, keystore_err_t *err);
/* Writes entry to dir atomically. */
keystore_status_t keystore_entry_save(const keystore_entry_t *entry,
    const char *dir, keystore_err_t *err);
/* Decrypts the entry's key (dir: where its file is, for messages). */
keystore_status_t keystore_entry_key(const keystore_entry_t *entry,
    const unsigned char *master, const char *dir, EVP_PKEY **key,
    keystore_err_t *err);
void keystore_entry_free(keystore_entry_t *entry);
/* 1 when name looks like an entry file: 64 lower-case hex digits ".pem". */
int keystore_entry_name_ok(const char *name);

#endif

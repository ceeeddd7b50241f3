/*
 * keystore_keys.h: the master keys in use (the current one and, while a
 * rekey is unfinished, the next), and the lock of import and rekey.
 *
 * Internal to keystore/: declares keystore_keys.c's functions only; each file
 * of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_KEYS_H
#define KEYSTORE_KEYS_H

#include <openssl/evp.h>

#include "keystore/keystore.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_master.h"

/* "<master file>.new": the next master key while a rekey is unfinished. */
char *keystore_master_next_path(const char *master_file);
/* Reads master.key and, if present, master.key.new into ks (under
 * ks->master_lock). */
keystore_status_t keystore_keys_load(keystore_t *ks, keystore_err_t *err);
/* Decrypts e's key with the keys the handle holds now: the current one,
 * then the next one of an unfinished rekey; KEYSTORE_ERR_CORRUPT when
 * neither opens it. */
keystore_status_t keystore_keys_try(keystore_t *ks, const keystore_entry_t *e,
    EVP_PKEY **key, keystore_err_t *err);
/* Decrypts e's key with whichever master key sealed it: the current one,
 * the next one of an unfinished rekey, or (after reading the key files
 * again, as when smimectl rekeyed under a running daemon) the new one. */
keystore_status_t keystore_key_of(keystore_t *ks, const keystore_entry_t *e,
    EVP_PKEY **key, keystore_err_t *err);
/* keystore_key_of() through the cache of decrypted keys: the key kept
 * for e found under addr (the normalized address of its index slot), or
 * e's key decrypted now and kept (keystore_keycache.h). */
keystore_status_t keystore_key_kept(keystore_t *ks, const char *addr,
    const keystore_entry_t *e, EVP_PKEY **key, keystore_err_t *err);
/* The master key new entries are sealed with (copied out; cleanse it). */
void keystore_master_current(keystore_t *ks, unsigned char key[KEYSTORE_MASTER_LEN]);
/* An exclusive advisory lock on dir/.lock (import and rekey) in *fd. */
keystore_status_t keystore_dir_lock(const char *dir, int *fd, keystore_err_t *err);
void keystore_dir_unlock(int fd);

#endif

/*
 * smime_out.h: output through the caller's writer, raw or base64.
 *
 * Internal to smime/: declares smime_out.c's functions only; each file of
 * smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_OUT_H
#define SMIME_OUT_H

#include <stddef.h>
#include <gmime/gmime.h>
#include <openssl/bio.h>

#include "smime/smime.h"

typedef struct smime_out smime_out_t;

/* NULL when out of memory. */
smime_out_t *smime_out_new(smime_write_fn fn, void *arg);
void smime_out_free(smime_out_t *o);
/* From now on, raw octets collect in a buffer (0, or -1 when out of
 * memory); smime_out_flush() sends what it holds: call it at the end. */
int smime_out_buffer(smime_out_t *o);
int smime_out_flush(smime_out_t *o);
/* Raw octets to the writer: 0, or -1 once the writer has failed. */
int smime_out_write(smime_out_t *o, const void *buf, size_t len);
int smime_out_puts(smime_out_t *o, const char *s);
/* A BIO (owned by o) whose input goes out as base64 in CRLF lines. */
BIO *smime_out_base64_bio(smime_out_t *o);
/* A BIO (owned by o) whose input goes out as it is. */
BIO *smime_out_raw_bio(smime_out_t *o);
/* A write-only GMimeStream into bio (which must outlive it; its flush
 * does not flush bio); the caller unrefs it. */
GMimeStream *smime_out_bio_stream(BIO *bio);
/* Writes the last base64 line; 0 or -1. */
int smime_out_base64_end(smime_out_t *o);
/* 1 when the writer asked to stop. */
int smime_out_failed(const smime_out_t *o);

#endif

/*
 * smime_in.h: inbound input: the entity in memory, parsed; a part's
 * decoded content; header lists.
 *
 * Internal to smime/: declares smime_in.c's functions only; each file of
 * smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_IN_H
#define SMIME_IN_H

#include <stddef.h>
#include <gmime/gmime.h>
#include <openssl/bio.h>

#include "smime/smime.h"
#include "smime/smime_canon.h"
#include "smime/smime_int.h"

#define SMIME_IN_HEADERS_MAX 64   /* Content-* headers of an inner entity */

/* An inbound entity: the content headers, a blank line and the body in
 * one spool (memory, or an unlinked file in tmpdir past SMIME_MEM_DEFAULT),
 * and the entity GMime parsed from it with the stream persisted: the
 * parts' contents are substreams of the spool, not copies. */
typedef struct smime_in {
	GMimeStream *all;
	gint64 body_off;            /* where the body begins in all */
	const char *tmpdir;         /* NULL: $TMPDIR or /tmp */
	GMimeObject *entity;
} smime_in_t;

smime_status_t smime_in_load(const char *content_headers,
    const smime_body_t *body, const smime_limits_t *limits, smime_in_t *in,
    smime_err_t *err);
smime_status_t smime_in_load_at(const char *tmpdir, const char *content_headers,
    const smime_body_t *body, const smime_limits_t *limits, smime_in_t *in,
    smime_err_t *err);
void smime_in_clear(smime_in_t *in);
/* The content of a leaf part with its transfer encoding undone, in a new
 * memory BIO (small parts only). */
BIO *smime_in_part_bio(GMimePart *part, smime_err_t *err);
/* The same in a new spool in tmpdir, at 0. */
GMimeStream *smime_in_part_decoded(GMimePart *part, const char *tmpdir,
    smime_err_t *err);
/* Writes s from offset from to its end through fn in chunks; 0 or -1. */
int smime_in_stream_out(GMimeStream *s, gint64 from, smime_write_fn fn, void *arg);
/* smime_header_block_check() of the entity in s, read in chunks. */
smime_status_t smime_in_header_check(GMimeStream *s, size_t max, smime_err_t *err);
/* A list of header fields (name, value without the leading space, folds
 * as LF + white space, no final line end). */
typedef struct smime_hdrs {
	size_t n;
	char *name[SMIME_IN_HEADERS_MAX];
	char *value[SMIME_IN_HEADERS_MAX];
} smime_hdrs_t;

smime_status_t smime_hdrs_add(smime_hdrs_t *h, const char *name,
    const char *value, smime_err_t *err);
void smime_hdrs_clear(smime_hdrs_t *h);
/* A raw value as a milter hands it over: no leading white space, CRLF
 * folds as LF, no final line end; malloc'ed, NULL when out of memory. */
char *smime_hdrs_raw_value(const char *raw);
/* The entity in s (seekable) prescanned, parsed (persisted), checked
 * against limits; its Content-* and MIME-Version headers into h, its
 * others into others (the first SMIME_IN_HEADERS_MAX; NULL: dropped);
 * the offset of its body in *body_off. */
smime_status_t smime_in_entity_split(GMimeStream *s, const smime_limits_t *limits,
    smime_hdrs_t *h, smime_hdrs_t *others, gint64 *body_off, smime_err_t *err);
/* Writes len octets through fn in chunks; 0 or -1. */
int smime_write_all(smime_write_fn fn, void *arg, const unsigned char *p,
    size_t len);

#endif

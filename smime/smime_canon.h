/*
 * smime_canon.h: the entity to sign, made canonical (CRLF) and 7-bit, and
 * the limits on MIME structure checked before and after GMime parses.
 *
 * Internal to smime/: declares smime_canon.c's functions only; each file of
 * smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_CANON_H
#define SMIME_CANON_H

#include <stddef.h>
#include <gmime/gmime.h>

#include "smime/smime.h"
#include "smime/smime_int.h"

/*
 * Parses the Content-* headers and the body as one MIME entity, re-encodes
 * what is not 7-bit safe and writes it with CRLF line ends to a new spool
 * (*canon, positioned at 0) in dir.
 */
typedef struct smime_limits {
	unsigned max_parts, max_depth;  /* 0: SMIME_PARTS_DEFAULT, CANON_DEPTH_MAX */
} smime_limits_t;
#define SMIME_PARTS_DEFAULT 1000

/* Before GMime parses in (seekable; left at 0): SMIME_ERR_LIMIT when more
 * lines begin "Content-Type:" than max_parts (smime_canon.c). */
smime_status_t smime_mime_prescan(GMimeStream *in, unsigned max_parts, smime_err_t *err);
/* Inbound: SMIME_ERR_LIMIT when a parsed tree, or an entity in memory
 * (prescanned, parsed, its copy cleansed), has more parts or deeper
 * nesting than limits (NULL or 0: the defaults) (smime_canon.c). */
smime_status_t smime_mime_check_tree(GMimeObject *obj, const smime_limits_t *limits,
    smime_err_t *err);
smime_status_t smime_mime_check_mem(const unsigned char *p, size_t len,
    const smime_limits_t *limits, smime_err_t *err);
/* SMIME_ERR_LIMIT when a field of the header block at p (to its first
 * empty line), folds included, is longer than max octets (0: no limit).
 * Before GMime parses it: its header parser grows its buffer in small
 * steps, slow for megabytes under the sanitizers' realloc. */
smime_status_t smime_header_block_check(const unsigned char *p, size_t len, size_t max,
    smime_err_t *err);

/* The entity parsed and fixed, ready to be written (smime_canon.c). */
typedef struct smime_canon smime_canon_t;

/* hp (NULL: none): the entity is a Cryptographic Payload whose header
 * fields are protected (RFC 9788, smime_hp.h).  *cp: freed with
 * smime_canon_free(). */
smime_status_t smime_canon_prepare(const char *content_headers,
    const smime_body_t *body, const char *dir, size_t mem_max,
    const smime_limits_t *limits, const smime_hp_out_t *hp, smime_canon_t **cp,
    smime_err_t *err);
/* Writes the canonical entity (CRLF) to out, which may be anything
 * writable (a spool, a stream into OpenSSL). */
smime_status_t smime_canon_write(smime_canon_t *c, GMimeStream *out, smime_err_t *err);
void smime_canon_free(smime_canon_t *c);

/* smime_canon_prepare(), then smime_canon_write() to a new spool. */
smime_status_t smime_canon_build(const char *content_headers,
    const smime_body_t *body, const char *dir, size_t mem_max,
    const smime_limits_t *limits, const smime_hp_out_t *hp, GMimeStream **canon,
    smime_err_t *err);

#endif

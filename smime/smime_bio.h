/*
 * smime_bio.h: an OpenSSL BIO over a GMimeStream, so that CMS reads and
 * writes the spool (memory or an unlinked file) without a copy in memory.
 *
 * Internal to smime/: declares smime_bio.c's functions only.
 */
#ifndef SMIME_BIO_H
#define SMIME_BIO_H

#include <gmime/gmime.h>
#include <openssl/bio.h>

/* A new BIO reading and writing s from its current position; it holds a
 * reference to s, dropped by BIO_free().  NULL when out of memory. */
BIO *smime_bio_stream(GMimeStream *s);

#endif

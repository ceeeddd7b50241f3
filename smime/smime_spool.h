/*
 * smime_spool.h: a GMimeStream kept in memory up to a limit, then in an
 * unlinked temporary file.
 *
 * Internal to smime/: declares smime_spool.c's functions only; each file of
 * smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_SPOOL_H
#define SMIME_SPOOL_H

#include <stddef.h>
#include <gmime/gmime.h>

/*
 * A new read/write, seekable GMimeStream.  Data stays in memory up to
 * mem_max octets; a write beyond that moves it to a temporary file in dir
 * (NULL: $TMPDIR or /tmp), unlinked as soon as it is created.  Substreams
 * (as a persistent GMimeParser makes) share its storage and reference it;
 * do not write to it once they exist.
 */
GMimeStream *smime_spool_new(const char *dir, size_t mem_max);
/* errno of the first failure (0: none), with what failed in *what. */
int smime_spool_error(GMimeStream *spool, const char **what);
/* Overwrites the data while it is in memory (decrypted content). */
void smime_spool_cleanse(GMimeStream *spool);
/* 1 when the data went to a file. */
int smime_spool_on_disk(GMimeStream *spool);

#endif

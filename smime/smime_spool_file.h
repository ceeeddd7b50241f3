/*
 * smime_spool_file.h: the spool's on-disk stream (smime_spool_file.c).
 *
 * Internal to smime/: declares smime_spool_file.c's functions only; each
 * file of smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_SPOOL_FILE_H
#define SMIME_SPOOL_FILE_H

#include <gmime/gmime.h>

/* A stream over fd (read and written at the stream's position, from 0),
 * which it owns from now on; NULL when out of memory (fd is not closed). */
GMimeStream *smime_spool_file_new(int fd);
/* The descriptor of a stream smime_spool_file_new() made. */
int smime_spool_file_fd(GMimeStream *stream);

#endif

/*
 * milt_spool.h: a message body being received or built.  Data stays in
 * memory up to a threshold, then moves to an unlinked file in the spool
 * directory, so memory stays bounded whatever the size; a hard maximum
 * refuses more (the sender-sized limit, MaximumMessageSize).
 *
 * Ownership and threads: one spool belongs to one message context and is
 * used by one thread; milt_spool_free() closes the file.
 */
#ifndef MILT_SPOOL_H
#define MILT_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

typedef struct milt_spool milt_spool_t;

enum { MILT_SPOOL_OK = 0, MILT_SPOOL_EIO = -1, MILT_SPOOL_TOOBIG = -2 };

/* dir: where the file goes; mem_max: octets kept in memory; max: hard limit. */
milt_spool_t *milt_spool_new(const char *dir, size_t mem_max, long long max);
void milt_spool_free(milt_spool_t *sp);

/* Appends; MILT_SPOOL_OK, MILT_SPOOL_EIO (see milt_spool_error) or TOOBIG. */
int milt_spool_write(milt_spool_t *sp, const void *buf, size_t len);
/* The same with the signature of smime_write_fn: 0 or -1. */
int milt_spool_writer(void *sp, const void *buf, size_t len);

long long milt_spool_size(const milt_spool_t *sp);
/* The data in memory (NULL when it went to a file), and its length. */
const unsigned char *milt_spool_mem(const milt_spool_t *sp, size_t *len);
/* The file descriptor when it went to a file, else -1. */
int milt_spool_fd(const milt_spool_t *sp);
/* Reads up to len octets at offset off; octets read, 0 at end, -1 on error. */
ssize_t milt_spool_read(milt_spool_t *sp, long long off, void *buf, size_t len);

const char *milt_spool_error(const milt_spool_t *sp);

#endif

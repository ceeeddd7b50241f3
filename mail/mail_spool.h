/*
 * mail_spool.h: a message body being received or built.  Data stays in
 * memory up to a threshold, then moves to an unlinked file in the spool
 * directory, so memory stays bounded whatever the size (smime/'s store,
 * smime_store_t, does that); a hard maximum refuses more (the
 * sender-sized limit, MaximumMessageSize).
 *
 * Ownership and threads: one spool belongs to one message context and is
 * used by one thread; mail_spool_free() closes the file.
 */
#ifndef MAIL_SPOOL_H
#define MAIL_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

typedef struct mail_spool mail_spool_t;

enum { MAIL_SPOOL_OK = 0, MAIL_SPOOL_EIO = -1, MAIL_SPOOL_TOOBIG = -2 };

/* dir: where the file goes; mem_max: octets kept in memory; max: hard limit. */
mail_spool_t *mail_spool_new(const char *dir, size_t mem_max, long long max);
void mail_spool_free(mail_spool_t *sp);

/* Appends; MAIL_SPOOL_OK, MAIL_SPOOL_EIO (see mail_spool_error) or TOOBIG. */
int mail_spool_write(mail_spool_t *sp, const void *buf, size_t len);
/* The same with the signature of smime_write_fn: 0 or -1. */
int mail_spool_writer(void *sp, const void *buf, size_t len);

long long mail_spool_size(const mail_spool_t *sp);
/* The data in memory (NULL when it went to a file), and its length. */
const unsigned char *mail_spool_mem(const mail_spool_t *sp, size_t *len);
/* The file descriptor when it went to a file, else -1. */
int mail_spool_fd(const mail_spool_t *sp);
/* Reads up to len octets at offset off; octets read, 0 at end, -1 on error. */
ssize_t mail_spool_read(mail_spool_t *sp, long long off, void *buf, size_t len);

const char *mail_spool_error(const mail_spool_t *sp);

#endif

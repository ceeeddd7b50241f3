/*
 * queue.h: the gateway's durable spool.  A copy of a message (envelope and
 * bytes) that smimegate must hand to the MTA itself, or keep waiting, is
 * written here and made durable before the milter answers, so that a
 * crash between accepting a message and the last copy handed on loses
 * nothing.  Nothing here knows libmilter, logs or exits.
 *
 * Layout, under one directory (mode 0700):
 *   tmp/ID      being written; never read; removed by queue_open()
 *   active/ID   complete, to be submitted (replayed on start)
 *   hold/ID     complete, waiting (enrollment, an operator's release)
 * A file is written in tmp/, fsync'ed, renamed into its state directory
 * and that directory fsync'ed, so an entry is either wholly there or
 * absent.  A move between states is a rename and two directory fsyncs;
 * removal (after the copy was handed on) an unlink and a directory fsync.
 *
 * An entry's file: "smimegate-spool 1\n", then "Key: value" lines
 * (Created, Sender, Rcpt (one per recipient), Form, Reason, Origin),
 * an empty line, and the message as it is to be submitted.  Values never
 * hold a newline (queue_put refuses them).
 *
 * Ownership and threads: a queue_t is a directory name and may be used by
 * several threads at once (each call opens its own files); an entry
 * returned by queue_get() is the caller's and is freed by queue_entry_free().
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <stddef.h>
#include <time.h>

typedef struct queue queue_t;

typedef enum queue_status {
	QUEUE_OK = 0,
	QUEUE_ERR_IO,           /* a system call failed; err says which */
	QUEUE_ERR_NOENT,        /* no such entry in that state */
	QUEUE_ERR_FORMAT,       /* a file that is not an entry */
	QUEUE_ERR_ARG,          /* a value with a newline, a bad ID or state */
	QUEUE_ERR_NOMEM
} queue_status_t;

typedef enum queue_state { QUEUE_ACTIVE = 0, QUEUE_HOLD } queue_state_t;

#define QUEUE_ID_MAX 48
#define QUEUE_ERR_MAX 512

typedef struct queue_env {
	const char *sender;         /* envelope sender, "" for <> */
	const char *const *rcpts;
	size_t nrcpts;
	const char *form;           /* e.g. "sign,encrypt"; NULL: none */
	const char *reason;         /* why it is here; NULL: none */
	const char *origin;         /* the MTA's queue ID it came from; NULL: none */
} queue_env_t;

typedef struct queue_entry {
	char id[QUEUE_ID_MAX];
	queue_state_t state;
	time_t created;
	char *sender;
	char **rcpts;
	size_t nrcpts;
	char *form, *reason, *origin;   /* "" when absent */
	int fd;                     /* open on the file, read only */
	long long body_off;         /* where the message begins in it */
	long long body_len;
} queue_entry_t;

/* Opens (creating the directories, 0700).  With nrecovered, also
 * recovers: entries left in tmp/ by a crash, and held entries whose
 * successor is in active/ (queue_succeed()), are removed and counted; only
 * the process that starts the gateway may do that (others may be writing). */
queue_status_t queue_open(const char *dir, queue_t **qp, size_t *nrecovered,
    char *err, size_t errlen);
void queue_close(queue_t *q);

/*
 * Writes an entry in state st: the envelope, then len octets of data.
 * Durable when it returns QUEUE_OK.  id: the entry's ID, made here when
 * id[0] is NUL, else one queue_new_id() made (so that the data may name it).
 */
queue_status_t queue_put(queue_t *q, const queue_env_t *env, const void *data,
    size_t len, queue_state_t st, char id[QUEUE_ID_MAX], char *err, size_t errlen);

/*
 * queue_put() with the data written by fn on the open file (for data too
 * large for memory): fn returns 0, or -1 (errno set, or 0 for "the data
 * could not be made"), and the entry is then not made.
 */
typedef int (*queue_writer_fn)(int fd, void *arg);
queue_status_t queue_put_with(queue_t *q, const queue_env_t *env, queue_writer_fn fn,
    void *arg, queue_state_t st, char id[QUEUE_ID_MAX], char *err, size_t errlen);

/*
 * The held entry id is replaced by its successor (the copy released, or
 * the notice that gives it up), an active entry with the same ID: written
 * in tmp/, renamed into active/, then hold/id removed, each step fsync'ed.
 * A crash between the two leaves both; recovery (queue_open() with
 * nrecovered) removes the held one, so the successor goes out once and
 * the held copy is not decided again.
 */
queue_status_t queue_succeed(queue_t *q, const char *id, const queue_env_t *env,
    queue_writer_fn fn, void *arg, char *err, size_t errlen);

/* A new entry ID (time, then random). */
void queue_new_id(char id[QUEUE_ID_MAX]);

/* The IDs in state st, oldest first; *ids is a malloc'ed array of
 * malloc'ed strings (queue_ids_free()). */
queue_status_t queue_list(queue_t *q, queue_state_t st, char ***ids, size_t *n,
    char *err, size_t errlen);
void queue_ids_free(char **ids, size_t n);

/* Reads an entry's envelope (looking in both states); e->fd is open. */
queue_status_t queue_get(queue_t *q, const char *id, queue_entry_t *e,
    char *err, size_t errlen);
void queue_entry_free(queue_entry_t *e);
/* Reads up to len octets of the message at offset off; octets, 0, -1. */
long long queue_entry_read(const queue_entry_t *e, long long off, void *buf,
    size_t len);

/* Moves an entry to state to (hold -> active is a release). */
queue_status_t queue_move(queue_t *q, const char *id, queue_state_t to,
    char *err, size_t errlen);
/* Removes an entry, whatever its state; durable when it returns. */
queue_status_t queue_remove(queue_t *q, const char *id, char *err, size_t errlen);

const char *queue_state_name(queue_state_t st);

/*
 * The re-injection mark: lower-case hex HMAC-SHA256 under key of
 * "smimegate-reinject-v1", the entry ID, the sender and every recipient,
 * each followed by a NUL.  It binds the mark to one copy's envelope, so a
 * mark seen on other mail, or made without the key, does not verify.
 * out: 65 octets.  queue_mark_check() compares in constant time; 1 good.
 */
int queue_mark_make(const unsigned char *key, size_t keylen, const char *id,
    const char *sender, const char *const *rcpts, size_t nrcpts, char out[65]);
int queue_mark_check(const unsigned char *key, size_t keylen, const char *mark,
    const char *id, const char *sender, const char *const *rcpts, size_t nrcpts);

#endif

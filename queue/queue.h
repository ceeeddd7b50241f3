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
 *   sent/ID     empty: a copy with this ID is being or was handed on (its
 *               mtime: when); kept QueueDedupTime so that the same copy
 *               made again from a message the client sent twice is not
 *               handed on twice
 *   back/ID     empty: the copy came back through the MTA with its mark,
 *               so the MTA has it (a crash before its removal from
 *               active/ does not make it be handed on again)
 *   clear/ID    empty: an operator released the copy unencrypted (its
 *               audit record says so when it comes back)
 * A file is written in tmp/, fsync'ed, renamed into its state directory
 * and that directory fsync'ed, so an entry is either wholly there or
 * absent.  A move between states is a rename and two directory fsyncs;
 * removal (after the copy was handed on) an unlink and a directory fsync.
 *
 * An entry's file: "smimegate-spool 1\n", then "Key: value" lines
 * (Created, Sender, Rcpt (one per recipient), Form, Reason, Origin,
 * Login, Client), an empty line, and the message as it is to be
 * submitted.  Values never hold a newline (queue_put refuses them).
 * Login and Client record who submitted the message a copy was made of
 * (the SASL login, and QUEUE_CLIENT_*), so that a copy decided again
 * later is decided for that submitter; an entry without them (the
 * gateway's own mail, or one written before they existed) reads back
 * with both "".
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
	const char *login;          /* the submitter's SASL login; NULL: none */
	const char *client;         /* the submitter's class (QUEUE_CLIENT_*); NULL: none */
} queue_env_t;

/* The classes of submitter an entry records (Client:). */
#define QUEUE_CLIENT_AUTH "authenticated"   /* logged in (Login: says as whom) */
#define QUEUE_CLIENT_INTERNAL "internal"    /* an InternalHosts client, no login */
#define QUEUE_CLIENT_OTHER "other"          /* neither */

typedef struct queue_entry {
	char id[QUEUE_ID_MAX];
	queue_state_t state;
	time_t created;
	char *sender;
	char **rcpts;
	size_t nrcpts;
	char *form, *reason, *origin;   /* "" when absent */
	char *login, *client;       /* "" when absent */
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

/* The IDs in state st, sorted (IDs of queue_new_id() oldest first;
 * those of queue_dedup_id() carry no time); *ids is a malloc'ed array of
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

/* The header line a copy carries its mark in, first in the message:
 * "QUEUE_MARK_HEADER: ID MARK". */
#define QUEUE_MARK_HEADER "X-Smimegate-Reinject"

/*
 * The re-injection mark: lower-case hex HMAC-SHA256 under key of
 * "smimegate-reinject-v2", the entry ID, the sender and every recipient,
 * each followed by a NUL, then digest (32 octets: queue_digest_*() of the
 * copy's body).  It binds the mark to one copy's envelope and body, so a
 * mark seen on other mail, on another body, or made without the key, does
 * not verify.  out: 65 octets.  queue_mark_check() compares in constant
 * time; 1 good.  That it is used once is queue_back_claim()'s part.
 */
int queue_mark_make(const unsigned char *key, size_t keylen, const char *id,
    const char *sender, const char *const *rcpts, size_t nrcpts,
    const unsigned char digest[32], char out[65]);
int queue_mark_check(const unsigned char *key, size_t keylen, const char *mark,
    const char *id, const char *sender, const char *const *rcpts, size_t nrcpts,
    const unsigned char digest[32]);

/*
 * The digest a mark covers: SHA-256 of a message body as the MTA hands it
 * back, whatever it did to the line ends on the way: every line end
 * (CRLF, or a bare LF) counts as CRLF, a last line without one gets one,
 * and empty lines at the end are ignored (RFC 6376's "simple" body
 * canonicalization, with bare LFs taken as line ends).  The header, to
 * which the MTA adds (Received:) and which it may rewrite, is not
 * covered.  Fed in chunks of any size; with whole, the input is a whole
 * message and its header block (up to the first empty line) is skipped.
 * queue_digest_new() NULL: out of memory; _add/_final 0 or -1.
 */
typedef struct queue_digest queue_digest_t;
queue_digest_t *queue_digest_new(int whole);
int queue_digest_add(queue_digest_t *d, const void *buf, size_t len);
int queue_digest_final(queue_digest_t *d, unsigned char out[32]);
void queue_digest_free(queue_digest_t *d);
/* The digest of a whole message in memory (len octets); 0 or -1. */
int queue_digest_message(const void *msg, size_t len, unsigned char out[32]);
/* The digest of entry e's message, read from its file; 0 or -1. */
int queue_digest_entry(const queue_entry_t *e, unsigned char out[32]);

/*
 * Duplicate suppression (the ID: queue_dedup.c; the records: queue.c;
 * smimegate(8), CRASHES AND
 * DUPLICATES).  A copy made from a message that a client may send again
 * (after a tempfail) gets an ID that depends only on what it was made
 * from: lower-case hex of SHA-256 over "smimegate-dedup-v1", the sender,
 * the number of recipients, the recipients sorted, the Message-ID ("" when
 * none), each followed by a NUL, then digest (32 octets, of the message as
 * received).  The recipients' order does not matter.  0, or -1.
 */
#define QUEUE_DEDUP_ID_LEN 40
int queue_dedup_id(const char *sender, const char *const *rcpts, size_t nrcpts,
    const char *msgid, const unsigned char digest[32], char id[QUEUE_ID_MAX]);

/*
 * 1 when a copy with this ID is in active/ or hold/, or was handed on
 * (sent/ID) less than max_age seconds ago; 0 when not; -1 when that cannot
 * be told (err says why).  active/ and hold/ are looked at before sent/, and
 * queue_sent() is called before the entry's queue_remove(), so a copy handed
 * on meanwhile is seen in one of them.
 */
int queue_seen(queue_t *q, const char *id, long long max_age, char *err, size_t errlen);

/* Records that the copy id is being handed on: sent/ID made (or its time
 * renewed), a back/ID left from an earlier handing on of the same ID
 * removed (nothing of this one is back yet), and the directories
 * fsync'ed.  Call before the submission, and queue_unsent() when it
 * failed. */
queue_status_t queue_sent(queue_t *q, const char *id, char *err, size_t errlen);
queue_status_t queue_unsent(queue_t *q, const char *id, char *err, size_t errlen);

/*
 * A mark is honoured once: claims copy id as come back, when it is
 * recorded as handed on (sent/ID) and not yet back; back/ID is then made
 * (exclusively: of two messages with the same mark at once, one claims
 * it) and the directory fsync'ed.  1 claimed; 0 not (never handed on, or
 * back already: a replay); -1 it cannot be told (err says why).
 * queue_back_unclaim() undoes a claim (the message that carried the mark
 * was refused after all, so the MTA will bring it again).
 */
int queue_back_claim(queue_t *q, const char *id, char *err, size_t errlen);
queue_status_t queue_back_unclaim(queue_t *q, const char *id, char *err, size_t errlen);

/* Other records of copy id: kind "clear" (released unencrypted by an
 * operator).  queue_noted(): 1 when made. */
queue_status_t queue_note(queue_t *q, const char *kind, const char *id, char *err,
    size_t errlen);
int queue_noted(queue_t *q, const char *kind, const char *id);

/* What is known of the handing on of copy id: QUEUE_HANDED_NONE (no
 * record: never started), QUEUE_HANDED_STARTED (sent/ID, made *age
 * seconds ago; not seen back), QUEUE_HANDED_BACK (seen back). */
enum { QUEUE_HANDED_NONE = 0, QUEUE_HANDED_STARTED, QUEUE_HANDED_BACK };
int queue_handed(queue_t *q, const char *id, long long *age);

/* Removes records (sent/, back/, clear/) older than max_age seconds whose copy is
 * no longer in active/, looking at no more than limit of each (bounded
 * work per call); how many were removed. */
size_t queue_prune_sent(queue_t *q, long long max_age, size_t limit);

#endif

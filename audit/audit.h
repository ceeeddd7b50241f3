/*
 * audit.h: the tamper-evident audit log, its verifier and the compliance
 * reports read from it.  Nothing here knows libmilter, logs or exits.
 *
 * The log is a directory (default /var/lib/smimegate/audit, mode 0700)
 * holding audit.log, the rotated files audit.log.<YYYYmmddTHHMMSSZ>[.N],
 * the audit key audit.key (ECDSA P-256, PEM, 0600) and its public half
 * audit.pub, which is all a compliance officer needs to verify.
 *
 * Each line of a log file is one JSON object (UTF-8, no spaces), written
 * by json-c in a fixed field order:
 *
 *   {"seq":7,"time":"2025-03-01T12:00:00Z","qid":"4Xyz","msgid":"<a@b>",
 *    "direction":"outbound","sender":"a@example.com","rcpt":"b@example.org",
 *    "action":"signed+encrypted","certs":[{"sha256":"..","serial":".."}],
 *    "algorithms":["sha256WithRSAEncryption","aes256-gcm"],"rule":"..",
 *    "reason":"..","subject":"..","prev":"<64 hex>"}
 *
 * Absent strings are null; "subject" appears only with AUDIT_SUBJECT.
 * Every line (records and checkpoints alike) has the next "seq" (1, 2, ...
 * across files) and "prev", the lower-case hex SHA-256 of the bytes of the
 * line before it without its newline; the first line ever has 64 zeros.
 * A checkpoint line is
 *
 *   {"seq":N,"time":T,"type":"checkpoint","prev":P,"sig":S,"key":K}
 *
 * where S is the base64 DER ECDSA-SHA256 signature by the audit key of the
 * ASCII string "smimegate-audit-checkpoint-v1 seq=N time=T prev=P" and K
 * the hex SHA-256 of the public key's DER SubjectPublicKeyInfo.  A new
 * file always begins with a checkpoint (so that each file carries one),
 * and the writer adds one every N records, on audit_checkpoint(), before
 * rotation and on close.  A rotated file ends with a checkpoint and the
 * next file's first line continues the chain (its prev is that line's hash).
 *
 * Strings from mail (sender, Message-ID, subject...) are stored as given
 * except that every byte that is not part of well-formed UTF-8 (also
 * overlong forms, surrogates, > U+10FFFF) becomes U+FFFD, and a field
 * longer than AUDIT_FIELD_MAX octets is cut at a character boundary and
 * ends in U+2026.  json-c escapes quotes, backslashes and control
 * characters, so a record is always exactly one line.
 *
 * Ownership: audit_open() returns a handle freed by audit_close().
 * Strings in an audit_record_t are the caller's and only read during the
 * call.  Everything else returned is new and freed by the matching _free.
 *
 * Threads: one audit_t may be shared by every thread; appends, checkpoints
 * and rotation are serialised by it (appends arriving together are
 * written together: see audit_append).  Processes: several may write
 * one log directory (the daemon, and smimectl recording a key event):
 * each write takes an exclusive flock(2) on audit.lock and, when another
 * process wrote since, first reads the last line again, so the chain
 * stays one.  Readers, verifiers and reports are used by one thread at a
 * time each.
 *
 * Errors: calls that can fail return an audit_status_t and, when err is
 * not NULL, fill it with the code and a message naming the file.
 */
#ifndef AUDIT_H
#define AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <openssl/evp.h>

#include "util/util_err.h"

typedef enum audit_status {
	AUDIT_OK = 0,
	AUDIT_END,            /* audit_reader_next(): no more lines */
	AUDIT_TAMPERED,       /* audit_verify(): the log was changed; see result */
	AUDIT_ERR_USAGE,      /* bad argument */
	AUDIT_ERR_IO,         /* cannot read, write, sync or rename a file */
	AUDIT_ERR_PERM,       /* a key or directory with unsafe permissions */
	AUDIT_ERR_KEY,        /* audit key missing, not P-256, or audit.pub mismatch */
	AUDIT_ERR_CORRUPT,    /* a line that is not a record of this log */
	AUDIT_ERR_BUSY,       /* (not returned any more: several processes may write) */
	AUDIT_ERR_CRYPTO,     /* OpenSSL failed otherwise */
	AUDIT_ERR_NOMEM
} audit_status_t;

#define AUDIT_ERR_MAX 512

/* The error: an audit_status_t and a message (util/util_err.h). */
typedef util_err_t audit_err_t;

#define AUDIT_FIELD_MAX 2048            /* octets of one string field */
#define AUDIT_LINE_MAX  (1024 * 1024)   /* longer lines are not ours */
#define AUDIT_CHECKPOINT_EVERY 1000     /* default records between checkpoints */

/* "ok", "tampered", "I/O error"... */
const char *audit_status_str(audit_status_t s);

/* ---- records ---- */

typedef enum audit_direction {
	AUDIT_DIR_NONE = 0,     /* null: not about a message in transit */
	AUDIT_OUTBOUND,
	AUDIT_INBOUND,
	AUDIT_INTERNAL,
	AUDIT_DIR_UNKNOWN       /* read back: a value this version does not know */
} audit_direction_t;

/*
 * What was decided for one recipient of one message.  "signed",
 * "encrypted", "signed+encrypted", "clear" and "pass" (left as it was,
 * e.g. already S/MIME or exempt by rule) are outbound deliveries;
 * "decrypted", "verified", "decrypted+verified" and "unsigned" inbound
 * ones; "enrolled": the certificate of sender was added to the directory;
 * "held", "released", "rejected", "tempfailed" as they say; "gap": the
 * log found lines it had written missing (its reason says which); the
 * key events below (AUDIT_KEY_IMPORTED...) are not about mail.
 */
typedef enum audit_action {
	AUDIT_ACTION_UNKNOWN = 0,   /* read back: a value this version does not know */
	AUDIT_SIGNED,
	AUDIT_ENCRYPTED,
	AUDIT_SIGNED_ENCRYPTED,
	AUDIT_CLEAR,
	AUDIT_PASS,
	AUDIT_DECRYPTED,
	AUDIT_VERIFIED,
	AUDIT_DECRYPTED_VERIFIED,
	AUDIT_UNSIGNED,
	AUDIT_ENROLLED,
	AUDIT_HELD,
	AUDIT_RELEASED,
	AUDIT_REJECTED,
	AUDIT_TEMPFAILED,
	AUDIT_GAP,              /* written by the log itself: lines it wrote are
	                           gone (see audit_open_ex) */
	/* Key events (no message: direction and qid null; "sender" names
	 * the key's address, "certs" its certificate, "reason" who or what
	 * did it).  Logs written before these were added stay readable. */
	AUDIT_KEY_IMPORTED,     /* "key-imported": a PKCS#12 into the keystore */
	AUDIT_KEY_EXPORTED,     /* "key-exported": a key out of the keystore */
	AUDIT_CERT_ISSUED,      /* "cert-issued": by the embedded CA or over CMP */
	AUDIT_CERT_RENEWED,     /* "cert-renewed": a new certificate (and key)
	                           in place of one about to expire */
	AUDIT_CERT_REVOKED,     /* "cert-revoked" */
	AUDIT_KEY_RETIRED,      /* "key-retired": no more signing or encrypting */
	AUDIT_KEY_DESTROYED,    /* "key-destroyed": an escrowed key removed */
	AUDIT_ACTION_COUNT
} audit_action_t;

/* What the milter writes in "reason" when a recipient has no usable
 * certificate: "...; not encrypted: no certificate for recipient <a>, <b>"
 * (delivered unencrypted), or "policy: <a>: encrypt=always, no
 * certificate..." (held, refused).  A report counts a recipient without
 * a certificate when the reason has AUDIT_REASON_NO_CERT and names the
 * recipient in angle brackets. */
#define AUDIT_REASON_NO_CERT "no certificate"
/* The rule the milter records for mail between local users (policy/), and
 * the verdict it writes for an inbound signature that verified, whose
 * signer's certificate is then learned: "pass (signer=<a>)". */
#define AUDIT_RULE_INTERNAL "internal delivery"
#define AUDIT_REASON_SIGNER "pass (signer=<"

const char *audit_action_name(audit_action_t a);       /* NULL if invalid */
audit_action_t audit_action_parse(const char *s);       /* UNKNOWN if unknown */
const char *audit_direction_name(audit_direction_t d);  /* NULL for NONE */
audit_direction_t audit_direction_parse(const char *s); /* NULL s: NONE */

typedef struct audit_cert {
	const char *sha256;     /* hex SHA-256 of the certificate's DER */
	const char *serial;     /* hex */
} audit_cert_t;

typedef struct audit_record {
	time_t time;                    /* 0: now */
	const char *qid;                /* Postfix queue ID; NULL: null */
	const char *msgid;
	audit_direction_t direction;
	const char *sender;
	const char *rcpt;
	audit_action_t action;          /* required */
	const audit_cert_t *certs;
	size_t ncerts;
	const char *const *algorithms;  /* e.g. "sha256WithRSAEncryption" */
	size_t nalgorithms;
	const char *rule;               /* the policy rule that decided */
	const char *reason;
	const char *subject;            /* written only with AUDIT_SUBJECT */
} audit_record_t;

/*
 * The JSON of a record as the log would hold it, without "seq" and "prev"
 * (for syslog lines a SIEM reads).  flags: AUDIT_SUBJECT or 0.  Returns a
 * malloc'ed NUL-terminated line without newline, or NULL with err filled.
 */
char *audit_record_json(const audit_record_t *rec, int flags, audit_err_t *err);

/* ---- the writer ---- */

typedef struct audit audit_t;

#define AUDIT_CREATE  0x1   /* create the directory and audit key if absent */
#define AUDIT_SUBJECT 0x2   /* write the subject of messages */
#define AUDIT_RECOVER 0x4   /* audit.log ends in a partial line: rename it
                               audit.log.<time>.damaged and go on */

/*
 * Opens the log in dir; key_file NULL means dir/audit.key, and the public
 * key is audit.pub in the key file's directory.  Refuses (AUDIT_ERR_PERM)
 * a key readable or writable by group or others and a directory writable
 * by them.  Continues the chain from the last line of audit.log (or of the
 * newest rotated file when there is no audit.log).  An audit.log whose
 * last line is partial (a crash during a write, or tampering) is refused
 * with AUDIT_ERR_CORRUPT unless AUDIT_RECOVER is given.
 */
audit_t *audit_open(const char *dir, const char *key_file, int flags,
    audit_err_t *err);

/*
 * The head: what the log last sealed, kept by audit_open_ex() in a small
 * file outside the audit directory ("seq=N hash=H\n", mode 0600, replaced
 * atomically at every checkpoint), so that removing or cutting the log
 * files does not remove the memory of what they held.
 */
typedef struct audit_head {
	uint64_t seq;           /* of the last checkpoint written */
	char hash[65];          /* hex SHA-256 of that line */
} audit_head_t;

/* Reads a head file: AUDIT_OK, AUDIT_END when there is none, or
 * AUDIT_ERR_CORRUPT / AUDIT_ERR_IO with err naming the path. */
audit_status_t audit_head_read(const char *path, audit_head_t *h,
    audit_err_t *err);

/*
 * Called after every checkpoint line is on disk, while the log is held (the
 * hook must not call into the log): seq, time and the hex SHA-256 of the
 * checkpoint line (the "prev" of the line after it).  For copies kept
 * elsewhere (syslog).
 */
typedef void (*audit_checkpoint_fn)(void *arg, uint64_t seq, const char *time,
    const char *hash);

typedef struct audit_options {
	const char *key_file;           /* NULL: dir/audit.key */
	const char *head_file;          /* NULL: none */
	audit_checkpoint_fn on_checkpoint;      /* NULL: none */
	void *arg;                      /* for on_checkpoint */
	EVP_PKEY *key;                  /* the audit key already loaded (by
	                                   root, from a file the service user
	                                   cannot read); NULL: read key_file */
} audit_options_t;

/* Reads an audit key file (util_secret_read's checks, PEM, P-256): a new
 * reference, or NULL with err filled. */
EVP_PKEY *audit_key_load(const char *path, audit_err_t *err);

/*
 * audit_open() with options (NULL: as audit_open(dir, NULL, ...)).  With
 * a head file, on open, when the head
 * says a checkpoint was written that the files no longer hold (the files
 * end before its seq, or hold another line there: audit.log removed or
 * cut, or the chain replaced), the log writes an AUDIT_GAP record saying
 * so (continuing the chain from what is left) and a checkpoint after it;
 * audit_gap_note() then returns that record's reason.  The head file is
 * updated after every checkpoint; a head that cannot be written fails the
 * checkpoint.
 */
audit_t *audit_open_ex(const char *dir, const audit_options_t *opts, int flags,
    audit_err_t *err);

/* The reason of the gap record written by audit_open_ex(), or NULL. */
const char *audit_gap_note(const audit_t *a);
/* The hex SHA-256 of the audit key's public key (what checkpoints carry
 * as "key" and what a verifier is told to expect), and whether this open
 * made the key (a first start). */
const char *audit_key_fingerprint(const audit_t *a);
int audit_key_created(const audit_t *a);

/* A checkpoint after every n records (0: only on request, rotation and
 * close).  Default AUDIT_CHECKPOINT_EVERY. */
void audit_set_checkpoint_every(audit_t *a, unsigned n);
/* The clock for checkpoints and for records with time 0 (tests). */
void audit_set_clock(audit_t *a, time_t (*now)(void *arg), void *arg);

/*
 * Appends one record and returns once it is on disk.  Group commit: the
 * records of every thread appending at the same time are written in
 * their queue order with one write(2) and one fdatasync(2), by one of
 * those threads; records arriving during that sync share the next one.
 * On failure (of the write or the sync, which fails every record it
 * covered) the file is cut back to where that batch began, the chain
 * does not move, and the caller should not deliver the message.
 * A failed automatic checkpoint does not fail the append; it is retried
 * with the next one.
 */
audit_status_t audit_append(audit_t *a, const audit_record_t *rec,
    audit_err_t *err);
/*
 * Appends the n records recs[0..n-1] (one message's, one per recipient)
 * together: queued at once, so that one batch (one write, one sync)
 * holds them all in this order, and returns once all are on disk.  The
 * first failure is returned (the batch's fate is theirs, as above); n 0
 * is AUDIT_OK.
 */
audit_status_t audit_append_all(audit_t *a, const audit_record_t *recs,
    size_t n, audit_err_t *err);

/* Appends a checkpoint when records were written since the last one. */
audit_status_t audit_checkpoint(audit_t *a, audit_err_t *err);

/* Seals audit.log with a checkpoint, renames it audit.log.<UTC time>
 * (with .1, .2... if taken) and begins a new audit.log with a checkpoint
 * that continues the chain. */
audit_status_t audit_rotate(audit_t *a, audit_err_t *err);

/* Writes a final checkpoint if needed, then frees a (always). */
audit_status_t audit_close(audit_t *a, audit_err_t *err);

/*
 * A key fingerprint as people write it: 64 hex digits, any case, with or
 * without colons between pairs and a leading "SHA256:" or "sha256:".
 * Writes the 64 lower-case digits to out; 0, or -1 when in is not one.
 */
int audit_fingerprint_parse(const char *in, char out[65]);
/* The fingerprint of a public key: the hex SHA-256 of its DER
 * SubjectPublicKeyInfo, as checkpoints carry it in "key". */
audit_status_t audit_pubkey_fingerprint(EVP_PKEY *key, char out[65],
    audit_err_t *err);

/* The public key of audit.pub (PEM), or NULL with err filled. */
EVP_PKEY *audit_pubkey_load(const char *path, audit_err_t *err);

/*
 * The log files of dir in chain order: rotated files ordered by the seq of
 * their first line, then audit.log.  *files is a malloc'ed array of
 * malloc'ed paths freed with audit_files_free(); *n may be 0.
 */
audit_status_t audit_files(const char *dir, char ***files, size_t *n,
    audit_err_t *err);
void audit_files_free(char **files, size_t n);

/* ---- the verifier ---- */

typedef enum audit_tamper {
	AUDIT_T_NONE = 0,
	AUDIT_T_CHANGED,        /* the line's bytes were changed */
	AUDIT_T_MALFORMED,      /* not a record of this log (bad JSON, fields) */
	AUDIT_T_REMOVED,        /* lines are missing before this one */
	AUDIT_T_INSERTED,       /* the line does not belong here */
	AUDIT_T_REORDERED,      /* lines are out of order */
	AUDIT_T_TRUNCATED,      /* the file ends in a partial line */
	AUDIT_T_SIGNATURE,      /* a checkpoint whose signature does not verify */
	AUDIT_T_FOREIGN_KEY,    /* a checkpoint made with another key */
	AUDIT_T_NO_CHECKPOINT,  /* a file that does not begin with a checkpoint */
	AUDIT_T_GAP             /* lines the gateway wrote are gone: a "gap"
	                           record, or the head's line missing */
} audit_tamper_t;

const char *audit_tamper_name(audit_tamper_t t);   /* "changed"... */

typedef struct audit_verify_result {
	uint64_t records;           /* record lines checked */
	uint64_t checkpoints;       /* valid checkpoints */
	size_t files;               /* files read */
	uint64_t first_seq;         /* seq of the first line (1: from the start) */
	uint64_t last_seq;
	/* Records after the last checkpoint: not yet sealed.  This is not
	 * tampering (audit_verify() returns AUDIT_OK) but they could have
	 * been changed undetectably; the first is at unsealed_file:line. */
	uint64_t unsealed;
	const char *unsealed_file;  /* points into files[] */
	unsigned long unsealed_line;
	/* The first problem found, when AUDIT_TAMPERED is returned. */
	audit_tamper_t what;
	const char *file;           /* points into files[] */
	unsigned long line;         /* 1-based */
	char msg[AUDIT_ERR_MAX];    /* what is wrong, in words */
} audit_verify_result_t;

/*
 * Walks the lines of files in order as one chain: recomputes every prev,
 * checks seq increments by one, parses each line, verifies every
 * checkpoint signature with pubkey, and checks each file begins with a
 * checkpoint (as the writer makes sure), so a file whose checkpoints were
 * stripped, or whose first lines were cut, fails.  The first file may
 * begin after seq 1 (older files archived): res->first_seq says where.
 * Returns AUDIT_OK (the log is intact; see res->unsealed), AUDIT_TAMPERED
 * with res->what, file, line and msg naming the first line found changed,
 * removed, inserted, reordered or truncated, or an error (a file cannot be
 * read) with err filled.
 *
 * Limits: without the key nobody can rewrite a line and recompute the
 * chain up to a checkpoint unnoticed, but the records after the last
 * checkpoint (res->unsealed) can be rewritten or cut off at a line
 * boundary; such a rewrite is found at the next checkpoint, not at the
 * line changed.  Removing whole files at either end of the chain is not
 * detectable from the files alone.
 */
audit_status_t audit_verify(const char *const *files, size_t nfiles,
    EVP_PKEY *pubkey, audit_verify_result_t *res, audit_err_t *err);
/*
 * audit_verify(), and also: a "gap" record is AUDIT_T_GAP at its line;
 * with head (NULL: none), the line of head->seq must be there with
 * head->hash, else AUDIT_T_GAP (the files end before it: the current
 * file was removed or cut; another line there: the chain was replaced).
 */
audit_status_t audit_verify_ex(const char *const *files, size_t nfiles,
    EVP_PKEY *pubkey, const audit_head_t *head, audit_verify_result_t *res,
    audit_err_t *err);

/* ---- reading ---- */

typedef struct audit_entry {
	uint64_t seq;
	int checkpoint;         /* 1: a checkpoint; rec.time is its only field */
	char prev[65];
	audit_record_t rec;     /* strings valid until the next call */
	const char *file;       /* points into files[] */
	unsigned long line;
} audit_entry_t;

typedef struct audit_reader audit_reader_t;

audit_reader_t *audit_reader_open(const char *const *files, size_t nfiles,
    audit_err_t *err);
/*
 * The next line: AUDIT_OK with *e set, AUDIT_END, AUDIT_ERR_CORRUPT for a
 * line that is not a record (err says file:line; the next call goes on
 * with the following line) or AUDIT_ERR_IO.  No chain checks here.
 */
audit_status_t audit_reader_next(audit_reader_t *r, const audit_entry_t **e,
    audit_err_t *err);
void audit_reader_free(audit_reader_t *r);

/*
 * Parses "YYYY-MM-DD" (00:00:00 UTC, or 23:59:59 with end_of_day) or an
 * RFC 3339 date-time ("2025-03-01T12:00:00Z", "...+02:00", fractions
 * ignored).  Returns 0, or -1 when s is not one.
 */
int audit_time_parse(const char *s, int end_of_day, time_t *t);
/* "2025-03-01T12:00:00Z" into out (at least 21 octets). */
void audit_time_format(time_t t, char *out, size_t outlen);

/* ---- reports ---- */

typedef enum audit_format {
	AUDIT_FMT_TEXT = 0, AUDIT_FMT_CSV, AUDIT_FMT_JSON, AUDIT_FMT_HTML
} audit_format_t;

/* 0 and *fmt set, or -1 for an unknown name. */
int audit_format_parse(const char *name, audit_format_t *fmt);

/*
 * The report's figures.  "Outbound" counts recipient decisions (one
 * message to three recipients is three); delivered are signed, encrypted,
 * signed+encrypted, clear and pass.
 */
typedef struct audit_totals {
	uint64_t records;           /* records in the period */
	uint64_t out_delivered;
	uint64_t out_encrypted;     /* encrypted or signed+encrypted */
	uint64_t out_signed;        /* signed or signed+encrypted */
	uint64_t out_both;          /* signed+encrypted */
	uint64_t out_clear;         /* clear or pass */
	uint64_t no_cert;           /* outbound decisions for a recipient without
	                               a certificate (AUDIT_REASON_NO_CERT) */
	uint64_t no_cert_rcpts;     /* distinct such recipients */
	uint64_t in_total;          /* inbound decisions */
	uint64_t decrypted;         /* decrypted or decrypted+verified */
	uint64_t verified;          /* verified or decrypted+verified */
	uint64_t enrolled;          /* certificates learned: inbound signatures
	                               that verified (AUDIT_REASON_SIGNER), and
	                               "enrolled" records */
	uint64_t out_internal;      /* outbound to colleagues (AUDIT_RULE_INTERNAL) */
	uint64_t out_unenc;         /* signed or clear, not internal */
	uint64_t held, released, rejected, tempfailed;
	uint64_t failures;          /* held + rejected + tempfailed */
	uint64_t unreadable;        /* lines that are not records (skipped) */
	uint64_t key_events;        /* key-imported, key-exported, cert-issued,
	                               cert-renewed, cert-revoked, key-retired,
	                               key-destroyed records */
} audit_totals_t;

typedef struct audit_report audit_report_t;

/* since, until: inclusive bounds, 0 for none. */
audit_report_t *audit_report_new(time_t since, time_t until, audit_err_t *err);
void audit_report_free(audit_report_t *rp);
/* Counts one entry (checkpoints and entries outside the period are skipped). */
audit_status_t audit_report_add(audit_report_t *rp, const audit_entry_t *e,
    audit_err_t *err);
/* Reads files and counts their records; unreadable lines are counted in
 * totals.unreadable and skipped; only I/O errors fail. */
audit_status_t audit_report_read(audit_report_t *rp, const char *const *files,
    size_t nfiles, audit_err_t *err);
/* A sentence about the log's integrity shown at the top of the report
 * (e.g. the verifier's verdict); ok 0 shows it as a warning. */
audit_status_t audit_report_set_integrity(audit_report_t *rp, const char *text,
    int ok, audit_err_t *err);
const audit_totals_t *audit_report_totals(const audit_report_t *rp);
/* Writes the report; generated is the time printed as "generated at". */
audit_status_t audit_report_write(const audit_report_t *rp, audit_format_t fmt,
    time_t generated, FILE *out, audit_err_t *err);

#endif

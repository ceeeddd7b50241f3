/*
 * mail_msg.h: one message in the gateway, and what to do with it.
 *
 * The message context collects what the MTA (or the offline mode) hands
 * over: client, login, envelope, headers, body (spooled).  At the end,
 * mail_msg_process() decides and prepares the result as plain data: keep
 * the message, or replace its Content-* headers and body, or reject or
 * tempfail it with an SMTP reply.  It knows nothing of libmilter: the
 * milter glue (milt_mfapi.c) and the offline mode (milt_offline.c) apply
 * the result each in its own way.
 *
 * Ownership and threads: a context belongs to one connection and is used
 * by one thread; mail_msg_free() releases it and its result, and is the
 * one place that does.  It holds a reference to the configuration.
 */
#ifndef MAIL_MSG_H
#define MAIL_MSG_H

#include <stddef.h>
#include "conf/conf.h"
#include "mail/mail_spool.h"
#include "keystore/keystore.h"
#include "directory/dir_harvest.h"

/* Stores a harvested certificate: dir_harvest_put_pref() (directory/), or
 * a test's stand-in; preferred: the signer's key preference named it. */
typedef int (*mail_harvest_fn)(dir_harvest_t *h, const char *address,
    X509 *cert, const unsigned char *caps, size_t caps_len,
    time_t signing_time, int preferred, char *err, size_t errlen);

typedef struct mail_hdr {
	char *name;
	char *value;                /* as received, without the leading space */
} mail_hdr_t;

typedef enum mail_do {
	MAIL_DO_PASS = 0,           /* deliver as it is */
	MAIL_DO_REPLACE,            /* replace Content-* headers and body */
	MAIL_DO_REJECT,             /* 5xx */
	MAIL_DO_TEMPFAIL,           /* 4xx: the MTA keeps it and retries */
	MAIL_DO_HOLD,               /* the MTA's hold queue; reason says why (issue 6) */
	MAIL_DO_DISCARD             /* accepted and dropped by the MTA: every
	                               recipient's copy is in our spool (held,
	                               or a notice to the sender) (issue 6b) */
} mail_do_t;

#define MAIL_RESULT_HDRS 4
struct mail_policy_res;
struct mail_split;

typedef struct mail_result {
	mail_do_t what;
	const char *rcode, *xcode;  /* SMTP reply code and enhanced code */
	char reply[256];            /* reply text for REJECT / TEMPFAIL */
	/* REPLACE: delete every Content-* and MIME-Version header, add these,
	 * and replace the body with new_body. */
	char **add_name, **add_value;
	size_t nadd;
	mail_spool_t *new_body;
	/* For the log line. */
	const char *direction;      /* "outbound" or "inbound" */
	const char *action;         /* signed, pass, unsigned, rejected, tempfail */
	char signer[256];
	char signer_sha256[65];     /* the signer's certificate, for the audit */
	char signer_serial[80];
	char sig_alg[64];           /* e.g. sha256WithRSAEncryption */
	char reason[512];
	/* Encryption (issue 3). */
	char enc_alg[16];           /* "aes-256-cbc" or "aes-256-gcm" once encrypted */
	size_t enc_ncerts;          /* certificates encrypted to, the sender's included */
	/* PASS and REPLACE alike: every header called strip[i] is deleted
	 * (so nobody outside can forge ours), then set_name[i]: set_value[i]
	 * are added.  Filled by mail_result_strip() / mail_result_set(). */
	char *strip[MAIL_RESULT_HDRS];
	size_t nstrip;
	char *set_name[MAIL_RESULT_HDRS], *set_value[MAIL_RESULT_HDRS];
	size_t nset;
	/* Policy (issue 6): the decision and form per recipient (mail_policy.h),
	 * NULL when not decided. */
	struct mail_policy_res *policy;
	/* Split (issue 6b): recipients handed to copies (mail_queue.h). */
	struct mail_split *split;
	/* The spool copy this message is, its mark honoured and claimed
	 * (mail_queue_mark()); "" when none.  A tempfail gives it back. */
	char marked[48];
} mail_result_t;

typedef struct mail_msg {
	conf_t *conf;          /* a reference of our own */
	keystore_t *keystore;       /* shared, not ours */
	dir_harvest_t *harvest;     /* shared, not ours; NULL: no harvesting */
	mail_harvest_fn harvest_put;
	char qid[64];               /* Postfix queue ID, or "NOQUEUE" */
	char client_addr[64];       /* textual IP address, "" if unknown */
	int client_internal;        /* connects from InternalHosts */
	char *auth;                 /* SASL login ({auth_authen}), or NULL */
	char *sender;               /* envelope sender, without <> */
	char **rcpts;
	size_t nrcpts, rcap;
	mail_hdr_t *hdrs;
	size_t nhdrs, hcap;
	long long hdr_octets;
	mail_spool_t *body;
	int too_big;                /* over a limit: MaximumMessageSize, or what
	                               over_limit says */
	int over_limit;             /* enum mail_limit: which limit, when not the size */
	mail_result_t result;
	int no_split;               /* issue 6b: never split (offline -t, copies) */
	int defer_commit;           /* issue 6b: the caller writes the copies
	                               (mail_queue_commit()) itself, last */
	int enc_checked;            /* mail_outbound_encrypted(): 0 not yet,
	                               1 encrypted, 2 not, -1 unreadable */
	int released;               /* an operator released it (smimectl spool
	                               release): action=hold rules are met, the
	                               encryption rules still apply */
	int from_spool;             /* a held copy read back from the spool: outbound
	                               (it was held as such), its submitter (auth,
	                               client_internal) as its entry records */
	int sign_denied;            /* the submitter may not sign as From (the
	                               signer check, made before any hold or split) */
} mail_msg_t;

/* NULL when out of memory or the spool cannot be set up. */
mail_msg_t *mail_msg_new(conf_t *conf, keystore_t *ks);
void mail_msg_free(mail_msg_t *m);

/* Collecting: 0, or -1 out of memory / over a limit (then too_big is set,
 * and over_limit says which when it was not the size).  mail_msg_add_rcpt
 * returns 1 for a recipient past MaximumRecipients (refuse it: 452 4.5.3,
 * MAIL_RCPT_LIMIT_REPLY); the message goes on with the others. */
#define MAIL_RCPT_LIMIT_RCODE "452"
#define MAIL_RCPT_LIMIT_XCODE "4.5.3"
#define MAIL_RCPT_LIMIT_REPLY "Too many recipients"
int mail_msg_set_sender(mail_msg_t *m, const char *sender);
int mail_msg_add_rcpt(mail_msg_t *m, const char *rcpt);
int mail_msg_add_header(mail_msg_t *m, const char *name, const char *value);
int mail_msg_add_body(mail_msg_t *m, const void *buf, size_t len);

/* Decides and prepares m->result.  Never fails: failures become a result
 * (TEMPFAIL, REJECT or PASS as OnInternalError says). */
const mail_result_t *mail_msg_process(mail_msg_t *m);

/* The result: the message goes on unchanged; action and reason for the
 * log and the audit. */
void mail_msg_pass(mail_msg_t *m, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The failure classes; mail_msg_fail() is the one table of their SMTP
 * answers.  Internal errors answer as OnInternalError says; the reason goes
 * to the log and the audit only, never to the client. */
enum mail_fail { MAIL_FAIL_INTERNAL, MAIL_FAIL_TOOBIG, MAIL_FAIL_UNAUTHORIZED,
	MAIL_FAIL_POLICY,
	MAIL_FAIL_LIMIT };

/* The limits besides the size (issue 9), each with its own reply:
 *   header field > MaximumHeaderLength     552 5.3.4
 *   more than MaximumHeaders fields        552 5.3.4
 *   more than MaximumMimeParts parts,
 *   or nested deeper than MaximumMimeDepth 554 5.6.0
 *   more than MaximumRecipients            452 4.5.3 for each recipient
 *                                          past it (mail_msg_add_rcpt: 1) */
enum mail_limit { MAIL_LIMIT_NONE = 0, MAIL_LIMIT_HEADER_LENGTH, MAIL_LIMIT_HEADERS,
	MAIL_LIMIT_MIME };
void mail_msg_fail(mail_msg_t *m, enum mail_fail cls, const char *reason);

/* Adds a header name to delete, or a header to add, to a result; 0, or
 * -1 when out of memory or MAIL_RESULT_HDRS are used. */
int mail_result_strip(mail_result_t *r, const char *name);
int mail_result_set(mail_result_t *r, const char *name, const char *value);
/* 1 when the result deletes headers called name. */
int mail_result_strips(const mail_result_t *r, const char *name);

/* The domain of an address (after the last '@'), or NULL. */
const char *mail_addr_domain(const char *addr);

/* Turns the result into a temporary failure (451 4.3.0) for reason, as
 * when something the gateway needs failed after the decision. */
void mail_msg_tempfail(mail_msg_t *m, const char *reason);

/* 1 for the headers a REPLACE result removes (Content-*, MIME-Version). */
int mail_msg_is_content_header(const char *name);

/* The value of the first header field called name, or NULL. */
const char *mail_msg_header(const mail_msg_t *m, const char *name);
/* The Content-* header fields (not MIME-Version) as "Name: value\n" lines,
 * malloc'ed; NULL when out of memory. */
char *mail_msg_content_headers(const mail_msg_t *m);

/* The one mailbox of the From header (a list of one mailbox, not a
 * group), malloc'ed, or NULL. */
char *mail_msg_from_address(const mail_msg_t *m);

/* Writes the Postfix-style log line for the result. */
void mail_msg_log(const mail_msg_t *m);

/* Strips the angle brackets (and ESMTP parameters) from an SMTP path:
 * "<a@b> SIZE=1" -> "a@b".  Returns a new string, or NULL. */
char *mail_msg_unbracket(const char *path);

#endif

/*
 * mail_msg.h: one message in the gateway, as data: the message context
 * and its result.
 *
 * The message context collects what the MTA (or the offline mode) hands
 * over: client, login, envelope, headers, body (spooled).  The pipeline
 * (mail_pipeline.h) decides and fills the result as plain data: keep the
 * message, or replace its Content-* headers and body, or reject or
 * tempfail it with an SMTP reply; the policy's decisions and the copies
 * split off for other recipients are parts of the result.  What is here
 * reads and sets that data (accessors, the result's setters, the one
 * table of failure answers, the log line) and calls no stage.  It knows
 * nothing of libmilter: the milter glue (milt_mfapi.c) and the offline
 * mode (milt_offline.c) apply the result each in its own way.
 *
 * Ownership and threads: a context belongs to one connection and is used
 * by one thread; mail_msg_free() releases it and its result (the copies'
 * messages included), and is the one place that does.  It holds a
 * reference to the configuration.
 */
#ifndef MAIL_MSG_H
#define MAIL_MSG_H

#include <stddef.h>
#include "conf/conf.h"
#include "mail/mail_spool.h"
#include "keystore/keystore.h"
#include "util/util_addr.h"
#include "directory/dir_harvest.h"
#include "policy/policy.h"
#include "queue/queue.h"

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
	MAIL_DO_HOLD,               /* the MTA's hold queue; reason says why */
	MAIL_DO_DISCARD             /* accepted and dropped by the MTA: every
	                               recipient's copy is in our spool (held,
	                               or a notice to the sender) */
} mail_do_t;

#define MAIL_RESULT_HDRS 32          /* header protection restores or obscures a dozen */
struct mail_msg;

/*
 * The policy's decision and form per recipient of an outbound message
 * (filled by mail_policy.c), for the signing, the encryption, the split,
 * the log and the audit.
 */
typedef struct mail_policy_res {
	policy_t *policy;           /* a reference: the rules the decisions name */
	policy_result_t res;        /* per recipient, in the order of m->rcpts */
	policy_form_t *forms;       /* per recipient */
	size_t *group;              /* per recipient: its copy (policy_group()) */
	size_t ngroups;
	/* Per recipient: the certificate dir_lookup_find() chose (ours, or
	 * NULL) and whether its holder announced AES-256-GCM. */
	X509 **certs;
	int *gcm;
} mail_policy_res_t;

/* What a copy split off a message is (mail_split.h). */
typedef enum mail_copy_kind {
	MAIL_COPY_SEND,             /* made in its form, marked, to re-inject */
	MAIL_COPY_HOLD,             /* the original, in hold/, decided again later */
	MAIL_COPY_REFUSED,          /* refused by policy: nothing written; the
	                               recipients are named in the notice */
	MAIL_COPY_NOTICE            /* to the sender, from <>: who was refused */
} mail_copy_kind_t;

typedef struct mail_copy {
	char id[QUEUE_ID_MAX];
	mail_copy_kind_t kind;
	size_t group;               /* planned: the group of recipients it is for */
	enum policy_outcome outcome;        /* planned: that group's outcome */
	char **rcpts;               /* borrowed (del[], m->rcpts), or owned (NOTICE) */
	size_t n;
	int written;
	int dropped;                /* its recipients left the transaction */
	struct mail_msg *sub;       /* SEND: the copy's message and result (its
	                               bodies in spool files past SpoolMemoryLimit),
	                               streamed into the entry at commit */
	int again;                  /* SEND: made by an earlier attempt of the
	                               same message (queue_seen()): not again */
	char mark[QUEUE_ID_MAX + 70];
	char *data;                 /* NOTICE: the whole entry (small) */
	char form[64];
	char reason[512];
} mail_copy_t;

/* The recipients of a message handed to copies, and the copies. */
typedef struct mail_split {
	char **del;                 /* recipients the MTA drops */
	size_t ndel;
	mail_copy_t *c;
	size_t nc;
	/* While it is planned and made (mail_split.c): */
	size_t *group;              /* per recipient of the message: its group */
	size_t keep;                /* the group that stays in the transaction */
	int inbound;                /* copies of inbound mail: each must be sent */
	unsigned char digest[32];   /* of the message as received (copy IDs) */
} mail_split_t;

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
	/* Encryption. */
	char enc_alg[16];           /* "aes-256-cbc" or "aes-256-gcm" once encrypted */
	size_t enc_ncerts;          /* certificates encrypted to, the sender's included */
	/* Header protection (RFC 9788): "clear" or "cipher" once the
	 * message's header fields went inside; "" when not. */
	char hp[8];
	/* PASS and REPLACE alike: every header called strip[i] is deleted
	 * (so nobody outside can forge ours), then set_name[i]: set_value[i]
	 * are added.  Filled by mail_result_strip() / mail_result_set(). */
	char *strip[MAIL_RESULT_HDRS];
	size_t nstrip;
	char *set_name[MAIL_RESULT_HDRS], *set_value[MAIL_RESULT_HDRS];
	size_t nset;
	/* Outbound: the decision and form per recipient (mail_policy.h),
	 * NULL when not decided. */
	mail_policy_res_t *policy;
	/* Outbound, while the split runs: the decisions it is planned on (all
	 * recipients), for mail_msg_fail(); NULL otherwise. */
	mail_policy_res_t *plan;
	/* Inbound: recipients whose decryption differs, in ngroups groups
	 * (group[i] per recipient), for the pipeline to split; NULL when
	 * the inbound stage did not ask for a split. */
	size_t *group;
	size_t ngroups;
	/* Recipients handed to copies (mail_split.h). */
	mail_split_t *split;
	/* The spool copy this message is, its mark honoured and claimed
	 * (mail_split_mark()); "" when none.  mail_pipeline_tempfail()
	 * gives it back. */
	char marked[48];
} mail_result_t;

/*
 * One recipient's certificate lookup (mail_policy.c), kept with the
 * message so that the split's plan, the policy and a copy split off ask
 * once per recipient: memo[i] holds what was asked for m->rcpts[i] while
 * its addr is that very recipient (else it is asked again).
 */
typedef struct mail_cert_memo {
	char *addr;                 /* NULL: nothing kept */
	int found;                  /* the enum policy_cert the lookup gave */
	X509 *cert;                 /* a reference of the memo's, or NULL */
	int gcm;                    /* its holder announced AES-256-GCM */
} mail_cert_memo_t;

typedef struct mail_msg {
	conf_t *conf;               /* a reference of our own */
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
	int no_split;               /* never split (offline -t, copies) */
	int defer_commit;           /* the caller writes the copies
	                               (mail_split_commit()) itself, last */
	int enc_checked;            /* mail_msg_encrypted(): 0 not yet,
	                               1 encrypted, 2 not, -1 unreadable */
	int released;               /* an operator released it (smimectl spool
	                               release): action=hold rules are met, the
	                               encryption rules still apply */
	int from_spool;             /* a held copy read back from the spool: outbound
	                               (it was held as such), its submitter (auth,
	                               client_internal) as its entry records */
	int sign_denied;            /* the submitter may not sign as From (the
	                               signer check, made before any hold or split) */
	mail_cert_memo_t *memo;     /* nmemo of them, by recipient; NULL: none */
	size_t nmemo;
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

/* The limits besides the size, each with its own reply:
 *   header field > MaximumHeaderLength     552 5.3.4
 *   more than MaximumHeaders fields        552 5.3.4
 *   more than MaximumMimeParts parts,
 *   or nested deeper than MaximumMimeDepth 554 5.6.0
 *   more than MaximumRecipients            452 4.5.3 for each recipient
 *                                          past it (mail_msg_add_rcpt: 1) */
enum mail_limit { MAIL_LIMIT_NONE = 0, MAIL_LIMIT_HEADER_LENGTH, MAIL_LIMIT_HEADERS,
	MAIL_LIMIT_MIME };

/* Sets m's result to the failure class cls answers (reason: for the log
 * and the audit).  OnInternalError accept delivers the message as it came, but never
 * outbound mail that a rule wants encrypted (encrypt=always: read from
 * the policy's decisions, or those the split is planned on), nor when
 * that cannot be told: such mail is tempfailed instead. */
void mail_msg_fail(mail_msg_t *m, enum mail_fail cls, const char *reason);

/* Adds a header name to delete, or a header to add, to a result; 0, or
 * -1 when out of memory or MAIL_RESULT_HDRS are used. */
int mail_result_strip(mail_result_t *r, const char *name);
int mail_result_set(mail_result_t *r, const char *name, const char *value);
/* 1 when the result deletes headers called name. */
int mail_result_strips(const mail_result_t *r, const char *name);

/* Turns the result into a temporary failure (451 4.3.0) for reason, as
 * when something the gateway needs failed.  It sets the result only:
 * copies already written and a mark claimed are given back by
 * mail_pipeline_tempfail(). */
void mail_msg_tempfail(mail_msg_t *m, const char *reason);

/* Empties a result (what it holds freed), as before a decision. */
void mail_result_clear(mail_result_t *r);
void mail_result_policy_free(mail_policy_res_t *p);
void mail_result_split_free(mail_split_t *s);

/*
 * The direction: 1 outbound, 0 inbound.  Outbound: a local sender from
 * a client the gateway trusts to sign for (a login, InternalHosts), or
 * mail that leaves (a local or the null sender and some recipient
 * outside LocalDomains, whoever the client is), or a held copy read back
 * from the spool.
 */
int mail_msg_outbound(const mail_msg_t *m);

/* Whether the message really is encrypted (smime_encrypted_check(): a
 * body merely labelled so is not), checked once and kept in m: 1 or 0,
 * -1 when the body cannot be read. */
int mail_msg_encrypted(mail_msg_t *m);

/* 1 when m may be split and held in the spool (a key to mark copies,
 * and not a message that must stay whole: a copy, offline -t). */
int mail_msg_can_split(const mail_msg_t *m);

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

/* Writes the Postfix-style log line for the result, then one line per
 * recipient the policy decided for (the form, the rule, why). */
void mail_msg_log(const mail_msg_t *m);

/* The recipients the MTA must drop (smfi_delrcpt), and how many. */
char *const *mail_msg_delrcpts(const mail_msg_t *m, size_t *n);
/* For the audit: the k-th recipient dropped from the transaction whose
 * copy is not handed on at once: held (*held 1) or refused by policy;
 * 1, or 0 past the last.  Copies handed on are audited as they are made
 * (mail_msg_copy()) and when they come back marked. */
int mail_msg_dropped(const mail_msg_t *m, size_t k, const char **rcpt, int *held,
    const char **reason);
/* For the audit: the k-th copy written in this transaction to be handed
 * on in its own form (its recipients and result: e.g. an outsider's
 * encrypted copy next to a colleague's signed one); NULL past the last.
 * Valid while m is. */
const mail_msg_t *mail_msg_copy(const mail_msg_t *m, size_t k);

/* Strips the angle brackets (and ESMTP parameters) from an SMTP path:
 * "<a@b> SIZE=1" -> "a@b".  Returns a new string, or NULL. */
char *mail_msg_unbracket(const char *path);

#endif

/*
 * policy.h: the policy engine: which form each recipient of a message
 * gets (signed, encrypted, held, refused), from a rules file.
 *
 * The rules file (format: smimegate-policy(5)) is parsed whole into an
 * immutable policy_t; a reload parses a new one and swaps it, while
 * messages under way keep the one they started with.  policy_decide()
 * takes plain data (sender, recipients, subject, headers, content type,
 * direction) and returns one decision per recipient, each naming the rule
 * that decided and why.  policy_resolve() then turns a decision and what
 * is known of the recipient's certificate into the form to deliver, and
 * policy_group() puts recipients that get the same form together.
 *
 * Settings are inherited, each key on its own, in this order (a later
 * layer overrides an earlier one for the keys it sets): built-in defaults,
 * "default", the sender side (wildcard domains from the least to the most
 * specific, the domain, the address), the recipient side (the same), then
 * "internal" (local sender and local recipient), "calendar"
 * (text/calendar mail), and the triggers (subject, header, sensitivity)
 * in file order.  Mail between local users (local sender and local
 * recipient) is then never encrypted nor enrolled (the built-in rule
 * "internal delivery": it does not leave the company, and the colleague's
 * client has no key for it); encrypt=always and the triggers are met by
 * the internal delivery, an action (hold, reject) still holds, and sign
 * stays as the rules say.  Mail already encrypted is passed through: never signed
 * or encrypted again, whatever a rule says (a hold or reject still holds).
 *
 * No libmilter, no logging, no exit: errors are codes plus a message.
 *
 * Ownership and threads: policy_load() returns a policy with one
 * reference; policy_ref()/policy_unref() are atomic, and a loaded policy
 * is never changed, so threads share it freely.  A decision points at the
 * rules of the policy it came from: keep a reference while using it.  A
 * policy_result_t belongs to the caller (policy_result_clear()).
 */
#ifndef POLICY_H
#define POLICY_H

#include <stddef.h>

#include "util/util_err.h"

typedef struct policy policy_t;
typedef struct policy_rule policy_rule_t;

typedef enum policy_status {
	POLICY_OK = 0,
	POLICY_ERR_SYNTAX,          /* "file:line: what is wrong" */
	POLICY_ERR_IO,
	POLICY_ERR_NOMEM
} policy_status_t;

/* The error: a policy_status_t and a message (util/util_err.h). */
typedef util_err_t policy_err_t;

/* The settings, each inherited on its own. */
enum policy_key {
	POLICY_SIGN,                /* 0 or 1 */
	POLICY_ENCRYPT,             /* enum policy_encrypt */
	POLICY_ENROLL,              /* 0 or 1: ask for a certificate when none */
	POLICY_ACTION,              /* enum policy_action */
	POLICY_FALLBACK,            /* enum policy_fallback */
	POLICY_HP,                  /* header-protection: 0 off, 1 on (RFC 9788) */
	POLICY_LANGUAGE,            /* the language of the gateway's mails and pages
	                               to the recipient: 0 the default
	                               (TemplateLanguage), else a tag packed by
	                               policy_language_value() */
	POLICY_NKEYS
};
enum policy_encrypt { POLICY_ENC_NEVER, POLICY_ENC_IF_POSSIBLE, POLICY_ENC_ALWAYS };
enum policy_action { POLICY_ACT_DELIVER, POLICY_ACT_HOLD, POLICY_ACT_REJECT };
/* encrypt=always and no certificate to be had: */
enum policy_fallback { POLICY_FB_REJECT, POLICY_FB_HOLD, POLICY_FB_NOTICE };

enum policy_direction { POLICY_OUTBOUND, POLICY_INBOUND };

/* policy_msg_t's encrypted. */
enum { POLICY_BODY_LABEL = 0, POLICY_BODY_ENCRYPTED = 1, POLICY_BODY_PLAIN = 2 };

typedef struct policy_hdr {
	const char *name;
	const char *value;
} policy_hdr_t;

/* The message, as far as the policy looks at it. */
typedef struct policy_msg {
	const char *sender;         /* envelope sender; "" or NULL: null sender */
	int sender_local;           /* the sender's domain is local */
	const char *subject;        /* NULL: none */
	const policy_hdr_t *hdrs;   /* the header fields (for the triggers) */
	size_t nhdrs;
	const char *content_type;   /* top-level Content-Type; NULL: text/plain */
	int calendar;               /* the caller found a text/calendar part */
	int encrypted;              /* POLICY_BODY_*: 1 the caller found it
	                               already encrypted; 2 it parsed the body
	                               and found it is not (the Content-Type
	                               label is then not trusted); 0 the label
	                               says */
	enum policy_direction direction;
} policy_msg_t;

typedef struct policy_rcpt {
	const char *addr;
	int local;                  /* the recipient's domain is local */
} policy_rcpt_t;

/* The decision for one recipient. */
typedef struct policy_decision {
	int v[POLICY_NKEYS];                 /* the settings in force */
	const policy_rule_t *by[POLICY_NKEYS]; /* the rule that set each */
	const policy_rule_t *decided;        /* the rule that decided */
	int passthrough;                     /* already encrypted: as it is */
	char why[512];                       /* one line, for logs and explain */
} policy_decision_t;

typedef struct policy_result {
	policy_decision_t *d;       /* one per recipient, in their order */
	size_t n;
	char *subject;              /* the Subject with a tag stripped; NULL: unchanged */
	const policy_rule_t *stripped_by;
} policy_result_t;

/* Loads path.  NULL with err ("path:line: what is wrong") on failure. */
policy_t *policy_load(const char *path, policy_err_t *err);
/* The built-in policy (no rules file): the defaults, and the built-in
 * triggers (Sensitivity Company-Confidential or Private, Subject tag
 * "[encrypt]": encrypt=always enroll=yes); NULL when out of memory. */
policy_t *policy_builtin(void);
policy_t *policy_ref(policy_t *p);
void policy_unref(policy_t *p);
/* The file it was read from ("" for the built-in policy). */
const char *policy_file(const policy_t *p);

/* Decides for every recipient.  POLICY_OK, or POLICY_ERR_NOMEM with err. */
policy_status_t policy_decide(const policy_t *p, const policy_msg_t *m,
    const policy_rcpt_t *rcpts, size_t n, policy_result_t *out,
    policy_err_t *err);
void policy_result_clear(policy_result_t *r);

/* A rule: "FILE:LINE" (or "built-in"), and its selector ("to *.example.com"). */
const char *policy_rule_where(const policy_rule_t *r);
const char *policy_rule_text(const policy_rule_t *r);
/* "FILE:LINE: SELECTOR", for logs and audit records (into buf). */
const char *policy_rule_describe(const policy_rule_t *r, char *buf, size_t len);

/* Names of keys and values, as the rules file writes them (a language's
 * name is in a buffer of the calling thread, good until its next call). */
const char *policy_key_name(enum policy_key k);
const char *policy_value_name(enum policy_key k, int v);
/* language=TAG: a tag of 2 or 3 letters, optionally "-" and a region, at
 * most 5 characters ("de", "fr", "pt-br"), packed into an int; -1 when tag
 * is not one.  "default" is 0.  policy_language() unpacks it into buf (at
 * least 6 octets): "" for 0. */
int policy_language_value(const char *tag);
const char *policy_language(int v, char *buf, size_t size);

/* ---- the form to deliver ---- */

/* What is known of a recipient's certificate. */
enum policy_cert {
	POLICY_CERT_UNKNOWN,        /* not looked up (no directory configured) */
	POLICY_CERT_FOUND,
	POLICY_CERT_NONE,           /* looked up, none usable */
	POLICY_CERT_UNAVAILABLE     /* the directory could not be asked */
};

enum policy_outcome {
	POLICY_DELIVER,             /* in the form sign/encrypt say */
	POLICY_HOLD,                /* wait in the spool (for enrollment, or review) */
	POLICY_REJECT,              /* refuse for this recipient */
	POLICY_NOTICE,              /* not delivered; the sender gets a notice */
	POLICY_TEMPFAIL             /* try again later (directory down) */
};

typedef struct policy_form {
	enum policy_outcome outcome;
	int sign;
	int encrypt;
	int enroll;                 /* HOLD: start an enrollment */
	int passthrough;
	int hp;                     /* DELIVER: protect the header fields
	                               (header-protection=on) */
	const char *why;            /* static text: why this outcome */
	int key_agreement;          /* encrypt to an EC key (ECDH), kept apart
	                               from RSA ones (set by the caller
	                               after policy_resolve()) */
} policy_form_t;

void policy_resolve(const policy_decision_t *d, enum policy_cert cert,
    policy_form_t *f);
const char *policy_outcome_name(enum policy_outcome o);

/* Puts equal forms together: group[i] for each of n forms, groups numbered
 * 0.. in order of first appearance.  Returns the number of groups. */
size_t policy_group(const policy_form_t *forms, size_t n, size_t *group);

#endif

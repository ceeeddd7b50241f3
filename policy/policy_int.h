/*
 * policy_int.h: inside the policy engine (policy/): the rule and policy
 * structures shared by the parser (policy_parse.c), the decision
 * (policy_decide.c) and the forms (policy_form.c).  Not for other folders.
 */
#ifndef POLICY_INT_H
#define POLICY_INT_H

#include "policy/policy.h"

/* What a rule applies to. */
enum policy_sel {
	SEL_BUILTIN,                /* the built-in defaults and special cases */
	SEL_DEFAULT,
	SEL_FROM,
	SEL_TO,
	SEL_INTERNAL,
	SEL_CALENDAR,
	SEL_SUBJECT,
	SEL_HEADER,
	SEL_SENSITIVITY
};

/* How a from/to rule matches an address. */
enum policy_match { MATCH_NONE, MATCH_WILDCARD, MATCH_DOMAIN, MATCH_ADDRESS };

struct policy_rule {
	enum policy_sel sel;
	enum policy_match match;
	char *arg;                  /* domain (lower case, "*." dropped), address,
	                               subject tag, header name, sensitivity */
	char *value;                /* header: the value pattern; NULL: present */
	int strip;                  /* subject: strip the tag */
	int v[POLICY_NKEYS];
	unsigned set;               /* bit (1 << key) for each key it sets */
	char *where;                /* "FILE:LINE" or "built-in" */
	char *text;                 /* the selector as written: "to *.example.com" */
};

struct policy {
	int refs;
	char *file;
	policy_rule_t *rules;
	size_t n, cap;
	const policy_rule_t *calendar;   /* the file's, or the built-in one */
};

/* The built-in rules (policy_parse.c). */
extern const policy_rule_t policy_rule_defaults;
extern const policy_rule_t policy_rule_calendar;
extern const policy_rule_t policy_rule_encrypted;
extern const policy_rule_t policy_rule_inbound;
extern const policy_rule_t policy_rule_internal;

/* 1 when addr's domain is dom or (wildcard) below it.  Case-insensitive. */
int policy_domain_match(const char *addr_domain, const char *dom, int wildcard);

/* 1 for a Content-Type of mail already encrypted (S/MIME enveloped, or
 * pkcs7-mime without smime-type as old clients write it; PGP/MIME). */
int policy_is_encrypted(const char *content_type);

#endif

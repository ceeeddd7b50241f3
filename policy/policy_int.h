/*
 * policy_int.h: inside the policy engine (policy/): the rule and policy
 * structures shared by the parser (policy_parse.c), the decision
 * (policy_decide.c) and the forms (policy_form.c).  Not for other folders.
 * Types only: the parser's built-in rules, which the decision applies,
 * are declared in policy_parse.h.
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

#endif

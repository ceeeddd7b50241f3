/*
 * policy_decide.c: the decision per recipient (see policy.h for the order
 * in which settings are inherited).  Pure: reads the policy and the
 * message, writes the result; no state of its own.
 */
#include "policy/policy_int.h"
#include "policy/policy_parse.h"
#include "util/util_addr.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 1 when addr's domain dom is pat or (wildcard) below it.  Case-insensitive. */
static int
policy_domain_match(const char *dom, const char *pat, int wildcard)
{
	size_t dl, pl;

	if (dom == NULL)
		return 0;
	if (!wildcard)
		return strcasecmp(dom, pat) == 0;
	dl = strlen(dom);
	pl = strlen(pat);
	return dl > pl + 1 && dom[dl - pl - 1] == '.' && strcasecmp(dom + dl - pl, pat) == 0;
}

static void
apply(policy_decision_t *d, const policy_rule_t *r)
{
	for (int k = 0; k < POLICY_NKEYS; k++) {
		if (r->set & (1u << k)) {
			d->v[k] = r->v[k];
			d->by[k] = r;
		}
	}
}

/* The wildcard rule of side sel matching dom, the least specific one
 * longer than after (octets of its domain), or NULL. */
static const policy_rule_t *
next_wildcard(const policy_t *p, enum policy_sel sel, const char *dom, size_t after)
{
	const policy_rule_t *best = NULL;

	for (size_t i = 0; i < p->n; i++) {
		const policy_rule_t *r = &p->rules[i];
		size_t len;

		if (r->sel != sel || r->match != MATCH_WILDCARD ||
		    !policy_domain_match(dom, r->arg, 1))
			continue;
		len = strlen(r->arg);
		if (len > after && (best == NULL || len < strlen(best->arg)))
			best = r;
	}
	return best;
}

/* One side (from or to): wildcards, least specific first; the domain; the address. */
static void
apply_side(policy_decision_t *d, const policy_t *p, enum policy_sel sel,
    const char *addr)
{
	const char *dom = util_addr_domain(addr);
	const policy_rule_t *r;
	size_t after = 0;

	if (dom == NULL)
		return;
	while ((r = next_wildcard(p, sel, dom, after)) != NULL) {
		apply(d, r);
		after = strlen(r->arg);
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->rules[i].sel == sel && p->rules[i].match == MATCH_DOMAIN &&
		    policy_domain_match(dom, p->rules[i].arg, 0))
			apply(d, &p->rules[i]);
	for (size_t i = 0; i < p->n; i++)
		if (p->rules[i].sel == sel && p->rules[i].match == MATCH_ADDRESS &&
		    util_addr_equal(addr, p->rules[i].arg))
			apply(d, &p->rules[i]);
}

static void
apply_sel(policy_decision_t *d, const policy_t *p, enum policy_sel sel)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->rules[i].sel == sel)
			apply(d, &p->rules[i]);
}

/* The value without the white space around it, into buf. */
static const char *
trimmed(const char *v, char *buf, size_t len)
{
	size_t n;

	while (isspace((unsigned char)*v))
		v++;
	n = strlen(v);
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		n--;
	snprintf(buf, len, "%.*s", (int)n, v);
	return buf;
}

static int
header_matches(const policy_msg_t *m, const char *name, const char *pattern,
    int exact)
{
	char buf[1024];

	for (size_t i = 0; i < m->nhdrs; i++) {
		if (strcasecmp(m->hdrs[i].name, name) != 0)
			continue;
		if (pattern == NULL)
			return 1;
		trimmed(m->hdrs[i].value, buf, sizeof(buf));
		if (exact ? strcasecmp(buf, pattern) == 0
		    : fnmatch(pattern, buf, FNM_CASEFOLD) == 0)
			return 1;
	}
	return 0;
}

static int
trigger_matches(const policy_rule_t *r, const policy_msg_t *m)
{
	switch (r->sel) {
	case SEL_SUBJECT:
		return m->subject != NULL && strcasestr(m->subject, r->arg) != NULL;
	case SEL_HEADER:
		return header_matches(m, r->arg, r->value, 0);
	case SEL_SENSITIVITY:
		return header_matches(m, "Sensitivity", r->arg, 1);
	default:
		return 0;
	}
}

/* The media type of a Content-Type value, lower case, into buf. */
static const char *
media_type(const char *ct, char *buf, size_t len)
{
	size_t n, i;

	if (ct == NULL)
		ct = "text/plain";
	while (isspace((unsigned char)*ct))
		ct++;
	n = strcspn(ct, "; \t\r\n");
	for (i = 0; i < n && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)ct[i]);
	buf[i] = '\0';
	return buf;
}

/* 1 for a Content-Type of mail already encrypted: S/MIME enveloped (or
 * pkcs7-mime without smime-type, as old clients write it), or PGP/MIME. */
static int
policy_is_encrypted(const char *ct)
{
	char type[128];
	const char *st;

	media_type(ct, type, sizeof(type));
	if (strcmp(type, "multipart/encrypted") == 0)
		return 1;
	if (strcmp(type, "application/pkcs7-mime") != 0 &&
	    strcmp(type, "application/x-pkcs7-mime") != 0)
		return 0;
	if ((st = strcasestr(ct, "smime-type")) == NULL)
		return 1;
	st += strcspn(st, "=");
	st += strspn(st, "= \t\"");
	return strncasecmp(st, "enveloped-data", 14) == 0 ||
	    strncasecmp(st, "authenveloped-data", 18) == 0;
}

static int
is_calendar(const policy_msg_t *m)
{
	char type[128];

	return m->calendar ||
	    strcmp(media_type(m->content_type, type, sizeof(type)), "text/calendar") == 0;
}

/* The rule that decided, and the one line why. */
static void
explain(policy_decision_t *d)
{
	int k = d->v[POLICY_ACTION] != POLICY_ACT_DELIVER ? POLICY_ACTION : POLICY_ENCRYPT;

	if (d->passthrough && k == POLICY_ENCRYPT) {
		d->decided = &policy_rule_encrypted;
		snprintf(d->why, sizeof(d->why), "already encrypted: passed through as it is");
		return;
	}
	d->decided = d->by[k];
	snprintf(d->why, sizeof(d->why), "%s=%s by %s (%s)", policy_key_name(k),
	    policy_value_name(k, d->v[k]), policy_rule_where(d->by[k]),
	    policy_rule_text(d->by[k]));
}

static void
decide_one(const policy_t *p, const policy_msg_t *m, const policy_rcpt_t *rc,
    policy_decision_t *d)
{
	memset(d, 0, sizeof(*d));
	apply(d, &policy_rule_defaults);
	if (m->direction == POLICY_INBOUND) {
		apply(d, &policy_rule_inbound);
		d->decided = &policy_rule_inbound;
		snprintf(d->why, sizeof(d->why), "inbound: the policy is for outbound mail");
		return;
	}
	apply_sel(d, p, SEL_DEFAULT);
	if (m->sender != NULL && *m->sender != '\0')
		apply_side(d, p, SEL_FROM, m->sender);
	apply_side(d, p, SEL_TO, rc->addr);
	if (m->sender_local && rc->local)
		apply_sel(d, p, SEL_INTERNAL);
	if (is_calendar(m))
		apply(d, p->calendar);
	for (size_t i = 0; i < p->n; i++)
		if (trigger_matches(&p->rules[i], m))
			apply(d, &p->rules[i]);
	/* After the triggers: encrypt=always and enrollment are met by the
	 * internal delivery itself; an action (hold, reject) stays. */
	if (m->sender_local && rc->local)
		apply(d, &policy_rule_internal);
	if (m->encrypted == POLICY_BODY_ENCRYPTED || (m->encrypted == POLICY_BODY_LABEL
	    && policy_is_encrypted(m->content_type))) {
		apply(d, &policy_rule_encrypted);
		d->passthrough = 1;
	}
	explain(d);
}

/* Removes the first occurrence of tag (and one space next to it). */
static char *
strip_tag(const char *subject, const char *tag)
{
	const char *at = strcasestr(subject, tag);
	size_t start, skip = strlen(tag);
	char *s;

	if (at == NULL)
		return strdup(subject);
	start = (size_t)(at - subject);
	if (at[skip] == ' ')
		skip++;
	else if (start > 0 && subject[start - 1] == ' ')
		start--;
	if (asprintf(&s, "%.*s%s", (int)start, subject, at + skip) < 0)
		return NULL;
	return s;
}

static int
strip_subject(const policy_t *p, const policy_msg_t *m, policy_result_t *out)
{
	for (size_t i = 0; i < p->n; i++) {
		const policy_rule_t *r = &p->rules[i];
		char *s;

		if (r->sel != SEL_SUBJECT || !r->strip || !trigger_matches(r, m))
			continue;
		if ((s = strip_tag(out->subject ? out->subject : m->subject, r->arg)) == NULL)
			return -1;
		free(out->subject);
		out->subject = s;
		out->stripped_by = r;
	}
	return 0;
}

policy_status_t
policy_decide(const policy_t *p, const policy_msg_t *m, const policy_rcpt_t *rcpts,
    size_t n, policy_result_t *out, policy_err_t *err)
{
	memset(out, 0, sizeof(*out));
	if ((out->d = calloc(n ? n : 1, sizeof(*out->d))) == NULL)
		goto nomem;
	out->n = n;
	for (size_t i = 0; i < n; i++)
		decide_one(p, m, &rcpts[i], &out->d[i]);
	if (m->direction == POLICY_OUTBOUND && strip_subject(p, m, out) != 0)
		goto nomem;
	return POLICY_OK;
nomem:
	policy_result_clear(out);
	return util_err_set(err, POLICY_ERR_NOMEM, "policy: out of memory");
}

void
policy_result_clear(policy_result_t *r)
{
	free(r->d);
	free(r->subject);
	memset(r, 0, sizeof(*r));
}

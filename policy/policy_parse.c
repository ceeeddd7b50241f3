/*
 * policy_parse.c: the rules file (smimegate-policy(5)) into a policy_t,
 * the built-in rules, and the policy's references (see policy.h).
 *
 * A line is a selector and settings: "to *.example.com encrypt=always".
 * Tokens are separated by white space; "double quotes" keep spaces (\" and
 * \\ inside); '#' at the start of a token begins a comment.  Every problem
 * is "file:line: what is wrong"; the first one stops the load, and nothing
 * half-parsed is ever returned.
 */
#include "policy/policy_parse.h"
#include "policy/policy_int.h"
#include "util/util_addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKENS 32
#define ALL_KEYS ((1u << POLICY_NKEYS) - 1)

/* ---- the built-in rules ---- */

#define B(text) (char *)"built-in", (char *)(text)
const policy_rule_t policy_rule_defaults = { SEL_BUILTIN, MATCH_NONE, NULL, NULL, 0,
	{ 1, POLICY_ENC_IF_POSSIBLE, 0, POLICY_ACT_DELIVER, POLICY_FB_REJECT, 1 },
	ALL_KEYS, B("defaults") };
const policy_rule_t policy_rule_calendar = { SEL_BUILTIN, MATCH_NONE, NULL, NULL, 0,
	{ 0, POLICY_ENC_NEVER, 0, 0, 0 }, 1u << POLICY_ENCRYPT, B("calendar") };
const policy_rule_t policy_rule_encrypted = { SEL_BUILTIN, MATCH_NONE, NULL, NULL, 0,
	{ 0, POLICY_ENC_NEVER, 0, 0, 0 },
	1u << POLICY_SIGN | 1u << POLICY_ENCRYPT | 1u << POLICY_ENROLL,
	B("already encrypted") };
/* Mail between local users: it does not leave the company and
 * the colleague's client has no key for it; signed as the policy says. */
const policy_rule_t policy_rule_internal = { SEL_BUILTIN, MATCH_NONE, NULL, NULL, 0,
	{ 0, POLICY_ENC_NEVER, 0, 0, 0 }, 1u << POLICY_ENCRYPT | 1u << POLICY_ENROLL,
	B("internal delivery: local sender and local recipient, never encrypted") };
const policy_rule_t policy_rule_inbound = { SEL_BUILTIN, MATCH_NONE, NULL, NULL, 0,
	{ 0, POLICY_ENC_NEVER, 0, POLICY_ACT_DELIVER, 0 },
	1u << POLICY_SIGN | 1u << POLICY_ENCRYPT | 1u << POLICY_ENROLL | 1u << POLICY_ACTION,
	B("inbound") };
#undef B

/* ---- names ---- */

static const char *const key_names[POLICY_NKEYS + 1] = {
	"sign", "encrypt", "enroll", "action", "fallback", "header-protection", "language",
	NULL
};
static const char *const yesno[] = { "no", "yes", NULL };
static const char *const enc_names[] = { "never", "if-possible", "always", NULL };
static const char *const act_names[] = { "deliver", "hold", "reject", NULL };
static const char *const fb_names[] = { "reject", "hold", "notice", NULL };
static const char *const onoff[] = { "off", "on", NULL };
static const char *const *const value_names[POLICY_NKEYS] = {
	yesno, enc_names, yesno, act_names, fb_names, onoff, NULL
};

/* Language tags packed in base 38: 0 ends, a-z 1-26, 0-9 27-36, '-' 37. */
#define LANG_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789-"

int
policy_language_value(const char *tag)
{
	size_t n = strspn(tag, "abcdefghijklmnopqrstuvwxyz"), len = strlen(tag);
	int v = 0;

	if (strcmp(tag, "default") == 0)
		return 0;
	if (n < 2 || n > 3 || len > 5 || (len > n && (tag[n] != '-' || len < n + 2
	    || strspn(tag + n + 1, LANG_DIGITS) != len - n - 1
	    || strchr(tag + n + 1, '-') != NULL)))
		return -1;
	for (size_t i = len; i-- > 0;)
		v = v * 38 + (int)(strchr(LANG_DIGITS, tag[i]) - LANG_DIGITS) + 1;
	return v;
}

const char *
policy_language(int v, char *buf, size_t size)
{
	size_t k = 0;

	for (; v > 0 && k + 1 < size; v /= 38)
		buf[k++] = LANG_DIGITS[v % 38 - 1];
	buf[k] = '\0';
	return buf;
}

const char *
policy_key_name(enum policy_key k)
{
	return (unsigned)k < POLICY_NKEYS ? key_names[k] : "?";
}

const char *
policy_value_name(enum policy_key k, int v)
{
	const char *const *names;

	static __thread char lang[8];

	if ((unsigned)k >= POLICY_NKEYS || v < 0)
		return "?";
	if (k == POLICY_LANGUAGE)
		return v == 0 ? "default" : policy_language(v, lang, sizeof(lang));
	names = value_names[k];
	for (int i = 0; names[i] != NULL; i++)
		if (i == v)
			return names[i];
	return "?";
}

/* ---- references ---- */

static void
rule_free(policy_rule_t *r)
{
	free(r->arg);
	free(r->value);
	free(r->where);
	free(r->text);
}

static policy_t *
policy_new(const char *file)
{
	policy_t *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->refs = 1;
	p->calendar = &policy_rule_calendar;
	if ((p->file = strdup(file)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

policy_t *
policy_ref(policy_t *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_SEQ_CST);
	return p;
}

void
policy_unref(policy_t *p)
{
	if (p == NULL || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	for (size_t i = 0; i < p->n; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	free(p->file);
	free(p);
}

const char *
policy_file(const policy_t *p)
{
	return p->file;
}

const char *
policy_rule_where(const policy_rule_t *r)
{
	return r ? r->where : "built-in";
}

const char *
policy_rule_text(const policy_rule_t *r)
{
	return r ? r->text : "defaults";
}

const char *
policy_rule_describe(const policy_rule_t *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s: %s", policy_rule_where(r), policy_rule_text(r));
	return buf;
}

/* ---- the parser ---- */

typedef struct parse {
	const char *file;
	unsigned line;
	policy_err_t *err;
	char *tok[MAX_TOKENS];
	int ntok;
} parse_t;

static int perr(parse_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets "file:line: ..." in the error; returns -1. */
static int
perr(parse_t *ps, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	util_err_set(ps->err, POLICY_ERR_SYNTAX, "%s:%u: %s", ps->file, ps->line, msg);
	return -1;
}

/* One token at *pp, unquoted in place; NULL at the end of the line. */
static int
next_token(parse_t *ps, char **pp, char **tok)
{
	char *p = *pp, *out;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#') {
		*tok = NULL;
		return 0;
	}
	if (*p != '"') {
		*tok = p;
		p += strcspn(p, " \t\r\n");
		if (*p != '\0')
			*p++ = '\0';
		*pp = p;
		return 0;
	}
	*tok = out = ++p;
	for (; *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		else if (*p == '\0' || *p == '\n')
			return perr(ps, "unterminated quoted string");
		*out++ = *p;
	}
	*out = '\0';
	*pp = p + 1;
	if (**pp != '\0' && !isspace((unsigned char)**pp))
		return perr(ps, "a quoted string must be followed by white space");
	return 0;
}

static int
tokenize(parse_t *ps, char *line)
{
	char *p = line, *tok;

	ps->ntok = 0;
	for (;;) {
		if (next_token(ps, &p, &tok) != 0)
			return -1;
		if (tok == NULL)
			return 0;
		if (ps->ntok == MAX_TOKENS)
			return perr(ps, "more than %d words on a line", MAX_TOKENS);
		ps->tok[ps->ntok++] = tok;
	}
}

static int
valid_domain(const char *d)
{
	size_t label = 0;

	if (*d == '\0' || *d == '.')
		return 0;
	for (; *d != '\0'; d++) {
		if (*d == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*d) || *d == '-' || *d == '_') {
			label++;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* from/to PATTERN: an address, a domain or *.domain. */
static int
parse_pattern(parse_t *ps, policy_rule_t *r, const char *pat)
{
	const char *at = strrchr(pat, '@');

	if (strncmp(pat, "*.", 2) == 0) {
		r->match = MATCH_WILDCARD;
		pat += 2;
	} else {
		r->match = at ? MATCH_ADDRESS : MATCH_DOMAIN;
	}
	if ((r->arg = strdup(pat)) == NULL)
		return -1;
	if (r->match == MATCH_ADDRESS) {
		char *dom = r->arg + (at - pat) + 1;

		if (at == pat || !valid_domain(dom))
			return perr(ps, "\"%s\" is not an address local-part@domain", pat);
		util_addr_lower(dom);
		return 0;
	}
	if (!valid_domain(r->arg))
		return perr(ps, "\"%s%s\" is not a domain, *.domain or address",
		    r->match == MATCH_WILDCARD ? "*." : "", pat);
	util_addr_lower(r->arg);
	return 0;
}

/* header "Name" or "Name: pattern". */
static int
parse_header(parse_t *ps, policy_rule_t *r, const char *arg)
{
	size_t n = strcspn(arg, ":");
	const char *v = arg + n;

	while (n > 0 && isspace((unsigned char)arg[n - 1]))
		n--;
	if (n == 0)
		return perr(ps, "header: want \"Name\" or \"Name: value\"");
	for (size_t i = 0; i < n; i++)
		if (arg[i] <= ' ' || arg[i] > '~')
			return perr(ps, "header: \"%.*s\" is not a header name", (int)n, arg);
	if ((r->arg = strndup(arg, n)) == NULL)
		return -1;
	if (*v == ':') {
		v++;
		while (isspace((unsigned char)*v))
			v++;
		if ((r->value = strdup(v)) == NULL)
			return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	enum policy_sel sel;
	int nargs;
} selectors[] = {
	{ "default", SEL_DEFAULT, 0 },
	{ "from", SEL_FROM, 1 },
	{ "to", SEL_TO, 1 },
	{ "internal", SEL_INTERNAL, 0 },
	{ "calendar", SEL_CALENDAR, 0 },
	{ "subject", SEL_SUBJECT, 1 },
	{ "header", SEL_HEADER, 1 },
	{ "sensitivity", SEL_SENSITIVITY, 1 },
};
#define NSEL (sizeof(selectors) / sizeof(selectors[0]))

/* The selector (and its argument); returns the index of the first setting. */
static int
parse_selector(parse_t *ps, policy_rule_t *r)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < NSEL && strcasecmp(ps->tok[0], selectors[i].name) != 0; i++)
		;
	if (i == NSEL)
		return perr(ps, "unknown selector \"%s\" (want default, from, to, internal, "
		    "calendar, subject, header or sensitivity)", ps->tok[0]);
	r->sel = selectors[i].sel;
	if (selectors[i].nargs == 0)
		return 1;
	if (ps->ntok < 2 || strchr(ps->tok[1], '=') != NULL)
		return perr(ps, "%s: missing its argument", selectors[i].name);
	if (r->sel == SEL_FROM || r->sel == SEL_TO)
		rc = parse_pattern(ps, r, ps->tok[1]);
	else if (r->sel == SEL_HEADER)
		rc = parse_header(ps, r, ps->tok[1]);
	else if (*ps->tok[1] == '\0')
		return perr(ps, "%s: empty argument", selectors[i].name);
	else
		rc = (r->arg = strdup(ps->tok[1])) ? 0 : -1;
	if (rc != 0)
		return -1;
	if (r->sel == SEL_SUBJECT && ps->ntok > 2 && strcasecmp(ps->tok[2], "strip") == 0) {
		r->strip = 1;
		return 3;
	}
	return 2;
}

static int
lookup_name(const char *const *names, const char *v)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strcasecmp(names[i], v) == 0)
			return i;
	return -1;
}

/* key=value */
static int
parse_setting(parse_t *ps, policy_rule_t *r, char *tok)
{
	char *eq = strchr(tok, '=');
	int k, v;

	if (eq == NULL)
		return perr(ps, "\"%s\": want key=value", tok);
	*eq = '\0';
	if ((k = lookup_name(key_names, tok)) < 0)
		return perr(ps, "unknown setting \"%s\" (want sign, encrypt, enroll, "
		    "action, fallback, header-protection or language)", tok);
	if (k == POLICY_LANGUAGE && (v = policy_language_value(eq + 1)) < 0)
		return perr(ps, "language: \"%s\" is not a language tag (de, fr, pt-br)",
		    eq + 1);
	if (k != POLICY_LANGUAGE && (v = lookup_name(value_names[k], eq + 1)) < 0)
		return perr(ps, "%s: \"%s\" is not one of the allowed values", tok, eq + 1);
	if (r->set & (1u << k))
		return perr(ps, "%s is set twice", key_names[k]);
	r->v[k] = v;
	r->set |= 1u << k;
	return 0;
}

/* The selector as the explanation shows it, from the parsed parts. */
static int
rule_text(policy_rule_t *r, const char *sel)
{
	int n;

	switch (r->sel) {
	case SEL_FROM:
	case SEL_TO:
		n = asprintf(&r->text, "%s %s%s", sel,
		    r->match == MATCH_WILDCARD ? "*." : "", r->arg);
		break;
	case SEL_HEADER:
		n = asprintf(&r->text, "header \"%s%s%s\"", r->arg, r->value ? ": " : "",
		    r->value ? r->value : "");
		break;
	case SEL_SUBJECT:
		n = asprintf(&r->text, "subject \"%s\"%s", r->arg, r->strip ? " strip" : "");
		break;
	case SEL_SENSITIVITY:
		n = asprintf(&r->text, "sensitivity %s", r->arg);
		break;
	default:
		n = asprintf(&r->text, "%s", sel);
		break;
	}
	if (n < 0)
		r->text = NULL;
	return n < 0 ? -1 : 0;
}

static int
same_selector(const policy_rule_t *a, const policy_rule_t *b)
{
	if (a->sel != b->sel || a->match != b->match)
		return 0;
	if (a->sel == SEL_TO || a->sel == SEL_FROM)
		return strcmp(a->arg, b->arg) == 0;
	return strcasecmp(a->text, b->text) == 0;
}

static int
add_rule(parse_t *ps, policy_t *p, policy_rule_t *r)
{
	for (size_t i = 0; i < p->n; i++)
		if (same_selector(&p->rules[i], r))
			return perr(ps, "\"%s\" again (first at %s)", r->text, p->rules[i].where);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		policy_rule_t *nr = realloc(p->rules, cap * sizeof(*nr));

		if (nr == NULL)
			return -1;
		p->rules = nr;
		p->cap = cap;
	}
	p->rules[p->n++] = *r;
	return 0;
}

/* One line: selector, settings.  0 (stored or empty) or -1. */
static int
parse_line(parse_t *ps, policy_t *p, char *line)
{
	policy_rule_t r;
	int i;

	memset(&r, 0, sizeof(r));
	if (tokenize(ps, line) != 0)
		return -1;
	if (ps->ntok == 0)
		return 0;
	if ((i = parse_selector(ps, &r)) < 0)
		goto fail;
	for (; i < ps->ntok; i++)
		if (parse_setting(ps, &r, ps->tok[i]) != 0)
			goto fail;
	if (r.set == 0 && !r.strip) {
		perr(ps, "%s: no settings (want key=value, e.g. encrypt=always)", ps->tok[0]);
		goto fail;
	}
	if (rule_text(&r, ps->tok[0]) != 0 ||
	    asprintf(&r.where, "%s:%u", ps->file, ps->line) < 0) {
		r.where = NULL;
		goto fail;
	}
	if (add_rule(ps, p, &r) != 0)
		goto fail;
	return 0;
fail:
	if (ps->err->code == POLICY_OK)
		util_err_set(ps->err, POLICY_ERR_NOMEM, "%s: out of memory", ps->file);
	rule_free(&r);
	return -1;
}

/* The file's own calendar rule replaces the built-in one. */
static void
policy_finish(policy_t *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->rules[i].sel == SEL_CALENDAR)
			p->calendar = &p->rules[i];
}

policy_t *
policy_load(const char *path, policy_err_t *err)
{
	parse_t ps = { path, 0, err, { NULL }, 0 };
	policy_t *p = policy_new(path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp;
	int rc = 0;

	util_err_clear(err);
	if (p == NULL) {
		util_err_set(err, POLICY_ERR_NOMEM, "%s: out of memory", path);
		return NULL;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		util_err_set(err, POLICY_ERR_IO, "%s: %s", path, strerror(errno));
		policy_unref(p);
		return NULL;
	}
	while (rc == 0 && (len = getline(&line, &cap, fp)) != -1) {
		ps.line++;
		if (memchr(line, '\0', (size_t)len) != NULL)
			rc = perr(&ps, "NUL character in line");
		else
			rc = parse_line(&ps, p, line);
	}
	if (rc == 0 && ferror(fp)) {
		util_err_set(err, POLICY_ERR_IO, "%s: read error", path);
		rc = -1;
	}
	free(line);
	fclose(fp);
	if (rc != 0) {
		policy_unref(p);
		return NULL;
	}
	policy_finish(p);
	return p;
}

/*
 * The built-in rules, in force without PolicyFile (a file replaces them
 * all but the defaults and calendar): the users' own way to ask for
 * encryption, from Outlook's Sensitivity menu or a Subject tag, makes it
 * encrypt=always with enrollment, so a recipient without a certificate
 * is enrolled by the embedded CA (smimegate-policy(5)).
 */
static const char *const builtin_lines[] = {
	"sensitivity company-confidential encrypt=always enroll=yes",
	"sensitivity private encrypt=always enroll=yes",
	"subject \"[encrypt]\" strip encrypt=always enroll=yes",
};

policy_t *
policy_builtin(void)
{
	policy_err_t err = { POLICY_OK, "" };
	parse_t ps = { "built-in", 0, &err, { NULL }, 0 };
	policy_t *p = policy_new("");
	char line[200];

	for (size_t i = 0; p != NULL && i < sizeof(builtin_lines) / sizeof(*builtin_lines); i++) {
		ps.line = (unsigned)i + 1;
		snprintf(line, sizeof(line), "%s", builtin_lines[i]);
		if (parse_line(&ps, p, line) != 0) {
			policy_unref(p);
			return NULL;
		}
		free(p->rules[p->n - 1].where);
		if ((p->rules[p->n - 1].where = strdup("built-in")) == NULL) {
			policy_unref(p);
			return NULL;
		}
	}
	return p;
}

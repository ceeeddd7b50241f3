/*
 * audit_verify.c: checking a log.  The files are read as one stream of
 * lines; each is parsed when read (a checkpoint's signature checked at
 * once), and judged with the two lines before it and the one after it in
 * view, which is enough to tell which line of a broken link was changed,
 * removed, inserted or moved.  Memory stays constant whatever the size.
 *
 * What cannot be told: lines after the last checkpoint can be rewritten
 * (or cut off at a line boundary) without a trace; they are reported as
 * unsealed.  And a chain rewritten without the key is caught at the first
 * checkpoint after the change, not at the changed line itself.
 *
 * Ownership: the result points into the caller's files[].
 * Threads: no shared state.
 */
#include "audit/audit_int.h"
#include "audit/audit_json.h"
#include "audit/audit_key.h"
#include "audit/audit_lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line as the verifier sees it. */
typedef struct vline {
	int present;
	size_t file;
	unsigned long lineno;
	int newline;
	int parsed;
	const char *why;        /* when not parsed */
	char hash[65];          /* of its bytes */
	uint64_t seq;
	char prev[65];
	int checkpoint;
	int cp_ok;              /* signature verifies with the given key */
	int cp_foreign;         /* made with another key */
	int first_in_file;
	int gap;                /* a record with action "gap" */
	char gap_reason[256];
} vline_t;

typedef struct verifier {
	const char *const *files;
	EVP_PKEY *pub;
	char keyid[65];
	audit_lines_t *ls;
	vline_t p2, p1, cur, nx;        /* lines j-2, j-1, j, j+1 */
	audit_verify_result_t *res;
	const audit_head_t *head;       /* NULL: none */
	int head_seen;
	/* the last valid checkpoint */
	int have_cp;
	size_t cp_file;
	unsigned long cp_line;
} verifier_t;

static const char *const TAMPER_NAMES[] = {
	[AUDIT_T_NONE] = "intact",
	[AUDIT_T_CHANGED] = "changed",
	[AUDIT_T_MALFORMED] = "malformed",
	[AUDIT_T_REMOVED] = "removed",
	[AUDIT_T_INSERTED] = "inserted",
	[AUDIT_T_REORDERED] = "reordered",
	[AUDIT_T_TRUNCATED] = "truncated",
	[AUDIT_T_SIGNATURE] = "bad signature",
	[AUDIT_T_FOREIGN_KEY] = "foreign key",
	[AUDIT_T_NO_CHECKPOINT] = "no checkpoint",
	[AUDIT_T_GAP] = "gap",
};

const char *
audit_tamper_name(audit_tamper_t t)
{
	if ((int)t < 0 || t > AUDIT_T_GAP)
		return "unknown";
	return TAMPER_NAMES[t];
}

/* ---- reading ---- */

static void
parse_into(verifier_t *v, const audit_rawline_t *l, vline_t *out)
{
	audit_line_t pl;

	out->parsed = audit_json_parse(l->data, l->len, &pl, &out->why) == 0;
	if (!out->parsed)
		return;
	out->seq = pl.seq;
	memcpy(out->prev, pl.prev, sizeof(out->prev));
	out->checkpoint = pl.checkpoint;
	if (!pl.checkpoint) {
		json_object *a, *r;

		out->gap = json_object_object_get_ex(pl.obj, "action", &a)
		    && json_object_is_type(a, json_type_string)
		    && strcmp(json_object_get_string(a), "gap") == 0;
		if (out->gap && json_object_object_get_ex(pl.obj, "reason", &r)
		    && json_object_is_type(r, json_type_string))
			snprintf(out->gap_reason, sizeof(out->gap_reason), "%s",
			    json_object_get_string(r));
	}
	if (pl.checkpoint) {
		out->cp_foreign = strcmp(pl.key, v->keyid) != 0;
		out->cp_ok = !out->cp_foreign &&
		    audit_key_verify(v->pub, pl.seq, pl.time, pl.prev, pl.sig);
	}
	audit_line_free(&pl);
}

/* Reads the next line into out (present 0 at the end). */
static audit_status_t
read_next(verifier_t *v, vline_t *out, audit_err_t *err)
{
	audit_rawline_t l;
	audit_status_t st;

	memset(out, 0, sizeof(*out));
	st = audit_lines_next(v->ls, &l, err);
	if (st == AUDIT_END)
		return AUDIT_OK;
	if (st != AUDIT_OK)
		return st;
	out->present = 1;
	out->file = l.file;
	out->lineno = l.lineno;
	out->newline = l.newline;
	out->first_in_file = l.first_in_file;
	audit_sha256_hex(l.data, l.len, out->hash);
	if (l.too_long) {
		out->why = "a line too long";
		return AUDIT_OK;
	}
	parse_into(v, &l, out);
	return AUDIT_OK;
}

/* ---- judging ---- */

static audit_status_t
tampered(verifier_t *v, const vline_t *at, audit_tamper_t what,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static audit_status_t
tampered(verifier_t *v, const vline_t *at, audit_tamper_t what,
    const char *fmt, ...)
{
	va_list ap;

	v->res->what = what;
	v->res->file = v->files[at->file];
	v->res->line = at->lineno;
	va_start(ap, fmt);
	vsnprintf(v->res->msg, sizeof(v->res->msg), fmt, ap);
	va_end(ap);
	return AUDIT_TAMPERED;
}

/* b's prev is a's hash. */
static int
links(const vline_t *a, const vline_t *b)
{
	return a->present && b->present && a->parsed && b->parsed &&
	    strcmp(b->prev, a->hash) == 0;
}

static int
follows(const vline_t *a, const vline_t *b)
{
	return links(a, b) && b->seq == a->seq + 1;
}

/* The link from p1 to cur is broken: which line is to blame. */
static audit_status_t
locate(verifier_t *v)
{
	const vline_t *p2 = &v->p2, *p1 = &v->p1, *cur = &v->cur, *nx = &v->nx;

	if (cur->seq == p1->seq + 1) {
		if ((cur->checkpoint && cur->cp_ok) || follows(cur, nx) || !nx->present)
			return tampered(v, p1, AUDIT_T_CHANGED, "this line was changed: "
			    "its hash is not the prev of the line after it");
		return tampered(v, cur, AUDIT_T_CHANGED, "this line was changed: "
		    "its prev is not the hash of the line before it");
	}
	if (links(p1, cur))
		return tampered(v, cur, AUDIT_T_CHANGED, "this line was changed: "
		    "its seq is %llu, want %llu", (unsigned long long)cur->seq,
		    (unsigned long long)p1->seq + 1);
	if (links(nx, cur))
		return tampered(v, cur, AUDIT_T_REORDERED, "this line (seq %llu) and "
		    "the next one (seq %llu) were swapped", (unsigned long long)cur->seq,
		    (unsigned long long)nx->seq);
	if (links(p1, nx))
		return tampered(v, cur, AUDIT_T_INSERTED, "this line (seq %llu) does "
		    "not belong here: it was inserted or moved from elsewhere",
		    (unsigned long long)cur->seq);
	if (p2->present && p2->parsed && strcmp(cur->prev, p2->hash) == 0)
		return tampered(v, p1, AUDIT_T_INSERTED, "this line (seq %llu) does "
		    "not belong here: it was inserted", (unsigned long long)p1->seq);
	if (cur->seq > p1->seq + 1 && !(nx->present && nx->parsed && nx->seq < cur->seq))
		return tampered(v, cur, AUDIT_T_REMOVED, "lines are missing before "
		    "this one: seq %llu to %llu", (unsigned long long)p1->seq + 1,
		    (unsigned long long)cur->seq - 1);
	return tampered(v, cur, AUDIT_T_REORDERED, "this line (seq %llu) comes "
	    "after seq %llu: lines were moved", (unsigned long long)cur->seq,
	    (unsigned long long)p1->seq);
}

/* The first line given: the start of the chain, or somewhere after it. */
static audit_status_t
check_start(verifier_t *v)
{
	const vline_t *cur = &v->cur;
	int zero = strcmp(cur->prev, AUDIT_ZERO_HASH) == 0;

	if ((cur->seq == 1) != zero)
		return tampered(v, cur, AUDIT_T_CHANGED, "this line was changed: "
		    "seq %llu with %s prev", (unsigned long long)cur->seq,
		    zero ? "the first line's" : "another line's");
	v->res->first_seq = cur->seq;
	return AUDIT_OK;
}

static audit_status_t
check_checkpoint(verifier_t *v)
{
	const vline_t *cur = &v->cur;

	if (cur->cp_foreign)
		return tampered(v, cur, AUDIT_T_FOREIGN_KEY, "this checkpoint was "
		    "signed by another key than %.16s...", v->keyid);
	if (!cur->cp_ok && v->have_cp)
		return tampered(v, cur, AUDIT_T_SIGNATURE, "this checkpoint's "
		    "signature does not verify: lines after %s:%lu were changed and "
		    "their hashes recomputed, or the checkpoint was forged",
		    v->files[v->cp_file], v->cp_line);
	if (!cur->cp_ok)
		return tampered(v, cur, AUDIT_T_SIGNATURE, "this checkpoint's "
		    "signature does not verify: lines before it were changed and "
		    "their hashes recomputed, or the checkpoint was forged");
	v->have_cp = 1;
	v->cp_file = cur->file;
	v->cp_line = cur->lineno;
	v->res->checkpoints++;
	v->res->unsealed = 0;
	return AUDIT_OK;
}

static void
count_record(verifier_t *v)
{
	audit_verify_result_t *res = v->res;

	res->records++;
	if (res->unsealed++ == 0) {
		res->unsealed_file = v->files[v->cur.file];
		res->unsealed_line = v->cur.lineno;
	}
}

static audit_status_t
check_line(verifier_t *v)
{
	const vline_t *cur = &v->cur;
	audit_status_t st;

	if (!cur->newline)
		return tampered(v, cur, AUDIT_T_TRUNCATED,
		    "the file ends in a partial line: it was cut off");
	if (!cur->parsed)
		return tampered(v, cur, AUDIT_T_MALFORMED,
		    "this line is not a record of this log: %s", cur->why);
	if (!v->p1.present)
		st = check_start(v);
	else if (!follows(&v->p1, cur))
		st = locate(v);
	else
		st = AUDIT_OK;
	if (st != AUDIT_OK)
		return st;
	if (cur->first_in_file && !cur->checkpoint)
		return tampered(v, cur, AUDIT_T_NO_CHECKPOINT, "this file does not "
		    "begin with a checkpoint as every log file does: its first lines "
		    "were removed, or its checkpoints stripped");
	v->res->last_seq = cur->seq;
	if (v->head != NULL && cur->seq == v->head->seq) {
		if (strcmp(cur->hash, v->head->hash) != 0)
			return tampered(v, cur, AUDIT_T_GAP, "this line (seq %llu) is not "
			    "the one the gateway wrote there (its head file says hash "
			    "%.16s...): the log was replaced", (unsigned long long)cur->seq,
			    v->head->hash);
		v->head_seen = 1;
	}
	if (cur->checkpoint)
		return check_checkpoint(v);
	if (cur->gap)
		return tampered(v, cur, AUDIT_T_GAP, "the gateway recorded a gap in "
		    "its log here: %s", cur->gap_reason);
	count_record(v);
	return AUDIT_OK;
}

/* The end of the chain: the head's line must have been seen. */
static audit_status_t
check_head(verifier_t *v)
{
	const vline_t *last = v->p1.present ? &v->p1 : NULL;

	if (v->head == NULL || v->head_seen || v->head->seq == 0)
		return AUDIT_OK;
	if (last == NULL) {
		v->res->what = AUDIT_T_GAP;
		v->res->file = NULL;
		v->res->line = 0;
		snprintf(v->res->msg, sizeof(v->res->msg), "the log is empty or "
		    "missing, but the gateway wrote up to seq %llu (its head file)",
		    (unsigned long long)v->head->seq);
		return AUDIT_TAMPERED;
	}
	if (v->res->first_seq > v->head->seq)
		return AUDIT_OK;        /* older files not given */
	return tampered(v, last, AUDIT_T_GAP, "the log ends here at seq %llu, but "
	    "the gateway wrote up to seq %llu (its head file): the current file "
	    "was removed or cut", (unsigned long long)last->seq,
	    (unsigned long long)v->head->seq);
}

static audit_status_t
walk(verifier_t *v, audit_err_t *err)
{
	audit_status_t st;

	if ((st = read_next(v, &v->cur, err)) != AUDIT_OK ||
	    (st = read_next(v, &v->nx, err)) != AUDIT_OK)
		return st;
	while (v->cur.present) {
		if ((st = check_line(v)) != AUDIT_OK)
			return st;
		v->p2 = v->p1;
		v->p1 = v->cur;
		v->cur = v->nx;
		if ((st = read_next(v, &v->nx, err)) != AUDIT_OK)
			return st;
	}
	return check_head(v);
}

audit_status_t
audit_verify(const char *const *files, size_t nfiles, EVP_PKEY *pubkey,
    audit_verify_result_t *res, audit_err_t *err)
{
	return audit_verify_ex(files, nfiles, pubkey, NULL, res, err);
}

audit_status_t
audit_verify_ex(const char *const *files, size_t nfiles, EVP_PKEY *pubkey,
    const audit_head_t *head, audit_verify_result_t *res, audit_err_t *err)
{
	verifier_t v;
	audit_status_t st;

	if (res == NULL || pubkey == NULL || (files == NULL && nfiles > 0))
		return util_err_set(err, AUDIT_ERR_USAGE, "audit_verify: missing argument");
	memset(res, 0, sizeof(*res));
	memset(&v, 0, sizeof(v));
	v.files = files;
	v.pub = pubkey;
	v.head = head;
	v.res = res;
	res->files = nfiles;
	if ((st = audit_key_id(pubkey, v.keyid, err)) != AUDIT_OK)
		return st;
	v.ls = audit_lines_open(files, nfiles, err);
	if (v.ls == NULL)
		return AUDIT_ERR_NOMEM;
	st = walk(&v, err);
	audit_lines_free(v.ls);
	if (st != AUDIT_OK && st != AUDIT_TAMPERED)
		memset(res, 0, sizeof(*res));
	if (res->unsealed == 0) {
		res->unsealed_file = NULL;
		res->unsealed_line = 0;
	}
	return st;
}

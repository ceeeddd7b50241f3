/*
 * test_audit.c: the audit log (audit/): an intact log verifies; every kind
 * of tampering (each byte edited, lines deleted, swapped, inserted, the
 * file cut, the chain rewritten without the key, with checkpoints removed
 * or forged by another key) is reported at the right line; rotation and
 * reopening keep the chain; concurrent appends; a failed write leaves the
 * chain whole; group commit (many threads and rotation: every record once,
 * the chain whole; a failed sync on a thin disk fails every record it
 * covered); hostile strings round-trip; report totals equal counts made
 * here independently; the HTML report is well-formed XML (libxml2) and
 * shows the figures; smimectl audit's exit codes and output.
 *
 * The checks of the log format (hash chain, checkpoint signature string)
 * are written here from audit.h's description, not with audit/'s code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "audit/audit.h"
#include "ctl/ctl_audit.h"
#include "tests/unit/unit_util.h"

#define T0 ((time_t)1740830400)     /* 2025-03-01T12:00:00Z */
#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

static char *tmp;
static time_t fixed_now = T0;
static char file_copy[4096], unsealed_copy[4096];

static time_t
fixed_clock(void *arg)
{
	return *(time_t *)arg;
}

static int
setup(void **state)
{
	tmp = unit_tmpdir();
	return 0;
}

static int
teardown(void **state)
{
	unit_rmtree(tmp);
	free(tmp);
	return 0;
}

static char *
path_of(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", tmp, name) > 0);
	return p;
}

/* ---- records ---- */

static const audit_cert_t CERTS[2] = {
	{ "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "01" },
	{ "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", "1f2e" },
};
static const char *const ALGS[2] = { "sha256WithRSAEncryption", "aes256-gcm" };

/* Record i of a plain test log. */
static audit_record_t
record(int i, char *qid, size_t qidlen)
{
	static const audit_action_t actions[] = { AUDIT_SIGNED_ENCRYPTED,
	    AUDIT_SIGNED, AUDIT_CLEAR, AUDIT_DECRYPTED, AUDIT_HELD };
	audit_record_t r;

	memset(&r, 0, sizeof(r));
	snprintf(qid, qidlen, "Q%05d", i);
	r.time = T0 + i;
	r.qid = qid;
	r.msgid = "<m@example.com>";
	r.direction = i % 5 == 3 ? AUDIT_INBOUND : AUDIT_OUTBOUND;
	r.sender = "alice@example.com";
	r.rcpt = "bob@partner.example";
	r.action = actions[i % 5];
	r.certs = CERTS;
	r.ncerts = 2;
	r.algorithms = ALGS;
	r.nalgorithms = 2;
	r.rule = "default";
	r.reason = "policy";
	return r;
}

static audit_t *
open_log(int flags, unsigned every)
{
	audit_err_t err;
	audit_t *a = audit_open(tmp, NULL, flags | AUDIT_CREATE, &err);

	if (a == NULL)
		fail_msg("audit_open: %s", err.msg);
	audit_set_clock(a, fixed_clock, &fixed_now);
	audit_set_checkpoint_every(a, every);
	return a;
}

static void
append_n(audit_t *a, int from, int n)
{
	audit_err_t err;
	audit_record_t r;
	char qid[16];
	int i;

	for (i = from; i < from + n; i++) {
		r = record(i, qid, sizeof(qid));
		if (audit_append(a, &r, &err) != AUDIT_OK)
			fail_msg("audit_append %d: %s", i, err.msg);
	}
}

/* A log of n records, a checkpoint every `every`, closed. */
static void
make_log(int n, unsigned every)
{
	audit_t *a = open_log(0, every);
	audit_err_t err;

	append_n(a, 0, n);
	if (audit_close(a, &err) != AUDIT_OK)
		fail_msg("audit_close: %s", err.msg);
}

/* ---- lines of a file ---- */

typedef struct lines {
	char **v;
	size_t n;
	int partial;            /* the last line had no newline */
} lines_t;

static lines_t
lines_read(const char *path)
{
	lines_t l = { NULL, 0, 0 };
	size_t len, i, start = 0;
	char *data = unit_read_file(path, &len);

	assert_non_null(data);
	for (i = 0; i <= len; i++) {
		if (i < len && data[i] != '\n')
			continue;
		if (i == len && start == len)
			break;
		l.v = realloc(l.v, (l.n + 1) * sizeof(char *));
		l.v[l.n++] = strndup(data + start, i - start);
		l.partial = i == len;
		start = i + 1;
	}
	free(data);
	return l;
}

static void
lines_write(const char *path, const lines_t *l)
{
	FILE *f = fopen(path, "w");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < l->n; i++)
		fprintf(f, "%s%s", l->v[i], i + 1 == l->n && l->partial ? "" : "\n");
	assert_int_equal(fclose(f), 0);
}

static void
lines_free(lines_t *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
lines_delete(lines_t *l, size_t k)
{
	free(l->v[k]);
	memmove(l->v + k, l->v + k + 1, (l->n - k - 1) * sizeof(char *));
	l->n--;
}

static void
lines_insert(lines_t *l, size_t k, const char *s)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(char *));
	memmove(l->v + k + 1, l->v + k, (l->n - k) * sizeof(char *));
	l->v[k] = strdup(s);
	l->n++;
}

static void
sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n;
	int i;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static int
is_checkpoint(const char *line)
{
	return strstr(line, "\"type\":\"checkpoint\"") != NULL;
}

/* ---- verifying ---- */

static EVP_PKEY *
pubkey(void)
{
	char *p = path_of("audit.pub");
	audit_err_t err;
	EVP_PKEY *k = audit_pubkey_load(p, &err);

	if (k == NULL)
		fail_msg("audit_pubkey_load: %s", err.msg);
	free(p);
	return k;
}

static audit_status_t
verify_files(char **files, size_t n, audit_verify_result_t *res)
{
	EVP_PKEY *pub = pubkey();
	audit_status_t st;
	audit_err_t err;

	st = audit_verify((const char *const *)files, n, pub, res, &err);
	EVP_PKEY_free(pub);
	if (st != AUDIT_OK && st != AUDIT_TAMPERED)
		fail_msg("audit_verify: %s", err.msg);
	return st;
}

static audit_status_t
verify_dir(audit_verify_result_t *res)
{
	audit_status_t st;
	audit_err_t err;
	char **files;
	size_t n;

	if (audit_files(tmp, &files, &n, &err) != AUDIT_OK)
		fail_msg("audit_files: %s", err.msg);
	st = verify_files(files, n, res);
	/* The result points into files[]: keep copies of the names. */
	snprintf(file_copy, sizeof(file_copy), "%s", res->file ? res->file : "");
	snprintf(unsealed_copy, sizeof(unsealed_copy), "%s",
	    res->unsealed_file ? res->unsealed_file : "");
	res->file = res->file ? file_copy : NULL;
	res->unsealed_file = res->unsealed_file ? unsealed_copy : NULL;
	audit_files_free(files, n);
	return st;
}

static void
want_intact(const char *what, audit_status_t st, const audit_verify_result_t *res)
{
	if (st != AUDIT_OK)
		fail_msg("%s: got %s at %s:%lu (%s), want intact", what,
		    audit_tamper_name(res->what), res->file, res->line, res->msg);
}

static void
want_tampered(const char *what, audit_status_t st, const audit_verify_result_t *res,
    const char *file, unsigned long line, audit_tamper_t kind)
{
	const char *base = res->file ? strrchr(res->file, '/') : NULL;

	if (st != AUDIT_TAMPERED)
		fail_msg("%s: got intact, want %s at %s:%lu", what,
		    audit_tamper_name(kind), file, line);
	if (res->line != line || res->what != kind ||
	    (file != NULL && (base == NULL || strcmp(base + 1, file) != 0)))
		fail_msg("%s: got %s at %s:%lu (%s), want %s at %s:%lu", what,
		    audit_tamper_name(res->what), res->file, res->line, res->msg,
		    audit_tamper_name(kind), file ? file : "", line);
}

/* ---- an intact log ---- */

static void
test_intact(void **state)
{
	audit_verify_result_t res;
	char prevhash[65] = ZERO64, *log = path_of("audit.log");
	lines_t l;
	size_t i, cps = 0;
	json_object *o, *v;

	make_log(20, 5);
	want_intact("20 records", verify_dir(&res), &res);
	assert_int_equal(res.records, 20);
	assert_int_equal(res.checkpoints, 5);  /* the first line, then every 5 */
	assert_int_equal(res.unsealed, 0);
	assert_int_equal(res.first_seq, 1);
	assert_int_equal(res.last_seq, 25);

	/* The format of audit.h, checked independently. */
	l = lines_read(log);
	assert_int_equal(l.n, 25);
	assert_false(l.partial);
	assert_true(is_checkpoint(l.v[0]));
	for (i = 0; i < l.n; i++) {
		o = json_tokener_parse(l.v[i]);
		assert_non_null(o);
		assert_true(json_object_object_get_ex(o, "seq", &v));
		assert_int_equal(json_object_get_int64(v), (int64_t)i + 1);
		assert_true(json_object_object_get_ex(o, "prev", &v));
		if (strcmp(json_object_get_string(v), prevhash) != 0)
			fail_msg("line %zu: got prev %s, want %s", i + 1,
			    json_object_get_string(v), prevhash);
		sha256_hex(l.v[i], prevhash);
		cps += is_checkpoint(l.v[i]);
		json_object_put(o);
	}
	assert_int_equal(cps, 5);
	assert_non_null(strstr(l.v[1], "{\"seq\":2,\"time\":\"2025-03-01T12:00:00Z\","
	    "\"qid\":\"Q00000\",\"msgid\":\"<m@example.com>\",\"direction\":\"outbound\","
	    "\"sender\":\"alice@example.com\",\"rcpt\":\"bob@partner.example\","
	    "\"action\":\"signed+encrypted\",\"certs\":[{\"sha256\":\"9f86d0"));
	lines_free(&l);
	free(log);
}

static void
test_empty_and_reopen(void **state)
{
	audit_verify_result_t res;
	audit_t *a;

	/* A new log holds just its opening checkpoint. */
	a = open_log(0, 100);
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);
	want_intact("empty", verify_dir(&res), &res);
	assert_int_equal(res.records, 0);
	assert_int_equal(res.checkpoints, 1);

	/* Reopening continues the chain; close seals it. */
	a = open_log(0, 100);
	append_n(a, 0, 3);
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);
	a = open_log(0, 100);
	append_n(a, 3, 2);
	assert_int_equal(audit_checkpoint(a, NULL), AUDIT_OK);
	assert_int_equal(audit_checkpoint(a, NULL), AUDIT_OK);  /* nothing new: no line */
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);
	want_intact("reopened", verify_dir(&res), &res);
	assert_int_equal(res.records, 5);
	assert_int_equal(res.checkpoints, 3);
	assert_int_equal(res.last_seq, 8);
}

/* ---- tampering ---- */

/* Every byte of line k (1-based) edited in turn is found at line k. */
static void
edit_each_byte(const char *log, size_t k, const char *orig)
{
	audit_verify_result_t res;
	audit_status_t st;
	lines_t l;
	size_t i, len = strlen(orig);
	char what[64];

	for (i = 0; i < len; i++) {
		l = lines_read(log);
		l.v[k - 1][i] ^= 0x01;
		lines_write(log, &l);
		lines_free(&l);
		st = verify_dir(&res);
		snprintf(what, sizeof(what), "line %zu byte %zu ('%c')", k, i, orig[i]);
		if (st != AUDIT_TAMPERED || res.line != k)
			want_tampered(what, st, &res, "audit.log", k, res.what);
		l = lines_read(log);
		free(l.v[k - 1]);
		l.v[k - 1] = strdup(orig);
		lines_write(log, &l);
		lines_free(&l);
	}
}

static void
test_edit_one_byte(void **state)
{
	audit_verify_result_t res;
	char *log = path_of("audit.log");
	lines_t l;
	size_t rec = 9, cp = 13;

	make_log(20, 5);
	l = lines_read(log);
	assert_false(is_checkpoint(l.v[rec - 1]));
	assert_true(is_checkpoint(l.v[cp - 1]));
	edit_each_byte(log, rec, l.v[rec - 1]);
	edit_each_byte(log, cp, l.v[cp - 1]);
	edit_each_byte(log, 1, l.v[0]);
	lines_free(&l);
	want_intact("restored", verify_dir(&res), &res);
	free(log);
}

typedef struct tamper_case {
	const char *name;
	void (*mutate)(lines_t *l);
	unsigned long line;     /* where it must be found */
	audit_tamper_t what;
} tamper_case_t;

static void mut_delete(lines_t *l) { lines_delete(l, 9); }                 /* line 10 */
static void mut_delete_cp(lines_t *l) { lines_delete(l, 12); }             /* line 13 */
static void mut_delete_first(lines_t *l) { lines_delete(l, 0); }

static void
mut_swap(lines_t *l)
{
	char *t = l->v[9];

	l->v[9] = l->v[10];
	l->v[10] = t;
}

static void
mut_swap_far(lines_t *l)
{
	char *t = l->v[9];

	l->v[9] = l->v[12];
	l->v[12] = t;
}

static void mut_insert_copy(lines_t *l) { lines_insert(l, 9, l->v[2]); }
static void mut_insert_blank(lines_t *l) { lines_insert(l, 9, ""); }
static void mut_insert_junk(lines_t *l) { lines_insert(l, 9, "{\"hello\":1}"); }
static void mut_append_junk(lines_t *l) { lines_insert(l, l->n, "not json"); }

/* A line that links perfectly to line 9 and claims its successor's seq. */
static void
mut_insert_crafted(lines_t *l)
{
	char h[65], *line;

	sha256_hex(l->v[8], h);
	assert_true(asprintf(&line, "{\"seq\":10,\"time\":\"2025-03-01T12:00:00Z\","
	    "\"qid\":\"FAKE\",\"msgid\":null,\"direction\":\"outbound\",\"sender\":"
	    "\"x@example.com\",\"rcpt\":\"y@example.org\",\"action\":\"clear\","
	    "\"certs\":[],\"algorithms\":[],\"rule\":null,\"reason\":null,"
	    "\"prev\":\"%s\"}", h) > 0);
	lines_insert(l, 9, line);
	free(line);
}

static void
mut_truncate_last(lines_t *l)
{
	l->v[l->n - 1][20] = '\0';
	l->partial = 1;
}

static void
mut_truncate_middle(lines_t *l)
{
	while (l->n > 10)
		lines_delete(l, l->n - 1);
	l->v[9][30] = '\0';
	l->partial = 1;
}

static void
mut_cut_newline(lines_t *l)
{
	l->partial = 1;
}

static const tamper_case_t TAMPER_CASES[] = {
	{ "delete a record", mut_delete, 10, AUDIT_T_REMOVED },
	{ "delete a checkpoint", mut_delete_cp, 13, AUDIT_T_REMOVED },
	{ "delete the first line", mut_delete_first, 1, AUDIT_T_NO_CHECKPOINT },
	{ "swap two lines", mut_swap, 10, AUDIT_T_REORDERED },
	{ "swap lines far apart", mut_swap_far, 10, AUDIT_T_REORDERED },
	{ "insert a copy of line 3", mut_insert_copy, 10, AUDIT_T_INSERTED },
	{ "insert a crafted line", mut_insert_crafted, 10, AUDIT_T_INSERTED },
	{ "insert an empty line", mut_insert_blank, 10, AUDIT_T_MALFORMED },
	{ "insert other JSON", mut_insert_junk, 10, AUDIT_T_MALFORMED },
	{ "append junk", mut_append_junk, 26, AUDIT_T_MALFORMED },
	{ "truncate the last line", mut_truncate_last, 25, AUDIT_T_TRUNCATED },
	{ "truncate mid-file", mut_truncate_middle, 10, AUDIT_T_TRUNCATED },
	{ "remove the last newline", mut_cut_newline, 25, AUDIT_T_TRUNCATED },
};

static void
test_tamper_table(void **state)
{
	char *log = path_of("audit.log"), *orig;
	audit_verify_result_t res;
	audit_status_t st;
	size_t i, len;
	lines_t l;

	make_log(20, 5);
	orig = unit_read_file(log, &len);
	for (i = 0; i < sizeof(TAMPER_CASES) / sizeof(TAMPER_CASES[0]); i++) {
		l = lines_read(log);
		TAMPER_CASES[i].mutate(&l);
		lines_write(log, &l);
		lines_free(&l);
		st = verify_dir(&res);
		want_tampered(TAMPER_CASES[i].name, st, &res, "audit.log",
		    TAMPER_CASES[i].line, TAMPER_CASES[i].what);
		assert_int_equal(unit_write_file(log, orig, len, 0600), 0);
	}
	free(orig);
	free(log);
}

/* ---- rewriting the chain (an attacker without the audit key) ---- */

/* Re-chains l from line `from` (0-based): new seq and prev, checkpoints
 * dropped (strip), kept with their old signature (key NULL) or re-signed
 * by key, claiming key id keyid. */
static void
rechain(lines_t *l, size_t from, int strip, EVP_PKEY *key, const char *keyid)
{
	char h[65] = ZERO64, *msg, b64[200];
	unsigned char sig[128];
	size_t i, siglen;
	int64_t seq = 1;
	json_object *o, *v;
	EVP_MD_CTX *ctx;

	for (i = 0; i < l->n; i++) {
		if (i < from) {
			sha256_hex(l->v[i], h);
			seq++;
			continue;
		}
		if (strip && is_checkpoint(l->v[i]) && (i > 0 || strip > 1)) {
			lines_delete(l, i--);
			continue;
		}
		o = json_tokener_parse(l->v[i]);
		assert_non_null(o);
		json_object_object_get_ex(o, "seq", &v);
		json_object_set_int64(v, seq);
		json_object_object_get_ex(o, "prev", &v);
		json_object_set_string(v, h);
		if (is_checkpoint(l->v[i]) && key != NULL) {
			json_object_object_get_ex(o, "time", &v);
			assert_true(asprintf(&msg, "smimegate-audit-checkpoint-v1 seq=%lld "
			    "time=%s prev=%s", (long long)seq, json_object_get_string(v), h) > 0);
			ctx = EVP_MD_CTX_new();
			siglen = sizeof(sig);
			assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
			assert_int_equal(EVP_DigestSign(ctx, sig, &siglen,
			    (unsigned char *)msg, strlen(msg)), 1);
			EVP_MD_CTX_free(ctx);
			free(msg);
			EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
			json_object_object_get_ex(o, "sig", &v);
			json_object_set_string(v, b64);
			json_object_object_get_ex(o, "key", &v);
			json_object_set_string(v, keyid);
		}
		free(l->v[i]);
		l->v[i] = strdup(json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		sha256_hex(l->v[i], h);
		seq++;
	}
}

static void
key_id(EVP_PKEY *k, char out[65])
{
	unsigned char *der = NULL, md[32];
	unsigned int n;
	int len = i2d_PUBKEY(k, &der), i;

	EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	OPENSSL_free(der);
}

static EVP_PKEY *
real_key(void)
{
	char *p = path_of("audit.key");
	FILE *f = fopen(p, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	free(p);
	assert_non_null(k);
	return k;
}

/* Changes the sender of line k (0-based) without touching anything else. */
static void
change_sender(lines_t *l, size_t k)
{
	char *p = strstr(l->v[k], "alice@");

	assert_non_null(p);
	memcpy(p, "mally", 5);
}


typedef struct rewrite_case {
	const char *name;
	int strip;              /* 0 keep checkpoints, 1 all but the first, 2 all */
	int signer;             /* 0 none (old signatures), 1 another key, 2 the audit key */
	int claim_real_id;      /* another key's signature under the audit key's id */
	int intact;             /* expected: intact (with unsealed records) */
	unsigned long line;
	audit_tamper_t what;
} rewrite_case_t;

static const rewrite_case_t REWRITES[] = {
	{ "recomputed hashes, old signatures", 0, 0, 0, 0, 13, AUDIT_T_SIGNATURE },
	{ "recomputed, checkpoints stripped", 2, 0, 0, 0, 1, AUDIT_T_NO_CHECKPOINT },
	{ "recomputed, re-signed by another key", 0, 1, 0, 0, 1, AUDIT_T_FOREIGN_KEY },
	{ "another key's signatures, our key id", 0, 1, 1, 0, 1, AUDIT_T_SIGNATURE },
	/* What the key protects, and what it cannot: */
	{ "re-signed with the audit key", 0, 2, 0, 1, 0, AUDIT_T_NONE },
	{ "all but the first checkpoint stripped", 1, 0, 0, 1, 0, AUDIT_T_NONE },
};

static void
test_rewrite_without_key(void **state)
{
	char *log = path_of("audit.log"), *orig, realid[65], otherid[65];
	EVP_PKEY *other = unit_key(UNIT_P256), *real, *signer;
	audit_verify_result_t res;
	const rewrite_case_t *c;
	audit_status_t st;
	size_t i, len;
	lines_t l;

	make_log(20, 5);
	real = real_key();
	key_id(real, realid);
	key_id(other, otherid);
	orig = unit_read_file(log, &len);
	for (i = 0; i < sizeof(REWRITES) / sizeof(REWRITES[0]); i++) {
		c = &REWRITES[i];
		l = lines_read(log);
		change_sender(&l, 8);
		signer = c->signer == 1 ? other : c->signer == 2 ? real : NULL;
		rechain(&l, c->strip || c->signer ? 0 : 8, c->strip, signer,
		    c->signer == 2 || c->claim_real_id ? realid : otherid);
		lines_write(log, &l);
		lines_free(&l);
		st = verify_dir(&res);
		if (c->intact) {
			want_intact(c->name, st, &res);
			if (c->strip && res.unsealed != 20)
				fail_msg("%s: got %llu unsealed, want 20", c->name,
				    (unsigned long long)res.unsealed);
		} else
			want_tampered(c->name, st, &res, "audit.log", c->line, c->what);
		assert_int_equal(unit_write_file(log, orig, len, 0600), 0);
	}
	free(orig);
	free(log);
	EVP_PKEY_free(other);
	EVP_PKEY_free(real);
}

/* ---- rotation ---- */

static void
test_rotation(void **state)
{
	audit_verify_result_t res;
	audit_t *a = open_log(0, 4);
	audit_err_t err;
	char **files, *swapped[3], h[65];
	lines_t first, second;
	size_t n, i;

	append_n(a, 0, 7);
	assert_int_equal(audit_rotate(a, &err), AUDIT_OK);
	append_n(a, 7, 5);
	assert_int_equal(audit_rotate(a, &err), AUDIT_OK);  /* same second: ".1" */
	append_n(a, 12, 3);
	assert_int_equal(audit_close(a, &err), AUDIT_OK);

	assert_int_equal(audit_files(tmp, &files, &n, &err), AUDIT_OK);
	assert_int_equal(n, 3);
	assert_non_null(strstr(files[0], "/audit.log.20250301T120000Z"));
	assert_non_null(strstr(files[1], "/audit.log.20250301T120000Z.1"));
	assert_non_null(strstr(files[2], "/audit.log"));
	want_intact("rotated", verify_files(files, n, &res), &res);
	assert_int_equal(res.records, 15);
	assert_int_equal(res.unsealed, 0);

	/* The chain goes on across files: independent check. */
	for (i = 0; i + 1 < n; i++) {
		first = lines_read(files[i]);
		second = lines_read(files[i + 1]);
		assert_true(is_checkpoint(first.v[first.n - 1]));
		assert_true(is_checkpoint(second.v[0]));
		sha256_hex(first.v[first.n - 1], h);
		assert_non_null(strstr(second.v[0], h));
		lines_free(&first);
		lines_free(&second);
	}

	/* Files out of order. */
	swapped[0] = files[1];
	swapped[1] = files[0];
	swapped[2] = files[2];
	want_tampered("files out of order", verify_files(swapped, 3, &res), &res,
	    "audit.log.20250301T120000Z", 1, AUDIT_T_REORDERED);

	/* The last line of a rotated file removed. */
	first = lines_read(files[0]);
	lines_delete(&first, first.n - 1);
	lines_write(files[0], &first);
	want_tampered("closing checkpoint removed", verify_files(files, n, &res), &res,
	    "audit.log.20250301T120000Z.1", 1, AUDIT_T_REMOVED);
	lines_free(&first);

	/* The newest file alone: the chain begins after seq 1. */
	want_intact("audit.log alone", verify_files(files + 2, 1, &res), &res);
	assert_true(res.first_seq > 1);
	audit_files_free(files, n);
}

/* ---- a crash in the middle of a write ---- */

static void
test_partial_last_line(void **state)
{
	char *log = path_of("audit.log"), *live[1];
	audit_verify_result_t res;
	audit_err_t err;
	audit_t *a;
	char **files;
	size_t n;
	FILE *f;

	make_log(6, 100);
	f = fopen(log, "a");
	fputs("{\"seq\":9,\"time\":\"2025-03", f);
	fclose(f);
	assert_null(audit_open(tmp, NULL, 0, &err));
	assert_int_equal(err.code, AUDIT_ERR_CORRUPT);

	a = audit_open(tmp, NULL, AUDIT_RECOVER, &err);
	if (a == NULL)
		fail_msg("audit_open with AUDIT_RECOVER: %s", err.msg);
	append_n(a, 6, 2);
	assert_int_equal(audit_close(a, &err), AUDIT_OK);

	/* The damage stays visible; the new file continues the chain. */
	assert_int_equal(audit_files(tmp, &files, &n, &err), AUDIT_OK);
	assert_int_equal(n, 2);
	assert_non_null(strstr(files[0], ".damaged"));
	want_tampered("damaged file", verify_files(files, n, &res), &res, NULL, 9,
	    AUDIT_T_TRUNCATED);
	live[0] = files[1];
	want_intact("new audit.log", verify_files(live, 1, &res), &res);
	assert_int_equal(res.first_seq, 9);
	audit_files_free(files, n);
	free(log);
}

/* ---- a failed write leaves the chain as it was ---- */

static void
test_write_failure(void **state)
{
	char *log = path_of("audit.log");
	audit_verify_result_t res;
	struct rlimit old, lim;
	audit_record_t r;
	audit_err_t err;
	struct stat st;
	audit_t *a;
	char qid[16];
	void (*oldsig)(int);

	a = open_log(0, 100);
	append_n(a, 0, 3);
	assert_int_equal(stat(log, &st), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	oldsig = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 100;   /* a record is longer */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	r = record(3, qid, sizeof(qid));
	st.st_size += 0;
	if (audit_append(a, &r, &err) != AUDIT_ERR_IO)
		fail_msg("append beyond the file size limit: got %s, want I/O error",
		    audit_status_str(err.code));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	{
		struct stat after;

		assert_int_equal(stat(log, &after), 0);
		if (after.st_size != st.st_size)
			fail_msg("after a failed append: got size %lld, want %lld",
			    (long long)after.st_size, (long long)st.st_size);
	}
	append_n(a, 3, 2);
	assert_int_equal(audit_close(a, &err), AUDIT_OK);
	want_intact("after a failed write", verify_dir(&res), &res);
	assert_int_equal(res.records, 5);
	free(log);
}

/* ---- threads ---- */

#define THREADS 8
#define PER_THREAD 150

static void *
appender(void *arg)
{
	audit_t *a = arg;
	static int next;        /* only for distinct qids; guarded below */
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	audit_record_t r;
	char qid[16];
	int i, k;

	for (i = 0; i < PER_THREAD; i++) {
		pthread_mutex_lock(&mu);
		k = next++;
		pthread_mutex_unlock(&mu);
		r = record(k, qid, sizeof(qid));
		if (audit_append(a, &r, NULL) != AUDIT_OK)
			return (void *)1;
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	char *log = path_of("audit.log");
	audit_verify_result_t res;
	pthread_t th[THREADS];
	void *ret;
	int i, seen[THREADS * PER_THREAD] = { 0 }, k;
	size_t j;
	audit_t *a = open_log(0, 64);
	lines_t l;
	char *q;

	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, appender, a), 0);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);
	want_intact("concurrent appends", verify_dir(&res), &res);
	assert_int_equal(res.records, THREADS * PER_THREAD);

	/* Every record is there once. */
	l = lines_read(log);
	for (j = 0; j < l.n; j++) {
		q = strstr(l.v[j], "\"qid\":\"Q");
		if (q == NULL)
			continue;
		k = atoi(q + 8);
		assert_true(k >= 0 && k < THREADS * PER_THREAD);
		seen[k]++;
	}
	for (i = 0; i < THREADS * PER_THREAD; i++)
		if (seen[i] != 1)
			fail_msg("record Q%05d: got %d times, want 1", i, seen[i]);
	lines_free(&l);
	free(log);
}

/* ---- hostile strings ---- */

typedef struct hostile {
	const char *in;
	const char *want;       /* as stored and read back */
} hostile_t;

static const hostile_t HOSTILE[] = {
	{ "quote\" and back\\slash", "quote\" and back\\slash" },
	{ "new\nline\r\nand tab\t", "new\nline\r\nand tab\t" },
	{ "\x01\x1b[31mred\x7f", "\x01\x1b[31mred\x7f" },
	{ "bad \xff\xfe utf-8", "bad \xEF\xBF\xBD\xEF\xBF\xBD utf-8" },
	{ "\xc3\x28", "\xEF\xBF\xBD(" },
	{ "overlong \xc0\xaf", "overlong \xEF\xBF\xBD\xEF\xBF\xBD" },
	{ "surrogate \xed\xa0\x80", "surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },
	{ "cut \xe2\x82", "cut \xEF\xBF\xBD\xEF\xBF\xBD" },
	{ "Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
	  "Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80" },
	{ "</td><script>alert(1)</script>&amp;", "</td><script>alert(1)</script>&amp;" },
	{ "=HYPERLINK(\"http://x\")", "=HYPERLINK(\"http://x\")" },
	{ "\"},\"action\":\"clear\",\"x\":{\"", "\"},\"action\":\"clear\",\"x\":{\"" },
	{ "\xef\xbf\xbe nonchar", "\xef\xbf\xbe nonchar" },
};

static int
no_raw_controls(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++)
		if (*p < 0x20)
			return 0;
	return 1;
}

static void
test_hostile_strings(void **state)
{
	size_t nh = sizeof(HOSTILE) / sizeof(HOSTILE[0]), i, j;
	char *log = path_of("audit.log"), *files[1], longs[5001], *json;
	const audit_entry_t *e;
	audit_verify_result_t res;
	audit_reader_t *r;
	audit_record_t rec;
	audit_err_t err;
	audit_t *a = open_log(AUDIT_SUBJECT, 1000);
	lines_t l;

	for (i = 0; i < nh; i++) {
		rec = (audit_record_t){ .time = T0, .qid = "Q", .sender = HOSTILE[i].in,
		    .rcpt = HOSTILE[i].in, .action = AUDIT_CLEAR,
		    .direction = AUDIT_OUTBOUND, .reason = HOSTILE[i].in,
		    .subject = HOSTILE[i].in, .msgid = HOSTILE[i].in };
		if (audit_append(a, &rec, &err) != AUDIT_OK)
			fail_msg("hostile %zu: %s", i, err.msg);
	}
	memset(longs, 'a', 5000);
	longs[5000] = '\0';
	rec = (audit_record_t){ .action = AUDIT_CLEAR, .subject = longs };
	assert_int_equal(audit_append(a, &rec, &err), AUDIT_OK);
	assert_int_equal(audit_close(a, &err), AUDIT_OK);

	want_intact("hostile strings", verify_dir(&res), &res);
	assert_int_equal(res.records, nh + 1);
	l = lines_read(log);
	assert_int_equal(l.n, nh + 3);     /* one line per record, two checkpoints */
	for (j = 0; j < l.n; j++)
		if (!no_raw_controls(l.v[j]))
			fail_msg("line %zu holds a raw control character", j + 1);
	lines_free(&l);

	files[0] = log;
	r = audit_reader_open((const char *const *)files, 1, &err);
	assert_non_null(r);
	assert_int_equal(audit_reader_next(r, &e, &err), AUDIT_OK);
	assert_true(e->checkpoint);
	for (i = 0; i < nh; i++) {
		assert_int_equal(audit_reader_next(r, &e, &err), AUDIT_OK);
		assert_false(e->checkpoint);
		if (strcmp(e->rec.sender, HOSTILE[i].want) != 0 ||
		    strcmp(e->rec.subject, HOSTILE[i].want) != 0 ||
		    strcmp(e->rec.reason, HOSTILE[i].want) != 0 ||
		    strcmp(e->rec.msgid, HOSTILE[i].want) != 0)
			fail_msg("hostile %zu: got \"%s\", want \"%s\"", i, e->rec.sender,
			    HOSTILE[i].want);
		assert_int_equal(e->rec.action, AUDIT_CLEAR);
	}
	assert_int_equal(audit_reader_next(r, &e, &err), AUDIT_OK);
	assert_int_equal(strlen(e->rec.subject), 2048 + 3);
	assert_string_equal(e->rec.subject + 2048, "\xE2\x80\xA6");
	assert_null(e->rec.sender);
	audit_reader_free(r);

	/* No subject unless asked; the syslog form has no seq or prev. */
	rec = (audit_record_t){ .action = AUDIT_SIGNED, .subject = "secret" };
	json = audit_record_json(&rec, 0, &err);
	assert_non_null(json);
	assert_null(strstr(json, "secret"));
	assert_null(strstr(json, "\"seq\""));
	assert_null(strstr(json, "\"prev\""));
	assert_non_null(strstr(json, "\"action\":\"signed\""));
	free(json);
	rec.action = AUDIT_ACTION_UNKNOWN;
	assert_null(audit_record_json(&rec, 0, &err));
	assert_int_equal(err.code, AUDIT_ERR_USAGE);
	free(log);
}

/* ---- reports ---- */

#define NGEN 600

static const char *const G_SENDERS[] = { "alice@example.com", "bob@Example.COM",
    "carol@example.com", "", "</td><script>x</script>@example.com" };
static const char *const G_RCPTS[] = { "x@partner.example", "y@Partner.Example",
    "z@other.example", "w@third.example", "nodomain" };
static const char *const G_DOMAINS[] = { "partner.example", "partner.example",
    "other.example", "third.example", "(none)" };
static const char *const G_SENDER_KEYS[] = { "alice@example.com", "bob@example.com",
    "carol@example.com", "(empty)", "</td><script>x</script>@example.com" };
/* As the milter writes them (milter/mail_outbound.c, mail_inbound.c):
 * the first names the record's recipient (made in gen_records()). */
static const char *const G_REASONS[] = { "no certificate", "policy",
    "directory unavailable", "<b>bold</b> & \"q\" </td>",
    "pass (signer=<s@partner.example>)" };
#define G_NREASONS 5

typedef struct gen {
	audit_record_t r;
	int sender, rcpt, reason;
	char qid[16];
	char why[128];
} gen_t;

static gen_t GEN[NGEN];

static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
gen_records(void)
{
	uint32_t seed = 7;
	gen_t *g;
	int i;

	for (i = 0; i < NGEN; i++) {
		g = &GEN[i];
		memset(g, 0, sizeof(*g));
		snprintf(g->qid, sizeof(g->qid), "G%d", i);
		g->sender = (int)(lcg(&seed) % 5);
		g->rcpt = (int)(lcg(&seed) % 5);
		g->r.qid = g->qid;
		g->r.time = T0 + (time_t)i * 1800;     /* 12.5 days */
		g->r.sender = G_SENDERS[g->sender];
		g->r.rcpt = G_RCPTS[g->rcpt];
		g->r.action = (audit_action_t)(1 + lcg(&seed) % (AUDIT_KEY_IMPORTED - 1));
		g->r.direction = (audit_direction_t)(lcg(&seed) % 4);
		g->reason = (int)(lcg(&seed) % G_NREASONS);
		g->r.reason = G_REASONS[g->reason];
		if (g->reason == 0) {
			snprintf(g->why, sizeof(g->why), "signed; not encrypted: no "
			    "certificate for recipient <other@x.example>, <%s>", g->r.rcpt);
			g->r.reason = g->why;
		}
		g->r.certs = CERTS;
		g->r.ncerts = lcg(&seed) % 2 ? 1 : 0;
	}
}

/* The figures, counted here from GEN by audit.h's definitions. */
typedef struct expect {
	audit_totals_t t;
	uint64_t dom_total[5], dom_enc[5], dom_signed[5];
	uint64_t snd_total[5];
} expect_t;

static int
is_delivery(audit_action_t a)
{
	return a == AUDIT_SIGNED || a == AUDIT_ENCRYPTED || a == AUDIT_CLEAR ||
	    a == AUDIT_SIGNED_ENCRYPTED || a == AUDIT_PASS;
}

static void
count_one(expect_t *x, const gen_t *g, int *nocert_seen)
{
	audit_action_t a = g->r.action;
	int out = g->r.direction == AUDIT_OUTBOUND, d = g->rcpt == 1 ? 0 : g->rcpt;
	int enc = a == AUDIT_ENCRYPTED || a == AUDIT_SIGNED_ENCRYPTED;
	int sig = a == AUDIT_SIGNED || a == AUDIT_SIGNED_ENCRYPTED;

	x->t.records++;
	x->t.in_total += g->r.direction == AUDIT_INBOUND;
	if (out && g->reason == 0) {
		x->t.no_cert++;
		nocert_seen[d == 0 ? g->rcpt : d] = 1;
	}
	if (out && is_delivery(a)) {
		x->t.out_delivered++;
		x->t.out_encrypted += enc;
		x->t.out_signed += sig;
		x->t.out_both += a == AUDIT_SIGNED_ENCRYPTED;
		x->t.out_clear += a == AUDIT_CLEAR || a == AUDIT_PASS;
		x->dom_total[d]++;
		x->dom_enc[d] += enc;
		x->dom_signed[d] += sig;
		x->snd_total[g->sender]++;
	}
	x->t.decrypted += a == AUDIT_DECRYPTED || a == AUDIT_DECRYPTED_VERIFIED;
	x->t.verified += a == AUDIT_VERIFIED || a == AUDIT_DECRYPTED_VERIFIED;
	x->t.enrolled += a == AUDIT_ENROLLED;
	x->t.enrolled += (a == AUDIT_VERIFIED || a == AUDIT_DECRYPTED_VERIFIED) &&
	    g->reason == 4;
	x->t.held += a == AUDIT_HELD;
	x->t.rejected += a == AUDIT_REJECTED;
	x->t.tempfailed += a == AUDIT_TEMPFAILED;
	x->t.released += a == AUDIT_RELEASED;
}

static expect_t
expected(time_t since, time_t until)
{
	int nocert_seen[5] = { 0 }, i;
	expect_t x;

	memset(&x, 0, sizeof(x));
	for (i = 0; i < NGEN; i++)
		if (GEN[i].r.time >= since && GEN[i].r.time <= until)
			count_one(&x, &GEN[i], nocert_seen);
	x.t.failures = x.t.held + x.t.rejected + x.t.tempfailed;
	for (i = 0; i < 5; i++)
		x.t.no_cert_rcpts += (uint64_t)nocert_seen[i];
	return x;
}

/* Writes GEN (and the hostile strings as senders) to a log. */
static void
make_report_log(void)
{
	audit_t *a = open_log(0, 50);
	audit_record_t r;
	audit_err_t err;
	size_t i;

	gen_records();
	for (i = 0; i < NGEN; i++)
		if (audit_append(a, &GEN[i].r, &err) != AUDIT_OK)
			fail_msg("append %zu: %s", i, err.msg);
	for (i = 0; i < sizeof(HOSTILE) / sizeof(HOSTILE[0]); i++) {
		/* Before the period: in the log, not in the figures. */
		r = (audit_record_t){ .time = T0 - 86400, .sender = HOSTILE[i].in,
		    .rcpt = HOSTILE[i].in, .action = AUDIT_HELD,
		    .direction = AUDIT_OUTBOUND, .reason = HOSTILE[i].in };
		assert_int_equal(audit_append(a, &r, &err), AUDIT_OK);
	}
	assert_int_equal(audit_close(a, &err), AUDIT_OK);
}

static audit_report_t *
report_of(time_t since, time_t until)
{
	char *log = path_of("audit.log"), *files[1] = { log };
	audit_report_t *rp;
	audit_err_t err;

	rp = audit_report_new(since, until, &err);
	assert_non_null(rp);
	if (audit_report_read(rp, (const char *const *)files, 1, &err) != AUDIT_OK)
		fail_msg("audit_report_read: %s", err.msg);
	free(log);
	return rp;
}

static char *
report_text(audit_report_t *rp, audit_format_t fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	audit_err_t err;

	if (audit_report_write(rp, fmt, T0 + 86400 * 30, f, &err) != AUDIT_OK)
		fail_msg("audit_report_write: %s", err.msg);
	fclose(f);
	return buf;
}

#define WANT_TOTAL(field) do { \
	if (got->field != want->field) \
		fail_msg("%s: got %llu, want %llu", #field, \
		    (unsigned long long)got->field, (unsigned long long)want->field); \
} while (0)

static void
compare_totals(const audit_totals_t *got, const audit_totals_t *want)
{
	WANT_TOTAL(records);
	WANT_TOTAL(out_delivered);
	WANT_TOTAL(out_encrypted);
	WANT_TOTAL(out_signed);
	WANT_TOTAL(out_both);
	WANT_TOTAL(out_clear);
	WANT_TOTAL(no_cert);
	WANT_TOTAL(no_cert_rcpts);
	WANT_TOTAL(in_total);
	WANT_TOTAL(decrypted);
	WANT_TOTAL(verified);
	WANT_TOTAL(enrolled);
	WANT_TOTAL(held);
	WANT_TOTAL(released);
	WANT_TOTAL(rejected);
	WANT_TOTAL(tempfailed);
	WANT_TOTAL(failures);
	WANT_TOTAL(unreadable);
}

static json_object *
find_by(json_object *arr, const char *field, const char *value)
{
	size_t i;
	json_object *o, *v;

	for (i = 0; i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		if (json_object_object_get_ex(o, field, &v) &&
		    strcmp(json_object_get_string(v), value) == 0)
			return o;
	}
	return NULL;
}

static int64_t
jget(json_object *o, const char *field)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, field, &v))
		fail_msg("no %s in the JSON report", field);
	return json_object_get_int64(v);
}

static void
test_report_totals(void **state)
{
	time_t since, until;
	audit_report_t *rp;
	json_object *root, *totals, *doms, *d;
	expect_t x;
	char *json, *csv, *text;
	int i, ndom = 0, rows = 0;
	const char *p;

	make_report_log();
	assert_int_equal(audit_time_parse("2025-03-03", 0, &since), 0);
	assert_int_equal(audit_time_parse("2025-03-09", 1, &until), 0);
	x = expected(since, until);
	assert_true(x.t.out_delivered > 20 && x.t.no_cert > 5 && x.t.failures > 5);
	rp = report_of(since, until);
	compare_totals(audit_report_totals(rp), &x.t);

	/* The JSON report says the same, and per domain. */
	json = report_text(rp, AUDIT_FMT_JSON);
	root = json_tokener_parse(json);
	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "totals", &totals));
	assert_int_equal(jget(totals, "outbound_delivered"), x.t.out_delivered);
	assert_int_equal(jget(totals, "outbound_encrypted"), x.t.out_encrypted);
	assert_int_equal(jget(totals, "failures"), x.t.failures);
	assert_true(json_object_object_get_ex(root, "by_domain", &doms));
	for (i = 0; i < 5; i++) {
		if (i == 1 || x.dom_total[i] == 0)
			continue;
		ndom++;
		d = find_by(doms, "domain", G_DOMAINS[i]);
		if (d == NULL)
			fail_msg("domain %s: missing from the JSON report", G_DOMAINS[i]);
		if (jget(d, "total") != (int64_t)x.dom_total[i] ||
		    jget(d, "encrypted") != (int64_t)x.dom_enc[i] ||
		    jget(d, "signed") != (int64_t)x.dom_signed[i])
			fail_msg("domain %s: got %lld/%lld/%lld, want %llu/%llu/%llu",
			    G_DOMAINS[i], (long long)jget(d, "total"),
			    (long long)jget(d, "encrypted"), (long long)jget(d, "signed"),
			    (unsigned long long)x.dom_total[i],
			    (unsigned long long)x.dom_enc[i],
			    (unsigned long long)x.dom_signed[i]);
	}
	assert_int_equal(json_object_array_length(doms), ndom);
	assert_true(json_object_object_get_ex(root, "by_sender", &doms));
	for (i = 0; i < 5; i++) {
		d = find_by(doms, "sender", G_SENDER_KEYS[i]);
		if (x.snd_total[i] > 0 && jget(d, "total") != (int64_t)x.snd_total[i])
			fail_msg("sender %s: got %lld, want %llu", G_SENDER_KEYS[i],
			    (long long)jget(d, "total"), (unsigned long long)x.snd_total[i]);
	}
	json_object_put(root);
	free(json);

	/* CSV: one row per domain; formulas defused; no raw escapes in text. */
	csv = report_text(rp, AUDIT_FMT_CSV);
	for (p = csv; (p = strstr(p, "\ndomain,")) != NULL; p++)
		rows++;
	assert_int_equal(rows, ndom);
	assert_non_null(strstr(csv, "total,\"outbound_delivered\",,"));
	text = report_text(rp, AUDIT_FMT_TEXT);
	assert_null(strchr(text, '\x1b'));
	assert_non_null(strstr(text, "Encrypted"));
	free(csv);
	free(text);
	audit_report_free(rp);

	/* Everything: the hostile records count too. */
	rp = report_of(0, 0);
	x = expected(0, T0 * 2);
	x.t.records += sizeof(HOSTILE) / sizeof(HOSTILE[0]);
	x.t.held += sizeof(HOSTILE) / sizeof(HOSTILE[0]);
	x.t.failures += sizeof(HOSTILE) / sizeof(HOSTILE[0]);
	compare_totals(audit_report_totals(rp), &x.t);
	csv = report_text(rp, AUDIT_FMT_CSV);
	assert_null(strstr(csv, ",\"=HYPERLINK"));
	assert_non_null(strstr(csv, ",\"'=HYPERLINK"));
	text = report_text(rp, AUDIT_FMT_TEXT);
	assert_null(strchr(text, '\x1b'));
	free(csv);
	free(text);
	audit_report_free(rp);
}

/* ---- the HTML report ---- */

static char *
xpath_str(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	char *s;

	assert_non_null(o);
	s = strdup(o->stringval ? (char *)o->stringval : "");
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return s;
}

static void
want_xpath(xmlDocPtr doc, const char *expr, const char *want)
{
	char *got = xpath_str(doc, expr);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", expr, got, want);
	free(got);
}

static void
want_xpath_n(xmlDocPtr doc, const char *expr, uint64_t want)
{
	char w[32];

	snprintf(w, sizeof(w), "%llu", (unsigned long long)want);
	want_xpath(doc, expr, w);
}

/* Some td of the failures table holds exactly s. */
static int
failure_reason_shown(xmlDocPtr doc, const char *s)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(
	    (const xmlChar *)"//table[@id='failures']/tbody/tr/td[3]", ctx);
	int i, found = 0;
	xmlChar *t;

	for (i = 0; o->nodesetval && i < o->nodesetval->nodeNr; i++) {
		t = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
		found |= strcmp((char *)t, s) == 0;
		xmlFree(t);
	}
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return found;
}

static xmlDocPtr
parse_html(const char *html)
{
	xmlDocPtr doc = xmlReadMemory(html, (int)strlen(html), "report.html", "UTF-8",
	    XML_PARSE_NONET);

	if (doc == NULL)
		fail_msg("the HTML report is not well-formed: %s",
		    xmlGetLastError() ? xmlGetLastError()->message : "?");
	return doc;
}

static void
test_report_html(void **state)
{
	audit_report_t *rp;
	time_t since, until;
	xmlDocPtr doc;
	expect_t x;
	char *html, expr[256], pct[16];
	int i;

	make_report_log();
	assert_int_equal(audit_time_parse("2025-03-03T00:00:00Z", 0, &since), 0);
	assert_int_equal(audit_time_parse("2025-03-09T23:59:59+00:00", 0, &until), 0);
	x = expected(since, until);
	rp = report_of(since, until);
	assert_int_equal(audit_report_set_integrity(rp, "intact: <all> & \"good\"", 1,
	    NULL), AUDIT_OK);
	html = report_text(rp, AUDIT_FMT_HTML);
	doc = parse_html(html);

	want_xpath_n(doc, "string(//*[@id='n-delivered'])", x.t.out_delivered);
	want_xpath_n(doc, "string(//*[@id='n-encrypted'])", x.t.out_encrypted);
	want_xpath_n(doc, "string(//*[@id='n-signed'])", x.t.out_signed);
	want_xpath_n(doc, "string(//*[@id='n-no-cert'])", x.t.no_cert);
	want_xpath_n(doc, "string(//*[@id='n-failures'])", x.t.failures);
	want_xpath_n(doc, "string(//*[@id='n-decrypted'])", x.t.decrypted);
	want_xpath_n(doc, "string(//*[@id='n-enrolled'])", x.t.enrolled);
	want_xpath_n(doc, "string(//*[@id='n-records'])", x.t.records);
	snprintf(pct, sizeof(pct), "%.1f%%",
	    100.0 * (double)x.t.out_encrypted / (double)x.t.out_delivered);
	want_xpath(doc, "string(//*[@id='pct-encrypted'])", pct);
	for (i = 0; i < 5; i++) {
		if (i == 1 || x.dom_total[i] == 0)
			continue;
		snprintf(expr, sizeof(expr), "string(//table[@id='by-domain']/tbody/"
		    "tr[td[1]='%s']/td[2])", G_DOMAINS[i]);
		want_xpath_n(doc, expr, x.dom_total[i]);
		snprintf(expr, sizeof(expr), "string(//table[@id='by-domain']/tbody/"
		    "tr[td[1]='%s']/td[3])", G_DOMAINS[i]);
		want_xpath_n(doc, expr, x.dom_enc[i]);
	}
	want_xpath_n(doc, "string(count(//table[@id='no-cert']/tbody/tr))",
	    x.t.no_cert_rcpts);
	want_xpath(doc, "string(//*[@id='integrity'])",
	    "Log check passed: intact: <all> & \"good\"");
	want_xpath(doc, "string(count(//script) = 0)", "true");
	want_xpath(doc, "string(count(//*[local-name()='svg']) >= 4)", "true");
	want_xpath(doc, "string(count(//*[local-name()='rect']) >= 10)", "true");
	assert_true(failure_reason_shown(doc, G_REASONS[3]));
	xmlFreeDoc(doc);
	free(html);
	audit_report_free(rp);

	/* With the hostile records in the period, still well-formed. */
	rp = report_of(0, 0);
	assert_int_equal(audit_report_set_integrity(rp, "TAMPERED: \x1b[2J", 0, NULL),
	    AUDIT_OK);
	html = report_text(rp, AUDIT_FMT_HTML);
	doc = parse_html(html);
	assert_true(failure_reason_shown(doc, "quote\" and back\\slash"));
	assert_true(failure_reason_shown(doc, "Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac "
	    "\xf0\x9f\x98\x80"));
	want_xpath(doc, "string(count(//script) = 0)", "true");
	xmlFreeDoc(doc);
	free(html);
	audit_report_free(rp);
}

/* ---- reading is strict ---- */

#define GOOD_HEAD "{\"seq\":2,\"time\":\"2025-03-01T12:00:00Z\","
#define GOOD_PREV "\"prev\":\"" ZERO64 "\"}"

typedef struct read_case {
	const char *line;
	int ok;
} read_case_t;

static const read_case_t READS[] = {
	{ GOOD_HEAD "\"action\":\"clear\"," GOOD_PREV, 1 },
	{ GOOD_HEAD "\"action\":\"something new\",\"sender\":null," GOOD_PREV, 1 },
	{ GOOD_HEAD "\"action\":\"clear\"," GOOD_PREV " trailing", 0 },
	{ GOOD_HEAD "\"action\":\"clear\"," GOOD_PREV "{}", 0 },
	{ "{'seq':2,'time':'2025-03-01T12:00:00Z','action':'clear','prev':'" ZERO64 "'}", 0 },
	{ GOOD_HEAD "\"action\":\"clear\",\"sender\":\"\xff\"," GOOD_PREV, 0 },
	{ GOOD_HEAD "\"action\":\"clear\",\"sender\":5," GOOD_PREV, 0 },
	{ GOOD_HEAD "\"action\":\"clear\",\"certs\":{}," GOOD_PREV, 0 },
	{ GOOD_HEAD "\"sender\":\"no action\"," GOOD_PREV, 0 },
	{ "{\"seq\":2.5,\"time\":\"2025-03-01T12:00:00Z\",\"action\":\"clear\"," GOOD_PREV, 0 },
	{ "{\"seq\":-1,\"time\":\"2025-03-01T12:00:00Z\",\"action\":\"clear\"," GOOD_PREV, 0 },
	{ "{\"seq\":\"2\",\"time\":\"2025-03-01T12:00:00Z\",\"action\":\"clear\"," GOOD_PREV, 0 },
	{ "{\"seq\":2,\"time\":\"yesterday\",\"action\":\"clear\"," GOOD_PREV, 0 },
	{ GOOD_HEAD "\"action\":\"clear\",\"prev\":\"00\"}", 0 },
	{ GOOD_HEAD "\"action\":\"clear\",\"prev\":\"" ZERO64 "\",}", 0 },
	{ GOOD_HEAD "\"type\":\"checkpoint\"," GOOD_PREV, 0 },
	{ GOOD_HEAD "\"type\":\"other\",\"sig\":\"AA==\",\"key\":\"" ZERO64 "\"," GOOD_PREV, 0 },
	{ "[1,2,3]", 0 },
	{ "", 0 },
};

static void
test_reader_strict(void **state)
{
	size_t n = sizeof(READS) / sizeof(READS[0]), i, good = 0;
	char *log = path_of("audit.log"), *files[1] = { log };
	const audit_entry_t *e;
	audit_report_t *rp;
	audit_reader_t *r;
	audit_status_t st;
	audit_err_t err;
	FILE *f = fopen(log, "w");

	for (i = 0; i < n; i++)
		fprintf(f, "%s\n", READS[i].line);
	fclose(f);
	r = audit_reader_open((const char *const *)files, 1, &err);
	for (i = 0; i < n; i++) {
		st = audit_reader_next(r, &e, &err);
		if ((st == AUDIT_OK) != READS[i].ok)
			fail_msg("line %zu: got %s, want %s: %s", i + 1, audit_status_str(st),
			    READS[i].ok ? "a record" : "not a record", READS[i].line);
		if (st != AUDIT_OK && strstr(err.msg, ":") == NULL)
			fail_msg("line %zu: the error does not say where: %s", i + 1, err.msg);
		good += READS[i].ok;
	}
	assert_int_equal(audit_reader_next(r, &e, &err), AUDIT_END);
	audit_reader_free(r);

	rp = report_of(0, 0);
	assert_int_equal(audit_report_totals(rp)->records, good);
	assert_int_equal(audit_report_totals(rp)->unreadable, n - good);
	audit_report_free(rp);
	free(log);
}

/* ---- times ---- */

typedef struct time_case {
	const char *in;
	int end_of_day;
	int ok;
	time_t want;
} time_case_t;

static const time_case_t TIMES[] = {
	{ "2025-03-01", 0, 1, T0 - 12 * 3600 },
	{ "2025-03-01", 1, 1, T0 + 12 * 3600 - 1 },
	{ "2025-03-01T12:00:00Z", 0, 1, T0 },
	{ "2025-03-01t12:00:00z", 0, 1, T0 },
	{ "2025-03-01 12:00:00Z", 0, 1, T0 },
	{ "2025-03-01T14:30:00+02:30", 0, 1, T0 },
	{ "2025-03-01T09:00:00-03:00", 0, 1, T0 },
	{ "2025-03-01T12:00:00.123456Z", 0, 1, T0 },
	{ "2024-02-29", 0, 1, 1709164800 },
	{ "2025-02-29", 0, 0, 0 },
	{ "2025-13-01", 0, 0, 0 },
	{ "2025-03-01T24:00:00Z", 0, 0, 0 },
	{ "2025-03-01T12:00Z", 0, 0, 0 },
	{ "2025-03-01T12:00:00", 0, 0, 0 },
	{ "2025-03-01T12:00:00Zjunk", 0, 0, 0 },
	{ "2025-3-1", 0, 0, 0 },
	{ "", 0, 0, 0 },
	{ "yesterday", 0, 0, 0 },
};

static void
test_time_parse(void **state)
{
	time_t t;
	size_t i;
	int r;
	char s[32];

	for (i = 0; i < sizeof(TIMES) / sizeof(TIMES[0]); i++) {
		t = 0;
		r = audit_time_parse(TIMES[i].in, TIMES[i].end_of_day, &t);
		if ((r == 0) != TIMES[i].ok || (r == 0 && t != TIMES[i].want))
			fail_msg("\"%s\": got %d/%lld, want %s/%lld", TIMES[i].in, r,
			    (long long)t, TIMES[i].ok ? "ok" : "error",
			    (long long)TIMES[i].want);
	}
	audit_time_format(T0, s, sizeof(s));
	assert_string_equal(s, "2025-03-01T12:00:00Z");
}

/* ---- keys and locking ---- */

/* Two handles (two processes: the daemon and smimectl) append in turn,
 * one of them from a child process, a checkpoint from each: one chain. */
static void
test_two_writers(void **state)
{
	audit_verify_result_t res;
	audit_t *a = open_log(0, 0), *b;
	audit_err_t err;
	pid_t pid;
	int status;

	b = audit_open(tmp, NULL, 0, &err);
	if (b == NULL)
		fail_msg("second writer: %s", err.msg);
	append_n(a, 0, 3);
	append_n(b, 3, 2);
	append_n(a, 5, 1);
	assert_int_equal(audit_checkpoint(b, NULL), AUDIT_OK);
	append_n(a, 6, 2);
	assert_int_equal(audit_rotate(b, NULL), AUDIT_OK);
	append_n(a, 8, 1);
	if ((pid = fork()) == 0) {
		audit_record_t r;
		char qid[16];

		r = record(9, qid, sizeof(qid));
		_exit(audit_append(b, &r, NULL) == AUDIT_OK ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	append_n(a, 10, 1);
	assert_int_equal(audit_close(b, NULL), AUDIT_OK);
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);
	want_intact("two writers", verify_dir(&res), &res);
	assert_int_equal(res.records, 11);
	assert_int_equal(res.unsealed, 0);
}

static void
test_keys_and_lock(void **state)
{
	char *key = path_of("audit.key"), *pub = path_of("audit.pub");
	EVP_PKEY *other = unit_key(UNIT_P256);
	audit_err_t err;
	struct stat st;
	audit_t *a, *b;
	FILE *f;

	a = open_log(0, 10);
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A second writer (smimectl beside the daemon) shares the log: each
	 * write reads the tail again when the other wrote. */
	b = audit_open(tmp, NULL, 0, &err);
	if (b == NULL)
		fail_msg("second writer: %s", err.msg);
	assert_int_equal(audit_close(b, NULL), AUDIT_OK);
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);

	assert_int_equal(chmod(key, 0640), 0);
	assert_null(audit_open(tmp, NULL, 0, &err));
	assert_int_equal(err.code, AUDIT_ERR_PERM);
	assert_int_equal(chmod(key, 0600), 0);

	f = fopen(pub, "w");
	PEM_write_PUBKEY(f, other);
	fclose(f);
	assert_null(audit_open(tmp, NULL, 0, &err));
	assert_int_equal(err.code, AUDIT_ERR_KEY);
	assert_non_null(strstr(err.msg, "audit.pub"));
	unlink(pub);
	a = audit_open(tmp, NULL, 0, &err);      /* audit.pub written again */
	assert_non_null(a);
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);
	assert_int_equal(access(pub, R_OK), 0);

	/* Without AUDIT_CREATE, no key is made. */
	unlink(key);
	assert_null(audit_open(tmp, NULL, 0, &err));
	assert_int_equal(err.code, AUDIT_ERR_KEY);
	EVP_PKEY_free(other);
	free(key);
	free(pub);
}

/* ---- smimectl audit ---- */

/* Runs ctl_audit with stdout and stderr captured into *out. */
static int
run_ctl(char **out, int argc, ...)
{
	char *argv[16], *p = path_of("ctl.out");
	int saved1 = dup(1), saved2 = dup(2), fd, rc, i;
	va_list ap;
	size_t len;

	va_start(ap, argc);
	for (i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);
	fflush(stdout);
	fflush(stderr);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	dup2(fd, 2);
	rc = ctl_audit(argc, argv, tmp, NULL, NULL);
	fflush(stdout);
	fflush(stderr);
	dup2(saved1, 1);
	dup2(saved2, 2);
	close(saved1);
	close(saved2);
	close(fd);
	*out = unit_read_file(p, &len);
	unlink(p);
	free(p);
	return rc;
}

static void
want_ctl(const char *what, int rc, int want_rc, char *out, const char *want_text)
{
	if (rc != want_rc || (want_text && strstr(out, want_text) == NULL))
		fail_msg("%s: got %d \"%s\", want %d \"%s\"", what, rc, out, want_rc,
		    want_text ? want_text : "");
	free(out);
}

static void
test_ctl(void **state)
{
	char *log = path_of("audit.log"), *orig, *out, *want, *pub = path_of("audit.pub");
	size_t len;
	lines_t l;
	int rc;

	make_log(20, 5);
	orig = unit_read_file(log, &len);
	assert_true(asprintf(&want, "intact: 20 records, 5 checkpoints, files %s", log) > 0);
	rc = run_ctl(&out, 1, "verify");
	want_ctl("verify", rc, 0, out, want);
	rc = run_ctl(&out, 4, "verify", "--key", pub, log);
	want_ctl("verify --key FILE", rc, 0, out, want);
	free(want);

	l = lines_read(log);
	lines_delete(&l, 9);
	lines_write(log, &l);
	lines_free(&l);
	assert_true(asprintf(&want, "TAMPERED: %s:10: lines are missing", log) > 0);
	rc = run_ctl(&out, 1, "verify");
	want_ctl("verify tampered", rc, 1, out, want);
	free(want);
	rc = run_ctl(&out, 5, "report", "--format", "html", "--since", "2025-03-01");
	want_ctl("report on a tampered log", rc, 1, out, "<!DOCTYPE html>");

	/* The last checkpoint gone: a warning only. */
	assert_int_equal(unit_write_file(log, orig, len, 0600), 0);
	l = lines_read(log);
	lines_delete(&l, l.n - 1);
	lines_write(log, &l);
	lines_free(&l);
	assert_true(asprintf(&want, "warning: 5 records from %s:20 on are not sealed", log) > 0);
	rc = run_ctl(&out, 1, "verify");
	want_ctl("verify unsealed", rc, 0, out, want);
	free(want);

	assert_int_equal(unit_write_file(log, orig, len, 0600), 0);
	rc = run_ctl(&out, 7, "report", "--format=csv", "--since", "2025-03-01",
	    "--until", "2025-03-01", log);
	want_ctl("report csv", rc, 0, out, "total,\"outbound_delivered\",,12\r\n");
	rc = run_ctl(&out, 3, "report", "--format", "json");
	want_ctl("report json", rc, 0, out, "\"ok\":true");
	rc = run_ctl(&out, 1, "report");
	want_ctl("report text", rc, 0, out, "Integrity:  intact: 20 records");

	rc = run_ctl(&out, 2, "verify", "--key");
	want_ctl("--key without a value", rc, 2, out, "needs a value");
	rc = run_ctl(&out, 2, "verify", "--since=2025-01-01");
	want_ctl("verify --since", rc, 2, out, "unknown option");
	rc = run_ctl(&out, 3, "report", "--format", "xml");
	want_ctl("report --format xml", rc, 2, out, "text, csv, json or html");
	rc = run_ctl(&out, 3, "report", "--since", "yesterday");
	want_ctl("report --since yesterday", rc, 2, out, "not a date");
	rc = run_ctl(&out, 5, "report", "--since", "2025-03-02", "--until", "2025-03-01");
	want_ctl("report until before since", rc, 2, out, "before --since");
	rc = run_ctl(&out, 1, "frobnicate");
	want_ctl("unknown command", rc, 2, out, "unknown command");
	rc = run_ctl(&out, 3, "verify", "--key", "/nonexistent/audit.pub");
	want_ctl("missing key", rc, 1, out, "smimectl: cannot open");
	rc = run_ctl(&out, 2, "verify", "/nonexistent/audit.log");
	want_ctl("missing file", rc, 1, out, "smimectl: cannot open /nonexistent");
	free(orig);
	free(log);
	free(pub);
}

/* ---- the head file, gaps and fingerprints ---- */

static void
audit_sha256_hex_for_test(const char *line, char out[65])
{
	unsigned char md[32];

	SHA256((const unsigned char *)line, strlen(line), md);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
count_cp(void *arg, uint64_t seq, const char *time, const char *hash)
{
	(*(int *)arg)++;
	assert_int_equal(strlen(hash), 64);
}

static audit_t *
open_with_head(const char *head, int *ncp)
{
	audit_options_t o = { NULL, head, count_cp, ncp, NULL };
	audit_err_t err;
	audit_t *a = audit_open_ex(tmp, &o, AUDIT_CREATE, &err);

	if (a == NULL)
		fail_msg("audit_open_ex: %s", err.msg);
	audit_set_clock(a, fixed_clock, &fixed_now);
	return a;
}

static audit_status_t
verify_head(const char *head, audit_verify_result_t *res)
{
	EVP_PKEY *pub = pubkey();
	audit_head_t h;
	audit_err_t err;
	audit_status_t st;
	char **files;
	size_t n;

	assert_int_equal(audit_head_read(head, &h, &err), AUDIT_OK);
	assert_int_equal(audit_files(tmp, &files, &n, &err), AUDIT_OK);
	st = audit_verify_ex((const char *const *)files, n, pub, &h, res, &err);
	if (st != AUDIT_OK && st != AUDIT_TAMPERED)
		fail_msg("audit_verify_ex: %s", err.msg);
	snprintf(file_copy, sizeof(file_copy), "%s", res->file ? res->file : "");
	res->file = res->file ? file_copy : NULL;
	audit_files_free(files, n);
	EVP_PKEY_free(pub);
	return st;
}

static void
test_head_and_gap(void **state)
{
	char *head = path_of("state.head"), *log = path_of("audit.log");
	audit_verify_result_t res;
	audit_head_t h;
	audit_err_t err;
	lines_t l;
	audit_t *a;
	int ncp = 0;

	assert_int_equal(audit_head_read(head, &h, &err), AUDIT_END);
	a = open_with_head(head, &ncp);
	assert_true(audit_key_created(a));
	assert_int_equal(strlen(audit_key_fingerprint(a)), 64);
	assert_null(audit_gap_note(a));
	append_n(a, 0, 5);
	assert_int_equal(audit_checkpoint(a, &err), AUDIT_OK);
	assert_int_equal(audit_close(a, &err), AUDIT_OK);
	assert_int_equal(ncp, 2);       /* the file's first, then the one asked */
	/* The head is the last line: seq 7, its hash. */
	assert_int_equal(audit_head_read(head, &h, &err), AUDIT_OK);
	assert_int_equal(h.seq, 7);
	l = lines_read(log);
	{
		char want[65];

		audit_sha256_hex_for_test(l.v[l.n - 1], want);
		assert_string_equal(h.hash, want);
	}
	lines_free(&l);
	want_intact("with its head", verify_head(head, &res), &res);

	/* A clean reopen: no gap, the key is not new. */
	a = open_with_head(head, &ncp);
	assert_false(audit_key_created(a));
	assert_null(audit_gap_note(a));
	assert_int_equal(audit_close(a, &err), AUDIT_OK);

	/* Cut at a line boundary before the head's line. */
	l = lines_read(log);
	l.n = 3;
	lines_write(log, &l);
	l.n = 7;
	lines_free(&l);
	want_tampered("cut before the head", verify_head(head, &res), &res,
	    "audit.log", 3, AUDIT_T_GAP);

	/* Removed: a gap with no line to name, then a gap record at open. */
	unlink(log);
	assert_int_equal(verify_head(head, &res), AUDIT_TAMPERED);
	assert_int_equal(res.what, AUDIT_T_GAP);
	assert_null(res.file);
	a = open_with_head(head, &ncp);
	assert_non_null(audit_gap_note(a));
	assert_non_null(strstr(audit_gap_note(a), "sealed seq 7"));
	assert_int_equal(audit_close(a, &err), AUDIT_OK);
	want_tampered("the gap record", verify_head(head, &res), &res,
	    "audit.log", 2, AUDIT_T_GAP);
	l = lines_read(log);
	assert_int_equal(l.n, 3);       /* checkpoint, gap, checkpoint */
	assert_non_null(strstr(l.v[1], "\"action\":\"gap\""));
	lines_free(&l);
	free(head);
	free(log);
}

static void
test_fingerprint_parse(void **state)
{
	static const char hex[] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	static const struct { const char *in; int ok; } cases[] = {
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1 },
		{ "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", 1 },
		{ "SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1 },
		{ "01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:"
		  "01:23:45:67:89:ab:cd:ef", 1 },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", 0 },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", 0 },
		{ "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0 },
		{ "0::123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0 },
		{ "", 0 },
	};
	char out[65];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = audit_fingerprint_parse(cases[i].in, out);

		if ((rc == 0) != cases[i].ok)
			fail_msg("\"%s\": got %d, want %s", cases[i].in, rc,
			    cases[i].ok ? "0" : "-1");
		if (rc == 0)
			assert_string_equal(out, hex);
	}
}

/* Colleagues left out of "unencrypted", counted as internal;
 * the trend per day, per week past AUDIT_TREND_DAYS; all formats carry
 * them.  Records added straight to the report, as the reader gives them. */
static void
test_report_trend_unencrypted(void **state)
{
	static const struct {
		int day;
		const char *rcpt, *rule, *reason;
		audit_action_t a;
	} t[] = {
		{ 0, "bob@example.com", "built-in: internal delivery: local sender and "
		    "local recipient, never encrypted", NULL, AUDIT_SIGNED },
		{ 0, "x@partner.test", NULL, "signed; not encrypted: no certificate for "
		    "recipient <x@partner.test>", AUDIT_SIGNED },
		{ 0, "y@partner.test", NULL, NULL, AUDIT_SIGNED_ENCRYPTED },
		{ 1, "x@partner.test", NULL, NULL, AUDIT_SIGNED_ENCRYPTED },
		{ 1, "z@else.test", NULL, NULL, AUDIT_CLEAR },
		{ 70, "y@partner.test", NULL, NULL, AUDIT_SIGNED },
	};
	audit_report_t *rp;
	audit_err_t err;
	const audit_totals_t *tot;
	char *txt, *csv, *json, *html;

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		size_t n = pass == 0 ? 5 : 6;

		rp = audit_report_new(0, 0, &err);
		assert_non_null(rp);
		for (size_t i = 0; i < n; i++) {
			audit_entry_t e;

			memset(&e, 0, sizeof(e));
			e.rec.time = T0 + (time_t)t[i].day * 86400;
			e.rec.direction = AUDIT_OUTBOUND;
			e.rec.sender = "alice@example.com";
			e.rec.rcpt = t[i].rcpt;
			e.rec.rule = t[i].rule;
			e.rec.reason = t[i].reason;
			e.rec.action = t[i].a;
			assert_int_equal(audit_report_add(rp, &e, &err), AUDIT_OK);
		}
		tot = audit_report_totals(rp);
		assert_int_equal(tot->out_internal, 1);
		assert_int_equal(tot->out_unenc, pass == 0 ? 2 : 3);
		assert_int_equal(tot->no_cert, 1);
		txt = report_text(rp, AUDIT_FMT_TEXT);
		csv = report_text(rp, AUDIT_FMT_CSV);
		json = report_text(rp, AUDIT_FMT_JSON);
		html = report_text(rp, AUDIT_FMT_HTML);
		if (pass == 0) {
			assert_non_null(strstr(txt, "Outbound shares per day"));
			assert_non_null(strstr(csv, "trend,\"2025-"));
			assert_non_null(strstr(csv, "\"day\",3,1,3,1,33.3,100.0"));
			assert_non_null(strstr(csv, "unencrypted,\"partner.test\",,1,1,3"));
			assert_non_null(strstr(json, "\"unit\":\"day\""));
			assert_null(strstr(csv, "unencrypted,\"example.com\""));  /* colleagues left out */
			assert_non_null(strstr(html, "id=\"trend-chart\""));
			assert_non_null(strstr(html, "id=\"unencrypted\""));
		} else {
			assert_non_null(strstr(txt, "Outbound shares per week"));
			assert_non_null(strstr(json, "\"unit\":\"week\""));
			assert_non_null(strstr(csv, "unencrypted,\"partner.test\",,2,1,4"));
		}
		free(txt);
		free(csv);
		free(json);
		free(html);
		audit_report_free(rp);
	}
}

/* ---- group commit ---- */

#define GC_THREADS 16
#define GC_PER 100

typedef struct gc_arg {
	audit_t *a;
	int base;               /* this thread's records are base.. */
	int n;                  /* ..base + n - 1 */
	char *ok;               /* ok[k]: record k was answered AUDIT_OK */
	int eio;                /* answers "Input/output error" */
	int stop_on_error;
} gc_arg_t;

static void *
gc_appender(void *arg)
{
	gc_arg_t *g = arg;
	audit_record_t r;
	audit_err_t err;
	char qid[16];
	int i;

	for (i = 0; i < g->n; i++) {
		r = record(g->base + i, qid, sizeof(qid));
		if (audit_append(g->a, &r, &err) == AUDIT_OK) {
			g->ok[g->base + i] = 1;
			continue;
		}
		if (strstr(err.msg, strerror(EIO)) != NULL)
			g->eio++;
		if (g->stop_on_error)
			break;
	}
	return NULL;
}

/* Rotates and checkpoints now and then while the appenders run. */
static void *
gc_rotator(void *arg)
{
	audit_t *a = arg;
	int i;

	for (i = 0; i < 4; i++) {
		usleep(20000);
		if (audit_rotate(a, NULL) != AUDIT_OK || audit_checkpoint(a, NULL) != AUDIT_OK)
			return (void *)1;
	}
	return NULL;
}

/* How many times each record Q<k> (k < n) appears in the files of dir. */
static void
gc_count(const char *dir, int *seen, int n)
{
	audit_err_t err;
	char **files, *q;
	size_t nf, i, j;
	lines_t l;
	int k;

	if (audit_files(dir, &files, &nf, &err) != AUDIT_OK)
		fail_msg("audit_files: %s", err.msg);
	for (i = 0; i < nf; i++) {
		l = lines_read(files[i]);
		for (j = 0; j < l.n; j++)
			if ((q = strstr(l.v[j], "\"qid\":\"Q")) != NULL &&
			    (k = atoi(q + 8)) >= 0 && k < n)
				seen[k]++;
		lines_free(&l);
	}
	audit_files_free(files, nf);
}

/*
 * Many threads appending at once while another rotates: every record is
 * there once, the chain verifies across the files (the library's
 * verifier and smimectl audit verify), and every append was answered OK.
 */
static void
test_group_commit(void **state)
{
	static char ok[GC_THREADS * GC_PER];
	int seen[GC_THREADS * GC_PER] = { 0 }, i, rc;
	gc_arg_t g[GC_THREADS];
	pthread_t th[GC_THREADS], rot;
	audit_verify_result_t res;
	audit_t *a = open_log(0, 7);
	char *out, *want;
	void *ret;

	memset(ok, 0, sizeof(ok));
	for (i = 0; i < GC_THREADS; i++) {
		g[i] = (gc_arg_t){ a, i * GC_PER, GC_PER, ok, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, gc_appender, &g[i]), 0);
	}
	assert_int_equal(pthread_create(&rot, NULL, gc_rotator, a), 0);
	for (i = 0; i < GC_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(pthread_join(rot, &ret), 0);
	assert_null(ret);
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);

	for (i = 0; i < GC_THREADS * GC_PER; i++)
		if (!ok[i])
			fail_msg("record Q%05d: append failed", i);
	want_intact("group commit with rotation", verify_dir(&res), &res);
	assert_int_equal(res.records, GC_THREADS * GC_PER);
	gc_count(tmp, seen, GC_THREADS * GC_PER);
	for (i = 0; i < GC_THREADS * GC_PER; i++)
		if (seen[i] != 1)
			fail_msg("record Q%05d: got %d times, want 1", i, seen[i]);
	assert_true(asprintf(&want, "intact: %d records", GC_THREADS * GC_PER) > 0);
	rc = run_ctl(&out, 1, "verify");
	want_ctl("smimectl audit verify after group commit", rc, 0, out, want);
	free(want);
}

/* ---- a failed sync fails every record it covered ---- */

/*
 * A "thin" disk: an ext4 file system of 32 MB on a loop device whose
 * backing file lives on a 3 MB tmpfs.  write(2) succeeds (ext4 has room)
 * and fdatasync(2) fails with EIO once the tmpfs is full, as a thinly
 * provisioned volume does.  Needs root, loop devices and mkfs.ext4.
 */
static char thin_loop[64];
static int thin_mnt, thin_back;

static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	assert_true(rc > 0);
	rc = system(cmd);
	free(cmd);
	return rc;
}

static int
thin_make(void)
{
	FILE *p;
	char *cmd;

	if (geteuid() != 0 || sh("mkdir -p %s/back %s/mnt", tmp, tmp) != 0 ||
	    sh("mount -t tmpfs -o size=3m tmpfs %s/back 2>/dev/null", tmp) != 0)
		return -1;
	thin_back = 1;
	if (sh("truncate -s 32M %s/back/img && mkfs.ext4 -q -F -E nodiscard,"
	    "lazy_itable_init=1,lazy_journal_init=1 %s/back/img >/dev/null 2>&1",
	    tmp, tmp) != 0)
		return -1;
	assert_true(asprintf(&cmd, "losetup -f --show %s/back/img 2>/dev/null", tmp) > 0);
	p = popen(cmd, "r");
	free(cmd);
	if (p == NULL)
		return -1;
	if (fgets(thin_loop, sizeof(thin_loop), p) == NULL)
		thin_loop[0] = '\0';
	thin_loop[strcspn(thin_loop, "\n")] = '\0';
	if (pclose(p) != 0 || thin_loop[0] != '/') {
		thin_loop[0] = '\0';
		return -1;
	}
	if (sh("mount -o errors=continue %s %s/mnt 2>/dev/null", thin_loop, tmp) != 0)
		return -1;
	thin_mnt = 1;
	return sh("mkdir -m 0700 %s/mnt/audit", tmp) == 0 ? 0 : -1;
}

static int
teardown_thin(void **state)
{
	if (thin_mnt)
		sh("umount %s/mnt", tmp);
	if (thin_loop[0] != '\0')
		sh("losetup -d %s", thin_loop);
	if (thin_back)
		sh("umount %s/back", tmp);
	thin_mnt = thin_back = 0;
	thin_loop[0] = '\0';
	return teardown(state);
}

/*
 * Eight threads append until the thin disk fails their sync.  Afterwards
 * (the disk given room, checked, mounted again) every record that was
 * answered OK must be in the log: a writer that shared a failed sync and
 * was told OK anyway would be missing.
 */
static void
test_sync_failure(void **state)
{
	enum { N = 8, PER = 1500 };
	static char ok[N * PER];
	int seen[N * PER] = { 0 }, i, eio = 0, oks = 0;
	gc_arg_t g[N];
	pthread_t th[N];
	audit_err_t err;
	char *dir;
	audit_t *a;

	if (thin_make() != 0) {
		print_message("no thin disk here (needs root, loop devices, mkfs.ext4)\n");
		skip();
	}
	assert_true(asprintf(&dir, "%s/mnt/audit", tmp) > 0);
	a = audit_open(dir, NULL, AUDIT_CREATE, &err);
	if (a == NULL)
		fail_msg("audit_open on the thin disk: %s", err.msg);
	audit_set_checkpoint_every(a, 0);
	memset(ok, 0, sizeof(ok));
	for (i = 0; i < N; i++) {
		g[i] = (gc_arg_t){ a, i * PER, PER, ok, 0, 1 };
		assert_int_equal(pthread_create(&th[i], NULL, gc_appender, &g[i]), 0);
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		eio += g[i].eio;
	}
	(void)audit_close(a, NULL);
	for (i = 0; i < N * PER; i++)
		oks += ok[i];
	print_message("thin disk: %d appends answered OK, %d failed with EIO\n", oks, eio);
	if (eio == 0)
		fail_msg("the thin disk never failed a sync (%d appends OK)", oks);

	/* What really reached the disk. */
	assert_int_equal(sh("umount %s/mnt", tmp), 0);
	thin_mnt = 0;
	assert_int_equal(sh("mount -o remount,size=64m %s/back", tmp), 0);
	assert_true(sh("e2fsck -fy %s >/dev/null 2>&1", thin_loop) >> 8 <= 2);
	assert_int_equal(sh("mount %s %s/mnt", thin_loop, tmp), 0);
	thin_mnt = 1;
	gc_count(dir, seen, N * PER);
	for (i = 0; i < N * PER; i++)
		if (ok[i] && seen[i] == 0)
			fail_msg("record Q%05d was answered OK but is not on disk "
			    "(%d appends OK, %d failed with EIO)", i, oks, eio);
	free(dir);
}

/* ---- one message's records in one batch ---- */

enum { ALL_N = 6, ALL_ROUNDS = 40, ALL_BASE = 50000 };

/* Appends ALL_ROUNDS groups of ALL_N records with audit_append_all. */
static void *
all_appender(void *arg)
{
	audit_t *a = arg;
	audit_record_t r[ALL_N];
	char qid[ALL_N][16];
	audit_err_t err;

	for (int k = 0; k < ALL_ROUNDS; k++) {
		for (int j = 0; j < ALL_N; j++)
			r[j] = record(ALL_BASE + k * ALL_N + j, qid[j], sizeof(qid[j]));
		if (audit_append_all(a, r, ALL_N, &err) != AUDIT_OK)
			return (void *)"audit_append_all failed";
	}
	return NULL;
}

/*
 * audit_append_all while other threads append one by one: each group's
 * records are on disk in order and next to each other (one batch), every
 * record once, and the chain verifies.  n 0 writes nothing.
 */
static void
test_append_all(void **state)
{
	enum { ALL_THREADS = 3, ALL_PER = 60 };
	static char ok[ALL_THREADS * ALL_PER];
	gc_arg_t g[ALL_THREADS];
	pthread_t th[ALL_THREADS], all;
	audit_verify_result_t res;
	audit_t *a = open_log(0, 0);
	audit_record_t none;
	char *q, *log = path_of("audit.log");
	lines_t l;
	void *ret;
	int i, last = -1, run = 0;
	(void)state;

	memset(&none, 0, sizeof(none));
	assert_int_equal(audit_append_all(a, &none, 0, NULL), AUDIT_OK);
	for (i = 0; i < ALL_THREADS; i++) {
		g[i] = (gc_arg_t){ a, i * ALL_PER, ALL_PER, ok, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, gc_appender, &g[i]), 0);
	}
	assert_int_equal(pthread_create(&all, NULL, all_appender, a), 0);
	for (i = 0; i < ALL_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(pthread_join(all, &ret), 0);
	if (ret != NULL)
		fail_msg("%s", (const char *)ret);
	assert_int_equal(audit_close(a, NULL), AUDIT_OK);
	want_intact("audit_append_all", verify_dir(&res), &res);
	assert_int_equal(res.records, ALL_THREADS * ALL_PER + ALL_N * ALL_ROUNDS);
	l = lines_read(log);
	for (size_t j = 0; j < l.n; j++) {
		int k;

		if ((q = strstr(l.v[j], "\"qid\":\"Q")) == NULL || (k = atoi(q + 8)) < ALL_BASE) {
			if (run != 0)
				fail_msg("line %zu: a group of %d records was cut after %d", j + 1,
				    ALL_N, run);
			continue;
		}
		if ((run == 0 && (k - ALL_BASE) % ALL_N != 0) || (run != 0 && k != last + 1))
			fail_msg("line %zu: Q%05d after Q%05d: not in order or not together",
			    j + 1, k, last);
		last = k;
		run = (run + 1) % ALL_N;
	}
	if (run != 0 || last != ALL_BASE + ALL_N * ALL_ROUNDS - 1)
		fail_msg("the last group ends at Q%05d (run %d)", last, run);
	lines_free(&l);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_and_gap, setup, teardown),
		cmocka_unit_test(test_fingerprint_parse),
		cmocka_unit_test_setup_teardown(test_empty_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_one_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_without_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_last_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_totals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_html, setup, teardown),
		cmocka_unit_test(test_report_trend_unencrypted),
		cmocka_unit_test_setup_teardown(test_reader_strict, setup, teardown),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test_setup_teardown(test_keys_and_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_failure, setup, teardown_thin),
		cmocka_unit_test_setup_teardown(test_append_all, setup, teardown),
	};

	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}

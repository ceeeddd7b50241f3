/*
 * audit_json.c: log lines to and from JSON with json-c.  Writing fixes the
 * field order and passes every string through audit_utf8_clean(); reading
 * is strict (one object, valid UTF-8, nothing after it) and checks the
 * fields the chain depends on.  The names of actions and directions live
 * here too.
 *
 * Ownership: objects returned are new (json_object_put); a parsed
 * audit_line_t owns its object and is released by audit_line_free().
 * Threads: no shared state; json-c objects are used by one thread.
 */
#include "audit/audit_json.h"
#include "util/util_buf.h"
#include "audit/audit_int.h"
#include "audit/audit_utf8.h"

#include <stdlib.h>
#include <string.h>

static const char *const ACTIONS[AUDIT_ACTION_COUNT] = {
	[AUDIT_SIGNED] = "signed",
	[AUDIT_ENCRYPTED] = "encrypted",
	[AUDIT_SIGNED_ENCRYPTED] = "signed+encrypted",
	[AUDIT_CLEAR] = "clear",
	[AUDIT_PASS] = "pass",
	[AUDIT_DECRYPTED] = "decrypted",
	[AUDIT_VERIFIED] = "verified",
	[AUDIT_DECRYPTED_VERIFIED] = "decrypted+verified",
	[AUDIT_UNSIGNED] = "unsigned",
	[AUDIT_ENROLLED] = "enrolled",
	[AUDIT_HELD] = "held",
	[AUDIT_RELEASED] = "released",
	[AUDIT_REJECTED] = "rejected",
	[AUDIT_TEMPFAILED] = "tempfailed",
	[AUDIT_GAP] = "gap",
	[AUDIT_KEY_IMPORTED] = "key-imported",
	[AUDIT_KEY_EXPORTED] = "key-exported",
	[AUDIT_CERT_ISSUED] = "cert-issued",
	[AUDIT_CERT_RENEWED] = "cert-renewed",
	[AUDIT_CERT_REVOKED] = "cert-revoked",
	[AUDIT_KEY_RETIRED] = "key-retired",
	[AUDIT_KEY_DESTROYED] = "key-destroyed",
};

static const char *const DIRECTIONS[] = {
	[AUDIT_OUTBOUND] = "outbound",
	[AUDIT_INBOUND] = "inbound",
	[AUDIT_INTERNAL] = "internal",
};

const char *
audit_action_name(audit_action_t a)
{
	if ((int)a <= 0 || a >= AUDIT_ACTION_COUNT)
		return NULL;
	return ACTIONS[a];
}

audit_action_t
audit_action_parse(const char *s)
{
	int i;

	for (i = 1; s != NULL && i < AUDIT_ACTION_COUNT; i++)
		if (strcmp(s, ACTIONS[i]) == 0)
			return (audit_action_t)i;
	return AUDIT_ACTION_UNKNOWN;
}

const char *
audit_direction_name(audit_direction_t d)
{
	if (d < AUDIT_OUTBOUND || d > AUDIT_INTERNAL)
		return NULL;
	return DIRECTIONS[d];
}

audit_direction_t
audit_direction_parse(const char *s)
{
	int i;

	if (s == NULL)
		return AUDIT_DIR_NONE;
	for (i = AUDIT_OUTBOUND; i <= AUDIT_INTERNAL; i++)
		if (strcmp(s, DIRECTIONS[i]) == 0)
			return (audit_direction_t)i;
	return AUDIT_DIR_UNKNOWN;
}

/* ---- building ---- */

/* An object under construction; the first failure sticks. */
typedef struct jb {
	json_object *o;
	int failed;
} jb_t;

static void
jb_put(jb_t *b, json_object *parent, const char *key, json_object *val,
    int is_null)
{
	if (b->failed || (val == NULL && !is_null)) {
		b->failed = 1;
		json_object_put(val);
		return;
	}
	if (json_object_object_add(parent, key, val) < 0) {
		json_object_put(val);
		b->failed = 1;
	}
}

/* A clean string (or JSON null for NULL). */
static json_object *
jstr(const char *s, int *failed)
{
	util_buf_t buf;
	json_object *o;

	if (s == NULL)
		return NULL;
	util_buf_init(&buf, AUDIT_FIELD_MAX + 16);
	if (audit_utf8_clean(s, AUDIT_FIELD_MAX, &buf) < 0) {
		util_buf_free(&buf);
		*failed = 1;
		return NULL;
	}
	o = json_object_new_string_len(buf.data, (int)buf.len);
	util_buf_free(&buf);
	if (o == NULL)
		*failed = 1;
	return o;
}

static void
jb_str(jb_t *b, json_object *parent, const char *key, const char *s)
{
	int failed = 0;
	json_object *v = jstr(s, &failed);

	if (failed)
		b->failed = 1;
	jb_put(b, parent, key, v, s == NULL);
}

static void
jb_certs(jb_t *b, const audit_record_t *rec)
{
	json_object *arr = json_object_new_array();
	json_object *c;
	size_t i;

	jb_put(b, b->o, "certs", arr, 0);
	for (i = 0; !b->failed && i < rec->ncerts; i++) {
		c = json_object_new_object();
		if (c == NULL || json_object_array_add(arr, c) < 0) {
			json_object_put(c);
			b->failed = 1;
			break;
		}
		jb_str(b, c, "sha256", rec->certs[i].sha256);
		jb_str(b, c, "serial", rec->certs[i].serial);
	}
}

static void
jb_algorithms(jb_t *b, const audit_record_t *rec)
{
	json_object *arr = json_object_new_array();
	json_object *s;
	size_t i;
	int failed = 0;

	jb_put(b, b->o, "algorithms", arr, 0);
	for (i = 0; !b->failed && i < rec->nalgorithms; i++) {
		s = jstr(rec->algorithms[i] ? rec->algorithms[i] : "", &failed);
		if (failed || json_object_array_add(arr, s) < 0) {
			json_object_put(s);
			b->failed = 1;
		}
	}
}

json_object *
audit_json_record(const audit_record_t *rec, time_t now, int flags,
    uint64_t seq, const char *prev, audit_err_t *err)
{
	char when[AUDIT_TIME_LEN];
	jb_t b = { json_object_new_object(), 0 };

	if (audit_action_name(rec->action) == NULL) {
		json_object_put(b.o);
		util_err_set(err, AUDIT_ERR_USAGE, "audit record without a valid action");
		return NULL;
	}
	if (b.o == NULL)
		b.failed = 1;
	audit_time_format(rec->time ? rec->time : now, when, sizeof(when));
	if (prev != NULL)
		jb_put(&b, b.o, "seq", json_object_new_int64((int64_t)seq), 0);
	jb_str(&b, b.o, "time", when);
	jb_str(&b, b.o, "qid", rec->qid);
	jb_str(&b, b.o, "msgid", rec->msgid);
	jb_str(&b, b.o, "direction", audit_direction_name(rec->direction));
	jb_str(&b, b.o, "sender", rec->sender);
	jb_str(&b, b.o, "rcpt", rec->rcpt);
	jb_str(&b, b.o, "action", audit_action_name(rec->action));
	jb_certs(&b, rec);
	jb_algorithms(&b, rec);
	jb_str(&b, b.o, "rule", rec->rule);
	jb_str(&b, b.o, "reason", rec->reason);
	if (flags & AUDIT_SUBJECT)
		jb_str(&b, b.o, "subject", rec->subject);
	if (prev != NULL)
		jb_str(&b, b.o, "prev", prev);
	if (b.failed) {
		json_object_put(b.o);
		util_err_set(err, AUDIT_ERR_NOMEM, "out of memory building an audit record");
		return NULL;
	}
	return b.o;
}

json_object *
audit_json_checkpoint(uint64_t seq, const char *time, const char *prev,
    const char *sig, const char *key, audit_err_t *err)
{
	jb_t b = { json_object_new_object(), 0 };

	if (b.o == NULL)
		b.failed = 1;
	jb_put(&b, b.o, "seq", json_object_new_int64((int64_t)seq), 0);
	jb_str(&b, b.o, "time", time);
	jb_str(&b, b.o, "type", "checkpoint");
	jb_str(&b, b.o, "prev", prev);
	jb_str(&b, b.o, "sig", sig);
	jb_str(&b, b.o, "key", key);
	if (b.failed) {
		json_object_put(b.o);
		util_err_set(err, AUDIT_ERR_NOMEM, "out of memory building a checkpoint");
		return NULL;
	}
	return b.o;
}

char *
audit_json_line(json_object *o, size_t *len, audit_err_t *err)
{
	size_t n = 0;
	const char *s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *line;

	if (s == NULL || (line = strndup(s, n)) == NULL) {
		util_err_set(err, AUDIT_ERR_NOMEM, "out of memory writing JSON");
		return NULL;
	}
	if (len != NULL)
		*len = n;
	return line;
}

char *
audit_record_json(const audit_record_t *rec, int flags, audit_err_t *err)
{
	json_object *o;
	char *line;

	if (rec == NULL) {
		util_err_set(err, AUDIT_ERR_USAGE, "no audit record");
		return NULL;
	}
	o = audit_json_record(rec, time(NULL), flags, 0, NULL, err);
	if (o == NULL)
		return NULL;
	line = audit_json_line(o, NULL, err);
	json_object_put(o);
	return line;
}

/* ---- parsing ---- */

static const char *
get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int
is_hex64(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 64)
		return 0;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Every present field of a record has the type the writer gives it. */
static const char *
check_record(json_object *o)
{
	static const char *const strs[] = { "qid", "msgid", "direction",
	    "sender", "rcpt", "rule", "reason", "subject" };
	json_object *v;
	size_t i;

	if (get_str(o, "action") == NULL)
		return "a record without an action";
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (json_object_object_get_ex(o, strs[i], &v) && v != NULL &&
		    !json_object_is_type(v, json_type_string))
			return "a field that is not a string";
	if ((json_object_object_get_ex(o, "certs", &v) &&
	    !json_object_is_type(v, json_type_array)) ||
	    (json_object_object_get_ex(o, "algorithms", &v) &&
	    !json_object_is_type(v, json_type_array)))
		return "certs or algorithms is not a list";
	return NULL;
}

static const char *
check_line(audit_line_t *l)
{
	json_object *o = l->obj, *v;
	const char *type;
	time_t t;
	int64_t seq;

	if (!json_object_is_type(o, json_type_object))
		return "not a JSON object";
	if (!json_object_object_get_ex(o, "seq", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (seq = json_object_get_int64(v)) < 1 || seq == INT64_MAX)
		return "no valid seq";
	l->seq = (uint64_t)seq;
	l->time = get_str(o, "time");
	if (l->time == NULL || audit_time_parse(l->time, 0, &t) < 0)
		return "no valid time";
	l->prev = get_str(o, "prev");
	if (!is_hex64(l->prev))
		return "no valid prev";
	if (!json_object_object_get_ex(o, "type", &v))
		return check_record(o);
	type = get_str(o, "type");
	if (type == NULL || strcmp(type, "checkpoint") != 0)
		return "an unknown type of line";
	l->checkpoint = 1;
	l->sig = get_str(o, "sig");
	l->key = get_str(o, "key");
	if (l->sig == NULL || !is_hex64(l->key))
		return "a checkpoint without sig or key";
	return NULL;
}

int
audit_json_parse(const char *line, size_t len, audit_line_t *out,
    const char **why)
{
	json_tokener *tok = json_tokener_new_ex(8);

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (tok == NULL || len > AUDIT_LINE_MAX) {
		json_tokener_free(tok);
		*why = tok == NULL ? "out of memory" : "a line too long";
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	out->obj = json_tokener_parse_ex(tok, line, (int)len);
	if (out->obj == NULL || json_tokener_get_parse_end(tok) != len)
		*why = "not valid JSON";
	json_tokener_free(tok);
	if (*why == NULL)
		*why = check_line(out);
	if (*why != NULL) {
		audit_line_free(out);
		return -1;
	}
	return 0;
}

void
audit_line_free(audit_line_t *l)
{
	json_object_put(l->obj);
	memset(l, 0, sizeof(*l));
}

static int
record_certs(json_object *arr, audit_record_t *rec)
{
	size_t i, n = arr ? json_object_array_length(arr) : 0;
	audit_cert_t *certs;
	json_object *c;

	if (n == 0)
		return 0;
	certs = calloc(n, sizeof(*certs));
	if (certs == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		c = json_object_array_get_idx(arr, i);
		if (json_object_is_type(c, json_type_object)) {
			certs[i].sha256 = get_str(c, "sha256");
			certs[i].serial = get_str(c, "serial");
		}
	}
	rec->certs = certs;
	rec->ncerts = n;
	return 0;
}

static int
record_algorithms(json_object *arr, audit_record_t *rec)
{
	size_t i, n = arr ? json_object_array_length(arr) : 0;
	const char **algs;
	json_object *s;

	if (n == 0)
		return 0;
	algs = calloc(n, sizeof(*algs));
	if (algs == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		s = json_object_array_get_idx(arr, i);
		algs[i] = json_object_is_type(s, json_type_string) ?
		    json_object_get_string(s) : "";
	}
	rec->algorithms = algs;
	rec->nalgorithms = n;
	return 0;
}

int
audit_json_to_record(const audit_line_t *l, audit_record_t *rec)
{
	json_object *o = l->obj, *certs = NULL, *algs = NULL;

	memset(rec, 0, sizeof(*rec));
	audit_time_parse(l->time, 0, &rec->time);
	if (l->checkpoint)
		return 0;
	rec->qid = get_str(o, "qid");
	rec->msgid = get_str(o, "msgid");
	rec->direction = audit_direction_parse(get_str(o, "direction"));
	rec->sender = get_str(o, "sender");
	rec->rcpt = get_str(o, "rcpt");
	rec->action = audit_action_parse(get_str(o, "action"));
	rec->rule = get_str(o, "rule");
	rec->reason = get_str(o, "reason");
	rec->subject = get_str(o, "subject");
	json_object_object_get_ex(o, "certs", &certs);
	json_object_object_get_ex(o, "algorithms", &algs);
	if (record_certs(certs, rec) < 0 || record_algorithms(algs, rec) < 0) {
		audit_json_record_free(rec);
		return -1;
	}
	return 0;
}

void
audit_json_record_free(audit_record_t *rec)
{
	free((void *)rec->certs);
	free((void *)rec->algorithms);
	rec->certs = NULL;
	rec->algorithms = NULL;
	rec->ncerts = rec->nalgorithms = 0;
}

/*
 * smime_hp_mime.c: header protection (RFC 9788), the MIME side, with
 * GMime: the hp parameter and the Legacy Display Element put on a
 * payload being signed or encrypted (smime_hp_mark(), called by
 * smime_canon.c), and the smime_hp_in_t handle that reads a protected
 * entity inbound (see smime.h).
 *
 * The main body parts (where a Legacy Display Element goes): the entity
 * itself when it is a leaf, the first part of a multipart/mixed or
 * related (or any other multipart), every part of a multipart/alternative,
 * recursively; never inside multipart/signed or encrypted.
 *
 * Ownership: a smime_hp_in_t is one job, created and freed by its caller;
 * its lists and error stay valid until the next run or the free.
 * Threads: one job, one thread.
 */
#include "smime/smime_hp.h"
#include "smime/smime_in.h"
#include "smime/smime_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

#define HP_WALK_DEPTH 8         /* main body parts looked for this deep */

struct smime_hp_in {
	smime_limits_t limits;
	smime_hp_mode_t mode;
	int is_signed, legacy, rewritten;
	smime_hdrs_t fields;        /* the payload's protected fields */
	smime_hdrs_t recorded;      /* HP-Outer: name, value */
	smime_hdrs_t hdrs;          /* the rewritten entity's Content-* */
	smime_err_t err;
};

/* ---- the main body parts ---- */

typedef void (*hp_leaf_fn)(GMimePart *part, void *arg);

static int
hp_is_text_plain(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeContentDisposition *cd = g_mime_object_get_content_disposition(obj);

	return ct != NULL && g_mime_content_type_is_type(ct, "text", "plain")
	    && (cd == NULL || !g_mime_content_disposition_is_attachment(cd));
}

static void
hp_walk_main(GMimeObject *obj, int depth, hp_leaf_fn fn, void *arg)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	int alt, n;

	if (depth > HP_WALK_DEPTH || GMIME_IS_MULTIPART_SIGNED(obj)
	    || GMIME_IS_MULTIPART_ENCRYPTED(obj))
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		alt = ct != NULL && g_mime_content_type_is_type(ct, "multipart", "alternative");
		n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (int i = 0; i < n && (alt || i == 0); i++)
			hp_walk_main(g_mime_multipart_get_part(GMIME_MULTIPART(obj), i),
			    depth + 1, fn, arg);
		return;
	}
	if (GMIME_IS_PART(obj) && hp_is_text_plain(obj))
		fn(GMIME_PART(obj), arg);
}

/* The part's content decoded (transfer encoding undone), in a new mem
 * stream. */
static GMimeStream *
hp_decoded(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *mem = g_mime_stream_mem_new();

	if (w != NULL && g_mime_data_wrapper_write_to_stream(w, mem) < 0) {
		g_object_unref(mem);
		return NULL;
	}
	return mem;
}

static void
hp_set_content(GMimePart *part, GMimeStream *mem)
{
	GMimeDataWrapper *w;

	g_mime_stream_reset(mem);
	w = g_mime_data_wrapper_new_with_stream(mem, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, w);
	g_object_unref(w);
}

/* Removes a Content-Type parameter; the header is written anew (GMime
 * does not when a parameter goes). */
static void
hp_param_drop(GMimeObject *obj, const char *name)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeParamList *pl = ct != NULL ? g_mime_content_type_get_parameters(ct) : NULL;
	char *v;

	if (pl == NULL || !g_mime_param_list_remove(pl, name))
		return;
	v = g_mime_content_type_encode(ct, NULL);
	g_mime_object_set_header(obj, "Content-Type", g_strstrip(v), NULL);
	g_free(v);
}

/* ---- outbound: the marks ---- */

static int
hp_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* The Legacy Display Element's lines: each user-facing field the
 * baseline obscured or removed, decoded; "" when there is none. */
static char *
hp_ld_text(const smime_hp_out_t *hp)
{
	GString *g = g_string_new(NULL);

	for (size_t i = 0; i < hp->n; i++) {
		const char *name = hp->fields[i].name, *v = hp->fields[i].value;
		const char *outer = smime_hp_baseline(name, v);
		char *unfolded, *dec;

		if (!smime_hp_user_facing(name) || !smime_hp_protectable(name)
		    || (outer != NULL && strcmp(outer, v) == 0))
			continue;
		unfolded = g_mime_utils_header_unfold(v);
		dec = g_mime_utils_header_decode_text(NULL, unfolded);
		g_string_append_printf(g, "%s: %s\n", name, dec);
		g_free(dec);
		g_free(unfolded);
	}
	if (g->len > 0)
		g_string_append_c(g, '\n');
	return g_string_free(g, FALSE);
}

/* A charset that ASCII lines (and, with utf8, UTF-8 ones) may be put in
 * front of: none, us-ascii, utf-8; and for ASCII any 8-bit one. */
static int
hp_charset_fits(const char *cs, int ascii)
{
	if (cs == NULL || g_ascii_strcasecmp(cs, "us-ascii") == 0
	    || g_ascii_strcasecmp(cs, "utf-8") == 0)
		return 1;
	return ascii && g_ascii_strncasecmp(cs, "utf-16", 6) != 0
	    && g_ascii_strncasecmp(cs, "utf-32", 6) != 0
	    && g_ascii_strncasecmp(cs, "ucs", 3) != 0;
}

static void
hp_ld_put(GMimePart *part, void *arg)
{
	const char *ld = arg;
	GMimeObject *obj = GMIME_OBJECT(part);
	const char *cs = g_mime_object_get_content_type_parameter(obj, "charset");
	int ascii = hp_ascii(ld);
	GMimeStream *old, *mem;

	if (!hp_charset_fits(cs, ascii) || (old = hp_decoded(part)) == NULL)
		return;
	mem = g_mime_stream_mem_new();
	g_mime_stream_write_string(mem, ld);
	g_mime_stream_reset(old);
	g_mime_stream_write_to_stream(old, mem);
	g_object_unref(old);
	hp_set_content(part, mem);
	g_object_unref(mem);
	if (!ascii && (cs == NULL || g_ascii_strcasecmp(cs, "us-ascii") == 0))
		g_mime_object_set_content_type_parameter(obj, "charset", "utf-8");
	g_mime_object_set_content_type_parameter(obj, "hp-legacy-display", "1");
}

void
smime_hp_mark(GMimeObject *payload, const smime_hp_out_t *hp)
{
	char *ld;

	if (payload == NULL || hp == NULL || (hp->mode != SMIME_HP_CLEAR
	    && hp->mode != SMIME_HP_CIPHER))
		return;
	g_mime_object_set_content_type_parameter(payload, "hp",
	    smime_hp_mode_name(hp->mode));
	if (hp->mode != SMIME_HP_CIPHER || !hp->legacy_display)
		return;
	ld = hp_ld_text(hp);
	if (ld[0] != '\0')
		hp_walk_main(payload, 0, hp_ld_put, ld);
	g_free(ld);
}

/* ---- inbound ---- */

smime_hp_in_t *
smime_hp_in_new(void)
{
	return calloc(1, sizeof(smime_hp_in_t));
}

static void
hp_in_reset(smime_hp_in_t *h)
{
	smime_hdrs_clear(&h->fields);
	smime_hdrs_clear(&h->recorded);
	smime_hdrs_clear(&h->hdrs);
	h->mode = SMIME_HP_NONE;
	h->is_signed = h->legacy = h->rewritten = 0;
	util_err_clear(&h->err);
}

void
smime_hp_in_free(smime_hp_in_t *h)
{
	if (h == NULL)
		return;
	hp_in_reset(h);
	free(h);
}

void
smime_hp_in_set_limits(smime_hp_in_t *h, unsigned max_parts, unsigned max_depth)
{
	h->limits.max_parts = max_parts;
	h->limits.max_depth = max_depth;
}

static smime_hp_mode_t
hp_mode_of(GMimeObject *payload)
{
	const char *hp = g_mime_object_get_content_type_parameter(payload, "hp");
	const char *v1 = g_mime_object_get_content_type_parameter(payload,
	    "protected-headers");

	if (hp != NULL && g_ascii_strcasecmp(hp, "cipher") == 0)
		return SMIME_HP_CIPHER;
	if (hp != NULL && g_ascii_strcasecmp(hp, "clear") == 0)
		return SMIME_HP_CLEAR;
	if (v1 != NULL && g_ascii_strcasecmp(v1, "v1") == 0)
		return SMIME_HP_V1;
	return SMIME_HP_NONE;
}

/* "Name: value" of an HP-Outer field into the recorded list. */
static smime_status_t
hp_add_recorded(smime_hp_in_t *h, const char *v)
{
	const char *colon = strchr(v, ':');
	char name[128];
	size_t len;

	if (colon == NULL || (len = (size_t)(colon - v)) == 0 || len >= sizeof(name))
		return SMIME_OK;            /* not a field: ignored */
	memcpy(name, v, len);
	name[len] = '\0';
	g_strstrip(name);
	for (colon++; *colon == ' ' || *colon == '\t'; colon++)
		;
	if (name[0] == '\0' || h->recorded.n == SMIME_IN_HEADERS_MAX)
		return SMIME_OK;
	return smime_hdrs_add(&h->recorded, name, colon, &h->err);
}

static smime_status_t
hp_read_fields(smime_hp_in_t *h, GMimeObject *payload)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(payload);
	smime_status_t st = SMIME_OK;

	for (int i = 0; st == SMIME_OK && i < g_mime_header_list_get_count(hl); i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(hd);
		char *v;

		if (smime_hp_structural(name))
			continue;
		if ((v = smime_hdrs_raw_value(g_mime_header_get_raw_value(hd))) == NULL)
			return util_err_set(&h->err, SMIME_ERR_NOMEM, "out of memory");
		if (g_ascii_strcasecmp(name, "HP-Outer") == 0)
			st = hp_add_recorded(h, v);
		else if (h->fields.n < SMIME_IN_HEADERS_MAX)
			st = smime_hdrs_add(&h->fields, name, v, &h->err);
		free(v);
	}
	return st;
}

/* 1 when every line of the block (to its empty line) is a header field. */
static int
hp_block_is_fields(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] != '\n') {
		size_t s = i;

		while (i < len && p[i] != ':' && p[i] != '\n' && p[i] != ' ')
			i++;
		if (i == s || i >= len || p[i] != ':')
			return 0;
		while (i < len && p[i] != '\n')
			i++;
		i++;                        /* past the LF */
		if (i < len && p[i] == '\r')
			i++;
	}
	return i < len;
}

/* Takes the Legacy Display Element (the first lines, to the first empty
 * line, all header fields) out of a text/plain part that says it has one. */
static void
hp_ld_take(GMimePart *part, void *arg)
{
	smime_hp_in_t *h = arg;
	GMimeObject *obj = GMIME_OBJECT(part);
	const char *flag = g_mime_object_get_content_type_parameter(obj, "hp-legacy-display");
	GMimeStream *dec, *mem;
	GByteArray *a;
	const char *p, *end, *blank;

	if (flag == NULL || strcmp(flag, "1") != 0 || (dec = hp_decoded(part)) == NULL)
		return;
	h->legacy |= 1;
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(dec));
	p = (const char *)a->data;
	end = p + a->len;
	blank = g_strstr_len(p, (gssize)a->len, "\n\n");
	if (blank == NULL)
		blank = g_strstr_len(p, (gssize)a->len, "\r\n\r\n");
	if (blank != NULL && hp_block_is_fields(p, a->len)) {
		const char *body = blank + (blank[1] == '\n' ? 2 : 4);
		mem = g_mime_stream_mem_new();
		g_mime_stream_write(mem, body, (size_t)(end - body));
		hp_set_content(part, mem);
		g_object_unref(mem);
		hp_param_drop(obj, "hp-legacy-display");
		h->legacy = 2;
	}
	OPENSSL_cleanse(a->data, a->len);
	g_object_unref(dec);
}

/* Under a signature: only whether there is one. */
static void
hp_ld_seen(GMimePart *part, void *arg)
{
	smime_hp_in_t *h = arg;
	const char *flag = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part),
	    "hp-legacy-display");

	if (flag != NULL && strcmp(flag, "1") == 0)
		h->legacy = 1;
}

/* The drafts' legacy display part: the first part of the payload's
 * multipart, text/plain or text/rfc822-headers, protected-headers="v1". */
static int
hp_v1_has(GMimeObject *payload)
{
	GMimeObject *first;
	GMimeContentType *ct;
	const char *v1;

	if (!GMIME_IS_MULTIPART(payload) || GMIME_IS_MULTIPART_SIGNED(payload)
	    || g_mime_multipart_get_count(GMIME_MULTIPART(payload)) < 2)
		return 0;
	first = g_mime_multipart_get_part(GMIME_MULTIPART(payload), 0);
	ct = g_mime_object_get_content_type(first);
	v1 = g_mime_object_get_content_type_parameter(first, "protected-headers");
	return ct != NULL && v1 != NULL && g_ascii_strcasecmp(v1, "v1") == 0
	    && (g_mime_content_type_is_type(ct, "text", "plain")
	    || g_mime_content_type_is_type(ct, "text", "rfc822-headers"));
}

/* take: 1 out it goes, 0 only whether there is one. */
static void
hp_v1_take(smime_hp_in_t *h, GMimeObject *payload, int take)
{
	GMimeObject *gone;

	if (!hp_v1_has(payload))
		return;
	h->legacy = 1;
	if (!take)
		return;
	gone = g_mime_multipart_remove_at(GMIME_MULTIPART(payload), 0);
	if (gone != NULL)
		g_object_unref(gone);
	h->legacy = 2;
}

static void
hp_unmark(GMimeObject *payload)
{
	hp_param_drop(payload, "hp");
	hp_param_drop(payload, "protected-headers");
}

/* Writes the entity's body through out and lists its Content-* headers. */
static smime_status_t
hp_write(smime_hp_in_t *h, GMimeObject *entity, smime_write_fn out, void *arg)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *a;
	smime_status_t st;
	size_t off = 0;

	if (g_mime_object_write_to_stream(entity, NULL, mem) < 0) {
		g_object_unref(mem);
		return util_err_set(&h->err, SMIME_ERR_IO, "cannot write the entity");
	}
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	st = smime_hdrs_split(a->data, a->len, &h->hdrs, NULL, &off, &h->err);
	if (st == SMIME_OK && smime_write_all(out, arg, a->data + off, a->len - off) != 0)
		st = util_err_set(&h->err, SMIME_ERR_IO, "the output writer failed");
	OPENSSL_cleanse(a->data, a->len);
	g_object_unref(mem);
	h->rewritten = st == SMIME_OK;
	return st;
}

smime_status_t
smime_hp_in_run(smime_hp_in_t *h, const char *headers, const smime_body_t *body,
    smime_write_fn out, void *arg)
{
	GMimeObject *payload;
	smime_in_t in;
	smime_status_t st;

	if (h == NULL || body == NULL || out == NULL)
		return SMIME_ERR_USAGE;
	hp_in_reset(h);
	if ((st = smime_in_load(headers, body, &h->limits, &in, &h->err)) != SMIME_OK)
		return st;
	payload = in.entity;
	if (GMIME_IS_MULTIPART_SIGNED(payload)
	    && g_mime_multipart_get_count(GMIME_MULTIPART(payload)) > 0) {
		payload = g_mime_multipart_get_part(GMIME_MULTIPART(payload), 0);
		h->is_signed = 1;
	}
	h->mode = hp_mode_of(payload);
	if (h->mode != SMIME_HP_NONE)
		st = hp_read_fields(h, payload);
	if (st == SMIME_OK && h->mode != SMIME_HP_NONE && !h->is_signed) {
		if (h->mode == SMIME_HP_V1)
			hp_v1_take(h, payload, 1);
		else
			hp_walk_main(payload, 0, hp_ld_take, h);
		hp_unmark(payload);
		st = hp_write(h, in.entity, out, arg);
	} else if (st == SMIME_OK && h->mode == SMIME_HP_V1) {
		hp_v1_take(h, payload, 0);
	} else if (st == SMIME_OK && h->mode != SMIME_HP_NONE) {
		hp_walk_main(payload, 0, hp_ld_seen, h);
	}
	smime_in_clear(&in);
	return st;
}

smime_hp_mode_t
smime_hp_in_mode(const smime_hp_in_t *h)
{
	return h != NULL ? h->mode : SMIME_HP_NONE;
}

int
smime_hp_in_signed(const smime_hp_in_t *h)
{
	return h != NULL && h->is_signed;
}

size_t
smime_hp_in_nfields(const smime_hp_in_t *h)
{
	return h != NULL ? h->fields.n : 0;
}

const char *
smime_hp_in_field_name(const smime_hp_in_t *h, size_t i)
{
	return h != NULL && i < h->fields.n ? h->fields.name[i] : NULL;
}

const char *
smime_hp_in_field_value(const smime_hp_in_t *h, size_t i)
{
	return h != NULL && i < h->fields.n ? h->fields.value[i] : NULL;
}

static const char *
hp_find(const smime_hdrs_t *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (g_ascii_strcasecmp(l->name[i], name) == 0)
			return l->value[i];
	return NULL;
}

const char *
smime_hp_in_field(const smime_hp_in_t *h, const char *name)
{
	return h != NULL ? hp_find(&h->fields, name) : NULL;
}

const char *
smime_hp_in_recorded(const smime_hp_in_t *h, const char *name)
{
	return h != NULL ? hp_find(&h->recorded, name) : NULL;
}

int
smime_hp_in_legacy(const smime_hp_in_t *h)
{
	return h != NULL ? h->legacy : 0;
}

int
smime_hp_in_rewritten(const smime_hp_in_t *h)
{
	return h != NULL && h->rewritten;
}

size_t
smime_hp_in_nheaders(const smime_hp_in_t *h)
{
	return h != NULL ? h->hdrs.n : 0;
}

const char *
smime_hp_in_header_name(const smime_hp_in_t *h, size_t i)
{
	return h != NULL && i < h->hdrs.n ? h->hdrs.name[i] : NULL;
}

const char *
smime_hp_in_header_value(const smime_hp_in_t *h, size_t i)
{
	return h != NULL && i < h->hdrs.n ? h->hdrs.value[i] : NULL;
}

const char *
smime_hp_in_error(const smime_hp_in_t *h)
{
	return h != NULL ? h->err.msg : "no header protection handle";
}

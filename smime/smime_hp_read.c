/*
 * smime_hp_read.c: header protection (RFC 9788), inbound: the
 * smime_hp_in_t handle that reads a protected entity (see smime.h): its
 * payload, mode, protected fields and HP-Outer records, and, where no
 * signature covers the payload, the entity written anew without its
 * legacy display and marks.
 *
 * Ownership: a smime_hp_in_t is one job, created and freed by its caller;
 * its lists and error stay valid until the next run or the free.
 * Threads: one job, one thread.
 */
#include "smime/smime_hp_mark.h"
#include "smime/smime_in.h"
#include "smime/smime_spool.h"
#include "smime/smime_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

struct smime_hp_in {
	smime_limits_t limits;
	smime_hp_mode_t mode;
	int is_signed, legacy, rewritten;
	smime_hdrs_t fields;        /* the payload's protected fields */
	smime_hdrs_t recorded;      /* HP-Outer: name, value */
	smime_hdrs_t hdrs;          /* the rewritten entity's Content-* */
	char *tmpdir;               /* NULL: $TMPDIR or /tmp */
	smime_err_t err;
};

/* Octets at the start of a text part searched for its Legacy Display
 * Element (a few header fields and an empty line). */
#define HP_LD_WINDOW 65536

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
	free(h->tmpdir);
	free(h);
}

int
smime_hp_in_set_tmpdir(smime_hp_in_t *h, const char *dir)
{
	char *copy = dir != NULL ? strdup(dir) : NULL;

	if (dir != NULL && copy == NULL)
		return -1;
	free(h->tmpdir);
	h->tmpdir = copy;
	return 0;
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
 * line, all header fields, within HP_LD_WINDOW octets) out of a text part
 * that says it has one; the part decoded into a spool, the rest of it
 * becomes the content. */
static void
hp_ld_take(GMimePart *part, void *arg)
{
	smime_hp_in_t *h = arg;
	GMimeObject *obj = GMIME_OBJECT(part);
	const char *flag = g_mime_object_get_content_type_parameter(obj, "hp-legacy-display");
	GMimeStream *dec, *rest;
	smime_err_t err;
	char buf[HP_LD_WINDOW];
	const char *blank;
	ssize_t n, got = 0;

	if (flag == NULL || strcmp(flag, "1") != 0
	    || (dec = smime_in_part_decoded(part, h->tmpdir, &err)) == NULL)
		return;
	h->legacy |= 1;
	while (got < (ssize_t)sizeof(buf)
	    && (n = g_mime_stream_read(dec, buf + got, sizeof(buf) - (size_t)got)) > 0)
		got += n;
	blank = g_strstr_len(buf, got, "\n\n");
	if (blank == NULL)
		blank = g_strstr_len(buf, got, "\r\n\r\n");
	if (blank != NULL && hp_block_is_fields(buf, (size_t)got)) {
		gint64 body = (blank - buf) + (blank[1] == '\n' ? 2 : 4);

		rest = g_mime_stream_substream(dec, body, g_mime_stream_length(dec));
		smime_hp_set_content(part, rest);
		g_object_unref(rest);
		smime_hp_param_drop(obj, "hp-legacy-display");
		h->legacy = 2;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
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
	smime_hp_param_drop(payload, "hp");
	smime_hp_param_drop(payload, "protected-headers");
}

/* Writes the entity into a spool, then its body through out, and lists
 * its Content-* headers. */
static smime_status_t
hp_write(smime_hp_in_t *h, GMimeObject *entity, smime_write_fn out, void *arg)
{
	GMimeStream *sp = smime_spool_new(h->tmpdir, SMIME_MEM_DEFAULT);
	smime_status_t st = SMIME_OK;
	gint64 off = 0;

	if (g_mime_object_write_to_stream(entity, NULL, sp) < 0
	    || smime_spool_error(sp, NULL) != 0)
		st = util_err_set(&h->err, SMIME_ERR_IO, "cannot write the entity");
	if (st == SMIME_OK)
		st = smime_in_entity_split(sp, &h->limits, &h->hdrs, NULL, &off, &h->err);
	if (st == SMIME_OK && smime_in_stream_out(sp, off, out, arg) != 0)
		st = util_err_set(&h->err, SMIME_ERR_IO, "the output writer failed");
	smime_spool_cleanse(sp);
	g_object_unref(sp);
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
	if ((st = smime_in_load_at(h->tmpdir, headers, body, &h->limits, &in, &h->err))
	    != SMIME_OK)
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
			smime_hp_walk_main(payload, 0, hp_ld_take, h);
		hp_unmark(payload);
		st = hp_write(h, in.entity, out, arg);
	} else if (st == SMIME_OK && h->mode == SMIME_HP_V1) {
		hp_v1_take(h, payload, 0);
	} else if (st == SMIME_OK && h->mode != SMIME_HP_NONE) {
		smime_hp_walk_main(payload, 0, hp_ld_seen, h);
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

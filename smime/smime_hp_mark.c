/*
 * smime_hp_mark.c: header protection (RFC 9788), outbound marks with
 * GMime: the hp parameter and the Legacy Display Element put on a payload
 * being signed or encrypted (smime_hp_mark(), called by smime_canon.c),
 * and the walk over the main body parts that the inbound reader
 * (smime_hp_read.c) shares.
 *
 * The main body parts (where a Legacy Display Element goes): the entity
 * itself when it is a leaf, the first part of a multipart/mixed or
 * related (or any other multipart), every part of a multipart/alternative,
 * recursively; never inside multipart/signed or encrypted.
 *
 * Ownership: what smime_hp_decoded() returns is the caller's to unref.
 * Threads: no state.
 */
#include "smime/smime_hp.h"
#include "smime/smime_hp_mark.h"
#include "smime/smime_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HP_WALK_DEPTH 8         /* main body parts looked for this deep */
/* A Legacy Display Element is put in front of a text part only up to
 * this size (its content, as it stands): the part is copied into memory
 * to do it, and the element is optional (RFC 9788), so a larger part,
 * or one whose size is not known, goes without; memory stays bounded
 * for large messages. */
#define HP_LD_PART_MAX (256 * 1024)

/* ---- the main body parts ---- */

static int
hp_is_text_plain(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeContentDisposition *cd = g_mime_object_get_content_disposition(obj);

	return ct != NULL && g_mime_content_type_is_type(ct, "text", "plain")
	    && (cd == NULL || !g_mime_content_disposition_is_attachment(cd));
}

void
smime_hp_walk_main(GMimeObject *obj, int depth, smime_hp_leaf_fn fn, void *arg)
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
			smime_hp_walk_main(g_mime_multipart_get_part(GMIME_MULTIPART(obj), i),
			    depth + 1, fn, arg);
		return;
	}
	if (GMIME_IS_PART(obj) && hp_is_text_plain(obj))
		fn(GMIME_PART(obj), arg);
}

/* The part's content decoded (transfer encoding undone), in a new mem
 * stream. */
GMimeStream *
smime_hp_decoded(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *mem = g_mime_stream_mem_new();

	if (w != NULL && g_mime_data_wrapper_write_to_stream(w, mem) < 0) {
		g_object_unref(mem);
		return NULL;
	}
	return mem;
}

void
smime_hp_set_content(GMimePart *part, GMimeStream *mem)
{
	GMimeDataWrapper *w;

	g_mime_stream_reset(mem);
	w = g_mime_data_wrapper_new_with_stream(mem, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, w);
	g_object_unref(w);
}

/* Removes a Content-Type parameter; the header is written anew (GMime
 * does not when a parameter goes). */
void
smime_hp_param_drop(GMimeObject *obj, const char *name)
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
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *src = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
	gint64 len = src != NULL ? g_mime_stream_length(src) : -1;
	GMimeStream *old, *mem;

	if (len < 0 || len > HP_LD_PART_MAX || !hp_charset_fits(cs, ascii)
	    || (old = smime_hp_decoded(part)) == NULL)
		return;
	mem = g_mime_stream_mem_new();
	g_mime_stream_write_string(mem, ld);
	g_mime_stream_reset(old);
	g_mime_stream_write_to_stream(old, mem);
	g_object_unref(old);
	smime_hp_set_content(part, mem);
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
		smime_hp_walk_main(payload, 0, hp_ld_put, ld);
	g_free(ld);
}

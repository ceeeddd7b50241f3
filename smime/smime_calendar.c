/*
 * smime_calendar.c: is there a calendar invitation anywhere in a
 * message?  Outlook sends multipart/alternative (text/plain, text/html,
 * text/calendar; method=REQUEST), Thunderbird and Gmail nest that in
 * multipart/mixed next to an application/ics (or text/calendar) .ics
 * attachment.  Encrypted, clients cannot act on them, so the policy's
 * calendar rule applies to all of these, not only to a top-level
 * text/calendar body.
 *
 * An invitation is a text/calendar part with a method parameter or a
 * "METHOD:" line in its content, or an application/ics part.  The walk
 * goes through multiparts (a signed one's parts too) but not into attached
 * messages (message/rfc822 is a message of its own), within the limits of
 * smime_sign_set_limits().
 *
 * Threads: no state; needs smime_init() first.
 */
#include "smime/smime_int.h"
#include "smime/smime_in.h"

#include <stdio.h>
#include <string.h>

/* 1 when a line of the decoded content begins "METHOD:" (any case). */
static int
content_has_method(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *mem;
	GByteArray *a;
	int found = 0;

	if (w == NULL)
		return 0;
	mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(w, mem) >= 0) {
		a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		for (guint i = 0; !found && i + 7 <= a->len; i++)
			found = (i == 0 || a->data[i - 1] == '\n') &&
			    g_ascii_strncasecmp((const char *)a->data + i, "METHOD:", 7) == 0;
	}
	g_object_unref(mem);
	return found;
}

static int
part_is_invitation(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	if (ct == NULL || !GMIME_IS_PART(obj))
		return 0;
	if (g_mime_content_type_is_type(ct, "application", "ics"))
		return 1;
	if (!g_mime_content_type_is_type(ct, "text", "calendar"))
		return 0;
	return g_mime_content_type_get_parameter(ct, "method") != NULL ||
	    content_has_method(GMIME_PART(obj));
}

/* 1 found, 0 not; the tree was checked against the limits when loaded. */
static int
cal_find(GMimeObject *obj)
{
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp), r = 0;

		for (int i = 0; i < n && r == 0; i++)
			r = cal_find(g_mime_multipart_get_part(mp, i));
		return r;
	}
	return part_is_invitation(obj);
}

int
smime_calendar_find(const char *content_headers, const smime_body_t *body,
    unsigned max_parts, unsigned max_depth, char *why, size_t whylen)
{
	smime_limits_t limits = { max_parts, max_depth };
	smime_err_t err;
	smime_in_t in;
	int r = -1;

	util_err_clear(&err);
	if (smime_in_load(content_headers, body, &limits, &in, &err) == SMIME_OK)
		r = cal_find(in.entity);
	if (r < 0 && why != NULL)
		snprintf(why, whylen, "%s", err.msg);
	smime_in_clear(&in);
	return r;
}

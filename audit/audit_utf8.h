/*
 * audit_utf8.h: well-formed UTF-8: the length of a sequence, and a string
 * made well-formed.
 *
 * Internal to audit/: declares audit_utf8.c's functions only; each file of
 * audit/ includes the headers of the files it calls.
 */
#ifndef AUDIT_UTF8_H
#define AUDIT_UTF8_H

#include <stddef.h>

#include "util/util_buf.h"

/* Length of the well-formed UTF-8 sequence at s (n octets left), 0 if
 * none starts there. */
size_t audit_utf8_seq(const unsigned char *s, size_t n);
/*
 * s as well-formed UTF-8 into out: each octet not part of a well-formed
 * sequence becomes U+FFFD; at most max octets of output, cut at a
 * character boundary and then ended with U+2026.  0, or -1 without memory.
 */
int audit_utf8_clean(const char *s, size_t max, util_buf_t *out);

#endif

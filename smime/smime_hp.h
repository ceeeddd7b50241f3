/*
 * smime_hp.h: header protection (RFC 9788) inside smime/: the header
 * block of a protected payload (smime_hp.c) and the marks put on the
 * parsed payload (smime_hp_mime.c).
 *
 * Internal to smime/: declares smime_hp.c's and smime_hp_mime.c's
 * functions only; each file of smime/ includes the headers of the files
 * it calls.
 */
#ifndef SMIME_HP_H
#define SMIME_HP_H

#include <gmime/gmime.h>

#include "smime/smime.h"

/* The protected fields of hp (smime_hp_protectable()), then for
 * hp="cipher" one "HP-Outer: Name: value" per field the baseline keeps
 * outside, then content_headers: "Name: value\n" lines, malloc'ed (NULL
 * when out of memory).  hp NULL: a copy of content_headers. */
char *smime_hp_block(const smime_hp_out_t *hp, const char *content_headers);

/* On the parsed payload: its Content-Type's hp parameter, and for
 * hp="cipher" with legacy_display the Legacy Display Element in the main
 * body's text/plain parts (those whose charset can carry it). */
void smime_hp_mark(GMimeObject *payload, const smime_hp_out_t *hp);

#endif

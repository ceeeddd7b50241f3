/*
 * smime_hp.h: header protection (RFC 9788) inside smime/: the header
 * block of a protected payload (smime_hp.c).
 *
 * Internal to smime/: declares smime_hp.c's functions only; each file of smime/ includes the headers of the files
 * it calls.
 */
#ifndef SMIME_HP_H
#define SMIME_HP_H

#include "smime/smime.h"

/* The protected fields of hp (smime_hp_protectable()), then for
 * hp="cipher" one "HP-Outer: Name: value" per field the baseline keeps
 * outside, then content_headers: "Name: value\n" lines, malloc'ed (NULL
 * when out of memory).  hp NULL: a copy of content_headers. */
char *smime_hp_block(const smime_hp_out_t *hp, const char *content_headers);

#endif

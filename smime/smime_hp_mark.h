/*
 * smime_hp_mark.h: header protection's MIME marks (smime_hp_mark.c).
 *
 * Internal to smime/: declares smime_hp_mark.c's functions only; each file
 * of smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_HP_MARK_H
#define SMIME_HP_MARK_H

#include <gmime/gmime.h>

#include "smime/smime.h"

/* On the parsed payload: its Content-Type's hp parameter, and for
 * hp="cipher" with legacy_display the Legacy Display Element in the main
 * body's text/plain parts (those whose charset can carry it). */
void smime_hp_mark(GMimeObject *payload, const smime_hp_out_t *hp);

/* Calls fn for each text/plain main body part (not an attachment) of obj. */
typedef void (*smime_hp_leaf_fn)(GMimePart *part, void *arg);
void smime_hp_walk_main(GMimeObject *obj, int depth, smime_hp_leaf_fn fn, void *arg);
/* The part's content with its transfer encoding undone, in a new mem
 * stream (NULL when it cannot be decoded). */
GMimeStream *smime_hp_decoded(GMimePart *part);
/* The part's content becomes mem (decoded; GMime encodes it on output). */
void smime_hp_set_content(GMimePart *part, GMimeStream *mem);
/* Removes a Content-Type parameter and writes the header anew (GMime
 * does not when a parameter goes). */
void smime_hp_param_drop(GMimeObject *obj, const char *name);

#endif

/*
 * smime_sign.h: what smime_sign.c shares besides the public smime_sign_t:
 * MIME boundaries.
 *
 * Internal to smime/: declares smime_sign.c's functions only; each file of
 * smime/ includes the headers of the files it calls.
 */
#ifndef SMIME_SIGN_H
#define SMIME_SIGN_H

#include "smime/smime.h"
#include "smime/smime_int.h"

/* A fresh MIME boundary, "----smimegate-" and 32 random hex digits, into
 * buf (SMIME_BOUNDARY_LEN bytes); SMIME_ERR_CRYPTO without randomness. */
#define SMIME_BOUNDARY_LEN 64
smime_status_t smime_boundary(char buf[SMIME_BOUNDARY_LEN], smime_err_t *err);

#endif

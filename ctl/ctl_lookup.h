/*
 * ctl_lookup.h: `smimectl lookup ADDRESS...` and `smimectl cache flush
 * [ADDRESS...]`, called by smimectl's dispatcher with the configuration's
 * certificate lookup.
 */
#ifndef CTL_LOOKUP_H
#define CTL_LOOKUP_H

#include "directory/dir_lookup.h"

/*
 * lookup: for each address, where the certificate came from and every
 * candidate with the reason it was taken or refused, on stdout.  Returns
 * 0 (each address has a certificate), 1 (some has none), 2 (usage) or 3
 * (a source was unavailable).
 */
int ctl_lookup(dir_lookup_t *l, int argc, char **argv);
/* cache flush [ADDRESS...]: 0, 1 (the cache failed) or 2 (usage). */
int ctl_cache(dir_lookup_t *l, int argc, char **argv);

#endif

/*
 * dir_map.h: a map file tying logins to the addresses they may send as
 * (the SignerMap: who may have mail signed under which address).
 *
 * Format: one login per line, then its addresses, separated by white
 * space or commas; '#' starts a comment.  A login may appear on several
 * lines.  Logins compare case-insensitively; addresses as RFC 5321 says
 * (local part exact, domain case-insensitive).
 *
 *     # login      addresses
 *     alice        alice@example.com, a.smith@example.com
 *
 * Ownership and threads: dir_map_load() returns a map the caller frees with
 * dir_map_free(); it is read-only afterwards and may be shared by threads.
 */
#ifndef DIR_MAP_H
#define DIR_MAP_H

#include <stddef.h>

typedef struct dir_map dir_map_t;

/* Loads path.  NULL on failure, with "path:line: what is wrong" in err;
 * a file writable by group or others, or owned by neither root nor the
 * effective user, is refused. */
dir_map_t *dir_map_load(const char *path, char *err, size_t errlen);
void dir_map_free(dir_map_t *map);

/* 1 when the map has an entry for login. */
int dir_map_has_login(const dir_map_t *map, const char *login);
/* 1 when login may use address. */
int dir_map_allows(const dir_map_t *map, const char *login, const char *address);

#endif

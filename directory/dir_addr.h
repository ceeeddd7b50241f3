/*
 * dir_addr.h: the one spelling of an address that directory/ keys its
 * cache and harvest store by (the domain lower-cased, the local part as
 * given), shared by the lookup (dir_lookup.c) and the harvest store
 * (dir_harvest.c).  Comparing addresses is util/'s; this is only the key.
 *
 * Threads: no state.
 */
#ifndef DIR_ADDR_H
#define DIR_ADDR_H

/* "local@domain" with the domain lower-cased, malloc'ed, or NULL.  An
 * address without '@' is copied as it is. */
char *dir_addr_normalize(const char *address);

#endif

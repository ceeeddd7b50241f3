/*
 * util_addr.h: mail addresses as the libraries compare them.  An address
 * is "local@domain" split at its LAST '@' (a quoted local part may hold
 * one).  RFC 5321: the local part is compared exactly (case matters to
 * the receiving host), the domain without regard to ASCII case.  Nothing
 * else is normalised: no trailing-dot folding, no IDNA, no sub-addressing.
 *
 * Threads: pure functions of their arguments.
 */
#ifndef SMIMEGATE_UTIL_ADDR_H
#define SMIMEGATE_UTIL_ADDR_H

/* What follows the last '@' of addr (may be ""), or NULL when addr is
 * NULL or has no '@'. */
const char *util_addr_domain(const char *addr);

/*
 * 1 when a and b are the same mailbox, else 0.  This comparison decides
 * trust (may a login sign as an address, does a certificate name the
 * sender), so it errs towards "different":
 *   - NULL on either side: 0;
 *   - both with '@': local parts byte for byte, domains ignoring case
 *     ("Alice@Example.COM" is not "alice@example.com"; "a@example.com."
 *     is not "a@example.com");
 *   - exactly one with '@': 0 ("alice" is not "alice@example.com");
 *   - neither (a role or login name such as "postmaster"): only when
 *     identical, byte for byte.
 */
int util_addr_equal(const char *a, const char *b);

/* A copy of addr (malloc'ed) with everything from its last '@' in lower
 * case, the form addresses are indexed under; an address without '@' is
 * copied as it is.  NULL without memory. */
char *util_addr_normalize(const char *addr);

/* Lower-cases the ASCII letters of s (a domain) in place. */
void util_addr_lower(char *s);

#endif

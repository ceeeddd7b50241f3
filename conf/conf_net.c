/*
 * conf_net.c: questions about a loaded configuration's lists: is a domain
 * one of LocalDomains, is a client address in InternalHosts (or another
 * list of networks, such as PickupTrustedProxies).
 */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

int
conf_is_local_domain(const conf_t *c, const char *domain)
{
	if (domain == NULL || c->local_domains == NULL)
		return 0;
	for (char **p = c->local_domains; *p != NULL; p++) {
		if (strcasecmp(*p, domain) == 0)
			return 1;
	}
	return 0;
}

static int
net_match(const conf_net_t *n, int family, const unsigned char *addr)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (n->family != family)
		return 0;
	if (memcmp(n->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((n->addr[full] ^ addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static int
netlist_match(const conf_netlist_t *l, int family, const unsigned char *addr)
{
	unsigned char v4[4];

	/* An IPv4-mapped IPv6 address is matched as the IPv4 address. */
	if (family == AF_INET6 && memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memcpy(v4, addr + 12, 4);
		family = AF_INET;
		addr = v4;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (net_match(&l->v[i], family, addr))
			return 1;
	}
	return 0;
}

static int
is_internal(const conf_t *c, int family, const unsigned char *addr)
{
	return netlist_match(&c->internal_hosts, family, addr);
}

int
conf_is_internal(const conf_t *c, const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET)
		return is_internal(c, AF_INET,
		    (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return is_internal(c, AF_INET6,
		    (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

int
conf_is_internal_text(const conf_t *c, const char *text)
{
	return conf_netlist_match_text(&c->internal_hosts, text);
}

int
conf_netlist_match_text(const conf_netlist_t *l, const char *text)
{
	unsigned char addr[16];

	if (text == NULL)
		return 0;
	if (inet_pton(AF_INET, text, addr) == 1)
		return netlist_match(l, AF_INET, addr);
	if (inet_pton(AF_INET6, text, addr) == 1)
		return netlist_match(l, AF_INET6, addr);
	return 0;
}

/*
 * ctl_ca.h: `smimectl ca init|issue|revoke|list|crl|cmp`, the embedded CA
 * and a certificate over CMP, called by smimectl's dispatcher with argv[0]
 * the sub-command.
 */
#ifndef CTL_CA_H
#define CTL_CA_H

#include "keystore/keystore.h"
#include "conf/conf.h"

/* Prints on stdout, errors on stderr; returns 0, 1 (error) or 2 (a usage
 * error: a message; the caller prints the usage). */
int ctl_ca(int argc, char **argv, const conf_t *conf, keystore_t *ks);

#endif

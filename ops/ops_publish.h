/*
 * ops_publish.h: publication in PublishDirectory (directory/dir_publish.h)
 * with the configuration's settings, for smimegate and smimectl: who is
 * published, and the gateway's log lines when it fails.
 *
 * A directory that cannot be reached loses nothing: the certificate is
 * in the keystore (or the CA's records), and `smimectl keystore publish
 * [ADDRESS]` writes it again; the failure is reported (the log line, or
 * smimectl's message and exit status), never retried behind the
 * operator's back.
 *
 * Threads: any (each call has its own connection).
 */
#ifndef OPS_PUBLISH_H
#define OPS_PUBLISH_H

#include "conf/conf.h"
#include "directory/dir_publish.h"

/* Fills s from conf (pointers into conf). */
void ops_publish_settings(const conf_t *conf, dir_publish_settings_t *s);

/*
 * Publishes cert and chain for address when PublishDirectory is set (and,
 * outsider, when PublishOutsiders is yes); a failure is logged (with qid,
 * may be NULL) with what to run to publish it later.  0 published or
 * nothing to do, -1 failed (logged).
 */
int ops_publish(const conf_t *conf, const char *qid, const char *address,
    X509 *cert, STACK_OF(X509) *chain, int outsider);

#endif

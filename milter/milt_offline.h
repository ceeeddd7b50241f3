/*
 * milt_offline.h: `smimegate -t`: one message from a file through the same
 * code path as the milter (mail_msg.c), the result on a stream.  Admins
 * use it to see what the gateway would do; tests use it too.
 */
#ifndef MILT_OFFLINE_H
#define MILT_OFFLINE_H

#include <stddef.h>
#include <stdio.h>
#include "conf/conf.h"
#include "keystore/keystore.h"

typedef struct milt_offline_args {
	const char *input;        /* the message file ("-": stdin is refused) */
	const char *from;         /* envelope sender */
	char **rcpts;
	size_t nrcpts;
	const char *auth;         /* SASL login, or NULL */
	const char *client;       /* client IP address, or NULL */
	int inbound;              /* from outside: no login, external client */
} milt_offline_args_t;

/* 0 when the message was processed (whatever the decision; a reject or
 * tempfail is reported on stderr and gives 1), -1 on error with err. */
int milt_offline_run(conf_t *conf, keystore_t *ks,
    const milt_offline_args_t *args, FILE *out, char *err, size_t errlen);

#endif

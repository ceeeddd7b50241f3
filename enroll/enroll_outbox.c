/*
 * enroll_outbox.c: the gateway's own mail into the durable spool (see
 * enroll_outbox.h): the mark first (QUEUE_MARK_HEADER, over the entry's
 * ID, envelope and body), then the message, in active/.
 */
#include "enroll/enroll_outbox.h"
#include "queue/queue.h"
#include "queue/queue_wake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

int
enroll_outbox_put(const conf_t *conf, const char *sender, const char *rcpt,
    const char *msg, const char *origin, char *err, size_t errlen)
{
	const char *rcpts[1] = { rcpt };
	queue_env_t env = { sender, rcpts, 1, "own mail", "enrollment", origin, NULL, NULL };
	char id[QUEUE_ID_MAX], mac[65];
	unsigned char body[32];
	char *data = NULL;
	queue_t *q = NULL;
	int len, rc = -1;

	if (conf->reinject_keylen == 0) {
		snprintf(err, errlen, "no re-injection key (ReinjectKeyFile): cannot mark it");
		return -1;
	}
	queue_new_id(id);
	if (queue_digest_message(msg, strlen(msg), body) != 0
	    || queue_mark_make(conf->reinject_key, conf->reinject_keylen, id, sender, rcpts, 1,
	    body, mac) != 0 || (len = asprintf(&data, "%s: %s %s\r\n%s", QUEUE_MARK_HEADER, id,
	    mac, msg)) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (queue_open(conf->queue_dir, &q, NULL, err, errlen) == QUEUE_OK
	    && queue_put(q, &env, data, (size_t)len, QUEUE_ACTIVE, id, err, errlen) == QUEUE_OK)
		rc = 0;
	queue_close(q);
	OPENSSL_clear_free(data, (size_t)len);    /* may hold a password */
	if (rc == 0)
		queue_kick();
	return rc;
}

/*
 * enroll_outbox.h: the gateway's own mail (invitations, password
 * notices) when EnrollmentSMTP is empty: written to the durable spool's
 * active/ (queue/queue.h) with the re-injection mark, for the runner to
 * submit with ReinjectCommand (retried every QueueRunInterval, replayed
 * after a restart); the mark keeps the gateway from processing it again.
 *
 * Thread-safe (the spool serializes writers; the runner is kicked through
 * queue_wake.h).
 */
#ifndef ENROLL_OUTBOX_H
#define ENROLL_OUTBOX_H

#include <stddef.h>
#include "conf/conf.h"

/*
 * msg (a whole message, CRLF) from sender to rcpt, origin: the queue ID
 * of the message that caused it.  0: durable in the spool, the runner
 * kicked; -1 with err: not queued.  msg may hold a password: the copy
 * made of it is cleansed.
 */
int enroll_outbox_put(const conf_t *conf, const char *sender, const char *rcpt,
    const char *msg, const char *origin, char *err, size_t errlen);

#endif

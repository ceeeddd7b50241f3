/*
 * mail_runner.h: the spool's runner (one thread in smimegate, started and
 * joined by its owner): one run submits every active copy with
 * ReinjectCommand and removes it, and decides held copies again through
 * the pipeline (mail_pipeline.h), for the submitter each records: a copy
 * now deliverable replaces the held one in its form, one refused or held
 * longer than HoldTime is given up with a notice to the sender.  The run
 * ends between two copies once queue_stop() (queue/queue_wake.h) was
 * called; between runs the thread waits in queue_wait(), which every copy
 * written kicks.
 *
 * Threads: one runner; mail_runner_release() runs in smimectl, beside it.
 */
#ifndef MAIL_RUNNER_H
#define MAIL_RUNNER_H

#include <stddef.h>
#include "conf/conf.h"
#include "keystore/keystore.h"

/* The form of a copy released unencrypted by an operator (smimectl spool
 * release --clear); such a copy is logged when handed on, and audited when
 * it comes back through the MTA (QueueDirectory/clear/ID). */
#define MAIL_RUNNER_CLEAR_FORM "released-clear"

/*
 * One run of the spool: submits active copies, decides held ones again.
 * recover: first run after start (half-written entries removed).
 * Returns the number of copies handed on; problems go to the log.
 */
size_t mail_runner_run(conf_t *conf, keystore_t *ks, int recover);

/*
 * An operator's release of held copy id (smimectl spool release): decided
 * again as the runner would, with its action=hold rules met
 * (m->released); the copy in the form the policy now gives it (encrypted
 * to the certificates now known) replaces the held one under the same ID,
 * for the running gateway's next spool run.  When the policy still
 * refuses or holds it (a recipient under encrypt=always without a
 * certificate), or cannot decide now, nothing changes.  0 released, 1 not
 * released, -1 an error; msg says which and why.
 */
int mail_runner_release(conf_t *conf, keystore_t *ks, const char *id, char *msg,
    size_t msglen);

#endif

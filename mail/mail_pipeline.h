/*
 * mail_pipeline.h: what happens to a message at its end: the one function
 * that calls the stages in order and fills m->result (mail_msg.h).
 *
 *   1. the limits (a message over one is refused);
 *   2. the mark (mail_split_mark()): the gateway's own copy, re-injected,
 *      passes unchanged;
 *   3. outbound (mail_msg_outbound()): the signer check
 *      (mail_outbound_signer()), the split of recipients that need
 *      different forms (the policy's groups; each copy's message decided
 *      by this same pipeline), the policy, signing and encryption
 *      (mail_outbound.c), and a message held as a whole kept in the
 *      spool (mail_split_respool());
 *   4. inbound (mail_inbound.c): decryption and verification; recipients
 *      whose decryption differs are split first, each copy decided by
 *      this same pipeline;
 *   5. our result header stripped from whatever leaves;
 *   6. the copies written to the spool (mail_split_commit()) before the
 *      answer, unless the caller does that itself, last (m->defer_commit).
 *
 * The stages never call the pipeline, nor each other back; the runner
 * (mail_runner.c) calls the pipeline for held copies.
 * Threads: as the message context (one thread).
 */
#ifndef MAIL_PIPELINE_H
#define MAIL_PIPELINE_H

#include "mail/mail_msg.h"

/* Decides and prepares m->result.  Never fails: failures become a result
 * (TEMPFAIL, REJECT or PASS as OnInternalError says). */
const mail_result_t *mail_pipeline_process(mail_msg_t *m);

/* The outbound split (step 3): the policy's groups, each other group's
 * copy decided by the pipeline.  0: go on with m (maybe with fewer
 * recipients: m->result.split holds the others and their copies); 1:
 * m->result is final. */
int mail_pipeline_split(mail_msg_t *m);

/* Tempfails m after the pipeline decided (the MTA refused a change, the
 * audit cannot be written): copies already written are removed and a
 * mark claimed is given back (mail_split_cancel()), then the result is a
 * temporary failure (mail_msg_tempfail()). */
void mail_pipeline_tempfail(mail_msg_t *m, const char *reason);

#endif

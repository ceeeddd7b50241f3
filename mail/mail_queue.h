/*
 * mail_queue.h: mixed recipients, re-injection and hold (issue 6b), the
 * gateway's side of the durable spool (queue/queue.h).
 *
 * At the end of an outbound message whose recipients need different
 * forms, mail_queue_split() keeps the first deliverable group in the SMTP
 * transaction and makes every other group's copy in its own form (the
 * same code path, run on a message with those recipients only); a group
 * that is held keeps the original, to be decided again; a group the
 * policy refuses (reject, fallback=notice) leaves the transaction and its
 * recipients are named in one notice to the sender (none for <>), so one
 * refused recipient never refuses the others.  A message with no
 * deliverable group is kept held (mail_queue_respool()); one whose every
 * recipient is refused is answered 550 as a whole.  The copies are
 * written to the spool (fsync'ed) by mail_queue_commit() once the kept
 * group's result is final, before the milter answers, and removed again by
 * mail_queue_cancel() when the message is tempfailed after all.  A
 * runner (mail_queue_run(), one thread in smimegate) submits active
 * copies with ReinjectCommand and removes them, and decides held copies
 * again, or after HoldTime gives them up with a notice to the sender.
 * A copy's ID comes from the message it is made of (queue_dedup_id()), so
 * the same message received again makes no second copy while the first is
 * in the spool or remembered as handed on (QueueDedupTime).
 *
 * A copy carries MAIL_QUEUE_MARK: "ID HMAC" (queue_mark_make(), over the
 * copy's ID, envelope and body digest); mail_queue_mark() passes mail
 * whose mark verifies, unchanged, once, while the copy is recorded as
 * handed on and not yet back (queue_back_claim(), which records it back;
 * mail_queue_cancel() gives that back when the message is tempfailed), and
 * strips the header from everything else, which is then decided as
 * unmarked mail.  Each copy records its submitter (queue_env_t's login and
 * client); a held copy decided again (the runner, mail_queue_release())
 * is decided for that submitter, the signer check included.  A copy
 * honoured keeps the result header its own processing gave it.
 *
 * Threads: the split state belongs to the message (one thread); the
 * runner is one thread; mail_queue_kick() may be called from any.
 */
#ifndef MAIL_QUEUE_H
#define MAIL_QUEUE_H

#include <stddef.h>
#include "mail/mail_msg.h"

#define MAIL_QUEUE_MARK "X-Smimegate-Reinject"

struct mail_split;

/* 1: the message carries a good mark (m->result is PASS, "reinjected");
 * 0: not (the mark header, if any, is stripped by the result). */
int mail_queue_mark(mail_msg_t *m);

/* 0: go on with m (maybe with fewer recipients: m->result.split holds
 * the others and their copies); 1: m->result is final. */
int mail_queue_split(mail_msg_t *m);
/* Inbound (issue 14): recipient i belongs to group[i] (< ng; the same
 * group: the same delivered form).  The first recipient's group stays in
 * the transaction; every other group's copy is made by the same path
 * (mail_msg_process() on a message with those recipients only), marked
 * and re-injected as mail_queue_split()'s are.  0: go on with m (fewer
 * recipients; nothing split when the spool is not usable or ng < 2);
 * 1: m->result is final (tempfail, out of memory). */
int mail_queue_split_groups(mail_msg_t *m, const size_t *group, size_t ng);
/* 1 when m may be split (a key to mark copies, and not a copy itself). */
int mail_queue_can_split(const mail_msg_t *m);
/* After the outbound processing: a message held as a whole (every
 * recipient held, or refused with fallback=notice) goes to the spool
 * instead of the MTA's hold queue: the original in hold/ (or a notice to
 * the sender), and m->result becomes DISCARD.  Nothing without a key, or
 * for a message that must not be split (a copy, a held copy decided
 * again, offline -t). */
void mail_queue_respool(mail_msg_t *m);
/* Writes the copies (the result delivers, holds or discards) or drops them. */
void mail_queue_commit(mail_msg_t *m);
/* Removes copies already written (the message was tempfailed after all). */
void mail_queue_cancel(mail_msg_t *m);
void mail_queue_split_free(struct mail_split *s);
/* For the audit: the k-th recipient dropped from the transaction whose
 * copy is not handed on at once: held (*held 1) or refused by policy;
 * 1, or 0 past the last.  Copies handed on are audited as they are made
 * (mail_queue_copy()) and when they come back marked. */
int mail_queue_dropped(const mail_msg_t *m, size_t k, const char **rcpt, int *held,
    const char **reason);
/* Issue 16, for the audit: the k-th copy written in this transaction to
 * be handed on in its own form (its recipients and result: e.g. an
 * outsider's encrypted copy next to a colleague's signed one); NULL past
 * the last.  Valid while m is. */
const mail_msg_t *mail_queue_copy(const mail_msg_t *m, size_t k);
/* The recipients the MTA must drop (smfi_delrcpt), and how many. */
char *const *mail_queue_delrcpts(const mail_msg_t *m, size_t *n);

/*
 * The gateway's own mail (issue 5: invitations, password notices), when
 * EnrollmentSMTP is empty: msg (a whole message, CRLF) from sender to
 * rcpt is written to the spool's active/ with the mark, durable when this
 * returns 0, and kicks the runner, which submits it with ReinjectCommand
 * (retried every QueueRunInterval, replayed after a restart); the mark
 * keeps the gateway from processing it again.  -1 with err: not queued.
 */
int mail_queue_outbox(const conf_t *conf, const char *sender, const char *rcpt,
    const char *msg, const char *origin, char *err, size_t errlen);

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
int mail_queue_release(conf_t *conf, keystore_t *ks, const char *id, char *msg,
    size_t msglen);

/* The form of a copy released unencrypted by an operator (smimectl spool
 * release --clear); such a copy is logged when handed on, and audited when
 * it comes back through the MTA (QueueDirectory/clear/ID). */
#define MAIL_QUEUE_CLEAR_FORM "released-clear"

/*
 * One run of the spool: submits active copies, decides held ones again.
 * recover: first run after start (half-written entries removed).
 * Returns the number of copies handed on; problems go to the log.
 */
size_t mail_queue_run(conf_t *conf, keystore_t *ks, int recover);
/*
 * Wakes the runner; waits for a kick or secs seconds (the runner), 1 when
 * the runner is to end.  mail_queue_stop() (its owner, at shutdown) ends
 * the wait at once and mail_queue_run() between two copies; the owner
 * then joins the thread before it frees what the runner uses.
 */
void mail_queue_kick(void);
int mail_queue_wait(long long secs);
void mail_queue_stop(void);

#endif

/*
 * mail_split.h: mixed recipients, the mark, and the copies a message
 * leaves in the durable spool (queue/queue.h).
 *
 * When a message's recipients need different forms (outbound: the
 * policy's groups; inbound: different decryption outcomes), the pipeline
 * (mail_pipeline.c) splits it: mail_split_plan() keeps one group in the
 * SMTP transaction (outbound: the first deliverable one, else the first
 * held), mail_split_sub() makes each other group's message, the pipeline
 * decides it, and mail_split_record() records what it became: a copy in
 * its own form (marked, to re-inject), the original held, to be decided
 * again, or, for a group the policy refuses (reject, fallback=notice),
 * nothing but the recipients, named in one notice to the sender (none for
 * <>), so one refused recipient never refuses the others.
 * mail_split_finish() takes the other groups' recipients out of the
 * transaction.  A message with no deliverable group is kept held
 * (mail_split_respool()); one whose every recipient is refused is
 * answered 550 as a whole.  The copies are written to the spool
 * (fsync'ed) by mail_split_commit() once the kept group's result is final,
 * before the milter answers, and removed again by mail_split_cancel() when
 * the message is tempfailed after all.  A copy's ID comes from the message
 * it is made of (queue_dedup_id()), so the same message received again
 * makes no second copy while the first is in the spool or remembered as
 * handed on (QueueDedupTime).
 *
 * A copy carries its mark (QUEUE_MARK_HEADER: "ID HMAC", queue_mark_make(),
 * over the copy's ID, envelope and body digest); mail_split_mark() passes
 * mail whose mark verifies, unchanged, once, while the copy is recorded
 * as handed on and not yet back (queue_back_claim(), which records it
 * back; mail_split_cancel() gives that back when the message is
 * tempfailed), and strips the header from everything else, which is then
 * decided as unmarked mail.  Each copy records its submitter (queue_env_t's
 * login and client).  A copy honoured keeps the result header its own
 * processing gave it.
 *
 * Nothing here runs the pipeline: the caller decides each copy's message.
 * Threads: the split state belongs to the message (one thread).
 */
#ifndef MAIL_SPLIT_H
#define MAIL_SPLIT_H

#include <stddef.h>
#include "mail/mail_msg.h"

/* 1: the message carries a good mark (m->result is PASS, "reinjected",
 * or a tempfail when the spool cannot tell); 0: not (the mark header, if
 * any, is stripped by the result). */
int mail_split_mark(mail_msg_t *m);

/*
 * Plans the split of m whose recipient i is in group[i] (< ng; the same
 * group: the same form).  outcome: the policy's outcome per recipient
 * (outbound), or NULL (inbound: every group delivered, the first
 * recipient's stays).  1: *sp planned, (*sp)->nc copies to make; 0:
 * nothing to split (m may not be split, one group, a recipient whose
 * outcome is tempfail, every recipient refused): go on with m as a whole;
 * -1: m->result is final (out of memory, the body unreadable).
 */
int mail_split_plan(mail_msg_t *m, const size_t *group, const enum policy_outcome *outcome,
    size_t ng, mail_split_t **sp);
/* The message of copy k (its group's recipients only, never split
 * again), the caller's; NULL with m->result final (out of memory). */
mail_msg_t *mail_split_sub(mail_msg_t *m, const mail_split_t *s, size_t k);
/* Records copy k as sub, decided, became (sub is s's from now on).  0,
 * or -1 with m->result final (a copy that failed, no ID or mark, an
 * inbound copy not sent). */
int mail_split_record(mail_msg_t *m, mail_split_t *s, size_t k, mail_msg_t *sub);
/* Takes the copies' recipients out of m and adds the notice of refused
 * ones: s becomes m->result.split.  0, or -1 with m->result final (s
 * freed).  On a -1 from the others, the caller frees s
 * (mail_result_split_free()). */
int mail_split_finish(mail_msg_t *m, mail_split_t *s);

/* After the outbound processing: a message held as a whole (every
 * recipient held, or refused with fallback=notice) goes to the spool
 * instead of the MTA's hold queue: the original in hold/ (or a notice to
 * the sender), and m->result becomes DISCARD.  Nothing without a key, or
 * for a message that must not be split (a copy, a held copy decided
 * again, offline -t). */
void mail_split_respool(mail_msg_t *m);
/* Writes the copies (the result delivers, holds or discards), or on a
 * failure removes those written and tempfails m. */
void mail_split_commit(mail_msg_t *m);
/* Removes copies already written and gives back a mark claimed (the
 * message is tempfailed after all). */
void mail_split_cancel(mail_msg_t *m);

#endif

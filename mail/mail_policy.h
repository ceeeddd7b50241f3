/*
 * mail_policy.h: the policy at the end of an outbound message: one
 * decision and one form per recipient (policy/), recorded in the result
 * (mail_policy_res_t, mail_msg.h) for the log and the audit, and what it
 * means for the message as a whole: a refusal for one recipient refuses
 * the message, a notice (or a hold of a message that is not split) holds
 * it in the MTA's hold queue, and a signature is made when any
 * recipient's form asks for one.  Recipients that need different forms
 * are split into copies first (the pipeline, with mail_policy_groups()
 * and mail_split.h), so that each copy meets one form.
 *
 * Ownership and threads: the decisions belong to the message's result
 * and are freed with it (mail_result_policy_free()); one thread, as the
 * message.
 */
#ifndef MAIL_POLICY_H
#define MAIL_POLICY_H

#include <stddef.h>
#include "mail/mail_msg.h"
#include "policy/policy.h"

/*
 * Decides for every recipient of m.  Returns 1 when the result is final
 * (refused, held, tempfailed: m->result is set), else 0 with *sign: sign
 * the message.  A Subject with its tag stripped replaces the Subject
 * (mail_result_strip() and mail_result_set()).
 */
int mail_policy_outbound(mail_msg_t *m, int *sign);

/* "FILE:LINE: selector" of the rule that decided for recipient i, into
 * buf; NULL when the policy did not decide (inbound, or not reached). */
const char *mail_policy_rule(const mail_msg_t *m, size_t i, char *buf, size_t len);

/* 1 when encrypting to cert makes an ECDH KeyAgreeRecipientInfo (a key
 * that is not RSA), 0 for RSA key transport. */
int mail_cert_key_agreement(X509 *cert);

/* For the split: decides for every recipient of m without touching
 * m->result: the decisions, forms and groups (p->group[i], p->ngroups,
 * p->forms[i].outcome per recipient), the caller's to free
 * (mail_result_policy_free()); NULL out of memory. */
mail_policy_res_t *mail_policy_groups(mail_msg_t *m);

/* Hands the certificate lookups kept for from's recipients (its memo) to
 * to, a copy split off it, for the recipients it has: each the answer
 * for that very address, asked with the same configuration. */
void mail_policy_memo_pass(const mail_msg_t *from, mail_msg_t *to);

#endif

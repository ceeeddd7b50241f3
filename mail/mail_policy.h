/*
 * mail_policy.h: the policy at the end of an outbound message: one
 * decision and one form per recipient (policy/), recorded in the result
 * for the log and the audit, and what it means for the message as a whole:
 * a refusal for one recipient refuses the message, a notice (or a hold of
 * a message that is not split) holds it in the MTA's hold queue, and a
 * signature is made when any recipient's form asks for one.  Recipients
 * that need different forms are split into copies first (mail_queue.h,
 * with mail_policy_groups()), so that each copy meets one form.
 *
 * Ownership and threads: the decisions belong to the message's result
 * and are freed with it (mail_policy_free()); one thread, as the message.
 */
#ifndef MAIL_POLICY_H
#define MAIL_POLICY_H

#include <stddef.h>
#include "mail/mail_msg.h"
#include "policy/policy.h"

typedef struct mail_policy_res {
	policy_t *policy;           /* a reference: the rules the decisions name */
	policy_result_t res;        /* per recipient, in the order of m->rcpts */
	policy_form_t *forms;       /* per recipient */
	size_t *group;              /* per recipient: its copy (policy_group()) */
	size_t ngroups;
	/* Per recipient (issue 3): the certificate dir_lookup_find() chose
	 * (ours, or NULL) and whether its holder announced AES-256-GCM. */
	X509 **certs;
	int *gcm;
} mail_policy_res_t;

/*
 * Decides for every recipient of m.  Returns 1 when the result is final
 * (refused, held, tempfailed: m->result is set), else 0 with *sign: sign
 * the message.  A Subject with its tag stripped replaces the Subject
 * (mail_result_strip() and mail_result_set()).
 */
int mail_policy_outbound(mail_msg_t *m, int *sign);

/* One log line per recipient: the form, the rule that decided, why. */
void mail_policy_log(const mail_msg_t *m);

/* "FILE:LINE: selector" of the rule that decided for recipient i, into
 * buf; NULL when the policy did not decide (inbound, or not reached). */
const char *mail_policy_rule(const mail_msg_t *m, size_t i, char *buf, size_t len);

void mail_policy_free(mail_policy_res_t *p);

/* 1 when encrypting to cert makes an ECDH KeyAgreeRecipientInfo (a key
 * that is not RSA), 0 for RSA key transport (issue 16). */
int mail_cert_key_agreement(X509 *cert);

/* 1 when a recipient's rules say encrypt=always and the message is not
 * really encrypted already (the decision made, or made now), 0 when none
 * does, -1 when it cannot be told (out of memory): what OnInternalError
 * accept must not let out in clear. */
int mail_policy_must_encrypt(mail_msg_t *m);

/* Split (issue 6b): decides for every recipient of m without touching
 * m->result: group[i] and outcome[i] per recipient (arrays of m->nrcpts),
 * *ngroups.  0, or -1 out of memory. */
int mail_policy_groups(mail_msg_t *m, size_t *group, enum policy_outcome *outcome,
    size_t *ngroups);

#endif

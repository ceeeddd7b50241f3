/*
 * mail_outbound.h: outbound mail: sign it when the sender may and can.
 * Called by mail_msg_process() for a message whose direction is outbound;
 * fills m->result.  Threads: as the message context (one thread).
 */
#ifndef MAIL_OUTBOUND_H
#define MAIL_OUTBOUND_H

#include "mail/mail_msg.h"

void mail_outbound_process(mail_msg_t *m);

/*
 * The signer check (SignerMap, UnauthorizedSender), made first, before
 * any hold, split or spool decision: when m's submitter (its login, or an
 * InternalHosts client without one) may not sign as its From address,
 * m->sign_denied is set (never signed: not now, not when a held copy is
 * decided again), and with UnauthorizedSender reject the message is
 * refused at once (1: m->result is final) when that submitter is a login
 * or an InternalHosts client; a client trusted with neither is never
 * signed for and never refused for it.  0: go on.  Mail that would
 * not be signed anyway (Sign no, the null sender, no single local From,
 * already signed or encrypted) is not checked.
 */
int mail_outbound_signer(mail_msg_t *m);

/* Whether the message really is encrypted (smime_encrypted_check(): a
 * body merely labelled so is not), checked once and kept in m: 1 or 0,
 * -1 when the body cannot be read. */
int mail_outbound_encrypted(mail_msg_t *m);

#endif

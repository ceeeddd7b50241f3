/*
 * mail_inbound.h: inbound mail: decryption, verification, harvesting.
 * Called by the pipeline (mail_pipeline.c) for a message whose direction
 * is inbound; fills m->result.  Threads: as the message context (one
 * thread).
 */
#ifndef MAIL_INBOUND_H
#define MAIL_INBOUND_H

#include "mail/mail_msg.h"

/*
 * 0: m->result is filled.  1: the recipients differ in what decryption
 * gives them and m may be split: m->result.group[i] (per recipient) and
 * m->result.ngroups say how; the caller splits m (the first recipient's
 * group stays) and calls this again, which goes on with the recipients
 * that stayed.
 */
int mail_inbound_process(mail_msg_t *m);

#endif

/*
 * mail_inbound.h: inbound mail.  Called by mail_msg_process() for a
 * message whose direction is inbound; fills m->result.  Threads: as the
 * message context (one thread).
 */
#ifndef MAIL_INBOUND_H
#define MAIL_INBOUND_H

#include "mail/mail_msg.h"

void mail_inbound_process(mail_msg_t *m);

#endif

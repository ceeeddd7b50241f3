/*
 * milt_inbound.h: inbound mail.  Called by milt_msg_process() for a
 * message whose direction is inbound; fills m->result.  Threads: as the
 * message context (one thread).
 */
#ifndef MILT_INBOUND_H
#define MILT_INBOUND_H

#include "milter/milt_msg.h"

void milt_inbound_process(milt_msg_t *m);

#endif

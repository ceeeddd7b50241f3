/*
 * milt_outbound.h: outbound mail: sign it when the sender may and can.
 * Called by milt_msg_process() for a message whose direction is outbound;
 * fills m->result.  Threads: as the message context (one thread).
 */
#ifndef MILT_OUTBOUND_H
#define MILT_OUTBOUND_H

#include "milter/milt_msg.h"

void milt_outbound_process(milt_msg_t *m);

#endif

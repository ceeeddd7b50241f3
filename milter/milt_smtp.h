/*
 * milt_smtp.h: a minimal SMTP client for the mails the gateway writes
 * itself (enrollment invitations and notices, issue 5), and their
 * composition with GMime.
 *
 * Why SMTP and not Postfix's sendmail: no fork/exec from the threaded
 * milter, no setgid postdrop, any MTA works, and the answer (or its
 * absence) is known before the message that caused it is accepted, so a
 * failure becomes a tempfail.  The address (EnrollmentSMTP) must be a
 * listener that does not pass mail back through this milter (Postfix's
 * usual re-injection smtpd with -o smtpd_milters=), or the invitation
 * would be subject to encrypt=always itself.
 *
 * Blocking, one connection per mail, every read and write bounded by a
 * timeout.  Thread-safe (no shared state).
 */
#ifndef MILT_SMTP_H
#define MILT_SMTP_H

#include <stddef.h>

/* A text/plain UTF-8 message (malloc'ed, CRLF line ends). */
char *milt_smtp_compose(const char *from, const char *to, const char *subject,
    const char *text);

/* Sends msg from from to to via hostport ("127.0.0.1:10026").  0, or -1
 * with why filled. */
int milt_smtp_send(const char *hostport, const char *from, const char *to,
    const char *msg, int timeout_sec, char *why, size_t size);

#endif

/*
 * net_smtp.h: a minimal SMTP client for the mails the gateway writes
 * itself (enrollment invitations and notices), and their
 * composition with GMime.
 *
 * Used when EnrollmentSMTP is set; by default the mails go through the
 * durable spool and ReinjectCommand instead (enroll_outbox_put()).
 * Why SMTP as an option: no fork/exec from the threaded milter, no setgid
 * postdrop, any MTA works, and the answer (or its absence) is known before
 * the message that caused it is accepted, so a failure becomes a
 * tempfail.  The address (EnrollmentSMTP) must be a
 * listener that does not pass mail back through this milter (Postfix's
 * usual re-injection smtpd with -o smtpd_milters=), or the invitation
 * would be subject to encrypt=always itself.
 *
 * Blocking, one connection per mail, every read and write bounded by a
 * timeout.  Thread-safe (no shared state).
 */
#ifndef NET_SMTP_H
#define NET_SMTP_H

#include <stddef.h>

/*
 * A text/plain UTF-8 message (malloc'ed, CRLF line ends) whose body is
 * text, then secret and after (both NULL: text alone).  The secret
 * (letters and digits, at most NET_SMTP_SECRET_MAX) never reaches GMime:
 * the message is rendered with a random stand-in of the same length,
 * overwritten in the result, so no buffer freed unwiped ever held it; the
 * only copy is the result, which the caller cleanses (OPENSSL_clear_free).
 * NULL: out of memory, or a secret that is not letters and digits.
 */
#define NET_SMTP_SECRET_MAX 64
char *net_smtp_compose(const char *from, const char *to, const char *subject,
    const char *text, const char *secret, const char *after);

/* A multipart/alternative message (malloc'ed, CRLF line ends): text
 * (text/plain) and html (text/html), both UTF-8 and quoted-printable.
 * NULL when out of memory. */
char *net_smtp_compose_alt(const char *from, const char *to, const char *subject,
    const char *text, const char *html);

/* Sends msg from from to to via hostport ("127.0.0.1:10026").  0, or -1
 * with why filled.  The stream's buffer is cleansed before it returns. */
int net_smtp_send(const char *hostport, const char *from, const char *to,
    const char *msg, int timeout_sec, char *why, size_t size);

#endif

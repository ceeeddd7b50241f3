/*
 * util_err.h: the error of every library (smime/, keystore/, audit/,
 * policy/): a status code and a message in words, kept by the caller and
 * filled where the failure happens.  Each library keeps its own enum of
 * status codes (callers switch on them); the error type and the setters
 * are these.  smime_err_t, keystore_err_t, audit_err_t and policy_err_t
 * are this type under their library's name.
 *
 * Every setter empties the calling thread's OpenSSL error queue, so that
 * a stale error never lands in a later message; util_err_ssl() first
 * appends what OpenSSL queued to the message.
 *
 * Threads: works on the caller's err and the calling thread's OpenSSL
 * error queue only.
 */
#ifndef SMIMEGATE_UTIL_ERR_H
#define SMIMEGATE_UTIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define UTIL_ERR_MAX 512        /* a message, truncated to fit */

typedef struct util_err {
	int code;               /* the library's status code; 0 is OK */
	char msg[UTIL_ERR_MAX];
} util_err_t;

/* Code 0 and an empty message. */
void util_err_clear(util_err_t *err);
/* Fills err (may be NULL: then only the queue is emptied) and returns
 * code. */
int util_err_set(util_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, appending ": " and each error OpenSSL queued ("; " between). */
int util_err_ssl(util_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 1 when OpenSSL's latest queued error is from library lib with reason
 * (call it before a setter empties the queue). */
int util_err_ssl_last_is(int lib, int reason);

/*
 * Formats fmt/ap into msg (size bytes, always terminated).  With with_ssl,
 * appends ": " and each error queued by OpenSSL ("; " between) while room
 * is left.  The calling thread's OpenSSL error queue is empty afterwards
 * either way.  The setters above use it; so may a caller with a buffer of
 * its own.
 */
void util_errfmt(char *msg, size_t size, int with_ssl, const char *fmt,
    va_list ap);

#endif

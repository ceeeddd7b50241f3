/*
 * enroll_text.h: what the gateway's own mails and pages say that is not
 * in their templates (conf.h, TemplateDirectory): the fingerprint of the
 * CA certificate the portal offers (/ca.crt), the expiry of a link.
 *
 * Threads: no state; reads the CA's certificate file when asked.
 */
#ifndef ENROLL_TEXT_H
#define ENROLL_TEXT_H

#include <stddef.h>
#include <time.h>
#include "conf/conf.h"

/* Room for a SHA-256 fingerprint, colon-separated upper-case hex. */
#define ENROLL_TEXT_FP_MAX (32 * 3)

/* The SHA-256 fingerprint of the certificate /root.crt serves (the
 * embedded CA's self-signed root in CADirectory, what people are asked
 * to trust) into fp; "" when there is none
 * (CertificateAuthority no, or not made yet). */
void enroll_text_fingerprint(const conf_t *conf, char fp[ENROLL_TEXT_FP_MAX]);

/* when as "YYYY-MM-DD HH:MM UTC" into buf. */
void enroll_text_time(time_t when, char *buf, size_t size);

#endif

/*
 * mail_entry.h: what the gateway writes into a spool entry (queue/queue.h)
 * for the split (mail_split.c) and the runner (mail_runner.c): a message
 * as its result makes it, with its mark line first (QUEUE_MARK_HEADER),
 * CRLF line ends, the body streamed in chunks; the text of a notice to a
 * sender; the digest a mark covers; the submitter's class an entry
 * records.
 *
 * Threads: no shared state; a message as its owner's thread uses it.
 */
#ifndef MAIL_ENTRY_H
#define MAIL_ENTRY_H

#include <stddef.h>
#include "mail/mail_msg.h"

/* What mail_entry_writer() writes (queue_put_with()'s writer): text when
 * not NULL, else m rendered as r makes it (r NULL: as received), with
 * the mark line "QUEUE_MARK_HEADER: mark" first when mark is not NULL. */
typedef struct mail_entry_src {
	mail_msg_t *m;
	const mail_result_t *r;
	const char *mark;
	const char *text;
} mail_entry_src_t;

/* A queue_writer_fn: arg is a mail_entry_src_t.  0, or -1. */
int mail_entry_writer(int fd, void *arg);

/* The body a result r of m delivers (r NULL: as received). */
mail_spool_t *mail_entry_body(mail_msg_t *m, const mail_result_t *r);

/* The digest a mark covers (queue_digest_*()) of body b.  0 or -1. */
int mail_entry_digest(mail_spool_t *b, unsigned char out[32]);

/* The submitter's class, as an entry records it (Client:). */
const char *mail_entry_client(const mail_msg_t *m);

/*
 * The text of a notice to sender (the whole message, CRLF line ends,
 * malloc'ed; NULL out of memory) from template id (CONF_TMPL_HOLD_TXT,
 * CONF_TMPL_REFUSAL_TXT) in TemplateLanguage: about the message (ref:
 * the MTA's queue ID or a spool copy; subject its Subject, may be ""),
 * with list (one "    <rcpt>: why" line per recipient).
 */
char *mail_entry_notice(const conf_t *conf, enum conf_tmpl_id id, const char *sender,
    const char *ref, const char *subject, const char *list);
/* Appends "    <rcpt>: why\r\n" to *list (malloc'ed); 0 or -1. */
int mail_entry_list_add(char **list, const char *rcpt, const char *why);

#endif

/*
 * net_smtp.c: the gateway's own mails (see net_smtp.h).  A secret
 * (the PKCS#12 password) never passes through GMime or stdio's own
 * buffers: the message is rendered around a random stand-in, and the SMTP
 * stream writes through a buffer of ours that is cleansed.
 */
#include "net/net_smtp.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <gmime/gmime.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

/* A random stand-in of len letters and digits; 0, or -1. */
static int
stand_in(char *out, size_t len)
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[NET_SMTP_SECRET_MAX];

	if (RAND_bytes(r, (int)len) != 1)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = alnum[r[i] % (sizeof(alnum) - 1)];
	out[len] = '\0';
	return 0;
}

/* A message from, to, subject, dated now, whose body is part, rendered
 * with CRLF lines by GMime (malloc'ed; NULL when out of memory). */
static char *
compose_with(const char *from, const char *to, const char *subject, GMimeObject *part)
{
	GMimeMessage *msg = g_mime_message_new(TRUE);
	GMimeFormatOptions *fo = g_mime_format_options_clone(NULL);
	GDateTime *now = g_date_time_new_now_local();
	char *s, *out;

	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, NULL, from);
	g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, NULL, to);
	g_mime_message_set_subject(msg, subject, "utf-8");
	g_mime_message_set_date(msg, now);
	g_mime_message_set_mime_part(msg, part);
	s = g_mime_object_to_string(GMIME_OBJECT(msg), fo);
	out = s != NULL ? strdup(s) : NULL;
	g_free(s);
	g_date_time_unref(now);
	g_mime_format_options_free(fo);
	g_object_unref(msg);
	return out;
}

/* The message rendered by GMime (text with no secret in it). */
static char *
compose_gmime(const char *from, const char *to, const char *subject, const char *text)
{
	GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
	char *out;

	g_mime_text_part_set_text(part, text);
	out = compose_with(from, to, subject, GMIME_OBJECT(part));
	g_object_unref(part);
	return out;
}

/* A text part of subtype sub, UTF-8, quoted-printable (7-bit safe for a
 * signature, readable in the raw). */
static GMimeTextPart *
text_part(const char *sub, const char *text)
{
	GMimeTextPart *part = g_mime_text_part_new_with_subtype(sub);

	g_mime_text_part_set_text(part, text);
	g_mime_text_part_set_charset(part, "utf-8");
	g_mime_part_set_content_encoding(GMIME_PART(part), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	return part;
}

char *
net_smtp_compose_alt(const char *from, const char *to, const char *subject,
    const char *text, const char *html)
{
	GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
	GMimeTextPart *tp = text_part("plain", text), *hp = text_part("html", html);
	char *out;

	g_mime_multipart_add(alt, GMIME_OBJECT(tp));
	g_mime_multipart_add(alt, GMIME_OBJECT(hp));
	out = compose_with(from, to, subject, GMIME_OBJECT(alt));
	g_object_unref(tp);
	g_object_unref(hp);
	g_object_unref(alt);
	return out;
}

char *
net_smtp_compose(const char *from, const char *to, const char *subject,
    const char *text, const char *secret, const char *after)
{
	char slot[NET_SMTP_SECRET_MAX + 1], *body, *out, *at;
	size_t n = secret != NULL ? strlen(secret) : 0;

	if (secret == NULL)
		return compose_gmime(from, to, subject, text);
	if (n == 0 || n > NET_SMTP_SECRET_MAX || strspn(secret,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != n
	    || stand_in(slot, n) != 0
	    || asprintf(&body, "%s%s%s", text, slot, after != NULL ? after : "") < 0)
		return NULL;
	out = compose_gmime(from, to, subject, body);
	free(body);
	/* Exactly one stand-in in the result, then the secret in its place. */
	if (out != NULL && ((at = strstr(out, slot)) == NULL || strstr(at + 1, slot) != NULL)) {
		free(out);
		out = NULL;
	}
	if (out != NULL)
		memcpy(at, secret, n);
	OPENSSL_cleanse(slot, sizeof(slot));
	return out;
}

static int
smtp_connect(const char *hostport, int timeout, char *why, size_t size)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	struct timeval tv = { timeout, 0 };
	int fd = -1, rc;

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host)) {
		snprintf(why, size, "%s: want HOST:PORT", hostport);
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		snprintf(why, size, "%s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(why, size, "%s: cannot connect: %s", hostport, strerror(errno));
	return fd;
}

/* Reads one (multi-line, at most SMTP_REPLY_LINES lines) reply; its
 * code, or -1. */
#define SMTP_REPLY_LINES 100

static int
smtp_reply(FILE *fp, char *line, size_t size)
{
	int n = 0;

	do {
		if (n++ == SMTP_REPLY_LINES || fgets(line, (int)size, fp) == NULL
		    || strlen(line) < 4)
			return -1;
	} while (line[3] == '-');
	line[strcspn(line, "\r\n")] = '\0';
	return atoi(line);
}

/* Sends a command on out (NULL: none; what out holds is sent all the
 * same) and wants a reply of class want on in.  Two streams on the socket: one read-write stream
 * would need a seek between reading and writing, which a socket refuses
 * when the server sent ahead (replies pipelined, an early banner). */
static int
smtp_step(FILE *in, FILE *out, const char *cmd, int want, char *why, size_t size)
{
	char line[1024];
	int code;

	if ((cmd != NULL && fputs(cmd, out) == EOF) || fflush(out) == EOF) {
		snprintf(why, size, "SMTP: cannot send: %s", strerror(errno));
		return -1;
	}
	if ((code = smtp_reply(in, line, sizeof(line))) / 100 != want) {
		snprintf(why, size, "SMTP: %s%.*s: %s", cmd ? "after " : "greeting",
		    cmd ? (int)strcspn(cmd, "\r\n") : 0, cmd ? cmd : "",
		    code < 0 ? "no answer" : line);
		return -1;
	}
	return 0;
}

/* The message with dot-stuffing, then ".". */
static int
smtp_data(FILE *fp, const char *msg)
{
	const char *p = msg;

	while (*p != '\0') {
		size_t n = strcspn(p, "\n");
		size_t len = n > 0 && p[n - 1] == '\r' ? n - 1 : n;

		if (*p == '.' && fputc('.', fp) == EOF)
			return -1;
		if (fwrite(p, 1, len, fp) != len || fputs("\r\n", fp) == EOF)
			return -1;
		p += n + (p[n] == '\n');
	}
	return fputs(".\r\n", fp) == EOF ? -1 : 0;
}

int
net_smtp_send(const char *hostport, const char *from, const char *to,
    const char *msg, int timeout, char *why, size_t size)
{
	char cmd[700], iobuf[8192];
	int fd = smtp_connect(hostport, timeout, why, size), rc = -1, wfd;
	FILE *in = NULL, *out = NULL;

	if (fd < 0)
		return -1;
	/* The message (with the secret) goes through out's buffer, iobuf. */
	if ((wfd = dup(fd)) < 0 || (in = fdopen(fd, "r")) == NULL
	    || (out = fdopen(wfd, "w")) == NULL
	    || setvbuf(out, iobuf, _IOFBF, sizeof(iobuf)) != 0) {
		if (out != NULL)
			fclose(out);
		else if (wfd >= 0)
			close(wfd);
		if (in != NULL)
			fclose(in);
		else
			close(fd);
		snprintf(why, size, "out of memory");
		return -1;
	}
	if (strpbrk(from, "\r\n<>") != NULL || strpbrk(to, "\r\n<>") != NULL
	    || strlen(from) > 300 || strlen(to) > 300)
		snprintf(why, size, "SMTP: unusable address");
	else if (smtp_step(in, out, NULL, 2, why, size) == 0
	    && smtp_step(in, out, "HELO localhost\r\n", 2, why, size) == 0
	    && (snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", from),
	    smtp_step(in, out, cmd, 2, why, size)) == 0
	    && (snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", to),
	    smtp_step(in, out, cmd, 2, why, size)) == 0
	    && smtp_step(in, out, "DATA\r\n", 3, why, size) == 0) {
		if (smtp_data(out, msg) != 0)
			snprintf(why, size, "SMTP: cannot send the message: %s", strerror(errno));
		else if (smtp_step(in, out, NULL, 2, why, size) == 0) {
			rc = 0;
			fputs("QUIT\r\n", out);
		}
	}
	fclose(out);
	fclose(in);
	OPENSSL_cleanse(iobuf, sizeof(iobuf));
	return rc;
}

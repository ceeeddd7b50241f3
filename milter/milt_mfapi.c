/*
 * milt_mfapi.c: the milter glue, and the only file that knows libmilter.
 *
 * Callbacks are dispatchers: they hand what the MTA says to the message
 * context (mail_msg.c) and, at end of message, apply its result with
 * smfi_* calls.  Two contexts: a connection (pinned configuration, client)
 * set as libmilter's private pointer, and the message it owns, freed by
 * conn_msg_end() from eom, abort and close alike.  close may come with no
 * private pointer at all.
 *
 * Threads: libmilter runs one thread per connection; the only shared
 * state is the configuration in force (taken under a lock, pinned per
 * connection) and the keystore (thread-safe).
 *
 * Signals: libmilter's own signal thread (started by smfi_main()) stops
 * the filter on SIGHUP, SIGTERM and SIGINT.  Every thread blocks the three
 * (and SIGUSR2) from milt_mfapi_listen() on, so that the gateway
 * (milt_gateway.c) can keep SIGHUP for itself: it runs milt_mfapi_run() in
 * a thread of its own and waits for SIGHUP in its main thread.
 */
#include "milter/milt_mfapi.h"
#include "mail/mail_audit.h"
#include "ops/ops_log.h"
#include "ops/ops_metrics.h"
#include "mail/mail_msg.h"
#include "mail/mail_queue.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <libmilter/mfapi.h>

#define BODY_CHUNK 65536

typedef struct milt_conn {
	conf_t *conf;
	char addr[64];
	int internal;
	mail_msg_t *msg;
} milt_conn_t;

static struct {
	pthread_mutex_t lock;
	conf_t *conf;
	keystore_t *ks;
	mail_audit_t *audit;        /* NULL: AuditLog no */
} gw = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, NULL };

static conf_t *
conf_current(void)
{
	conf_t *c;

	pthread_mutex_lock(&gw.lock);
	c = conf_ref(gw.conf);
	pthread_mutex_unlock(&gw.lock);
	return c;
}

/* The configuration in force, with a reference (ops_http.c's getter). */
conf_t *
milt_mfapi_conf(void)
{
	conf_t *c;

	pthread_mutex_lock(&gw.lock);
	c = gw.conf != NULL ? conf_ref(gw.conf) : NULL;
	pthread_mutex_unlock(&gw.lock);
	return c;
}

static void
conn_msg_end(milt_conn_t *conn)
{
	mail_msg_free(conn->msg);
	conn->msg = NULL;
}

/* The queue ID, as soon as the MTA tells it. */
static void
msg_take_qid(SMFICTX *ctx, mail_msg_t *m)
{
	const char *qid;

	if (strcmp(m->qid, "NOQUEUE") != 0)
		return;
	if ((qid = smfi_getsymval(ctx, "i")) != NULL && *qid != '\0')
		snprintf(m->qid, sizeof(m->qid), "%s", qid);
}

static sfsistat
tempfail(SMFICTX *ctx, const char *qid, const char *why)
{
	ops_log(LOG_WARNING, qid, "%s: answering tempfail", why);
	smfi_setreply(ctx, "451", "4.3.0", "Temporary gateway failure, try again later");
	return SMFIS_TEMPFAIL;
}

static void
addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	buf[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, len);
}

/*
 * A connection Postfix's cleanup(8) made up for mail submitted on this
 * host (sendmail(1), then pickup(8)), seen through non_smtpd_milters:
 * without client attributes, Postfix 3 announces "localhost", 127.0.0.1
 * and client port 0, then HELO "localhost" (checked against Postfix 3.7;
 * its j, _, {daemon_name} and {daemon_addr} are those smtpd sends for a
 * loopback client, so they tell nothing; {mail_mailer} and {mail_host}
 * are missing).  No TCP client has port 0.  Such mail is internal only
 * with LocalSubmissionInternal: any local user can run sendmail(1).
 */
static int
local_submission(const char *host, const struct sockaddr *sa)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

	return sa != NULL && sa->sa_family == AF_INET && in->sin_port == 0
	    && ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK
	    && host != NULL && strcmp(host, "localhost") == 0;
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	milt_conn_t *conn = calloc(1, sizeof(*conn));

	if (conn == NULL)
		return tempfail(ctx, NULL, "connect: out of memory");
	conn->conf = conf_current();
	addr_text(sa, conn->addr, sizeof(conn->addr));
	conn->internal = local_submission(host, sa) ? conn->conf->local_submission_internal
	    : conf_is_internal(conn->conf, sa);
	smfi_setpriv(ctx, conn);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	milt_conn_t *conn = smfi_getpriv(ctx);
	const char *auth;
	mail_msg_t *m;

	if (conn == NULL)
		return tempfail(ctx, NULL, "MAIL FROM without connection context");
	conn_msg_end(conn);
	if ((m = conn->msg = mail_msg_new(conn->conf, gw.ks)) == NULL)
		return tempfail(ctx, NULL, "MAIL FROM: out of memory");
	msg_take_qid(ctx, m);
	snprintf(m->client_addr, sizeof(m->client_addr), "%s", conn->addr);
	m->client_internal = conn->internal;
	if ((auth = smfi_getsymval(ctx, "{auth_authen}")) != NULL && *auth != '\0' &&
	    (m->auth = strdup(auth)) == NULL)
		return tempfail(ctx, m->qid, "MAIL FROM: out of memory");
	if (mail_msg_set_sender(m, argv[0]) != 0)
		return tempfail(ctx, m->qid, "MAIL FROM: out of memory");
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	milt_conn_t *conn = smfi_getpriv(ctx);

	if (conn == NULL || conn->msg == NULL)
		return tempfail(ctx, NULL, "RCPT TO without message context");
	switch (mail_msg_add_rcpt(conn->msg, argv[0])) {
	case 0:
		return SMFIS_CONTINUE;
	case 1:     /* past MaximumRecipients: this one is refused */
		smfi_setreply(ctx, MAIL_RCPT_LIMIT_RCODE, MAIL_RCPT_LIMIT_XCODE,
		    MAIL_RCPT_LIMIT_REPLY);
		return SMFIS_TEMPFAIL;
	}
	return tempfail(ctx, conn->msg->qid, "RCPT TO: out of memory");
}

/*
 * The end of every message: the audit record, on disk before the MTA
 * hears the answer (a record that cannot be written tempfails the message
 * unless OnAuditError says accept), the reply, the log line.
 */
static sfsistat
msg_answer(SMFICTX *ctx, milt_conn_t *conn)
{
	mail_msg_t *m = conn->msg;
	mail_result_t *r = &m->result;
	sfsistat rc = SMFIS_CONTINUE;
	char err[600];

	if (gw.audit != NULL && mail_audit_record(gw.audit, m, err, sizeof(err)) != 0) {
		ops_log(LOG_ERR, m->qid, "%s", err);
		ops_metrics_error("audit");
		if (conn->conf->on_audit_error == CONF_ON_TEMPFAIL)
			mail_msg_tempfail(m, "the audit log cannot be written");
	}
	/* Policy: held in the MTA's hold queue. */
	if (r->what == MAIL_DO_HOLD && smfi_quarantine(ctx, r->reason) != MI_SUCCESS) {
		ops_metrics_error("mta");
		mail_msg_tempfail(m, "the MTA refused to hold the message");
	}
	if (r->what == MAIL_DO_TEMPFAIL || r->what == MAIL_DO_REJECT) {
		smfi_setreply(ctx, (char *)r->rcode, (char *)r->xcode, r->reply);
		rc = r->what == MAIL_DO_TEMPFAIL ? SMFIS_TEMPFAIL : SMFIS_REJECT;
	} else if (r->what == MAIL_DO_DISCARD) {
		rc = SMFIS_DISCARD;     /* every copy is in our spool */
	}
	mail_msg_log(m);
	ops_metrics_message(r->direction, r->action);
	conn_msg_end(conn);
	return rc;
}

/* Refuses a message past MaximumMessageSize (or too many headers). */
static sfsistat
too_big(SMFICTX *ctx, milt_conn_t *conn)
{
	mail_msg_process(conn->msg);
	return msg_answer(ctx, conn);
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	milt_conn_t *conn = smfi_getpriv(ctx);

	if (conn == NULL || conn->msg == NULL)
		return tempfail(ctx, NULL, "header without message context");
	msg_take_qid(ctx, conn->msg);
	if (mail_msg_add_header(conn->msg, name, value) != 0)
		return conn->msg->too_big ? too_big(ctx, conn)
		    : tempfail(ctx, conn->msg->qid, "header: out of memory");
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_eoh(SMFICTX *ctx)
{
	milt_conn_t *conn = smfi_getpriv(ctx);

	if (conn == NULL || conn->msg == NULL)
		return tempfail(ctx, NULL, "end of headers without message context");
	msg_take_qid(ctx, conn->msg);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	milt_conn_t *conn = smfi_getpriv(ctx);
	mail_msg_t *m;

	if (conn == NULL || (m = conn->msg) == NULL)
		return tempfail(ctx, NULL, "body without message context");
	if (mail_msg_add_body(m, chunk, len) != 0) {
		if (m->too_big)
			return too_big(ctx, conn);
		return tempfail(ctx, m->qid, mail_spool_error(m->body));
	}
	return SMFIS_CONTINUE;
}

/* 1 when the result deletes this header of the message. */
static int
hdr_goes(const mail_result_t *r, const char *name)
{
	return mail_result_strips(r, name)
	    || (r->what == MAIL_DO_REPLACE && mail_msg_is_content_header(name));
}

/*
 * Applies the headers of a delivering result: out go the Content-*
 * headers (REPLACE) and those the result strips, then in come the new
 * content headers (REPLACE) and the result's own.
 */
static int
apply_headers(SMFICTX *ctx, const mail_msg_t *m, const mail_result_t *r)
{
	/* Highest index first, so the indexes of the others stay right. */
	for (size_t i = m->nhdrs; i-- > 0;) {
		int idx = 0;

		if (!hdr_goes(r, m->hdrs[i].name))
			continue;
		for (size_t j = 0; j <= i; j++)
			idx += strcasecmp(m->hdrs[j].name, m->hdrs[i].name) == 0;
		if (smfi_chgheader(ctx, m->hdrs[i].name, idx, NULL) != MI_SUCCESS)
			return -1;
	}
	for (size_t i = 0; r->what == MAIL_DO_REPLACE && i < r->nadd; i++)
		if (smfi_addheader(ctx, r->add_name[i], r->add_value[i]) != MI_SUCCESS)
			return -1;
	for (size_t i = 0; i < r->nset; i++)
		if (smfi_addheader(ctx, r->set_name[i], r->set_value[i]) != MI_SUCCESS)
			return -1;
	return 0;
}

/* Applies a REPLACE result's new body. */
static int
apply_body(SMFICTX *ctx, mail_result_t *r)
{
	unsigned char *buf;
	long long off = 0;
	ssize_t n;

	if ((buf = malloc(BODY_CHUNK)) == NULL)
		return -1;
	while ((n = mail_spool_read(r->new_body, off, buf, BODY_CHUNK)) > 0) {
		if (smfi_replacebody(ctx, buf, (int)n) != MI_SUCCESS)
			break;
		off += n;
	}
	free(buf);
	return off == mail_spool_size(r->new_body) ? 0 : -1;
}

/* Split: the recipients whose copies are in the spool leave this
 * transaction. */
static int
apply_delrcpts(SMFICTX *ctx, const mail_msg_t *m)
{
	size_t n;
	char *const *del = mail_queue_delrcpts(m, &n);
	char buf[1100];

	if (m->result.what != MAIL_DO_PASS && m->result.what != MAIL_DO_REPLACE &&
	    m->result.what != MAIL_DO_HOLD)
		return 0;
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "<%s>", del[i]);
		if (smfi_delrcpt(ctx, buf) != MI_SUCCESS)
			return -1;
	}
	return 0;
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	milt_conn_t *conn = smfi_getpriv(ctx);
	const mail_result_t *r;
	mail_msg_t *m;

	if (conn == NULL || (m = conn->msg) == NULL)
		return tempfail(ctx, NULL, "end of message without message context");
	msg_take_qid(ctx, m);
	m->defer_commit = 1;
	r = mail_msg_process(m);
	if (apply_delrcpts(ctx, m) != 0)
		mail_msg_tempfail(m, "the MTA refused to drop recipients");
	/* Held in the MTA too: an operator's release (postsuper -H) hands
	 * it on without us, so our header goes now. */
	if ((r->what == MAIL_DO_PASS || r->what == MAIL_DO_REPLACE || r->what == MAIL_DO_HOLD)
	    && (apply_headers(ctx, m, r) != 0
	    || (r->what == MAIL_DO_REPLACE && apply_body(ctx, &m->result) != 0)))
		mail_msg_tempfail(m, "the MTA refused the changes");
	/* The copies of the other groups are written (fsync'ed) as
	 * the last step before the answer, after the kept group's changes
	 * went to the MTA: a crash before this loses no copy (the client is
	 * tempfailed), and the window in which one can be sent twice is this
	 * answer's round trip (smimegate(8), CRASHES AND DUPLICATES). */
	mail_queue_commit(m);
	return msg_answer(ctx, conn);
}

/*
 * DATA: nothing to do, but registering it is what keeps TCP fast.  Without
 * a data callback libmilter asks the MTA to skip the DATA command, and
 * Postfix still sends that stage's macros, alone, with no reply to wait
 * for; the headers that follow from cleanup(8) then sit behind Nagle's
 * algorithm until the milter's kernel sends its delayed ACK (40 ms on
 * Linux), on every message.  With the command, the macros and DATA go in
 * one write and our reply carries the ACK.  See docs/smimegate.8, TCP.
 */
static sfsistat
mlfi_data(SMFICTX *ctx)
{
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	milt_conn_t *conn = smfi_getpriv(ctx);

	if (conn != NULL)
		conn_msg_end(conn);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	milt_conn_t *conn = smfi_getpriv(ctx);

	if (conn == NULL)
		return SMFIS_CONTINUE;
	conn_msg_end(conn);
	conf_unref(conn->conf);
	free(conn);
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

static struct smfiDesc milt_desc = {
	"smimegate",
	SMFI_VERSION,
	SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_QUARANTINE | SMFIF_DELRCPT,
	mlfi_connect,
	NULL,           /* helo */
	mlfi_envfrom,
	mlfi_envrcpt,
	mlfi_header,
	mlfi_eoh,
	mlfi_body,
	mlfi_eom,
	mlfi_abort,
	mlfi_close,
	NULL,           /* unknown */
	mlfi_data,
	NULL            /* negotiate */
};

/*
 * TCP_NODELAY on libmilter's listening socket, which the connections it
 * accepts inherit (Linux, the BSDs).  At end of message we answer with a
 * burst of small replies (change header, add header, body chunks, then
 * continue); with Nagle's algorithm the second waits for the MTA's ACK of
 * the first, and the MTA, still reading, delays that ACK by 40 ms.
 * libmilter neither sets the option nor hands out the socket, so we find
 * it: the listening TCP sockets this process holds right after
 * smfi_opensocket() are libmilter's.  Returns how many were set.
 */
static int
listener_nodelay(void)
{
	int n = 0, on = 1;

	for (int fd = 0; fd < 1024; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int acc = 0;
		socklen_t alen = sizeof(acc);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) != 0 || !acc ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0)
			n++;
	}
	return n;
}

/* Every thread started from now on inherits the blocked signals. */
static void
signals_block(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int
milt_mfapi_listen(conf_t *conf, keystore_t *ks, mail_audit_t *audit,
    char *err, size_t errlen)
{
	const char *sock = conf->socket;

	signals_block();
	gw.conf = conf_ref(conf);
	gw.ks = ks;
	gw.audit = audit;
	if (smfi_setconn((char *)sock) != MI_SUCCESS ||
	    smfi_register(milt_desc) != MI_SUCCESS) {
		snprintf(err, errlen, "cannot set up milter socket %s", sock);
		return -1;
	}
	if (smfi_opensocket(1) != MI_SUCCESS) {
		snprintf(err, errlen, "cannot open milter socket %s: %s", sock,
		    errno ? strerror(errno) : "in use or not permitted");
		return -1;
	}
	/* A unix socket's owner, group and mode: smimegate.c, which knows
	 * the users.  TCP: anyone who reaches the port speaks for the MTA. */
	if (strncmp(sock, "unix:", 5) == 0 || strncmp(sock, "local:", 6) == 0)
		return 0;
	ops_log(LOG_WARNING, NULL, "Socket %s: a TCP socket lets every local user "
	    "(and every host that reaches it) drive the gateway as the MTA does, "
	    "claim any login and have mail signed or decrypted; prefer a unix "
	    "socket (smimegate(8), TRUST BOUNDARIES)", sock);
	if (listener_nodelay() == 0)
		ops_log(LOG_WARNING, NULL, "%s: cannot set TCP_NODELAY; replies "
		    "may wait for delayed ACKs", sock);
	return 0;
}

/* Publishes conf (one reference, taken over; NULL drops the one in
 * force); open connections keep theirs. */
void
milt_mfapi_swap(conf_t *conf)
{
	conf_t *old;

	pthread_mutex_lock(&gw.lock);
	old = gw.conf;
	gw.conf = conf;
	pthread_mutex_unlock(&gw.lock);
	if (old != NULL)
		conf_unref(old);
}

int
milt_mfapi_run(void)
{
	return smfi_main() == MI_SUCCESS ? 0 : -1;
}

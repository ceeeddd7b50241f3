/*
 * ops_log.c: syslog and stderr logging (see ops_log.h).
 */
#include "ops/ops_log.h"
#include "conf/conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_syslog;
static int log_stderr;
static const char *log_ident = "smimegate";

void
ops_log_open(const char *ident, const conf_t *conf)
{
	log_ident = ident;
	log_syslog = conf->syslog;
	log_stderr = conf->log_stderr;
	if (log_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, conf->syslog_facility);
}

void
ops_log_stderr(int on)
{
	log_stderr = on;
}

static const char *
prio_name(int prio)
{
	switch (prio) {
	case LOG_ERR: case LOG_CRIT: case LOG_ALERT: case LOG_EMERG:
		return "error: ";
	case LOG_WARNING:
		return "warning: ";
	default:
		return "";
	}
}

void
ops_log(int prio, const char *qid, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int has_qid = qid != NULL && *qid != '\0';

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Postfix style: "QUEUEID: text", "warning: text". */
	if (log_syslog)
		syslog(prio, "%s%s%s%s", has_qid ? qid : "", has_qid ? ": " : "",
		    prio_name(prio), msg);
	if (log_stderr)
		fprintf(stderr, "%s[%ld]: %s%s%s%s\n", log_ident, (long)getpid(),
		    has_qid ? qid : "", has_qid ? ": " : "", prio_name(prio), msg);
}

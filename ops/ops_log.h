/*
 * ops_log.h: smimegate's logging, in the style of Postfix: syslog, one
 * line per event, each line about a message prefixed with the Postfix
 * queue ID.  Optionally a copy on stderr (LogStderr, or the foreground
 * run of `make run`).  Only the programs in milter/ log; libraries return
 * their errors instead.  Nothing secret is ever passed here.
 *
 * Threads: callable from any thread after ops_log_open().
 */
#ifndef OPS_LOG_H
#define OPS_LOG_H

#include <syslog.h>

struct conf;

/* Opens the log as conf says (Syslog, SyslogFacility, LogStderr). */
void ops_log_open(const char *ident, const struct conf *conf);
/* Forces the stderr copy on or off (offline mode, -n). */
void ops_log_stderr(int on);

/* Logs at prio; qid NULL or "" for lines not about one message. */
void ops_log(int prio, const char *qid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

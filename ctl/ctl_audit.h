/*
 * ctl_audit.h: `smimectl audit verify|report|fingerprint ...`, called by
 * smimectl's dispatcher with argv[0] "verify", "report" or "fingerprint".
 */
#ifndef CTL_AUDIT_H
#define CTL_AUDIT_H

/*
 * audit_dir: the audit log directory from the configuration (its
 * audit.pub and log files are the defaults).  Prints results on stdout
 * and errors on stderr ("smimectl: ...").  Returns 0 (intact, report
 * written), 1 (tampering found, or an error) or 2 (a usage error: a
 * message on stderr; the caller prints the usage).
 */
int ctl_audit(int argc, char **argv, const char *audit_dir,
    const char *fingerprint, const char *head_file);

#endif

/*
 * ctl_audit.c: `smimectl audit verify`, `audit report` and `audit
 * fingerprint` (their usage: ctl_cmd.c).  Argument handling and printing
 * only; the work is done by audit/.
 *
 * Without FILES both read the log files of the audit directory in chain
 * order, check them against the head file (AuditHeadFile: what the
 * gateway last sealed) and report a missing audit.log as a gap; without
 * --key they use audit.pub there, and refuse it when its fingerprint is
 * not --fingerprint (or AuditKeyFingerprint) when one is given: the key
 * next to the log is only as safe as the log.  A report also checks
 * the log (when the public key can be read) and shows the verdict at its
 * top; it is written even when the log was tampered with, and smimectl
 * then exits 1.
 *
 * Threads: single-threaded command code.
 */
#include "ctl/ctl_audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"

typedef struct ctl_args {
	const char *key;
	const char *fingerprint;
	const char *head;
	const char *since;
	const char *until;
	const char *format;
	char **files;           /* the operands, or NULL */
	int nfiles;
} ctl_args_t;

/* A usage error: the message; smimectl's main() then prints the usage. */
static int
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "smimectl: %s\n", why);
	return 2;
}

/* "--name value" or "--name=value" at argv[*i]; 1 matched, 0 not, -1 no value. */
static int
option(int argc, char **argv, int *i, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*value = argv[++*i];
	return 1;
}

/* Parses argv[1..]; report enables --since, --until and --format. */
static int
parse_args(int argc, char **argv, int report, ctl_args_t *a)
{
	static const char *const names[] = { "--key", "--fingerprint", "--head",
		"--since", "--until", "--format" };
	const char **slots[] = { &a->key, &a->fingerprint, &a->head, &a->since,
		&a->until, &a->format };
	int i, k, r;

	memset(a, 0, sizeof(*a));
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		for (k = 0, r = 0; k < (report ? 6 : 3) && r == 0; k++)
			r = option(argc, argv, &i, names[k], slots[k]);
		if (r < 0) {
			fprintf(stderr, "smimectl: %s needs a value\n", argv[i]);
			return -1;
		}
		if (r == 0) {
			fprintf(stderr, "smimectl: unknown option %s\n", argv[i]);
			return -1;
		}
	}
	a->files = argv + i;
	a->nfiles = argc - i;
	return 0;
}

/* The configuration's part: the defaults of --fingerprint and --head. */
static const char *conf_fingerprint, *conf_head;

/* The files to read: the operands, or the audit directory's log files. */
static int
log_files(const ctl_args_t *a, const char *dir, char ***files, size_t *n)
{
	audit_err_t err;
	int i;

	if (a->nfiles > 0) {
		*files = calloc((size_t)a->nfiles, sizeof(char *));
		for (i = 0; *files != NULL && i < a->nfiles; i++) {
			if (((*files)[i] = strdup(a->files[i])) == NULL) {
				audit_files_free(*files, (size_t)i);
				*files = NULL;
			}
		}
		*n = *files ? (size_t)a->nfiles : 0;
		if (*files == NULL)
			fprintf(stderr, "smimectl: out of memory\n");
		return *files == NULL ? -1 : 0;
	}
	if (audit_files(dir, files, n, &err) != AUDIT_OK) {
		fprintf(stderr, "smimectl: %s\n", err.msg);
		return -1;
	}
	if (*n == 0 && !(conf_head != NULL && access(conf_head, F_OK) == 0)) {
		fprintf(stderr, "smimectl: no audit log files in %s\n", dir);
		return -1;
	}
	return 0;       /* none, but a head: reported as a gap */
}

static EVP_PKEY *
load_key(const ctl_args_t *a, const char *dir, int quiet, char **path)
{
	audit_err_t err;
	EVP_PKEY *pub;

	*path = NULL;
	if (a->key != NULL)
		*path = strdup(a->key);
	else if (asprintf(path, "%s/audit.pub", dir) < 0)
		*path = NULL;
	if (*path == NULL)
		return NULL;
	pub = audit_pubkey_load(*path, &err);
	if (pub == NULL && !quiet)
		fprintf(stderr, "smimectl: %s\n", err.msg);
	return pub;
}

/* The verdict in one line (malloc'ed) and the exit code: 0 or 1. */
static int
verdict(const audit_verify_result_t *res, audit_status_t st,
    const audit_err_t *err, char *const *files, size_t n, char **text)
{
	size_t i, len = 0;
	FILE *f = open_memstream(text, &len);

	if (f == NULL)
		return 1;
	if (st == AUDIT_TAMPERED && res->file == NULL)
		fprintf(f, "%s: %s", res->what == AUDIT_T_GAP ? "GAP" : "TAMPERED",
		    res->msg);
	else if (st == AUDIT_TAMPERED)
		fprintf(f, "%s: %s:%lu: %s", res->what == AUDIT_T_GAP ? "GAP" : "TAMPERED",
		    res->file, res->line, res->msg);
	else if (st != AUDIT_OK)
		fprintf(f, "cannot check the log: %s", err->msg);
	else {
		fprintf(f, "intact: %llu records, %llu checkpoints, files",
		    (unsigned long long)res->records, (unsigned long long)res->checkpoints);
		for (i = 0; i < n; i++)
			fprintf(f, "%s %s", i ? "," : "", files[i]);
	}
	fclose(f);
	return st == AUDIT_OK ? 0 : 1;
}

/* Notes that do not make the log fail. */
static void
print_notes(const audit_verify_result_t *res)
{
	if (res->first_seq > 1)
		printf("note: the chain begins at seq %llu: the files before it were not "
		    "given\n", (unsigned long long)res->first_seq);
	if (res->unsealed > 0)
		printf("warning: %llu records from %s:%lu on are not sealed by a "
		    "checkpoint yet\n", (unsigned long long)res->unsealed,
		    res->unsealed_file, res->unsealed_line);
}

/* *text becomes the formatted message, or NULL when there is no memory
 * for it (the caller then prints a generic failure). */
static void set_text(char **text, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_text(char **text, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(text, fmt, ap) < 0)
		*text = NULL;
	va_end(ap);
}

/*
 * The key must be the one expected (--fingerprint, else the
 * configuration's): 0, or 1 with *text saying why not.  Without any, a
 * warning: the key next to the log is trusted.
 */
static int
check_fingerprint(const ctl_args_t *a, EVP_PKEY *pub, const char *keypath,
    char **text)
{
	const char *want = a->fingerprint ? a->fingerprint : conf_fingerprint;
	char wanthex[65], got[65];
	audit_err_t err;

	if (want == NULL || *want == '\0') {
		fprintf(stderr, "smimectl: warning: no expected key fingerprint "
		    "(--fingerprint or AuditKeyFingerprint): trusting %s, which "
		    "whoever can rewrite the log can replace\n", keypath);
		return 0;
	}
	if (audit_fingerprint_parse(want, wanthex) != 0) {
		set_text(text, "cannot check the log: \"%s\" is not a key "
		    "fingerprint (64 hex digits)", want);
		return 1;
	}
	if (audit_pubkey_fingerprint(pub, got, &err) != AUDIT_OK) {
		set_text(text, "cannot check the log: %s", err.msg);
		return 1;
	}
	if (strcmp(got, wanthex) == 0)
		return 0;
	set_text(text, "REFUSED: %s is not the expected audit key: its "
	    "fingerprint is %s, want %s; the log may have been re-signed with "
	    "another key", keypath, got, wanthex);
	return 1;
}

/* The head to check against: --head, else (reading the directory) the
 * configuration's; 0 none, 1 *h read, -1 error printed. */
static int
load_head(const ctl_args_t *a, audit_head_t *h, char **text)
{
	const char *path = a->head ? a->head : a->nfiles == 0 ? conf_head : NULL;
	audit_status_t st;
	audit_err_t err;

	if (path == NULL || *path == '\0')
		return 0;
	st = audit_head_read(path, h, &err);
	if (st == AUDIT_END && a->head == NULL)
		return 0;
	if (st == AUDIT_END) {
		set_text(text, "cannot check the log: %s: no such head file", path);
		return -1;
	}
	if (st != AUDIT_OK) {
		set_text(text, "cannot check the log: %s", err.msg);
		return -1;
	}
	return 1;
}

/* Reading the directory: audit.log must be there when the log is. */
static int
check_current(const ctl_args_t *a, const char *dir, char **text)
{
	char *path = NULL;
	int gone;

	if (a->nfiles > 0 || asprintf(&path, "%s/audit.log", dir) < 0)
		return 0;
	gone = access(path, F_OK) != 0;
	if (gone && asprintf(text, "GAP: %s: the current file is missing (removed); "
	    "the files that remain end with a checkpoint", path) < 0)
		*text = NULL;
	free(path);
	return gone;
}

/*
 * Checks files: the key against the fingerprint, then the chain against
 * the head, then the current file.  The verdict in *text (malloc'ed), the
 * notes to print in *res; returns 0 (intact), 1 (not) or 2 (the log could
 * not be checked: *text begins "cannot check the log: ").
 */
static int
check_log(const ctl_args_t *a, const char *dir, EVP_PKEY *pub,
    const char *keypath, char **files, size_t n, audit_verify_result_t *res,
    char **text)
{
	audit_head_t head;
	audit_status_t st;
	audit_err_t err;
	int hr, rc;

	*text = NULL;
	memset(res, 0, sizeof(*res));
	if (check_fingerprint(a, pub, keypath, text) != 0)
		return *text != NULL && strncmp(*text, "cannot", 6) == 0 ? 2 : 1;
	if ((hr = load_head(a, &head, text)) < 0)
		return 2;
	st = audit_verify_ex((const char *const *)files, n, pub, hr ? &head : NULL,
	    res, &err);
	rc = verdict(res, st, &err, files, n, text);
	if (st != AUDIT_OK && st != AUDIT_TAMPERED)
		return 2;
	if (rc == 0 && check_current(a, dir, text) != 0) {
		rc = 1;
		memset(res, 0, sizeof(*res));
	}
	return rc;
}

static int
cmd_verify(int argc, char **argv, const char *dir)
{
	audit_verify_result_t res;
	ctl_args_t a;
	char **files = NULL, *keypath = NULL, *text = NULL;
	size_t n = 0;
	EVP_PKEY *pub;
	int rc = 1;

	if (parse_args(argc, argv, 0, &a) < 0)
		return usage(NULL);
	pub = load_key(&a, dir, 0, &keypath);
	if (pub != NULL && log_files(&a, dir, &files, &n) == 0) {
		rc = check_log(&a, dir, pub, keypath, files, n, &res, &text);
		if (rc == 2 && text != NULL && strchr(text, ':') != NULL)
			fprintf(stderr, "smimectl: %s\n", strchr(text, ':') + 2);
		else
			printf("%s\n", text ? text : "cannot check the log: out of memory");
		if (rc == 0)
			print_notes(&res);
		rc = rc != 0;
	}
	free(text);
	free(keypath);
	EVP_PKEY_free(pub);
	audit_files_free(files, n);
	return rc;
}

/* audit fingerprint: what to give to whoever verifies the log. */
static int
cmd_fingerprint(int argc, char **argv, const char *dir)
{
	ctl_args_t a;
	char *keypath = NULL, fp[65];
	audit_err_t err;
	EVP_PKEY *pub;
	int rc = 1;

	if (parse_args(argc, argv, 0, &a) < 0)
		return usage(NULL);
	if (a.nfiles > 0)
		return usage("audit fingerprint: unexpected argument");
	pub = load_key(&a, dir, 0, &keypath);
	if (pub != NULL && audit_pubkey_fingerprint(pub, fp, &err) == AUDIT_OK) {
		printf("%s\n", fp);
		rc = 0;
	} else if (pub != NULL)
		fprintf(stderr, "smimectl: %s\n", err.msg);
	free(keypath);
	EVP_PKEY_free(pub);
	return rc;
}

/* The report's period from --since and --until; -1 for a bad date. */
static int
period(const ctl_args_t *a, time_t *since, time_t *until)
{
	*since = *until = 0;
	if (a->since != NULL && audit_time_parse(a->since, 0, since) < 0) {
		fprintf(stderr, "smimectl: --since %s: not a date\n", a->since);
		return -1;
	}
	if (a->until != NULL && audit_time_parse(a->until, 1, until) < 0) {
		fprintf(stderr, "smimectl: --until %s: not a date\n", a->until);
		return -1;
	}
	if (*since && *until && *until < *since) {
		fprintf(stderr, "smimectl: --until is before --since\n");
		return -1;
	}
	return 0;
}

/*
 * Checks the log for the report's integrity line: 0 intact or not checked
 * (no audit.pub: the report says so), 1 tampered or a --key that cannot
 * be read.
 */
static int
report_integrity(audit_report_t *rp, const ctl_args_t *a, const char *dir,
    char **files, size_t n)
{
	audit_verify_result_t res;
	char *keypath, *text = NULL;
	EVP_PKEY *pub = load_key(a, dir, a->key == NULL, &keypath);
	int rc;

	if (pub == NULL) {
		free(keypath);
		return a->key != NULL;
	}
	rc = check_log(a, dir, pub, keypath, files, n, &res, &text) != 0;
	audit_report_set_integrity(rp, text ? text : "", rc == 0, NULL);
	free(text);
	free(keypath);
	EVP_PKEY_free(pub);
	return rc;
}

/* Reads the files into a new report of the period and writes it. */
static int
write_report(const ctl_args_t *a, const char *dir, audit_format_t fmt,
    time_t since, time_t until, char **files, size_t n)
{
	audit_report_t *rp;
	audit_err_t err;
	int rc;

	rp = audit_report_new(since, until, &err);
	if (rp == NULL) {
		fprintf(stderr, "smimectl: %s\n", err.msg);
		return 1;
	}
	rc = report_integrity(rp, a, dir, files, n);
	if (audit_report_read(rp, (const char *const *)files, n, &err) != AUDIT_OK ||
	    audit_report_write(rp, fmt, time(NULL), stdout, &err) != AUDIT_OK) {
		fprintf(stderr, "smimectl: %s\n", err.msg);
		rc = 1;
	}
	audit_report_free(rp);
	return rc;
}

static int
cmd_report(int argc, char **argv, const char *dir)
{
	audit_format_t fmt = AUDIT_FMT_TEXT;
	time_t since, until;
	ctl_args_t a;
	char **files = NULL;
	size_t n = 0;
	int rc = 1;

	if (parse_args(argc, argv, 1, &a) < 0)
		return usage(NULL);
	if (a.format != NULL && audit_format_parse(a.format, &fmt) < 0)
		return usage("--format is text, csv, json or html");
	if (period(&a, &since, &until) < 0)
		return usage(NULL);
	if (log_files(&a, dir, &files, &n) == 0)
		rc = write_report(&a, dir, fmt, since, until, files, n);
	audit_files_free(files, n);
	return rc;
}

int
ctl_audit(int argc, char **argv, const char *audit_dir, const char *fingerprint,
    const char *head_file)
{
	const char *dir = audit_dir ? audit_dir : "/var/lib/smimegate/audit";

	conf_fingerprint = fingerprint;
	conf_head = head_file;
	if (argc < 1 || argv[0] == NULL)
		return usage("audit: verify, report or fingerprint?");
	if (strcmp(argv[0], "fingerprint") == 0)
		return cmd_fingerprint(argc, argv, dir);
	if (strcmp(argv[0], "verify") == 0)
		return cmd_verify(argc, argv, dir);
	if (strcmp(argv[0], "report") == 0)
		return cmd_report(argc, argv, dir);
	fprintf(stderr, "smimectl: audit %s: unknown command\n", argv[0]);
	return usage(NULL);
}

/*
 * ctl_audit.c: `smimectl audit verify [--key FILE] [FILES...]` and
 * `smimectl audit report [--since DATE] [--until DATE] [--format F]
 * [--key FILE] [FILES...]`.  Argument handling and printing only; the
 * work is done by audit/.
 *
 * Without FILES both read the log files of the audit directory in chain
 * order; without --key they use audit.pub there.  A report also checks
 * the log (when the public key can be read) and shows the verdict at its
 * top; it is written even when the log was tampered with, and smimectl
 * then exits 1.
 *
 * Threads: single-threaded command code.
 */
#include "milter/ctl_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"

typedef struct ctl_args {
	const char *key;
	const char *since;
	const char *until;
	const char *format;
	char **files;           /* the operands, or NULL */
	int nfiles;
} ctl_args_t;

static int
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "smimectl: %s\n", why);
	fputs("usage: smimectl audit verify [--key FILE.pub] [FILE...]\n"
	    "       smimectl audit report [--since DATE] [--until DATE]\n"
	    "                [--format text|csv|json|html] [--key FILE.pub] [FILE...]\n"
	    "DATE is YYYY-MM-DD or an RFC 3339 time such as 2025-03-01T08:00:00Z.\n",
	    stderr);
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
	static const char *const names[] = { "--key", "--since", "--until", "--format" };
	const char **slots[] = { &a->key, &a->since, &a->until, &a->format };
	int i, k, r;

	memset(a, 0, sizeof(*a));
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		for (k = 0, r = 0; k < (report ? 4 : 1) && r == 0; k++)
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
	if (*n == 0) {
		fprintf(stderr, "smimectl: no audit log files in %s\n", dir);
		return -1;
	}
	return 0;
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
	if (st == AUDIT_TAMPERED)
		fprintf(f, "TAMPERED: %s:%lu: %s", res->file, res->line, res->msg);
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

static int
cmd_verify(int argc, char **argv, const char *dir)
{
	audit_verify_result_t res;
	audit_status_t st;
	audit_err_t err;
	ctl_args_t a;
	char **files = NULL, *keypath = NULL, *text = NULL;
	size_t n = 0;
	EVP_PKEY *pub;
	int rc = 1;

	if (parse_args(argc, argv, 0, &a) < 0)
		return usage(NULL);
	pub = load_key(&a, dir, 0, &keypath);
	if (pub != NULL && log_files(&a, dir, &files, &n) == 0) {
		st = audit_verify((const char *const *)files, n, pub, &res, &err);
		rc = verdict(&res, st, &err, files, n, &text);
		if (st == AUDIT_OK || st == AUDIT_TAMPERED) {
			printf("%s\n", text ? text : "");
			if (st == AUDIT_OK)
				print_notes(&res);
		} else
			fprintf(stderr, "smimectl: %s\n", err.msg);
	}
	free(text);
	free(keypath);
	EVP_PKEY_free(pub);
	audit_files_free(files, n);
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
	audit_status_t st;
	audit_err_t err;
	char *keypath, *text = NULL;
	EVP_PKEY *pub = load_key(a, dir, a->key == NULL, &keypath);
	int rc;

	if (pub == NULL) {
		free(keypath);
		return a->key != NULL;
	}
	st = audit_verify((const char *const *)files, n, pub, &res, &err);
	rc = verdict(&res, st, &err, files, n, &text);
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
ctl_audit(int argc, char **argv, const char *audit_dir)
{
	const char *dir = audit_dir ? audit_dir : "/var/lib/smimegate/audit";

	if (argc < 1 || argv[0] == NULL)
		return usage("audit: verify or report?");
	if (strcmp(argv[0], "verify") == 0)
		return cmd_verify(argc, argv, dir);
	if (strcmp(argv[0], "report") == 0)
		return cmd_report(argc, argv, dir);
	fprintf(stderr, "smimectl: audit %s: unknown command\n", argv[0]);
	return usage(NULL);
}

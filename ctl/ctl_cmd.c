/*
 * ctl_cmd.c: smimectl's commands, their usage and their options, in one
 * table (see ctl_cmd.h).  A new command is a row here and a branch in
 * smimectl.c's dispatcher; tests/integration/12-cli-help.sh walks the
 * rows through `smimectl --help`.
 */
#include "ctl/ctl_cmd.h"

#include <string.h>

struct ctl_cmd {
	const char *name;       /* its words: "keystore import" */
	const char *args;       /* its operands and options as the usage shows
	                         * them; "\n" begins a continuation line */
	const char *opts;       /* the options it takes, space-separated;
	                         * "--out=": takes a value */
	int min, max;           /* how many operands it takes; max -1: any */
	const char *note;       /* NULL, or lines printed after its usage */
};

static const char password_note[] =
    "The PKCS#12 password comes from --password-file (its first line), else\n"
    "from $SMIMEGATE_P12_PASSWORD, else from the terminal.\n";
static const char date_note[] =
    "DATE is YYYY-MM-DD or an RFC 3339 time such as 2025-03-01T08:00:00Z.\n";

#define AUDIT_OPTS "--key= --fingerprint= --head="

static const ctl_cmd_t commands[] = {
	{ "keystore import", "FILE.p12 [--password-file F]", "--password-file=",
	  1, 1, password_note },
	{ "keystore list", "", "", 0, 0, NULL },
	{ "keystore export", "ADDRESS [--out FILE] [--legacy] [--password-file F]",
	  "--out= --legacy --password-file=", 1, 1, password_note },
	{ "keystore rekey", "", "", 0, 0, NULL },
	{ "keystore publish", "[ADDRESS]", "", 0, 1, NULL },
	{ "keystore retire", "ADDRESS", "", 1, 1, NULL },
	{ "keystore purge-retired", "", "", 0, 0, NULL },
	{ "ca init", "", "", 0, 0, NULL },
	{ "ca issue", "[--profile sign|encrypt|external] [--csr FILE] ADDRESS",
	  "--profile= --csr=", 1, 1, NULL },
	{ "ca revoke", "SERIAL [--reason keyCompromise|superseded|...]", "--reason=", 1, 1, NULL },
	{ "ca list", "", "", 0, 0, NULL },
	{ "ca crl", "[--out FILE]", "--out=", 0, 0, NULL },
	{ "ca cmp", "[--key FILE] ADDRESS", "--key=", 1, 1, NULL },
	{ "config", "[-d]", "-d", 0, 0, NULL },
	{ "audit verify", "[--key FILE.pub] [--fingerprint HEX] [--head FILE] [FILE...]",
	  AUDIT_OPTS, 0, -1, NULL },
	{ "audit fingerprint", "[--key FILE.pub]", "--key=", 0, 0, NULL },
	{ "audit report", "[--since DATE] [--until DATE] [--format text|csv|json|html]\n"
	  "[--key FILE.pub] [--fingerprint HEX] [--head FILE] [FILE...]",
	  AUDIT_OPTS " --since= --until= --format=", 0, -1, date_note },
	{ "lookup", "ADDRESS...", "", 1, -1, NULL },
	{ "cache flush", "[ADDRESS...]", "", 0, -1, NULL },
	{ "policy explain", "--from ADDRESS --rcpt ADDRESS [--rcpt ADDRESS]...\n"
	  "[--subject TEXT] [--header 'Name: value']... [--content-type TYPE]",
	  "--from= --rcpt= --subject= --header= --content-type=", 0, 0, NULL },
	{ "spool list", "", "", 0, 0, NULL },
	{ "spool show", "[--body] ID", "--body", 1, 1, NULL },
	{ "spool release", "ID [--clear]", "--clear", 1, 1, NULL },
	{ "spool drop", "ID", "", 1, 1, NULL },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* 1 when name is word, or begins with word and a space. */
static int
name_begins(const char *name, const char *word)
{
	size_t n = strlen(word);

	return strncmp(name, word, n) == 0 && (name[n] == '\0' || name[n] == ' ');
}

const ctl_cmd_t *
ctl_cmd_find(int argc, char **argv, int *nwords)
{
	for (size_t i = 0; argc > 0 && i < NCOMMANDS; i++) {
		const char *name = commands[i].name, *sp = strchr(name, ' ');

		if (sp == NULL && strcmp(argv[0], name) == 0) {
			*nwords = 1;
			return &commands[i];
		}
		if (sp != NULL && argc > 1 && strncmp(argv[0], name, (size_t)(sp - name)) == 0
		    && argv[0][sp - name] == '\0' && strcmp(argv[1], sp + 1) == 0) {
			*nwords = 2;
			return &commands[i];
		}
	}
	return NULL;
}

const char *
ctl_cmd_name(const ctl_cmd_t *cmd)
{
	return cmd->name;
}

int
ctl_cmd_is_group(const char *word)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (name_begins(commands[i].name, word))
			return 1;
	return 0;
}

/*
 * What the option arg[0..len) is for opts: 1 it takes a value, 0 it does
 * not, -1 unknown.  A long option may be cut short where that leaves
 * one option (as getopt_long allows): "--pass" is --password-file.
 */
static int
option_kind(const char *opts, const char *arg, size_t len)
{
	int found = -1, matches = 0;

	while (*opts != '\0') {
		size_t tl = strcspn(opts, " ");
		size_t nl = tl > 0 && opts[tl - 1] == '=' ? tl - 1 : tl;

		if (len == nl && strncmp(opts, arg, len) == 0)
			return nl != tl;
		if (len > 2 && len < nl && arg[1] == '-' && strncmp(opts, arg, len) == 0) {
			found = nl != tl;
			matches++;
		}
		opts += tl + strspn(opts + tl, " ");
	}
	return matches == 1 ? found : -1;
}

/* An option at argv[*i]: 0 known (*i moved past its value), else -1
 * with why said. */
static int
check_option(const ctl_cmd_t *cmd, int argc, char **argv, int *i, char *why,
    size_t whylen)
{
	const char *a = argv[*i], *eq = a[1] == '-' ? strchr(a, '=') : NULL;
	size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
	int kind = option_kind(cmd->opts, a, len);

	if (kind < 0)
		snprintf(why, whylen, "%s: unknown option %.*s", cmd->name, (int)len, a);
	else if (kind == 0 && eq != NULL)
		snprintf(why, whylen, "%s: %.*s takes no value", cmd->name, (int)len, a);
	else if (kind == 1 && eq == NULL && ++*i >= argc)
		snprintf(why, whylen, "%s: %s needs a value", cmd->name, a);
	else
		return 0;
	return -1;
}

ctl_cmd_verdict_t
ctl_cmd_check(const ctl_cmd_t *cmd, int argc, char **argv, char *why, size_t whylen)
{
	int i, n = 0, bad = 0;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return CTL_CMD_HELP;
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			n++;
		else if (!bad && check_option(cmd, argc, argv, &i, why, whylen) != 0)
			bad = 1;
	}
	if (bad)
		return CTL_CMD_BAD;
	n += i < argc ? argc - i - 1 : 0;       /* the operands after "--" */
	if (n < cmd->min)
		snprintf(why, whylen, "%s: %s missing", cmd->name,
		    cmd->min > 1 ? "operands" : "an operand");
	else if (cmd->max >= 0 && n > cmd->max)
		snprintf(why, whylen, "%s: %s", cmd->name, cmd->max == 0
		    ? "takes no operand" : "too many operands");
	else
		return CTL_CMD_RUN;
	return CTL_CMD_BAD;
}

/* "LEAD NAME ARGS", each continuation line of ARGS indented. */
static void
print_line(FILE *fp, const char *lead, const ctl_cmd_t *cmd)
{
	const char *a;

	fprintf(fp, "%s%s", lead, cmd->name);
	if (*cmd->args != '\0')
		fputc(' ', fp);
	for (a = cmd->args; *a != '\0'; a++) {
		if (*a == '\n')
			fputs("\n          ", fp);
		else
			fputc(*a, fp);
	}
	fputc('\n', fp);
}

/* The notes of the commands that prefix selects, each once. */
static void
print_notes(FILE *fp, const char *prefix)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t k;

		if (commands[i].note == NULL
		    || (prefix != NULL && !name_begins(commands[i].name, prefix)))
			continue;
		for (k = 0; k < i; k++)
			if (commands[k].note == commands[i].note
			    && (prefix == NULL || name_begins(commands[k].name, prefix)))
				break;
		if (k == i)
			fputs(commands[i].note, fp);
	}
}

void
ctl_cmd_usage(FILE *fp, const char *prefix)
{
	int first = 1;

	if (prefix == NULL) {
		fputs("usage: smimectl [-c FILE] [-o Key=Value]... COMMAND [ARGUMENT...]\n"
		    "       smimectl [-c FILE] [-o Key=Value]... COMMAND --help\n"
		    "       smimectl --help | --version\n"
		    "commands:\n", fp);
		for (size_t i = 0; i < NCOMMANDS; i++)
			print_line(fp, "  ", &commands[i]);
		print_notes(fp, NULL);
		return;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!name_begins(commands[i].name, prefix))
			continue;
		print_line(fp, first ? "usage: smimectl [options] "
		    : "       smimectl [options] ", &commands[i]);
		first = 0;
	}
	print_notes(fp, prefix);
	fputs("options: -c FILE (the configuration), -o Key=Value (a key for this "
	    "run)\n", fp);
}

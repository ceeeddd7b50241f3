/*
 * test_ctl_cmd.c: cmocka tests of smimectl's table of commands
 * (ctl/ctl_cmd.c): which command argv names, and what ctl_cmd_check()
 * finds in its arguments (help, an unknown option, a value taken for an
 * option, operands counted), table-driven with got/want.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_cmd.h"

#define MAXARGS 8

typedef struct check_case {
	const char *argv[MAXARGS];      /* the command's words, then its args */
	ctl_cmd_verdict_t want;
	const char *want_why;           /* in why for CTL_CMD_BAD */
} check_case_t;

static void
test_check_table(void **state)
{
	static const check_case_t cases[] = {
		{ { "keystore", "import", "a.p12" }, CTL_CMD_RUN, NULL },
		{ { "keystore", "import", "--help" }, CTL_CMD_HELP, NULL },
		{ { "keystore", "import", "a.p12", "-h" }, CTL_CMD_HELP, NULL },
		{ { "keystore", "import", "--bogus", "a.p12" }, CTL_CMD_BAD, "unknown option --bogus" },
		{ { "keystore", "import" }, CTL_CMD_BAD, "an operand missing" },
		{ { "keystore", "import", "a.p12", "b.p12" }, CTL_CMD_BAD, "too many operands" },
		/* a value is never an option, nor an operand */
		{ { "keystore", "import", "--password-file", "-h", "a.p12" }, CTL_CMD_RUN, NULL },
		{ { "keystore", "import", "--password-file=pw", "a.p12" }, CTL_CMD_RUN, NULL },
		{ { "keystore", "import", "a.p12", "--password-file" }, CTL_CMD_BAD, "needs a value" },
		/* cut short where one option is left, as getopt_long allows */
		{ { "keystore", "export", "a@b", "--pass", "pw" }, CTL_CMD_RUN, NULL },
		{ { "keystore", "export", "a@b", "--legacy=yes" }, CTL_CMD_BAD, "takes no value" },
		{ { "keystore", "list", "extra" }, CTL_CMD_BAD, "takes no operand" },
		{ { "config", "-d" }, CTL_CMD_RUN, NULL },
		{ { "config", "-x" }, CTL_CMD_BAD, "unknown option -x" },
		{ { "policy", "explain", "--from", "a@b", "--rcpt", "c@d", "--subject", "-h" },
		  CTL_CMD_RUN, NULL },
		{ { "audit", "verify", "--", "-h", "--bogus" }, CTL_CMD_RUN, NULL },
		{ { "audit", "fingerprint", "--", "file" }, CTL_CMD_BAD, "takes no operand" },
		{ { "audit", "report", "--format", "json", "--since=2026-01-01", "f1", "f2" },
		  CTL_CMD_RUN, NULL },
		{ { "spool", "release", "ID", "--clear" }, CTL_CMD_RUN, NULL },
		{ { "spool", "show", "--body" }, CTL_CMD_BAD, "an operand missing" },
		{ { "lookup" }, CTL_CMD_BAD, "an operand missing" },
		{ { "cache", "flush" }, CTL_CMD_RUN, NULL },
		{ { "ca", "issue", "--profile", "sign", "--csr", "r.der", "a@b" }, CTL_CMD_RUN, NULL },
		{ { "ca", "crl", "--out", "crl.der" }, CTL_CMD_RUN, NULL },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const check_case_t *c = &cases[i];
		char *argv[MAXARGS], why[300] = "";
		int argc = 0, words = 0;
		const ctl_cmd_t *cmd;
		ctl_cmd_verdict_t got;

		while (argc < MAXARGS && c->argv[argc] != NULL) {
			argv[argc] = (char *)c->argv[argc];
			argc++;
		}
		cmd = ctl_cmd_find(argc, argv, &words);
		if (cmd == NULL)
			fail_msg("case %zu (%s %s): no command found", i, c->argv[0],
			    c->argv[1] ? c->argv[1] : "");
		got = ctl_cmd_check(cmd, argc - words, argv + words, why, sizeof(why));
		if (got != c->want)
			fail_msg("case %zu (%s %s): got verdict %d (%s), want %d", i,
			    c->argv[0], c->argv[1] ? c->argv[1] : "", got, why, c->want);
		if (c->want_why != NULL && strstr(why, c->want_why) == NULL)
			fail_msg("case %zu: got why \"%s\", want \"%s\" in it", i, why,
			    c->want_why);
	}
}

typedef struct find_case {
	const char *argv[3];
	const char *want;       /* the command's name, NULL none */
	int want_words;
} find_case_t;

static void
test_find_table(void **state)
{
	static const find_case_t cases[] = {
		{ { "keystore", "import", "x" }, "keystore import", 2 },
		{ { "config", "-d" }, "config", 1 },
		{ { "lookup", "a@b" }, "lookup", 1 },
		{ { "cache", "flush" }, "cache flush", 2 },
		{ { "keystore" }, NULL, 0 },
		{ { "keystore", "nosuch" }, NULL, 0 },
		{ { "key", "import" }, NULL, 0 },
		{ { "keystoreimport" }, NULL, 0 },
		{ { "nosuch" }, NULL, 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[3];
		int argc = 0, words = 0;
		const ctl_cmd_t *cmd;

		while (argc < 3 && cases[i].argv[argc] != NULL) {
			argv[argc] = (char *)cases[i].argv[argc];
			argc++;
		}
		cmd = ctl_cmd_find(argc, argv, &words);
		if (cases[i].want == NULL && cmd != NULL)
			fail_msg("case %zu: got %s, want none", i, ctl_cmd_name(cmd));
		if (cases[i].want != NULL && (cmd == NULL
		    || strcmp(ctl_cmd_name(cmd), cases[i].want) != 0
		    || words != cases[i].want_words))
			fail_msg("case %zu: got %s (%d words), want %s (%d)", i,
			    cmd ? ctl_cmd_name(cmd) : "none", words, cases[i].want,
			    cases[i].want_words);
	}
	assert_true(ctl_cmd_is_group("keystore"));
	assert_true(ctl_cmd_is_group("config"));
	assert_false(ctl_cmd_is_group("key"));
}

/* Each command's usage names it, once per command of a group. */
static void
test_usage(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;
	(void)state;

	assert_non_null(fp = open_memstream(&buf, &len));
	ctl_cmd_usage(fp, "spool");
	fclose(fp);
	assert_non_null(strstr(buf, "usage: smimectl [options] spool list\n"));
	assert_non_null(strstr(buf, "       smimectl [options] spool drop ID\n"));
	assert_null(strstr(buf, "keystore"));
	free(buf);
	buf = NULL;
	assert_non_null(fp = open_memstream(&buf, &len));
	ctl_cmd_usage(fp, NULL);
	fclose(fp);
	assert_non_null(strstr(buf, "\n  keystore import FILE.p12"));
	assert_non_null(strstr(buf, "\n  ca cmp [--key FILE] ADDRESS\n"));
	/* the password note once, though two commands carry it */
	assert_non_null(strstr(buf, "PKCS#12 password"));
	assert_null(strstr(strstr(buf, "PKCS#12 password") + 1, "PKCS#12 password"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_find_table),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * ctl_policy.c: `smimectl policy explain` (its usage: ctl_cmd.c): what the
 * policy decides for each recipient of an outbound message, the rule that
 * decided, the rule behind every setting, and the form delivered with and
 * without a certificate.  Local or not comes from LocalDomains.
 * Single-threaded, as smimectl.
 */
#include "ctl/ctl_policy.h"
#include "mail/mail_msg.h"
#include "policy/policy.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 100

typedef struct explain_args {
	const char *from, *subject, *ctype;
	const char *rcpts[MAX_ITEMS];
	size_t nrcpts;
	policy_hdr_t hdrs[MAX_ITEMS];
	char *hbuf[MAX_ITEMS];
	size_t nhdrs;
} explain_args_t;

static int
usage(const char *why)
{
	fprintf(stderr, "smimectl: policy explain: %s\n", why);
	return 2;
}

/* "Name: value" into the header list. */
static int
add_header(explain_args_t *a, const char *arg)
{
	char *colon, *copy;

	if (a->nhdrs == MAX_ITEMS || (colon = strchr(arg, ':')) == NULL || colon == arg)
		return -1;
	if ((copy = strdup(arg)) == NULL)
		return -1;
	colon = copy + (colon - arg);
	*colon++ = '\0';
	a->hbuf[a->nhdrs] = copy;
	a->hdrs[a->nhdrs].name = copy;
	a->hdrs[a->nhdrs++].value = colon + strspn(colon, " \t");
	return 0;
}

static int
parse_args(int argc, char **argv, explain_args_t *a)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "rcpt", required_argument, NULL, 'r' },
		{ "subject", required_argument, NULL, 's' },
		{ "header", required_argument, NULL, 'H' },
		{ "content-type", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'f')
			a->from = optarg;
		else if (ch == 'r' && a->nrcpts < MAX_ITEMS)
			a->rcpts[a->nrcpts++] = optarg;
		else if (ch == 's')
			a->subject = optarg;
		else if (ch == 't')
			a->ctype = optarg;
		else if (ch == 'H' && add_header(a, optarg) == 0)
			continue;
		else
			return usage(ch == 'H' ? "--header wants 'Name: value'"
			    : "unknown option or missing value");
	}
	if (optind < argc)
		return usage("unexpected argument");
	if (a->from == NULL || a->nrcpts == 0)
		return usage("want --from and at least one --rcpt");
	return 0;
}

static void
print_form(const char *label, const policy_decision_t *d, enum policy_cert cert)
{
	policy_form_t f;

	policy_resolve(d, cert, &f);
	printf("  %s: %s", label, policy_outcome_name(f.outcome));
	if (f.outcome == POLICY_DELIVER)
		printf(" %s", f.passthrough ? "as it is"
		    : f.sign && f.encrypt ? "signed and encrypted"
		    : f.sign ? "signed" : f.encrypt ? "encrypted" : "unsigned");
	if (f.enroll)
		printf(", enrollment started");
	printf(" (%s)\n", f.why);
}

static void
print_decision(const char *rcpt, const policy_decision_t *d)
{
	char rule[600];

	printf("%s:\n  decided by: %s\n  why: %s\n", rcpt,
	    policy_rule_describe(d->decided, rule, sizeof(rule)), d->why);
	for (int k = 0; k < POLICY_NKEYS; k++)
		printf("  %-9s %-12s %s\n", policy_key_name(k),
		    policy_value_name(k, d->v[k]),
		    policy_rule_describe(d->by[k], rule, sizeof(rule)));
	print_form("with a certificate", d, POLICY_CERT_FOUND);
	print_form("without a certificate", d, POLICY_CERT_NONE);
}

static int
explain(const conf_t *conf, const explain_args_t *a)
{
	policy_msg_t m = { a->from, conf_is_local_domain(conf, util_addr_domain(a->from)),
		a->subject, a->hdrs, a->nhdrs, a->ctype, 0, 0, POLICY_OUTBOUND };
	policy_rcpt_t r[MAX_ITEMS];
	policy_result_t res;
	policy_err_t err;
	char rule[600];

	for (size_t i = 0; i < a->nrcpts; i++) {
		r[i].addr = a->rcpts[i];
		r[i].local = conf_is_local_domain(conf, util_addr_domain(a->rcpts[i]));
	}
	if (policy_decide(conf->policy, &m, r, a->nrcpts, &res, &err) != POLICY_OK) {
		fprintf(stderr, "smimectl: %s\n", err.msg);
		return 1;
	}
	printf("policy: %s\n", *policy_file(conf->policy) ? policy_file(conf->policy)
	    : "built-in (no PolicyFile)");
	if (res.subject != NULL)
		printf("subject: \"%s\" (tag stripped by %s)\n", res.subject,
		    policy_rule_describe(res.stripped_by, rule, sizeof(rule)));
	for (size_t i = 0; i < res.n; i++)
		print_decision(a->rcpts[i], &res.d[i]);
	policy_result_clear(&res);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
ctl_policy(int argc, char **argv, const conf_t *conf)
{
	explain_args_t a;
	int rc;

	memset(&a, 0, sizeof(a));
	if (strcmp(argv[0], "explain") != 0)
		return usage("unknown command (want explain)");
	if ((rc = parse_args(argc, argv, &a)) == 0)
		rc = explain(conf, &a);
	for (size_t i = 0; i < a.nhdrs; i++)
		free(a.hbuf[i]);
	return rc;
}

/*
 * fuzz_policy.c: the policy rules file (policy_load), then a decision
 * with it for a few recipients of a message whose Subject and header
 * fields come from the rules' own words, as the milter asks at the end of
 * an outbound message.
 *
 * Input: the rules file.
 */
#include "policy/policy.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_file("policy", data, size);
	policy_err_t err;
	policy_t *p = policy_load(path, &err);

	if (p != NULL) {
		char *text = fuzz_strndup(data, size), *first = strtok(text, "\n");
		policy_hdr_t hdrs[] = { { "Subject", first ? first : "" },
			{ "Sensitivity", "company-confidential" }, { "X-Foo", "bar" } };
		policy_msg_t m = { "ceo@example.com", 1, first, hdrs, 3,
			"multipart/mixed", 1, 0, POLICY_OUTBOUND };
		policy_rcpt_t r[] = { { "help@partner.example", 0 },
			{ "a@x.gov.example", 0 }, { "bob@example.com", 1 } };
		policy_result_t res;

		memset(&res, 0, sizeof(res));
		if (policy_decide(p, &m, r, 3, &res, &err) == POLICY_OK) {
			char buf[256];
			for (size_t i = 0; i < res.n; i++)
				if (res.d[i].decided != NULL)
					(void)policy_rule_describe(res.d[i].decided, buf, sizeof(buf));
		}
		policy_result_clear(&res);
		policy_unref(policy_ref(p));
		policy_unref(p);
		free(text);
	} else if (err.msg[0] == '\0') {
		abort();
	}
	free(path);
	return 0;
}

/*
 * test_smtp.c: the gateway's own mails (milter/milt_smtp.c): a message
 * with a secret (the PKCS#12 password) holds it exactly once, where it
 * belongs, in a 7-bit body GMime rendered around a stand-in; a secret
 * that is not letters and digits is refused rather than mangled.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "milter/milt_smtp.h"
#include "smime/smime.h"

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
test_secret_in_place(void **state)
{
	static const struct {
		const char *text, *secret, *after, *want;  /* want: NULL = refused */
	} t[] = {
		{ "Password:\n\n    ", "Ab3dEf6hJk9mNp2rSt5v", "\n", "\r\n    Ab3dEf6hJk9mNp2rSt5v\r\n" },
		{ "Grüße, the password: ", "xyz789", " (once)\n", "xyz789 (once)" },
		{ "100% sure: %s ", "Zz1", "\n", "100% sure: %s Zz1" },
		{ "bad: ", "has space", "\n", NULL },
		{ "bad: ", "pa%ss", "\n", NULL },
		{ "bad: ", "", "\n", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *m = milt_smtp_compose("pki@example.com", "bob@example.net", "Subject",
		    t[i].text, t[i].secret, t[i].after);

		if (t[i].want == NULL) {
			if (m != NULL)
				fail_msg("case %zu: secret \"%s\" accepted", i, t[i].secret);
			continue;
		}
		if (m == NULL)
			fail_msg("case %zu: no message", i);
		if (strstr(m, t[i].want) == NULL)
			fail_msg("case %zu: got\n%s\nwant it to contain \"%s\"", i, m, t[i].want);
		assert_int_equal(count(m, t[i].secret), 1);
		assert_non_null(strstr(m, "To: bob@example.net\r\n"));
		OPENSSL_clear_free(m, strlen(m));
	}
}

static void
test_no_secret(void **state)
{
	char *m = milt_smtp_compose("pki@example.com", "bob@example.net", "Hello",
	    "Just text.\n", NULL, NULL);

	(void)state;
	assert_non_null(m);
	assert_non_null(strstr(m, "Subject: Hello\r\n"));
	assert_non_null(strstr(m, "\r\n\r\nJust text.\r\n"));
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_in_place),
		cmocka_unit_test(test_no_secret),
	};

	smime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

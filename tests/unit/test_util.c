/*
 * test_util.c: cmocka tests of util/: the address rule every library
 * shares (util_addr_equal, util_addr_domain, util_addr_normalize), the
 * bounded buffer (util_buf) and the error type (util_err).  Table-driven,
 * got/want.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "util/util.h"

/* The comparison decides trust (signer authorised, certificate names the
 * sender, signer map): what it says for each shape of address. */
static void
test_addr_equal(void **state)
{
	static const struct { const char *a, *b; int want; } cases[] = {
		{ "alice@example.com", "alice@example.com", 1 },
		{ "alice@example.com", "alice@EXAMPLE.COM", 1 },
		{ "Alice@example.com", "alice@example.com", 0 },   /* local part exact */
		{ "ALICE@example.com", "alice@example.com", 0 },
		{ "alice@example.com", "alice@example.org", 0 },
		{ "alice@example.com", "alice@example.co", 0 },
		{ "alice@example.com", "alic@example.com", 0 },
		{ "alice@example.com", "alice@example.com.", 0 },  /* no dot folding */
		{ "alice@example.com.", "alice@example.com.", 1 },
		{ "alice@sub.example.com", "alice@example.com", 0 },
		{ "alice+tag@example.com", "alice@example.com", 0 }, /* no sub-addressing */
		{ "\"a@b\"@Example.com", "\"a@b\"@example.COM", 1 }, /* the last '@' splits */
		{ "\"a@b\"@example.com", "\"a@B\"@example.com", 0 },
		{ "a@b@example.com", "a@B@example.com", 0 },
		{ "@example.com", "@EXAMPLE.com", 1 },
		{ "alice@", "alice@", 1 },
		{ "alice@", "alice", 0 },
		/* Without '@': never the same as an address with one... */
		{ "alice", "alice@example.com", 0 },
		{ "alice@example.com", "alice", 0 },
		{ "example.com", "@example.com", 0 },
		/* ...and the same as another without only when identical (a role
		 * or login name). */
		{ "postmaster", "postmaster", 1 },
		{ "postmaster", "Postmaster", 0 },
		{ "postmaster", "postmaster.", 0 },
		{ "", "", 1 },
		{ "", "@", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = util_addr_equal(cases[i].a, cases[i].b);
		int rev = util_addr_equal(cases[i].b, cases[i].a);

		if (got != cases[i].want || rev != cases[i].want)
			fail_msg("util_addr_equal(\"%s\", \"%s\"): got %d (reversed %d), "
			    "want %d", cases[i].a, cases[i].b, got, rev, cases[i].want);
	}
	assert_int_equal(util_addr_equal(NULL, "a@b"), 0);
	assert_int_equal(util_addr_equal("a@b", NULL), 0);
	assert_int_equal(util_addr_equal(NULL, NULL), 0);
}

static void
test_addr_domain(void **state)
{
	static const struct { const char *addr, *want; } cases[] = {
		{ "alice@Example.com", "Example.com" },
		{ "\"a@b\"@example.com", "example.com" },
		{ "alice@", "" },
		{ "alice", NULL },
		{ "", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = util_addr_domain(cases[i].addr);

		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got != NULL && strcmp(got, cases[i].want) != 0))
			fail_msg("util_addr_domain(\"%s\"): got %s, want %s", cases[i].addr,
			    got ? got : "NULL", cases[i].want ? cases[i].want : "NULL");
	}
	assert_null(util_addr_domain(NULL));
}

static void
test_addr_normalize(void **state)
{
	static const struct { const char *addr, *want; } cases[] = {
		{ "Alice@Example.COM", "Alice@example.com" },   /* local part kept */
		{ "\"A@B\"@EXAMPLE.com", "\"A@B\"@example.com" },
		{ "Postmaster", "Postmaster" },                 /* no '@': as it is */
		{ "alice@example.com.", "alice@example.com." },
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = util_addr_normalize(cases[i].addr);

		assert_non_null(got);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("util_addr_normalize(\"%s\"): got \"%s\", want \"%s\"",
			    cases[i].addr, got, cases[i].want);
		/* Normalised forms of equal addresses are equal strings. */
		assert_int_equal(util_addr_equal(got, cases[i].addr), 1);
		free(got);
	}
}

static void
test_buf(void **state)
{
	util_buf_t b;
	char *s;
	size_t len = 99;

	(void)state;
	util_buf_init(&b, 10);
	assert_int_equal(util_buf_adds(&b, "abc"), 0);
	assert_int_equal(util_buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_int_equal(b.len, 7);
	assert_string_equal(b.data, "abc42-x");
	assert_int_equal(util_buf_add(&b, "123", 3), 0);     /* exactly max */
	assert_int_equal(b.len, 10);
	errno = 0;
	assert_int_equal(util_buf_addc(&b, 'z'), -1);        /* one past */
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(b.failed, EMSGSIZE);
	assert_string_equal(b.data, "abc42-x123");            /* nothing appended */
	assert_int_equal(util_buf_add(&b, "", 0), -1);        /* stays failed */
	assert_null(util_buf_take(&b, &len));
	assert_int_equal(len, 0);
	assert_null(b.data);

	/* A long formatted string (past the stack buffer) and the limit. */
	util_buf_init(&b, 1000);
	assert_int_equal(util_buf_printf(&b, "%600s", "x"), 0);
	assert_int_equal(b.len, 600);
	assert_int_equal(util_buf_printf(&b, "%500s", "y"), -1);
	assert_int_equal(b.failed, EMSGSIZE);
	assert_int_equal(b.len, 600);
	util_buf_free(&b);

	/* Take: the data, or an empty string when nothing was added. */
	util_buf_init(&b, 16);
	s = util_buf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	util_buf_init(&b, 16);
	util_buf_add(&b, "a\0b", 3);
	s = util_buf_take(&b, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "a\0b", 4);
	free(s);
}

static void
test_err(void **state)
{
	util_err_t err;
	EVP_PKEY *k;

	(void)state;
	assert_int_equal(util_err_set(&err, 7, "%s %d", "code", 7), 7);
	assert_int_equal(err.code, 7);
	assert_string_equal(err.msg, "code 7");
	util_err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");

	/* OpenSSL's queued errors are appended, and the queue emptied. */
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
	    (const unsigned char *)"short", 5);
	assert_null(k);
	assert_int_not_equal(ERR_peek_error(), 0);
	assert_int_equal(util_err_ssl(&err, 3, "cannot make a key"), 3);
	assert_true(strncmp(err.msg, "cannot make a key: error:", 25) == 0);
	assert_int_equal(ERR_peek_error(), 0);

	/* A NULL err is allowed and still empties the queue. */
	assert_null(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
	    (const unsigned char *)"short", 5));
	assert_int_equal(util_err_set(NULL, 2, "ignored"), 2);
	assert_int_equal(ERR_peek_error(), 0);

	/* A long message is cut to fit, still terminated. */
	util_err_set(&err, 1, "%2000s", "x");
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_equal),
		cmocka_unit_test(test_addr_domain),
		cmocka_unit_test(test_addr_normalize),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_err),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

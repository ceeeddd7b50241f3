/*
 * test_tmpl.c: the named-field templates (util/util_tmpl.h) and the
 * gateway's template set (conf_tmpl.c): fields replaced, HTML values
 * escaped (but raw ones), text values as they are; every error (unknown
 * field, a field the template may not use, "{{" not closed, a control
 * character, not UTF-8) named with its line; the shipped sets load and
 * every language renders every template without a "{{" left.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "util/util_tmpl.h"

static const char *const names[] = { "sender", "link", "style", "secret", NULL };
#define ALL 0x7u          /* sender, link, style; not secret */

static void
test_render(void **state)
{
	static const struct { const char *in; int html; const char *want; } cases[] = {
		{ "Hi {{sender}}, {{ link }}.", 0, "Hi a&b <c@x>, http://x/?a=1&b=\"2\"." },
		{ "<p>{{sender}}</p><a href=\"{{link}}\">", 1,
		    "<p>a&amp;b &lt;c@x&gt;</p><a href=\"http://x/?a=1&amp;b=&quot;2&quot;\">" },
		{ "<style>{{style}}</style>", 1, "<style>a > b { x: 'y' }</style>" },
		{ "no fields at all", 1, "no fields at all" },
		{ "{{sender}}{{sender}}", 0, "a&b <c@x>a&b <c@x>" },
		{ "single { and } braces, }} alone", 0, "single { and } braces, }} alone" },
		{ "Grüße, {{sender}}", 0, "Grüße, a&b <c@x>" },
	};
	const char *v[] = { "a&b <c@x>", "http://x/?a=1&b=\"2\"", "a > b { x: 'y' }", NULL };
	util_err_t err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		util_tmpl_t *t = util_tmpl_parse(cases[i].in, "case", names, ALL, cases[i].html, &err);
		char *got;

		if (t == NULL)
			fail_msg("case %zu: %s", i, err.msg);
		got = util_tmpl_render(t, v, 1u << 2);    /* style is raw */
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, got, cases[i].want);
		free(got);
		util_tmpl_free(t);
	}
}

static void
test_errors(void **state)
{
	static const struct { const char *in; const char *want; } cases[] = {
		{ "line 1\nline 2 {{nope}}\n", "f.html:2: unknown field {{nope}}" },
		{ "a\nb\nc {{secret}}", "f.html:3: unknown field {{secret}}" },   /* not allowed */
		{ "{{sender}\n}}", "f.html:1: \"{{\" not closed" },
		{ "x\n\ny {{sender", "f.html:3: \"{{\" not closed" },
		{ "ok\nbell \a\n", "f.html:2: a control character (0x07)" },
		{ "bad \xff utf-8", "f.html: not UTF-8" },
		{ "{{}}", "f.html:1: unknown field {{}}" },
	};
	util_err_t err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		util_tmpl_t *t = util_tmpl_parse(cases[i].in, "f.html", names, ALL, 1, &err);

		if (t != NULL)
			fail_msg("case %zu: \"%s\" accepted", i, cases[i].in);
		if (strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].want);
	}
	assert_null(util_tmpl_load("/nonexistent/x.txt", names, ALL, 0, &err));
	assert_non_null(strstr(err.msg, "/nonexistent/x.txt: No such file"));
}

/* The shipped sets (the tree's conf/templates): every template of every
 * language renders, each field that is given appears, nothing is left. */
static void
test_shipped(void **state)
{
	char *ov[] = { "StateDirectory=/nonexistent", "TemplateDirectory=conf/templates" };
	const char *v[CONF_TF_N] = { 0 };
	char err[1024];
	conf_t *c = conf_load(NULL, ov, 2, err, sizeof(err));

	(void)state;
	if (c == NULL)
		fail_msg("conf: %s", err);
	v[CONF_TF_SENDER] = "alice@example.com";
	v[CONF_TF_RECIPIENT] = "xena@example.net";
	v[CONF_TF_LINK] = "http://portal/pickup?t=00";
	v[CONF_TF_PASSWORD] = "PASSWORD";
	for (int l = 0; l < 2; l++) {
		const char *lang = l == 0 ? "en" : "de";

		assert_string_equal(conf_tmpl_language(c, lang), lang);
		for (int id = 0; id < CONF_TMPL_N; id++) {
			char *s = conf_tmpl_render(c, lang, id, v);

			if (s == NULL || strstr(s, "{{") != NULL)
				fail_msg("%s/%s: not rendered or a field left", lang, conf_tmpl_file(id));
			if (id == CONF_TMPL_INVITE_TXT || id == CONF_TMPL_INVITE_HTML)
				assert_true(strstr(s, "xena@example.net") && strstr(s, "alice@example.com")
				    && strstr(s, "http://portal/pickup?t=00"));
			if (id == CONF_TMPL_PASSWORD_TXT)
				assert_non_null(strstr(s, "\n    PASSWORD\n"));
			if (strstr(conf_tmpl_file(id), ".html") && strncmp(conf_tmpl_file(id), "howto", 5)
			    && strncmp(conf_tmpl_file(id), "format", 6)) {
				char want[32];

				snprintf(want, sizeof(want), "<html lang=\"%s\">", lang);
				if (strstr(s, want) == NULL)
					fail_msg("%s/%s: no %s", lang, conf_tmpl_file(id), want);
			}
			free(s);
		}
	}
	/* An unknown language: TemplateLanguage's. */
	assert_string_equal(conf_tmpl_language(c, "xx"), "en");
	assert_string_equal(conf_tmpl_language(c, NULL), "en");
	conf_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_shipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

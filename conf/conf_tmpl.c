/*
 * conf_tmpl.c: the templates of the gateway's own mails and pages (see
 * conf.h), loaded by the build step from TemplateDirectory: every
 * subdirectory named like a language tag ("en", "de", "pt-br") is a
 * language and must hold every template; style.css (the pages' inline
 * CSS) lies beside them; TemplateLanguage must be one of them.  The
 * engine is util/util_tmpl.h; this file knows the gateway's templates:
 * their files and the fields each may use.  Loaded once, immutable.
 */
#include "conf/conf_int.h"
#include "util/util_tmpl.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LANG_MAX 32
#define LANGS_MAX 64

static const char *const field_names[CONF_TF_N + 1] = {
	"sender", "recipient", "link", "expiry", "company", "root_fingerprint", "lang",
	"password", "portal", "token", "howto", "format_note", "modern_checked",
	"legacy_checked", "platform", "style", "subject", "reference", "list", NULL
};

#define F(f) (1u << CONF_TF_##f)
/* Every template may name these. */
#define COMMON (F(COMPANY) | F(LANG) | F(PORTAL) | F(ROOT_FINGERPRINT))
#define PAGE (COMMON | F(STYLE))
#define INVITE (COMMON | F(SENDER) | F(RECIPIENT) | F(LINK) | F(EXPIRY))
/* The fields made of other templates, inserted as they are. */
#define RAW (F(HOWTO) | F(FORMAT_NOTE) | F(STYLE))


static const struct {
	const char *file;
	unsigned fields;
	int html, mail;
} tmpls[CONF_TMPL_N] = {
	[CONF_TMPL_INVITE_TXT] = { "invite.txt", INVITE, 0, 1 },
	[CONF_TMPL_INVITE_HTML] = { "invite.html", INVITE | F(STYLE), 1, 0 },
	/* The password goes to the sender; the link never with it. */
	[CONF_TMPL_PASSWORD_TXT] = { "password.txt",
	    COMMON | F(SENDER) | F(RECIPIENT) | F(EXPIRY) | F(PASSWORD), 0, 1 },
	[CONF_TMPL_HOLD_TXT] = { "hold.txt",
	    COMMON | F(SENDER) | F(SUBJECT) | F(REFERENCE) | F(LIST), 0, 1 },
	[CONF_TMPL_REFUSAL_TXT] = { "refusal.txt",
	    COMMON | F(SENDER) | F(SUBJECT) | F(REFERENCE) | F(LIST), 0, 1 },
	[CONF_TMPL_PICKUP_HTML] = { "pickup.html", PAGE | F(TOKEN) | F(HOWTO)
	    | F(FORMAT_NOTE) | F(MODERN_CHECKED) | F(LEGACY_CHECKED) | F(PLATFORM), 1, 0 },
	[CONF_TMPL_HOWTO_OUTLOOK_WINDOWS] = { "howto-outlook-windows.html", COMMON, 1, 0 },
	[CONF_TMPL_HOWTO_OUTLOOK_MAC] = { "howto-outlook-mac.html", COMMON, 1, 0 },
	[CONF_TMPL_HOWTO_APPLE_MAIL_MACOS] = { "howto-apple-mail-macos.html", COMMON, 1, 0 },
	[CONF_TMPL_HOWTO_APPLE_MAIL_IOS] = { "howto-apple-mail-ios.html", COMMON, 1, 0 },
	[CONF_TMPL_HOWTO_THUNDERBIRD] = { "howto-thunderbird.html", COMMON, 1, 0 },
	[CONF_TMPL_HOWTO_ANDROID] = { "howto-android.html", COMMON, 1, 0 },
	[CONF_TMPL_FORMAT_MODERN] = { "format-modern.html", COMMON | F(PLATFORM), 1, 0 },
	[CONF_TMPL_FORMAT_LEGACY] = { "format-legacy.html", COMMON | F(PLATFORM), 1, 0 },
	[CONF_TMPL_ERROR_WRONG_PASSWORD] = { "error-wrong-password.html", PAGE | F(LINK), 1, 0 },
	[CONF_TMPL_ERROR_USED] = { "error-used.html", PAGE, 1, 0 },
	[CONF_TMPL_ERROR_EXPIRED] = { "error-expired.html", PAGE, 1, 0 },
	[CONF_TMPL_ERROR_LOCKED] = { "error-locked.html", PAGE, 1, 0 },
	[CONF_TMPL_ERROR_OTHER] = { "error-other.html", PAGE, 1, 0 },
};

struct conf_lang {
	char name[LANG_MAX];
	util_tmpl_t *t[CONF_TMPL_N];
};

struct conf_templates {
	struct conf_lang *l;
	size_t n;
	size_t def;                 /* TemplateLanguage's */
	char *style;
};

const char *
conf_tmpl_file(enum conf_tmpl_id id)
{
	return (unsigned)id < CONF_TMPL_N ? tmpls[id].file : "?";
}

/* A language tag: 2 or 3 letters, then "-" and letters or digits. */
static int
lang_name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz");

	if (n < 2 || n > 3)
		return 0;
	if (s[n] == '\0')
		return 1;
	if (s[n] != '-' || s[n + 1] == '\0' || strlen(s) >= LANG_MAX)
		return 0;
	for (s += n + 1; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s))
			return 0;
	return 1;
}

/* A mail's text template: "Subject: ..." then an empty line. */
static int
mail_form_ok(const util_tmpl_t *t)
{
	const char *none[CONF_TF_N] = { 0 };
	char *s = util_tmpl_render(t, none, 0);
	const char *nl = s != NULL ? strchr(s, '\n') : NULL;
	int ok = nl != NULL && strncasecmp(s, "Subject:", 8) == 0
	    && (nl[1] == '\n' || (nl[1] == '\r' && nl[2] == '\n'));

	free(s);
	return ok;
}

static int
lang_load(struct conf_lang *l, const char *dir, char *err, size_t errlen)
{
	util_err_t e;
	char path[4200];

	for (int i = 0; i < CONF_TMPL_N; i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", dir, l->name, tmpls[i].file);
		if ((l->t[i] = util_tmpl_load(path, field_names, tmpls[i].fields, tmpls[i].html,
		    &e)) == NULL)
			return snprintf(err, errlen, "%s", e.msg), -1;
		if (tmpls[i].mail && !mail_form_ok(l->t[i]))
			return snprintf(err, errlen, "%.800s:1: want a first line \"Subject: ...\" "
			    "and an empty line after it", path), -1;
	}
	return 0;
}

static void
templates_free(struct conf_templates *ts)
{
	if (ts == NULL)
		return;
	for (size_t i = 0; i < ts->n; i++)
		for (int j = 0; j < CONF_TMPL_N; j++)
			util_tmpl_free(ts->l[i].t[j]);
	free(ts->l);
	free(ts->style);
	free(ts);
}

/* The languages of dir, sorted by name (the order is then stable). */
static int
lang_cmp(const void *a, const void *b)
{
	return strcmp(((const struct conf_lang *)a)->name, ((const struct conf_lang *)b)->name);
}

static int
langs_find(struct conf_templates *ts, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return snprintf(err, errlen, "%s: %m", dir), -1;
	if ((ts->l = calloc(LANGS_MAX, sizeof(*ts->l))) == NULL) {
		closedir(d);
		return snprintf(err, errlen, "out of memory"), -1;
	}
	while ((de = readdir(d)) != NULL && ts->n < LANGS_MAX)
		if (lang_name_ok(de->d_name))
			snprintf(ts->l[ts->n++].name, LANG_MAX, "%s", de->d_name);
	closedir(d);
	qsort(ts->l, ts->n, sizeof(*ts->l), lang_cmp);
	if (ts->n == 0)
		return snprintf(err, errlen, "%s: no language directory (en, de, ...)", dir), -1;
	return 0;
}

static char *
style_load(const char *dir, char *err, size_t errlen)
{
	const char *none[1] = { NULL };
	char path[4200], *s;
	util_err_t e;
	util_tmpl_t *t;

	snprintf(path, sizeof(path), "%s/style.css", dir);
	if ((t = util_tmpl_load(path, none, 0, 0, &e)) == NULL)
		return snprintf(err, errlen, "%s", e.msg), NULL;
	if ((s = util_tmpl_render(t, none, 0)) == NULL)
		snprintf(err, errlen, "out of memory");
	util_tmpl_free(t);
	return s;
}

/* Loads TemplateDirectory: 0, or -1 with err naming the line that set it
 * and the template's file:line. */
int
conf_tmpl_build(conf_t *c, char *err, size_t errlen)
{
	struct conf_templates *ts = calloc(1, sizeof(*ts));
	char why[1000], buf[128];
	const char *key = "TemplateDirectory";
	size_t i;
	int rc = -1;

	if (ts == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	if (langs_find(ts, c->template_dir, why, sizeof(why)) == 0
	    && (ts->style = style_load(c->template_dir, why, sizeof(why))) != NULL) {
		for (i = 0; i < ts->n && lang_load(&ts->l[i], c->template_dir, why,
		    sizeof(why)) == 0; i++)
			;
		for (ts->def = 0; i == ts->n && ts->def < ts->n
		    && strcmp(ts->l[ts->def].name, c->template_language) != 0; ts->def++)
			;
		if (i == ts->n && ts->def == ts->n) {
			key = "TemplateLanguage";
			snprintf(why, sizeof(why), "%s: no such directory in %s",
			    c->template_language, c->template_dir);
		}
		else if (i == ts->n)
			rc = 0;
	}
	if (rc == 0) {
		c->templates = ts;
		return 0;
	}
	templates_free(ts);
	conf_errf(err, errlen, conf_where(c, conf_key_index(key), buf, sizeof(buf)), "%s: %s",
	    key, why);
	return -1;
}

void
conf_tmpl_free(conf_t *c)
{
	templates_free(c->templates);
	c->templates = NULL;
}

static const struct conf_lang *
lang_of(const conf_t *c, const char *want)
{
	const struct conf_templates *ts = c->templates;

	for (size_t i = 0; want != NULL && i < ts->n; i++)
		if (strcasecmp(ts->l[i].name, want) == 0)
			return &ts->l[i];
	return &ts->l[ts->def];
}

const char *
conf_tmpl_language(const conf_t *c, const char *want)
{
	return c->templates != NULL ? lang_of(c, want)->name : c->template_language;
}

char *
conf_tmpl_render(const conf_t *c, const char *want, enum conf_tmpl_id id,
    const char *const *values)
{
	const char *v[CONF_TF_N];
	const struct conf_lang *l;

	if (c->templates == NULL || (unsigned)id >= CONF_TMPL_N)
		return NULL;
	l = lang_of(c, want);
	memcpy(v, values, sizeof(v));
	if (v[CONF_TF_COMPANY] == NULL)
		v[CONF_TF_COMPANY] = c->company_name;
	if (v[CONF_TF_LANG] == NULL)
		v[CONF_TF_LANG] = l->name;
	if (v[CONF_TF_STYLE] == NULL)
		v[CONF_TF_STYLE] = c->templates->style;
	if (v[CONF_TF_PORTAL] == NULL)
		v[CONF_TF_PORTAL] = c->portal_url;
	return util_tmpl_render(l->t[id], v, RAW);
}

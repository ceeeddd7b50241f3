/*
 * smime_hp.c: header protection (RFC 9788), the header fields' side:
 * which fields go inside the Cryptographic Payload, the baseline Header
 * Confidentiality Policy, the header block a protected payload starts
 * with, and what inbound does with a protected field that differs from
 * the outer one (see smime.h).  The MIME side is smime_hp_mark.c (outbound) and smime_hp_read.c (inbound).
 *
 * Ownership: smime_hp_block() returns a string its caller frees.
 * Threads: no state.
 */
#include "smime/smime_hp.h"
#include "smime/smime_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HP_OBSCURED "[...]"

static int
name_in(const char *name, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcasecmp(name, list[i]) == 0)
			return 1;
	return 0;
}

const char *
smime_hp_mode_name(smime_hp_mode_t mode)
{
	switch (mode) {
	case SMIME_HP_CLEAR:
		return "clear";
	case SMIME_HP_CIPHER:
		return "cipher";
	case SMIME_HP_V1:
		return "v1";
	default:
		return "none";
	}
}

int
smime_hp_structural(const char *name)
{
	return name != NULL && (strncasecmp(name, "Content-", 8) == 0
	    || strcasecmp(name, "MIME-Version") == 0);
}

int
smime_hp_protectable(const char *name)
{
	static const char *const transit[] = { "Received", "Return-Path",
		"DKIM-Signature", "Authentication-Results", "Delivered-To",
		"X-Original-To", "HP-Outer", "Bcc", NULL };

	return name != NULL && name[0] != '\0' && !smime_hp_structural(name)
	    && !name_in(name, transit) && strncasecmp(name, "ARC-", 4) != 0;
}

const char *
smime_hp_baseline(const char *name, const char *value)
{
	static const char *const removed[] = { "Keywords", "Comments", NULL };

	if (strcasecmp(name, "Subject") == 0)
		return HP_OBSCURED;
	if (name_in(name, removed))
		return NULL;
	return value;
}

int
smime_hp_user_facing(const char *name)
{
	static const char *const uf[] = { "Subject", "From", "To", "Cc", "Date",
		"Reply-To", "Followup-To", NULL };

	return name != NULL && name_in(name, uf);
}

int
smime_hp_restorable(const char *name)
{
	static const char *const r[] = { "Subject", "From", "Sender", "To", "Cc",
		"Reply-To", "Date", "Message-ID", "In-Reply-To", "References",
		"Keywords", "Comments", "Followup-To", NULL };

	return name != NULL && name_in(name, r);
}

/* ---- the header block of a protected payload ---- */

char *
smime_hp_block(const smime_hp_out_t *hp, const char *content_headers)
{
	GString *g = g_string_new(NULL);
	const char *v;
	char *s;

	for (size_t i = 0; hp != NULL && i < hp->n; i++)
		if (smime_hp_protectable(hp->fields[i].name))
			g_string_append_printf(g, "%s: %s\n", hp->fields[i].name,
			    hp->fields[i].value);
	for (size_t i = 0; hp != NULL && hp->mode == SMIME_HP_CIPHER && i < hp->n; i++) {
		if (!smime_hp_protectable(hp->fields[i].name))
			continue;
		v = smime_hp_baseline(hp->fields[i].name, hp->fields[i].value);
		if (v != NULL)
			g_string_append_printf(g, "HP-Outer: %s: %s\n",
			    hp->fields[i].name, v);
	}
	if (content_headers != NULL)
		g_string_append(g, content_headers);
	s = strdup(g->str);
	g_string_free(g, TRUE);
	return s;
}

/* ---- inbound: the verdict on one field ---- */

/* A value unfolded, runs of white space as one space, trimmed (g_free). */
static char *
hp_norm(const char *v)
{
	char *n = g_malloc(strlen(v) + 1), *o = n;
	int space = 0;

	for (; *v != '\0'; v++) {
		if (g_ascii_isspace(*v)) {
			space = o != n;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = 0;
		*o++ = *v;
	}
	*o = '\0';
	return n;
}

/* Values compared unfolded, runs of white space as one space, trimmed. */
static int
hp_equal(const char *a, const char *b)
{
	char *na = hp_norm(a), *nb = hp_norm(b);
	int eq = strcmp(na, nb) == 0;

	g_free(na);
	g_free(nb);
	return eq;
}

/* The first mailbox address of an address field, or NULL (g_free it). */
static char *
hp_first_address(const char *value)
{
	InternetAddressList *l = internet_address_list_parse(NULL, value);
	char *addr = NULL;

	if (l != NULL && internet_address_list_length(l) > 0) {
		InternetAddress *a = internet_address_list_get_address(l, 0);
		if (INTERNET_ADDRESS_IS_MAILBOX(a))
			addr = g_strdup(internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(a)));
	}
	if (l != NULL)
		g_object_unref(l);
	return addr;
}

/* 1 when the signer vouches for the sender field: From and Sender must
 * name the signer; Reply-To needs the signature only. */
static int
hp_sender_vouched(const char *name, const char *inner, int verified, const char *signer)
{
	char *addr;
	int ok;

	if (!verified)
		return 0;
	if (strcasecmp(name, "Reply-To") == 0)
		return 1;
	if (signer == NULL || (addr = hp_first_address(inner)) == NULL)
		return 0;
	ok = g_ascii_strcasecmp(addr, signer) == 0;
	g_free(addr);
	return ok;
}

static int
hp_names_sender(const char *name)
{
	static const char *const s[] = { "From", "Sender", "Reply-To", NULL };

	return name_in(name, s);
}

/* The sender obscured (or removed) the outer field: HP-Outer recorded
 * what is outside, or nothing is outside and nothing was recorded, or
 * the Subject is one of the placeholders the drafts used. */
static int
hp_obscured(const char *name, const char *outer, const char *recorded)
{
	if (outer == NULL)
		return recorded == NULL;
	if (recorded != NULL && hp_equal(recorded, outer))
		return 1;
	return strcasecmp(name, "Subject") == 0 && (hp_equal(outer, HP_OBSCURED)
	    || hp_equal(outer, "..."));
}

smime_hp_verdict_t
smime_hp_judge(const char *name, const char *inner, const char *outer,
    const char *recorded, int verified, const char *signer)
{
	int sender_ok = !hp_names_sender(name)
	    || hp_sender_vouched(name, inner, verified, signer);

	if (outer != NULL && hp_equal(inner, outer))
		return SMIME_HP_SAME;
	if (hp_obscured(name, outer, recorded))
		return sender_ok ? SMIME_HP_RESTORE : SMIME_HP_REFUSED;
	return verified && sender_ok ? SMIME_HP_OVERRIDE : SMIME_HP_REFUSED;
}

const char *
smime_hp_verdict_name(smime_hp_verdict_t v)
{
	static const char *const n[] = { "same", "restored", "override", "refused" };

	return (unsigned)v < sizeof(n) / sizeof(n[0]) ? n[v] : "?";
}

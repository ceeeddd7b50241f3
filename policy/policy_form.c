/*
 * policy_form.c: from a decision and what is known of the recipient's
 * certificate to the form delivered (see policy.h), and recipients with
 * equal forms into groups (one copy of the message per group).
 */
#include "policy/policy_int.h"

#include <string.h>

static void
form_deliver(policy_form_t *f, const policy_decision_t *d, int encrypt,
    const char *why)
{
	f->outcome = POLICY_DELIVER;
	f->sign = d->v[POLICY_SIGN];
	f->encrypt = encrypt;
	f->hp = d->v[POLICY_HP];
	f->why = why;
}

/* encrypt=always and no certificate: the fallback. */
static void
form_fallback(policy_form_t *f, const policy_decision_t *d, enum policy_cert cert)
{
	switch (d->v[POLICY_FALLBACK]) {
	case POLICY_FB_HOLD:
		f->outcome = POLICY_HOLD;
		f->enroll = d->v[POLICY_ENROLL];
		f->why = "encrypt=always, no certificate yet: held (fallback=hold)";
		return;
	case POLICY_FB_NOTICE:
		f->outcome = POLICY_NOTICE;
		f->why = "encrypt=always, no certificate: not sent, the sender is told "
		    "(fallback=notice)";
		return;
	default:
		f->outcome = POLICY_REJECT;
		f->why = cert == POLICY_CERT_UNKNOWN
		    ? "encrypt=always, no certificate lookup: refused (fallback=reject)"
		    : "encrypt=always, no certificate: refused (fallback=reject)";
		return;
	}
}

void
policy_resolve(const policy_decision_t *d, enum policy_cert cert, policy_form_t *f)
{
	memset(f, 0, sizeof(*f));
	f->passthrough = d->passthrough;
	if (d->v[POLICY_ACTION] == POLICY_ACT_REJECT) {
		f->outcome = POLICY_REJECT;
		f->why = "action=reject";
	} else if (d->v[POLICY_ACTION] == POLICY_ACT_HOLD) {
		f->outcome = POLICY_HOLD;
		f->why = "action=hold";
	} else if (d->passthrough) {
		f->outcome = POLICY_DELIVER;
		f->why = "already encrypted: as it is";
	} else if (d->v[POLICY_ENCRYPT] == POLICY_ENC_NEVER) {
		form_deliver(f, d, 0, "encrypt=never");
	} else if (cert == POLICY_CERT_FOUND) {
		form_deliver(f, d, 1, "certificate found");
	} else if (cert == POLICY_CERT_UNAVAILABLE) {
		f->outcome = POLICY_TEMPFAIL;
		f->why = "no certificate can be had now (directory, cache or CA unavailable)";
	} else if (d->v[POLICY_ENCRYPT] == POLICY_ENC_IF_POSSIBLE) {
		form_deliver(f, d, 0, cert == POLICY_CERT_UNKNOWN
		    ? "encrypt=if-possible, no certificate lookup"
		    : "encrypt=if-possible, no certificate");
	} else {
		form_fallback(f, d, cert);
	}
	if (f->outcome == POLICY_HOLD && d->v[POLICY_ACTION] != POLICY_ACT_HOLD)
		f->enroll = d->v[POLICY_ENROLL];
}

const char *
policy_outcome_name(enum policy_outcome o)
{
	static const char *const names[] = { "deliver", "hold", "reject", "notice",
		"tempfail" };

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

static int
form_equal(const policy_form_t *a, const policy_form_t *b)
{
	return a->outcome == b->outcome && a->sign == b->sign &&
	    a->encrypt == b->encrypt && a->enroll == b->enroll &&
	    a->passthrough == b->passthrough && a->hp == b->hp &&
	    a->key_agreement == b->key_agreement;
}

size_t
policy_group(const policy_form_t *forms, size_t n, size_t *group)
{
	size_t ngroups = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < i && !form_equal(&forms[j], &forms[i]); j++)
			;
		group[i] = j < i ? group[j] : ngroups++;
	}
	return ngroups;
}

/*
 * keystore_lease.h: leases in the shared directory, so that of several
 * gateways sharing one keystore (KeystoreBackend ldap) exactly one does a
 * given job at a time: renewing one certificate (ca_renew.c), enrolling
 * one recipient (enroll.c), destroying one leaver's keys
 * (keystore_retire.c).
 *
 * A lease is a shared record (keystore_record_add(), kind "lease") whose
 * sealed data says until when it holds ("expires UNIXTIME") and, once
 * its holder is done, what came of it (a note, say the certificate it
 * issued).  Taking it is an LDAP add, which fails when the entry exists
 * (atomic in the directory); a lease past its expiry (its holder crashed)
 * is taken over by a conditional update (the old version's value deleted
 * in the same modify), and given back by a delete under an RFC 4528
 * assertion on its version: of two gateways, one wins each step.  A
 * record that does not open (forged, another master key) blocks nothing:
 * it is removed and the lease taken.  The gateways' clocks are assumed
 * to agree within a small part of the lease time.
 *
 * Without the directory (the file backend: one gateway) every lease is
 * held at once and nothing is written.
 *
 * Threads: any; nothing is cached.  No logging; errors are returned.
 */
#ifndef KEYSTORE_LEASE_H
#define KEYSTORE_LEASE_H

#include <time.h>

#include "keystore/keystore.h"

#define KEYSTORE_LEASE_NOTE_MAX 8192

typedef struct keystore_lease {
	char name[161];             /* letters, digits and dots */
	long version;               /* the record's, while held */
	int held;                   /* 1: this gateway holds it */
	int shared;                 /* 0: no directory, nothing written */
	long long expires;          /* the holder's claim ends (Unix time) */
	char note[KEYSTORE_LEASE_NOTE_MAX];   /* the holder's outcome, "" none */
} keystore_lease_t;

/*
 * Takes the lease name for ttl seconds from now.  KEYSTORE_OK with
 * l->held 1 (ours), or 0 (another gateway holds it until l->expires;
 * l->note says what it wrote); an error when the directory cannot say.
 */
keystore_status_t keystore_lease_take(keystore_t *ks, const char *name,
    long long ttl, time_t now, keystore_lease_t *l, keystore_err_t *err);

/* What the directory holds of the lease name now, in l (l->held 0):
 * KEYSTORE_NOTFOUND when there is none (given back), KEYSTORE_OK. */
keystore_status_t keystore_lease_read(keystore_t *ks, const char *name,
    time_t now, keystore_lease_t *l, keystore_err_t *err);

/* The holder's outcome: note written, the lease kept keep seconds from
 * now so that the others read it.  *lost 1 (nothing written) when another
 * gateway took the lease meanwhile (it expired). */
keystore_status_t keystore_lease_note(keystore_t *ks, keystore_lease_t *l,
    const char *note, time_t now, long long keep, int *lost,
    keystore_err_t *err);

/* Gives a held lease back (removed, if still ours); l->held 0 after. */
keystore_status_t keystore_lease_release(keystore_t *ks, keystore_lease_t *l,
    keystore_err_t *err);

#endif

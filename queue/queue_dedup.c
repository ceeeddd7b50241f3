/*
 * queue_dedup.c: the ID of a copy that a message sent again makes again
 * (see queue.h, queue_dedup_id()): SHA-256 over what it is made from,
 * never over what is made (a fresh signing time makes every copy differ).
 */
#include "queue/queue.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Hashes s and its NUL. */
static int
add(EVP_MD_CTX *c, const char *s)
{
	return EVP_DigestUpdate(c, s, strlen(s) + 1);
}

int
queue_dedup_id(const char *sender, const char *const *rcpts, size_t nrcpts,
    const char *msgid, const unsigned char digest[32], char id[QUEUE_ID_MAX])
{
	static const char label[] = "smimegate-dedup-v1";
	const char **sorted = calloc(nrcpts ? nrcpts : 1, sizeof(*sorted));
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char count[32];
	int ok;

	id[0] = '\0';
	ok = sorted != NULL && c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	if (ok) {
		memcpy(sorted, rcpts, nrcpts * sizeof(*sorted));
		qsort(sorted, nrcpts, sizeof(*sorted), cmp_str);
		snprintf(count, sizeof(count), "%zu", nrcpts);
		ok = EVP_DigestUpdate(c, label, sizeof(label)) == 1
		    && add(c, sender ? sender : "") == 1 && add(c, count) == 1;
	}
	for (size_t i = 0; ok && i < nrcpts; i++)
		ok = add(c, sorted[i]) == 1;
	ok = ok && add(c, msgid ? msgid : "") == 1 && EVP_DigestUpdate(c, digest, 32) == 1
	    && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen * 2 >= QUEUE_DEDUP_ID_LEN;
	if (ok)
		util_hex(id, md, QUEUE_DEDUP_ID_LEN / 2);
	EVP_MD_CTX_free(c);
	free(sorted);
	return ok ? 0 : -1;
}

/*
 * queue_mark.c: the re-injection mark (see queue.h), an HMAC-SHA256 bound
 * to one copy's ID and envelope.
 */
#include "queue/queue.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int
queue_mark_make(const unsigned char *key, size_t keylen, const char *id,
    const char *sender, const char *const *rcpts, size_t nrcpts, char out[65])
{
	static const char label[] = "smimegate-reinject-v1";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;
	int ok;

	out[0] = '\0';
	if (keylen < 16 || (fp = open_memstream(&buf, &len)) == NULL)
		return -1;
	fwrite(label, 1, sizeof(label), fp);
	fwrite(id, 1, strlen(id) + 1, fp);
	fwrite(sender, 1, strlen(sender) + 1, fp);
	for (size_t i = 0; i < nrcpts; i++)
		fwrite(rcpts[i], 1, strlen(rcpts[i]) + 1, fp);
	if (fclose(fp) != 0) {
		free(buf);
		return -1;
	}
	ok = HMAC(EVP_sha256(), key, (int)keylen, (unsigned char *)buf, len, mac,
	    &maclen) != NULL && maclen == 32;
	free(buf);
	if (!ok)
		return -1;
	util_hex(out, mac, 32);
	return 0;
}

int
queue_mark_check(const unsigned char *key, size_t keylen, const char *mark,
    const char *id, const char *sender, const char *const *rcpts, size_t nrcpts)
{
	char want[65];

	if (mark == NULL || strlen(mark) != 64 ||
	    queue_mark_make(key, keylen, id, sender, rcpts, nrcpts, want) != 0)
		return 0;
	return CRYPTO_memcmp(want, mark, 64) == 0;
}

/*
 * fuzz_conf.c: the configuration file and -o overrides (conf_load).
 *
 * Input: the file's text, then optionally a NUL and overrides separated
 * by NULs ("Key=Value").  A configuration that loads is printed (every
 * key) to /dev/null and queried, then released.
 */
#include "conf/conf.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OVERRIDES 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t flen = nul ? (size_t)(nul - data) : size;
	char *file = fuzz_file("smimegate.conf", data, flen);
	char *rest = nul ? fuzz_strndup(nul + 1, size - flen - 1) : NULL;
	char *ov[MAX_OVERRIDES];
	size_t nov = 0, restlen = nul ? size - flen - 1 : 0;
	char err[1024];
	conf_t *c;

	/* The system's CA store is no input, and loading it each time would
	 * slow the harness a hundredfold; the input may set it again. */
	ov[nov++] = "TrustSystemStore=no";
	for (size_t off = 0; rest != NULL && off < restlen && nov < MAX_OVERRIDES;) {
		ov[nov++] = rest + off;
		off += strlen(rest + off) + 1;
	}
	c = conf_load(file, ov, nov, err, sizeof(err));
	if (c != NULL) {
		FILE *null = fopen("/dev/null", "w");
		if (null != NULL) {
			conf_print(c, null);
			conf_print_key(c, "LocalDomains", null);
			fclose(null);
		}
		(void)conf_is_local_domain(c, "example.com");
		(void)conf_is_internal_text(c, "10.1.2.3");
		(void)conf_is_internal_text(c, "::1");
		conf_unref(conf_ref(c));
		conf_unref(c);
	} else if (strlen(err) == 0) {
		abort();    /* a refusal always says why */
	}
	free(rest);
	free(file);
	return 0;
}

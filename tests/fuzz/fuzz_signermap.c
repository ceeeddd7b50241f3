/*
 * fuzz_signermap.c: the SignerMap file (dir_map_load).
 *
 * Input: the file.  A map that loads is asked about logins and addresses
 * taken from its own text, as the milter would.
 */
#include "directory/dir_map.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_file("signers", data, size);
	char err[1024];
	dir_map_t *map = dir_map_load(path, err, sizeof(err));

	if (map != NULL) {
		char *text = fuzz_strndup(data, size), *save = NULL, *prev = "alice";

		for (char *w = strtok_r(text, " \t\r\n,", &save); w != NULL;
		    w = strtok_r(NULL, " \t\r\n,", &save)) {
			(void)dir_map_has_login(map, w);
			(void)dir_map_allows(map, prev, w);
			(void)dir_map_allows(map, w, "alice@example.com");
			prev = w;
		}
		free(text);
		dir_map_free(map);
	} else if (strlen(err) == 0) {
		abort();
	}
	free(path);
	return 0;
}

/*
 * fuzz_spool.c: an entry of the durable spool (QueueDirectory, queue.h) as
 * the spool run and smimectl spool read it: the envelope (a magic line,
 * "Key: value" lines, a blank line) parsed by queue_get(), then the
 * message after it read back with queue_entry_read(), in pieces.  A file
 * in the spool may have been damaged, truncated or written by a later
 * version (keys it does not know).  Only the public reader is called, so
 * the harness follows the format as it grows.
 *
 * Input: the file's octets.
 */
#include "queue/queue.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENTRY_ID "0123456789abcdef.1"

static queue_t *q;
static char path[4200];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[4200], err[256];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/queue", fuzz_dir());
	if (queue_open(dir, &q, NULL, err, sizeof(err)) != QUEUE_OK) {
		fprintf(stderr, "fuzz_spool: %s\n", err);
		abort();
	}
	snprintf(path, sizeof(path), "%s/active/%s", dir, ENTRY_ID);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	queue_entry_t e;
	char err[256], buf[1000];
	long long off = 0, n;

	if (unit_write_file(path, data, size, 0600) != 0)
		abort();
	if (queue_get(q, ENTRY_ID, &e, err, sizeof(err)) == QUEUE_OK) {
		if (e.sender == NULL || e.nrcpts == 0 || e.form == NULL || e.reason == NULL
		    || e.origin == NULL || e.body_off < 0 || e.body_off + e.body_len != (long long)size)
			abort();
		for (size_t i = 0; i < e.nrcpts; i++)
			if (e.rcpts[i] == NULL || strchr(e.rcpts[i], '\n') != NULL)
				abort();
		while ((n = queue_entry_read(&e, off, buf, sizeof(buf))) > 0) {
			if (memcmp(buf, data + e.body_off + off, (size_t)n) != 0)
				abort();
			off += n;
		}
		if (off != e.body_len)
			abort();
		queue_entry_free(&e);
	}
	return 0;
}

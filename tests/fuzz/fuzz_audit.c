/*
 * fuzz_audit.c: audit log lines (audit_reader, audit_verify, the report),
 * as `smimectl audit verify|report` reads a log someone may have edited.
 *
 * Input: the contents of one log file.  It is read record by record,
 * verified against a key made at start-up (so a forged checkpoint is
 * checked, and must fail), and counted into a report written in every
 * format to /dev/null.
 */
#include "audit/audit.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *pub;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if ((pub = unit_key(UNIT_P256)) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_file("audit.log", data, size);
	const char *files[] = { path };
	audit_err_t err;
	audit_reader_t *r = audit_reader_open(files, 1, &err);
	const audit_entry_t *e;
	audit_verify_result_t res;
	audit_report_t *rp;
	audit_status_t st;
	FILE *null;

	for (int i = 0; r != NULL && i < 100000; i++) {
		st = audit_reader_next(r, &e, &err);
		if (st == AUDIT_END || st == AUDIT_ERR_IO)
			break;
	}
	audit_reader_free(r);
	memset(&res, 0, sizeof(res));
	st = audit_verify(files, 1, pub, &res, &err);
	if (st == AUDIT_OK && res.checkpoints > 0)
		abort();    /* a checkpoint signed by a key we never had */
	rp = audit_report_new(0, 0, &err);
	null = fopen("/dev/null", "w");
	if (rp != NULL && null != NULL &&
	    audit_report_read(rp, files, 1, &err) == AUDIT_OK) {
		(void)audit_report_set_integrity(rp, "fuzz", 0, &err);
		for (int f = AUDIT_FMT_TEXT; f <= AUDIT_FMT_HTML; f++)
			(void)audit_report_write(rp, (audit_format_t)f, 0, null, &err);
	}
	if (null != NULL)
		fclose(null);
	audit_report_free(rp);
	free(path);
	return 0;
}

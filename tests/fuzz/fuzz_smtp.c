/*
 * fuzz_smtp.c: the SMTP client of the gateway's own mail (net_smtp.c,
 * EnrollmentSMTP): the replies of the server it talks to, greeting to the
 * answer after the message's final dot, multi-line or not, cut anywhere.
 * The server is the fuzz responder on 127.0.0.1 (fuzz_util.h), which
 * sends the whole input at once and then reads what the client sends.
 *
 * Input: the octets the server sends.
 */
#include "net/net_smtp.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gmime/gmime.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char hostport[64];
static char *msg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_mime_init();
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", fuzz_responder_start());
	msg = net_smtp_compose("pki@example.com", "xena@example.net", "Fuzz",
	    ".a line starting with a dot\nand another\n", "Secret123", "\n.\n");
	if (msg == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512];

	fuzz_responder_set(data, size);
	(void)net_smtp_send(hostport, "pki@example.com", "xena@example.net", msg, 2,
	    why, sizeof(why));
	return 0;
}

/*
 * pickuptool: makes a one-time pickup link (enroll_pickup_new) in a pickup
 * directory, as an enrollment would, and prints its token and password on
 * two lines; for tests that exercise the portal without the mail flow
 * (86-http-limits).  Never installed.
 *
 *   pickuptool DIR ADDRESS [LIFETIME-SECONDS]
 */
#include "enroll/enroll_pickup.h"

#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	char token[ENROLL_PICKUP_TOKEN_LEN + 1], password[ENROLL_PICKUP_PASSWORD_LEN + 1];
	char why[512];

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: pickuptool DIR ADDRESS [LIFETIME]\n");
		return 2;
	}
	if (enroll_pickup_new(argv[1], argv[2], argc > 3 ? atol(argv[3]) : 3600, token,
	    password, why, sizeof(why)) != 0) {
		fprintf(stderr, "pickuptool: %s\n", why);
		return 1;
	}
	printf("%s\n%s\n", token, password);
	return 0;
}

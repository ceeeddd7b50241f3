/*
 * ops_publish.c: publication with the configuration's settings, and the
 * gateway's log line when it fails (see ops_publish.h).
 */
#include "ops/ops_publish.h"
#include "ops/ops_log.h"

#include <string.h>

void
ops_publish_settings(const conf_t *conf, dir_publish_settings_t *s)
{
	memset(s, 0, sizeof(*s));
	s->url = conf->publish_directory;
	s->branch = conf->publish_branch;
	s->timeout = (int)conf->publish_timeout;
}

int
ops_publish(const conf_t *conf, const char *qid, const char *address,
    X509 *cert, STACK_OF(X509) *chain, int outsider)
{
	dir_publish_settings_t s;
	char why[512];

	ops_publish_settings(conf, &s);
	if (!dir_publish_enabled(&s) || (outsider && !conf->publish_outsiders))
		return 0;
	if (dir_publish(&s, address, cert, chain, why, sizeof(why)) == 0) {
		ops_log(LOG_INFO, qid, "publish <%s>: certificate written to the "
		    "directory", address);
		return 0;
	}
	ops_log(LOG_WARNING, qid, "publish <%s>: not published: %s (run smimectl "
	    "keystore publish %s when the directory answers)", address, why, address);
	return -1;
}

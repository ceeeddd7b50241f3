/*
 * ops_http.c: the handlers of /healthz and /metrics (see ops_http.h), on
 * the HTTPListen server's loop (net_http.h).  /healthz checks each part
 * now, on that loop's thread (each check bounded by its own timeouts):
 * an LDAP round trip per directory, a Redis PING, the keystore read and
 * its master key loaded, a file made in the spool and the queue.
 */
#include "ops/ops_http.h"
#include "ops/ops_metrics.h"
#include "directory/dir_lookup.h"
#include "keystore/keystore.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>

struct ops_http {
	conf_get_fn get;
	int audit_open;
	keystore_t *ks;             /* the daemon's, for its health; not owned */
};

static long
spool_depth(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* 1 when a file can be made (and is removed) in dir: writable for real,
 * not only by its mode (a read-only or full file system fails). */
static int
dir_writable(const char *dir, char *why, size_t len)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/.healthz.XXXXXX", dir) >= (int)sizeof(path)) {
		snprintf(why, len, "%s: path too long", dir);
		return 0;
	}
	if ((fd = mkstemp(path)) < 0) {
		snprintf(why, len, "%s: %s", dir, strerror(errno));
		return 0;
	}
	close(fd);
	unlink(path);
	return 1;
}

/* One component: its state (the top-level "name":"state" pair), details
 * (may be NULL; taken), and whether it is required and down. */
static int
part(json_object *top, json_object *details, const char *name,
    const char *state, json_object *detail, int needed_down)
{
	json_object_object_add(top, name, json_object_new_string(state));
	if (detail != NULL)
		json_object_object_add(details, name, detail);
	return needed_down;
}

static json_object *
detail_new(const char *why)
{
	json_object *d = json_object_new_object();

	if (why != NULL && *why != '\0')
		json_object_object_add(d, "error", json_object_new_string(why));
	return d;
}

/* The directories, the cache and the harvest store.  *optional_down is
 * set when only the cache (not needed: lookups go to the directories) is
 * down. */
static int
check_lookup(conf_t *c, json_object *top, json_object *det, int *optional_down)
{
	dir_health_t dh;
	json_object *d;
	int bad = 0;

	if (c->lookup == NULL) {
		part(top, det, "directory", "none", NULL, 0);
		part(top, det, "cache", "none", NULL, 0);
		return 0;
	}
	dir_lookup_health(c->lookup, &dh);
	if (dh.directories == 0)
		part(top, det, "directory", "none", NULL, 0);
	else {
		d = detail_new(dh.dir_why);
		json_object_object_add(d, "configured", json_object_new_int(dh.directories));
		json_object_object_add(d, "answering", json_object_new_int(dh.directories_up));
		bad |= part(top, det, "directory", dh.directories_up == dh.directories
		    ? "up" : "down", d, dh.directories_up != dh.directories);
	}
	if (dh.cache == 1)
		part(top, det, "cache", "in-process", NULL, 0);
	else {
		part(top, det, "cache", dh.cache == 0 ? "up" : "down",
		    detail_new(dh.cache_why), 0);
		*optional_down |= dh.cache != 0;
	}
	if (dh.harvest == 1)
		part(top, det, "harvest", "file", NULL, 0);
	else if (dh.harvest <= 0)
		bad |= part(top, det, "harvest", dh.harvest == 0 ? "up" : "down",
		    detail_new(dh.harvest_why), dh.harvest != 0);
	return bad;
}

static int
check_keystore(ops_http_t *h, conf_t *c, json_object *top, json_object *det)
{
	keystore_health_t kh;
	json_object *d;
	int up;

	if (h->ks == NULL) {
		up = access(c->keystore_dir, R_OK | X_OK) == 0;
		return part(top, det, "keystore", up ? "up" : "down", NULL, !up);
	}
	keystore_health(h->ks, &kh);
	up = kh.readable && kh.master_loaded;
	d = detail_new(!kh.master_loaded ? "no master key loaded" : kh.why);
	json_object_object_add(d, "backend", json_object_new_string(kh.backend));
	json_object_object_add(d, "entries", json_object_new_int64((int64_t)kh.entries));
	json_object_object_add(d, "skipped", json_object_new_int64((int64_t)kh.skipped));
	json_object_object_add(d, "master_key", json_object_new_boolean(kh.master_loaded));
	return part(top, det, "keystore", up ? "up" : "down", d, !up);
}

/* The body spool, and the durable queue when it exists. */
static int
check_spools(conf_t *c, json_object *top, json_object *det)
{
	char why[512] = "", sub[4096];
	json_object *d;
	long depth;
	int up, bad;

	up = dir_writable(c->spool_dir, why, sizeof(why));
	d = detail_new(why);
	json_object_object_add(d, "depth", json_object_new_int64(spool_depth(c->spool_dir)));
	bad = part(top, det, "spool", up ? "up" : "down", d, !up);
	if (*c->queue_dir == '\0' || access(c->queue_dir, F_OK) != 0)
		return bad | part(top, det, "queue", "none", NULL, 0);
	why[0] = '\0';
	snprintf(sub, sizeof(sub), "%s/tmp", c->queue_dir);
	up = dir_writable(access(sub, F_OK) == 0 ? sub : c->queue_dir, why, sizeof(why));
	d = detail_new(why);
	snprintf(sub, sizeof(sub), "%s/active", c->queue_dir);
	depth = spool_depth(sub);
	json_object_object_add(d, "active", json_object_new_int64(depth < 0 ? 0 : depth));
	snprintf(sub, sizeof(sub), "%s/hold", c->queue_dir);
	depth = spool_depth(sub);
	json_object_object_add(d, "hold", json_object_new_int64(depth < 0 ? 0 : depth));
	return bad | part(top, det, "queue", up ? "up" : "down", d, !up);
}

static void
on_healthz(struct evhttp_request *req, void *arg)
{
	ops_http_t *h = arg;
	conf_t *c = h->get();
	json_object *top = json_object_new_object(), *det = json_object_new_object();
	struct evbuffer *b = evbuffer_new();
	int bad = 0, optional_down = 0, au;
	const char *text;

	if (b == NULL || c == NULL || top == NULL || det == NULL) {
		evhttp_send_error(req, 503, "no configuration");
		if (b != NULL)
			evbuffer_free(b);
		json_object_put(top);
		json_object_put(det);
		if (c != NULL)
			conf_unref(c);
		return;
	}
	bad |= check_lookup(c, top, det, &optional_down);
	bad |= check_keystore(h, c, top, det);
	bad |= check_spools(c, top, det);
	if (!c->audit)
		part(top, det, "audit", "disabled", NULL, 0);
	else {
		au = h->audit_open && access(c->audit_dir, W_OK | X_OK) == 0;
		bad |= part(top, det, "audit", au ? "up" : "down", NULL, !au);
	}
	json_object_object_add(top, "status", json_object_new_string(bad ? "unhealthy"
	    : optional_down ? "degraded" : "ok"));
	json_object_object_add(top, "details", det);
	text = json_object_to_json_string_ext(top,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	evbuffer_add_printf(b, "%s\n", text);
	json_object_put(top);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evhttp_send_reply(req, bad ? 503 : 200, bad ? "Service Unavailable" : "OK", b);
	evbuffer_free(b);
	conf_unref(c);
}

/* The keystore's certificates expiring within RenewBefore, and expired
 * (each address's newest for signing and for encryption only: a renewed
 * one is not counted); nothing when the keystore cannot be read. */
static void
cert_metrics(ops_http_t *h, const conf_t *c, FILE *fp)
{
	time_t now = time(NULL);
	keystore_expiry_t *v;
	keystore_err_t err;
	size_t n, expired = 0;

	if (h->ks == NULL || keystore_expiring(h->ks, now + (time_t)c->renew_before_days
	    * 86400, &v, &n, &err) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		expired += v[i].expires <= now;
	free(v);
	ops_metrics_certs(fp, n - expired, expired);
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	ops_http_t *h = arg;
	conf_t *c = h->get();
	struct evbuffer *b = evbuffer_new();
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (b == NULL || fp == NULL) {
		evhttp_send_error(req, 500, "out of memory");
	} else {
		ops_metrics_write(fp, c != NULL ? spool_depth(c->spool_dir) : -1);
		if (c != NULL)
			cert_metrics(h, c, fp);
		if (c != NULL && c->lookup != NULL) {
			dir_cache_stats_t st;

			dir_lookup_cache_stats(c->lookup, &st);
			ops_metrics_cache(fp, &st);
		}
		fclose(fp);
		fp = NULL;
		evbuffer_add(b, text, len);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		    "text/plain; version=0.0.4");
		evhttp_send_reply(req, 200, "OK", b);
	}
	if (fp != NULL)
		fclose(fp);
	free(text);
	if (b != NULL)
		evbuffer_free(b);
	conf_unref(c);
}

ops_http_t *
ops_http_attach(net_http_t *srv, conf_get_fn get, keystore_t *ks, int audit_open)
{
	ops_http_t *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->get = get;
	h->ks = ks;
	h->audit_open = audit_open;
	if (net_http_route(srv, "/healthz", on_healthz, h) != 0
	    || net_http_route(srv, "/metrics", on_metrics, h) != 0) {
		free(h);
		return NULL;
	}
	return h;
}

void
ops_http_free(ops_http_t *h)
{
	free(h);
}

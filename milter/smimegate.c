/*
 * smimegate.c: the milter daemon's main(): options, configuration, state
 * directories, then one of: check (-n), print a key (-P), the offline mode
 * (-t), or serve: the gateway built (milt_gateway.h, which owns every
 * thread), its milter socket given to the right owner, privileges
 * dropped, libmilter run, the gateway stopped.  Exiting with a message is
 * allowed here, at start-up, and nowhere else.
 */
#include "conf/conf.h"
#include "ops/ops_log.h"
#include "milter/milt_gateway.h"
#include "milter/milt_offline.h"
#include "keystore/keystore.h"
#include "ops/ops_keystore.h"
#include "smime/smime.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define MAX_OVERRIDES 256
#define MAX_RCPTS 1000

typedef struct opts {
	const char *conf_file;
	char *overrides[MAX_OVERRIDES];
	size_t noverrides;
	int foreground, check;
	const char *print_key;
	milt_offline_args_t off;
	char *rcpts[MAX_RCPTS];
} opts_t;

#ifndef SMIMEGATE_VERSION
#error "SMIMEGATE_VERSION: the Makefile passes debian/changelog's version"
#endif

/* The usage: on stdout with exit 0 for -h, on stderr with exit 2 for a
 * usage error. */
static void __attribute__((noreturn))
usage(FILE *fp, int rc)
{
	fprintf(fp,
	    "usage: smimegate [-c file] [-o key=value]... [-f] [-n] [-P key]\n"
	    "       smimegate [-c file] [-o key=value]... -t in.eml --from addr\n"
	    "                 --rcpt addr [--rcpt addr]... [--auth login] [--client ip]\n"
	    "                 [--inbound]\n"
	    "       smimegate -h | --help | --version\n");
	exit(fflush(fp) == 0 ? rc : 1);
}

static void
parse_opts(int argc, char **argv, opts_t *o)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'F' },
		{ "rcpt", required_argument, NULL, 'R' },
		{ "auth", required_argument, NULL, 'A' },
		{ "client", required_argument, NULL, 'C' },
		{ "inbound", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:o:fnP:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->conf_file = optarg; break;
		case 'o':
			if (o->noverrides == MAX_OVERRIDES || strchr(optarg, '=') == NULL)
				usage(stderr, 2);
			o->overrides[o->noverrides++] = optarg;
			break;
		case 'f': o->foreground = 1; break;
		case 'n': o->check = 1; break;
		case 'P': o->print_key = optarg; break;
		case 't': o->off.input = optarg; break;
		case 'F': o->off.from = optarg; break;
		case 'R':
			if (o->off.nrcpts == MAX_RCPTS)
				usage(stderr, 2);
			o->rcpts[o->off.nrcpts++] = optarg;
			break;
		case 'A': o->off.auth = optarg; break;
		case 'C': o->off.client = optarg; break;
		case 'I': o->off.inbound = 1; break;
		case 'h': usage(stdout, 0);
		case 'V':
			printf("smimegate %s\n", SMIMEGATE_VERSION);
			exit(fflush(stdout) == 0 ? 0 : 1);
		default: usage(stderr, 2);
		}
	}
	o->off.rcpts = o->rcpts;
	if (optind != argc)
		usage(stderr, 2);
	if (o->off.input != NULL && (o->off.from == NULL || o->off.nrcpts == 0))
		usage(stderr, 2);
	if (o->off.input == NULL && (o->off.from || o->off.nrcpts || o->off.auth ||
	    o->off.client || o->off.inbound))
		usage(stderr, 2);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smimegate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
make_dir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		die("cannot create %s: %s", path, strerror(errno));
}

/*
 * The state directories, owned by the service user when we run as root.
 * Everything inside StateDirectory is that user's to change, so nothing
 * there is followed if it is a symbolic link (util_chown_nofollow);
 * StateDirectory itself is the administrator's path, resolved first.
 */
static void
prepare_state(conf_t *conf, const struct passwd *pw)
{
	const char *dirs[] = { conf->state_dir, conf->spool_dir, conf->keystore_dir };
	char err[PATH_MAX + 100], *real;

	/* The start alone makes files: StateDirectory, the re-injection key. */
	if (conf_prepare(conf, err, sizeof(err)) != 0)
		die("%s", err);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		make_dir(dirs[i]);
		if (pw == NULL)
			continue;
		real = i == 0 ? realpath(dirs[i], NULL) : NULL;
		if (util_chown_nofollow(real != NULL ? real : dirs[i], pw->pw_uid,
		    pw->pw_gid, err, sizeof(err)) != 0)
			die("%s", err);
		free(real);
	}
	/* The re-injection key, made as root above: a reload as the service
	 * user must read it too. */
	if (pw != NULL && util_chown_nofollow(conf->reinject_key_file, pw->pw_uid,
	    pw->pw_gid, err, sizeof(err)) != 0 && errno != ENOENT)
		die("%s", err);
}

static struct passwd *
service_user(const conf_t *conf)
{
	struct passwd *pw;

	if (*conf->user == '\0')
		return NULL;
	if ((pw = getpwnam(conf->user)) == NULL)
		die("UserID %s: no such user", conf->user);
	return pw;
}

static void
drop_privileges(const struct passwd *pw)
{
	if (pw == NULL || geteuid() != 0)
		return;
	if (setgid(pw->pw_gid) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		die("cannot become %s: %s", pw->pw_name, strerror(errno));
}

/*
 * The milter socket (unix): whoever may connect to it speaks for the MTA
 * (any login, any client), so only its owner and SocketGroup may.  Its
 * directory is made when missing (0750, the service user, SocketGroup);
 * libmilter binds under umask 0177, then the socket gets the group and
 * mode 0660.  A directory anyone may write to (without the sticky bit)
 * is refused: someone else could put a socket of their own there.
 */
static const char *
socket_path(const conf_t *conf)
{
	const char *s = conf->socket;

	if (strncmp(s, "unix:", 5) != 0 && strncmp(s, "local:", 6) != 0)
		return NULL;
	return strchr(s, ':') + 1;
}

static gid_t
socket_gid(const conf_t *conf, const struct passwd *pw)
{
	struct group *gr;

	if (*conf->socket_group == '\0')
		return pw != NULL ? pw->pw_gid : getegid();
	if ((gr = getgrnam(conf->socket_group)) == NULL)
		die("SocketGroup %s: no such group", conf->socket_group);
	return gr->gr_gid;
}

static void
socket_owner(const char *path, const struct passwd *pw, gid_t gid, mode_t mode)
{
	uid_t uid = pw != NULL && geteuid() == 0 ? pw->pw_uid : (uid_t)-1;

	/* Never through a symbolic link put in its place. */
	if (lchown(path, uid, gid) != 0
	    || fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) != 0)
		die("%s: cannot give it to group %ld, mode %04o: %s", path, (long)gid,
		    (unsigned)mode, strerror(errno));
}

static void
socket_dir(const char *path, const struct passwd *pw, gid_t gid)
{
	char *dir = strdup(path), *slash;
	struct stat st;

	if (dir == NULL || (slash = strrchr(dir, '/')) == NULL)
		die("out of memory");
	slash[slash == dir] = '\0';       /* "/x.sock": the directory is "/" */
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || mkdir(dir, 0750) != 0)
			die("cannot create %s (the milter socket's directory): %s", dir,
			    strerror(errno));
		socket_owner(dir, pw, gid, 0750);
	} else if (!S_ISDIR(st.st_mode) || ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))) {
		die("%s: not a directory, or anyone may write to it: no place for the "
		    "milter socket", dir);
	}
	free(dir);
}

static void
socket_listen(const conf_t *conf, milt_gateway_t *gw, const struct passwd *pw)
{
	const char *path = socket_path(conf);
	gid_t gid = 0;
	mode_t old;
	char err[512];
	int rc;

	if (path != NULL) {
		gid = socket_gid(conf, pw);
		socket_dir(path, pw, gid);
	}
	old = umask(0177);
	rc = milt_gateway_listen(gw, err, sizeof(err));
	umask(old);
	if (rc != 0)
		die("%s", err);
	if (path != NULL)
		socket_owner(path, pw, gid, 0660);
}

static keystore_t *
open_keystore(const conf_t *conf, int create)
{
	keystore_err_t kerr;
	keystore_t *ks = ops_keystore_open(conf, create ? KEYSTORE_CREATE : 0,
	    &kerr);

	if (ks == NULL)
		die("keystore: %s", kerr.msg);
	return ks;
}

/* -n: the configuration loaded; check what it names that exists. */
static int
check_only(const conf_t *conf)
{
	struct stat st;

	if (stat(conf->keystore_dir, &st) == 0)
		keystore_free(open_keystore(conf, 0));
	return 0;
}

static void
write_pid(const conf_t *conf)
{
	FILE *fp;

	if (*conf->pid_file == '\0')
		return;
	if ((fp = fopen(conf->pid_file, "w")) == NULL) {
		ops_log(LOG_ERR, NULL, "cannot write %s: %s", conf->pid_file, strerror(errno));
		return;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	fclose(fp);
}

/* The daemon: the gateway built (milt_gateway.h), libmilter run, the
 * gateway stopped. */
static int
serve(conf_t *conf, const opts_t *o)
{
	milt_gateway_src_t src = { o->conf_file, o->overrides, o->noverrides };
	struct passwd *pw = service_user(conf);
	milt_gateway_t *gw;
	char err[1024];
	int rc;

	prepare_state(conf, geteuid() == 0 ? pw : NULL);
	if ((gw = milt_gateway_open(conf, &src, pw, err, sizeof(err))) == NULL)
		die("%s", err);
	socket_listen(conf, gw, pw);
	drop_privileges(pw);
	if (!o->foreground && conf->background && daemon(0, 0) != 0)
		die("cannot go to the background: %s", strerror(errno));
	write_pid(conf);
	if (milt_gateway_start(gw, err, sizeof(err)) != 0) {
		milt_gateway_stop(gw);
		die("%s", err);
	}
	rc = milt_gateway_serve(gw);
	milt_gateway_stop(gw);
	if (*conf->pid_file != '\0')
		unlink(conf->pid_file);
	return rc == 0 ? 0 : 1;
}

static int
offline(conf_t *conf, const milt_offline_args_t *args)
{
	char err[512];
	keystore_t *ks;
	int rc;

	prepare_state(conf, NULL);
	ks = open_keystore(conf, conf->create_master_key);
	rc = milt_offline_run(conf, ks, args, stdout, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "smimegate: %s\n", err);
	keystore_free(ks);
	return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	opts_t o;
	conf_t *conf;
	char err[1024];
	int rc;

	memset(&o, 0, sizeof(o));
	parse_opts(argc, argv, &o);
	if (o.conf_file == NULL && access(CONF_DEFAULT_FILE, F_OK) == 0)
		o.conf_file = CONF_DEFAULT_FILE;
	/* -P prints a value: the configuration parsed, nothing built. */
	conf = o.print_key != NULL
	    ? conf_parse(o.conf_file, o.overrides, o.noverrides, err, sizeof(err))
	    : conf_load(o.conf_file, o.overrides, o.noverrides, err, sizeof(err));
	if (conf == NULL)
		die("%s", err);
	if (o.print_key != NULL) {
		rc = conf_print_key(conf, o.print_key, stdout);
		conf_unref(conf);
		if (rc != 0)
			die("-P %s: unknown key", o.print_key);
		return 0;
	}
	smime_init();
	ops_log_open("smimegate", conf);
	if (o.check)
		rc = check_only(conf);
	else if (o.off.input != NULL) {
		ops_log_stderr(1);
		rc = offline(conf, &o.off);
	} else
		rc = serve(conf, &o);
	conf_unref(conf);
	util_alg_free();        /* every thread joined: the fetched algorithms */
	return rc;
}

/* main.c — the esfs command: esfs [options] STORE_DIR MOUNTPOINT.
 *
 * Checks everything it can before mounting (arguments, the mountpoint,
 * the store), so that a bad start prints one line and leaves nothing
 * mounted; then mounts and serves until unmounted or sent SIGINT, SIGTERM
 * or SIGHUP.
 *
 * Without -f it forks first and does all of that in the child, which tells
 * the waiting parent how the start went: the parent's exit status is the
 * start's, and the error line reaches the terminal. (LMDB forbids using an
 * environment across fork(), so the store is opened after it.)
 */
#include "esfs.h"
#include "message.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#ifndef ESFS_VERSION
#define ESFS_VERSION "0.1.0"
#endif

/* A message may carry a batch: up to this many events at the limit. */
#define MESSAGE_EVENTS 16

struct options {
	char *store;
	unsigned long max_event;
	int read_only;
	int allow_other;
};

enum { KEY_RO, KEY_ALLOW_OTHER };

static const struct fuse_opt option_spec[] = {
	{"max_event=%lu", offsetof(struct options, max_event), 0},
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_END
};

static int option_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct options *o = data;

	(void)out;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!o->store) {
			o->store = strdup(arg);
			return 0;
		}
		return 1;	/* the mountpoint, for fuse_parse_cmdline */
	case KEY_RO:
		o->read_only = 1;
		return 1;	/* libfuse mounts read-only too */
	case KEY_ALLOW_OTHER:
		o->allow_other = 1;
		return 1;
	}
	return 1;
}

static void usage(const char *prog)
{
	printf("usage: %s [options] STORE_DIR MOUNTPOINT\n\n"
	       "Mounts the esfs event store in STORE_DIR (created when missing) on\n"
	       "MOUNTPOINT. See esfs(1).\n\n"
	       "esfs options:\n"
	       "    -o max_event=BYTES     largest event (default %d)\n"
	       "    -o ro                  read-only: every write fails with EROFS\n\n",
	       prog, ES_MAX_EVENT_DEFAULT);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* Refuses a mountpoint that a dead daemon left behind, or that something
 * is mounted on already. */
static int check_mountpoint(const char *mnt)
{
	struct stat st, up;
	char parent[PATH_MAX];

	if (stat(mnt, &st) != 0) {
		if (errno == ENOTCONN)
			fprintf(stderr, "esfs: %s: a stale mount left by a daemon that died; "
				"clear it with: fusermount3 -u %s\n", mnt, mnt);
		else
			fprintf(stderr, "esfs: mountpoint %s: %s\n", mnt, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "esfs: mountpoint %s: not a directory\n", mnt);
		return -1;
	}
	snprintf(parent, sizeof parent, "%s/..", mnt);
	if (stat(parent, &up) == 0 && up.st_dev != st.st_dev && st.st_ino != up.st_ino) {
		fprintf(stderr, "esfs: mountpoint %s: busy, something is mounted there already\n", mnt);
		return -1;
	}
	return 0;
}

/* Adds -o fsname=DIR, with the commas and backslashes libfuse splits on
 * escaped. */
static int add_fsname(struct fuse_args *args, const char *dir)
{
	char opt[2 * PATH_MAX + 16] = "-ofsname=";
	size_t n = strlen(opt);

	for (const char *p = dir; *p; p++) {
		if (*p == ',' || *p == '\\')
			opt[n++] = '\\';
		opt[n++] = *p;
	}
	opt[n] = '\0';
	return fuse_opt_add_arg(args, opt);
}

/* Forks; the parent waits for the child's word and exits with it. Returns
 * in the child the pipe to tell the parent on, or -1 on failure. */
static int go_background(void)
{
	int p[2];
	char status = 1;
	pid_t pid;

	if (pipe(p) != 0 || (pid = fork()) < 0) {
		fprintf(stderr, "esfs: cannot go to the background: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;	/* the child died before a word */
		_exit(status);
	}
	close(p[0]);
	setsid();
	return p[1];
}

/* Tells the parent the start went well, and lets go of the terminal. */
static void started(int tell)
{
	char ok = 0;
	int null = open("/dev/null", O_RDWR);

	if (chdir("/") != 0 || null < 0)
		return;
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	close(null);
	if (write(tell, &ok, 1) != 1)
		return;	/* the parent is gone; nothing to tell */
	close(tell);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = {0};
	struct options o = {0};
	struct esfs fs = {0};
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	int ret = 1, tell = -1;

	sub_init(&fs);
	if (fuse_opt_parse(&args, &o, option_spec, option_proc) != 0)
		return 1;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		return 1;
	if (cmd.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out;
	}
	if (cmd.show_version) {
		printf("esfs %s\n", ESFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (!o.store || !cmd.mountpoint) {
		fprintf(stderr, "esfs: usage: esfs [options] STORE_DIR MOUNTPOINT (esfs --help tells more)\n");
		goto out;
	}
	if (o.max_event < 1024 && o.max_event != 0) {
		fprintf(stderr, "esfs: max_event=%lu is too small; at least 1024 bytes\n", o.max_event);
		goto out;
	}
	if (o.max_event > 64UL * 1024 * 1024) {
		fprintf(stderr, "esfs: max_event=%lu is too large; at most 64 MiB\n", o.max_event);
		goto out;
	}
	if (o.allow_other && fuse_opt_add_arg(&args, "-odefault_permissions") != 0)
		goto out;

	if (check_mountpoint(cmd.mountpoint) != 0)
		goto out;
	if (!cmd.foreground && (tell = go_background()) < 0)
		goto out;
	es_options eo = {.max_event = o.max_event, .read_only = o.read_only};
	if (es_open(o.store, &eo, &fs.store) != 0) {
		fprintf(stderr, "esfs: %s\n", es_why());
		goto out;
	}
	/* /proc/mounts shows "STORE MOUNTPOINT fuse.esfs", STORE the
	 * store's absolute directory or its URI. */
	const char *store_dir = es_location(fs.store);
	if (add_fsname(&args, store_dir) != 0 ||
	    fuse_opt_add_arg(&args, "-osubtype=esfs") != 0)
		goto out_store;

	fs.uid = getuid();
	fs.gid = getgid();
	fs.max_message = MESSAGE_EVENTS * (o.max_event ? o.max_event : ES_MAX_EVENT_DEFAULT);
	/* Others append to the store too (a writer beside this read-only
	 * mount, other hosts on a PostgreSQL store): subscribers wake on
	 * their commits. */
	if (es_shared(fs.store) && sub_watch(&fs) != 0)
		fprintf(stderr, "esfs: subscriptions on this mount will not wake on "
			"appends made elsewhere\n");

	se = fuse_session_new(&args, &esfs_ops, sizeof esfs_ops, &fs);
	if (!se)
		goto out_store;	/* libfuse said why */
	/* A shell starts background jobs with SIGINT ignored, and libfuse
	 * installs its handlers only over default ones: restore them, so that
	 * SIGINT, SIGTERM and SIGHUP always unmount. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_signals;
	log_init(cmd.foreground);
	log_line(LOG_INFO, "serving %s on %s%s", store_dir, cmd.mountpoint,
		 o.read_only ? " read-only" : "");
	if (tell >= 0)
		started(tell);

	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(loop, (unsigned)cmd.clone_fd);
		if (cmd.max_idle_threads != UINT_MAX)	/* UINT_MAX: not given */
			fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
		if (cmd.max_threads != UINT_MAX)
			fuse_loop_cfg_set_max_threads(loop, cmd.max_threads);
		ret = fuse_session_loop_mt(se, loop);
		fuse_loop_cfg_destroy(loop);
	}
	ret = ret < 0 ? 1 : 0;
	log_line(LOG_INFO, "unmounting %s", cmd.mountpoint);
out_unmount:
	sub_stop(&fs);	/* no op runs now; the kernel may still take answers */
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_store:
	sub_stop(&fs);
	es_close(fs.store);
out:
	free(cmd.mountpoint);
	free(o.store);
	fuse_opt_free_args(&args);
	return ret;
}

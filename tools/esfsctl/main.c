/* main.c — esfsctl: administration of an esfs store. Dispatches to one
 * subcommand per file (restore.c, verify.c, backup.c, stats.c,
 * migrate.c), as git's builtin/ does, and holds the few helpers they
 * share (esfsctl.h). STORE is a directory or a PostgreSQL store's URI.
 *
 *   esfsctl restore COPY STORE
 *   esfsctl verify STORE
 *   esfsctl backup STORE_DIR DEST
 *   esfsctl stats STORE
 *   esfsctl migrate SRC DST
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "esfsctl.h"
#include "progress.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
	const char *what;
} commands[] = {
	{"restore", cmd_restore, "COPY STORE",
	 "make a store from a copy of a mount (cp -a MOUNTPOINT/. COPY)"},
	{"verify", cmd_verify, "STORE", "check every invariant of a store"},
	{"backup", cmd_backup, "STORE_DIR DEST",
	 "copy a store, live or not, compacted and consistent"},
	{"stats", cmd_stats, "STORE", "print counts and sizes as \"key value\" lines"},
	{"migrate", cmd_migrate, "SRC DST",
	 "copy a store into a new one: a directory to PostgreSQL, or back"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

const char *ctl_cmd = "";

void ctl_error(const char *fmt, ...)
{
	va_list ap;

	progress_clear();
	fflush(stdout);
	fprintf(stderr, "esfsctl%s%s: ", *ctl_cmd ? " " : "", ctl_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int ctl_args(int argc, char **argv, int nargs, const char *usage)
{
	int i = 1;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: esfsctl %s %s\n", ctl_cmd, usage);
		return 0;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	else if (i < argc && argv[i][0] == '-' && argv[i][1]) {
		ctl_error("unknown option %s; usage: esfsctl %s %s", argv[i], ctl_cmd, usage);
		return 2;
	}
	if (argc - i != nargs) {
		ctl_error("%s; usage: esfsctl %s %s",
			  argc - i < nargs ? "too few arguments" : "too many arguments",
			  ctl_cmd, usage);
		return 2;
	}
	return -1;
}

int ctl_dir_fresh(const char *path, int *exists)
{
	struct stat st;

	*exists = 0;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		ctl_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		ctl_error("%s: exists and is not a directory", path);
		return -1;
	}
	DIR *d = opendir(path);
	if (!d) {
		ctl_error("%s: %s", path, strerror(errno));
		return -1;
	}
	struct dirent *e;
	int empty = 1;
	errno = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	int err = errno;
	closedir(d);
	if (err) {
		ctl_error("%s: %s", path, strerror(err));
		return -1;
	}
	if (!empty) {
		ctl_error("%s: not empty; give a new or empty directory", path);
		return -1;
	}
	*exists = 1;
	return 0;
}

volatile sig_atomic_t ctl_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

void ctl_catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int ctl_open_ro(const char *dir, es_store **keep, es_stats *st)
{
	es_options opts = {.read_only = 1};
	es_store *s;
	es_read *r;
	int err = es_open(dir, &opts, &s);

	if (err) {
		ctl_error("%s: %s", dir, es_why());
		return -1;
	}
	if ((err = es_read_begin(s, &r)) == 0) {
		err = es_stats_get(r, st);
		es_read_end(r);
	}
	if (err)
		ctl_error("%s: %s", dir, es_why());
	if (err || !keep)
		es_close(s);
	else
		*keep = s;
	return err ? -1 : 0;
}

static void usage(FILE *f)
{
	fputs("usage: esfsctl COMMAND ARGS...\n\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  esfsctl %-7s %-14s %s\n", commands[i].name, commands[i].args,
			commands[i].what);
	fputs("\nSTORE is a directory or a postgresql:// URI.\n"
	      "\n  esfsctl --help | help | --version\n\nSee esfsctl(1).\n", f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("esfsctl: no command given; see esfsctl --help\n", stderr);
		return 2;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		if (argc > 2 && strcmp(name, "help") == 0) {
			/* esfsctl help CMD: that command's usage */
			for (size_t i = 0; i < NCOMMANDS; i++)
				if (!strcmp(argv[2], commands[i].name)) {
					printf("usage: esfsctl %s %s\n  %s\n", commands[i].name,
					       commands[i].args, commands[i].what);
					return 0;
				}
			fprintf(stderr, "esfsctl: '%s' is not a command; see esfsctl --help\n",
				argv[2]);
			return 2;
		}
		usage(stdout);
		return 0;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
		printf("esfsctl %s\n", ESFS_VERSION);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(name, commands[i].name)) {
			ctl_cmd = commands[i].name;
			int rc = commands[i].fn(argc - 1, argv + 1);
			if (fflush(stdout) != 0 || ferror(stdout)) {
				ctl_error("standard output: %s", strerror(errno));
				if (rc == 0)	/* verify's 1 means problems found */
					rc = commands[i].fn == cmd_verify ? 2 : 1;
			}
			return rc;
		}
	fprintf(stderr, "esfsctl: '%s' is not a command; see esfsctl --help\n", name);
	return 2;
}

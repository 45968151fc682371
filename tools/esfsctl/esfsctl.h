/* esfsctl.h — what the subcommands of esfsctl share: their entry points
 * (one file each, like git's builtin/), and a few helpers from main.c.
 *
 * Each subcommand gets argv from its own name on (argv[0] is "restore",
 * ...) and returns the process's exit status: 0 success, 1 failure (or
 * for verify, problems found), 2 a usage error (for verify, also an error
 * that kept it from running).
 */
#ifndef ESFSCTL_H
#define ESFSCTL_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

int cmd_restore(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_migrate(int argc, char **argv);

/* Prints "esfsctl CMD: " and the message as one line on stderr, after
 * clearing the progress bar. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The name of the running subcommand, for messages. */
extern const char *ctl_cmd;

/* Handles a subcommand's arguments when it takes exactly nargs operands
 * and only -h/--help: returns -1 to go on, or an exit status (0 after
 * printing usage for --help, 2 after a usage error). */
int ctl_args(int argc, char **argv, int nargs, const char *usage);

/* Whether path can receive a new store: 0 when it does not exist (and
 * *exists is 0) or is an empty directory (*exists 1); else -1 after
 * saying why. */
int ctl_dir_fresh(const char *path, int *exists);

/* Set by SIGINT, SIGTERM and SIGHUP once ctl_catch_signals was called,
 * so that a command that fills a store stops and undoes its work. */
extern volatile sig_atomic_t ctl_interrupted;
void ctl_catch_signals(void);

/* Opens store dir read-only, so that it works beside a mounted daemon, and
 * reads its counts into *st. The store stays open in *keep, or is closed
 * when keep is NULL. Returns 0, or -1 after saying why. */
int ctl_open_ro(const char *dir, es_store **keep, es_stats *st);

/* The new store that restore and migrate fill (target.c): a directory
 * that does not exist or is empty, or an empty PostgreSQL store. */
struct ctl_target {
	const char *where;	/* as given */
	int made_dir;		/* -1: nothing made yet; 1: the directory was
				 * created by this run; 0: it was there */
	es_store *s;
	es_stats made;		/* what the successful imports put there */
};

/* Whether where can receive a new store (a URI is looked at when it is
 * opened): 0, or -1 after saying why. */
int ctl_target_check(struct ctl_target *t, const char *where);
/* Creates the directory when missing and opens the store read-write (a
 * URI's store must be empty): 0, or -1 after saying why. */
int ctl_target_open(struct ctl_target *t, size_t max_event);
/* es_import_batch, counting what it put there. */
int ctl_target_import(struct ctl_target *t, const es_import *items, size_t n);
void ctl_target_close(struct ctl_target *t);
/* Closes the store and removes what this run made there (see target.c). */
void ctl_target_undo(struct ctl_target *t);

/* "s" unless n is 1: "%" PRIu64 " event%s", n, plural(n) */
static inline const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* Microseconds since the epoch of a file time. */
static inline int64_t ctl_us(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

#endif

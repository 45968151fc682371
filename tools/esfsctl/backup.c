/* backup.c — esfsctl backup STORE_DIR DEST: a hot backup. The store is
 * opened read-only, so that it runs beside the daemon that writes it (which
 * holds the store's lock), and es_backup writes a compacted copy taken in
 * one read view into DEST, which must not exist or be empty. The copy is
 * then opened to report what it holds. On a terminal, a progress line
 * follows the size of the copy's file (es_file_bytes) against the pages in
 * use.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "esfsctl.h"
#include "progress.h"
#include "store.h"

struct watch {
	const char *dest;
	uint64_t total;		/* bytes in use in the store */
	atomic_int stop;
};

/* Polls the size of the copy while es_backup writes it. */
static void *watch(void *arg)
{
	struct watch *w = arg;
	struct timespec pause = {0, 50000000};
	uint64_t bytes;

	while (!atomic_load(&w->stop)) {
		if (es_file_bytes(w->dest, &bytes) == 0)	/* else not made yet */
			progress_update(bytes, w->total);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

int cmd_backup(int argc, char **argv)
{
	int rc = ctl_args(argc, argv, 2, "STORE_DIR DEST");
	if (rc >= 0)
		return rc;
	const char *dir = argv[argc - 2], *dest = argv[argc - 1];
	es_store *s;
	es_stats st;
	int exists, err;

	if (ctl_dir_fresh(dest, &exists) != 0 || ctl_open_ro(dir, &s, &st) != 0)
		return 1;

	struct watch w = {.dest = dest, .stop = 0};
	pthread_t tid;
	int watching = 0;
	if (progress_enabled()) {
		w.total = st.used_bytes;
		progress_start("backing up", "bytes");
		watching = pthread_create(&tid, NULL, watch, &w) == 0;
	}
	err = es_backup(s, dest);
	char why[512];
	snprintf(why, sizeof why, "%s", es_why());
	if (watching) {
		atomic_store(&w.stop, 1);
		pthread_join(tid, NULL);
	}
	progress_clear();
	es_close(s);
	if (err) {
		ctl_error("%s to %s: %s", dir, dest, why);
		return 1;
	}

	/* What the copy holds, from the copy itself. */
	if (ctl_open_ro(dest, NULL, &st) != 0)
		return 1;
	printf("%s: backup of %s: %" PRIu64 " event%s (head %" PRIu64 "), %" PRIu64
	       " stream%s, %" PRIu64 " snapshot%s, %" PRIu64 " checkpoint%s, %" PRIu64
	       " bytes\n", dest, dir, st.events, plural(st.events), st.head, st.streams,
	       plural(st.streams), st.snapshots, plural(st.snapshots), st.checkpoints,
	       plural(st.checkpoints), st.used_bytes);
	return 0;
}

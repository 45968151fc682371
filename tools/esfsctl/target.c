/* target.c — the new store that restore and migrate fill (esfsctl.h):
 * a directory that does not exist or is empty, or a PostgreSQL store
 * (its URI) that holds nothing; and undoing their work when they fail.
 *
 * Undoing removes only what the run made. In a directory: the files
 * made in it, and the directory if the run created it. In PostgreSQL,
 * where a database cannot be removed by its user: es_import_undo empties
 * the store again, in one transaction, but only while it holds exactly
 * what the run's successful imports put there (so never another writer's
 * events); the schema's tables stay, as an empty store has them.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "esfsctl.h"

int ctl_target_check(struct ctl_target *t, const char *where)
{
	int exists;

	*t = (struct ctl_target){.where = where, .made_dir = -1};
	if (es_is_uri(where))
		return 0;	/* whether it is empty is seen at ctl_target_open */
	return ctl_dir_fresh(where, &exists);
}

int ctl_target_open(struct ctl_target *t, size_t max_event)
{
	es_options opts = {.max_event = max_event};
	es_stats st;
	es_read *r;
	int exists, err;

	if (!es_is_uri(t->where)) {
		if (ctl_dir_fresh(t->where, &exists))
			return -1;
		if (!exists && mkdir(t->where, 0755) != 0) {
			ctl_error("%s: cannot create: %s", t->where, strerror(errno));
			return -1;
		}
		t->made_dir = !exists;
	}
	/* A directory's store takes its lock, as a daemon does, so that no
	 * esfs mounts it while it is filled. */
	if (es_open(t->where, &opts, &t->s)) {
		ctl_error("%s: %s", t->where, es_why());
		return -1;
	}
	if (!es_is_uri(t->where))
		return 0;
	if ((err = es_read_begin(t->s, &r)) == 0) {
		err = es_stats_get(r, &st);
		es_read_end(r);
	}
	if (err) {
		ctl_error("%s: %s", t->where, es_why());
		return -1;
	}
	if (st.head || st.streams || st.snapshots || st.checkpoints) {
		ctl_error("%s: the store is not empty (%" PRIu64 " event%s, %" PRIu64 " stream%s, %"
			  PRIu64 " snapshot%s, %" PRIu64 " checkpoint%s); give an empty database "
			  "or one whose store is empty", t->where, st.head, plural(st.head),
			  st.streams, plural(st.streams), st.snapshots, plural(st.snapshots),
			  st.checkpoints, plural(st.checkpoints));
		return -1;
	}
	t->made_dir = 0;	/* from here on, what is imported is undone */
	return 0;
}

int ctl_target_import(struct ctl_target *t, const es_import *items, size_t n)
{
	int err = es_import_batch(t->s, items, n);

	for (size_t i = 0; i < n && !err; i++) {
		switch (items[i].kind) {
		case ES_IMPORT_STREAM: t->made.streams++; break;
		case ES_IMPORT_EVENT: t->made.events++; break;
		case ES_IMPORT_SNAPSHOT: t->made.snapshots++; break;
		case ES_IMPORT_CHECKPOINT: t->made.checkpoints++; break;
		}
	}
	return err;
}

void ctl_target_close(struct ctl_target *t)
{
	es_close(t->s);
	t->s = NULL;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	if (ftw->level == 0)
		return 0;	/* the directory itself: rmdir'd by the caller, if made */
	if (remove(path) != 0)
		ctl_error("%s: cannot remove: %s", path, strerror(errno));
	return 0;
}

void ctl_target_undo(struct ctl_target *t)
{
	if (t->made_dir < 0) {	/* nothing made yet */
		ctl_target_close(t);
		return;
	}
	if (es_is_uri(t->where)) {
		if (es_import_undo(t->s, &t->made) != 0)
			ctl_error("%s: left as it is: %s", t->where, es_why());
		else
			ctl_error("%s: emptied again of what was imported", t->where);
		ctl_target_close(t);
		return;
	}
	ctl_target_close(t);
	nftw(t->where, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	if (t->made_dir && rmdir(t->where) != 0)
		ctl_error("%s: cannot remove: %s", t->where, strerror(errno));
}

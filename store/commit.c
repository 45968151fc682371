/* commit.c — the group commit: write_txn.
 *
 * Every change is a write_fn run inside a write transaction. Changes that
 * arrive while another group is committing queue up; the first in the
 * queue then leads: it runs each queued change in a nested transaction of
 * one write transaction (a change that fails is rolled back alone, and
 * never fails its neighbours), writes their log records with one flush,
 * commits the index (change.c, doc/log.md), and wakes the others. No caller returns before its own change is durable. A lone
 * writer leads a group of one, as if there were no queue.
 *
 * Writers released by a commit come back with their next change a little
 * later than the next leader starts; left alone, 8 writers settle into two
 * groups of 4 taking turns. So a leader waits, before it takes the queue,
 * until as many changes are queued as writers were active when the last
 * group ended (its members and those queued then), but never longer than
 * half a commit: a lone writer never waits, and a change in the number of
 * writers costs one short wait.
 */
#include "internal.h"
#include "dir.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>

struct write_req {
	write_fn fn;
	void *arg;
	int err;
	int done;
	char why[sizeof why_buf];
	pthread_cond_t wake;
	struct write_req *next;
};

/* Runs r in a nested transaction of parent, its ops going into the log
 * record it adds to the group. Returns RETRY_MAP when the map is full,
 * else 0 with r's outcome in r->err. */
static int run_nested(es_store *s, MDB_txn *parent, struct write_req *r)
{
	log_group *g = &s->group;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, parent, 0, &txn);

	s->change_len = 0;
	s->change_base = g->end.offset + LOG_RECORD_HEADER;
	if (rc) {
		r->err = lmdb_fail(rc, "beginning a nested transaction");
	} else {
		log_end mark = g->end;
		r->err = r->fn(s, txn, r->arg);
		if (r->err == 0 && s->change_len > 0) {
			struct iovec piece = {s->change, s->change_len};
			uint64_t at;
			int err = log_group_add(g, REC_CHANGE, &piece, 1, &at);
			if (err)
				r->err = fail(err, "adding to the log: %s", strerror(err));
		}
		if (r->err == 0 && (rc = mdb_txn_commit(txn)) != 0) {
			r->err = lmdb_fail(rc, "committing a nested transaction");
			log_group_undo(g, &mark);	/* its record goes too */
		} else if (r->err != 0) {
			mdb_txn_abort(txn);
		}
		if (r->err == NO_CHANGE)
			r->err = 0;
	}
	if (r->err == RETRY_MAP)
		return RETRY_MAP;
	if (r->err)
		memcpy(r->why, why_buf, sizeof r->why);
	return 0;
}

/* Whether the store's filesystem is full. LMDB reports a short write,
 * which is how a full disk shows when a write extends the file, as EIO;
 * after one, next to nothing is left free. */
static int disk_full(es_store *s)
{
	struct statvfs st;
	int fd;

	return mdb_env_get_fd(s->env, &fd) == 0 && fstatvfs(fd, &st) == 0 &&
	       (uint64_t)st.f_bavail * st.f_frsize < 256 * 1024;
}

/* Writes the group's records to the log (one flush), then commits the
 * index's transaction. A failed index commit takes the records back out
 * of the log (log_group_unwrite), so that nothing the writers are told
 * failed comes back at the next open. Returns 0, RETRY_MAP, or an error. */
static int commit_logged(es_store *s, MDB_txn *txn)
{
	log_group *g = &s->group;
	char why[sizeof why_buf];
	int err, rc;

	if (g->len == 0) {
		rc = mdb_txn_commit(txn);
		return rc ? lmdb_fail(rc, "committing") : 0;
	}
	if ((err = put_log_end(s, txn, &g->end))) {
		mdb_txn_abort(txn);
		return err;
	}
	if ((err = log_group_write(s->log, g, why, sizeof why))) {
		mdb_txn_abort(txn);
		if (err == EIO)
			s->broken = EIO;	/* the log refuses writes too */
		return fail(err, "%s", why);
	}
	rc = mdb_txn_commit(txn);
	if (rc == 0) {
		s->indexed = g->end;
		return 0;
	}
	/* (RETRY_MAP: the commit's free list needed room; the group is run
	 * again in a larger map, its records written again.) */
	err = rc == EIO && disk_full(s) ? fail(ENOSPC, "committing: the disk is full")
	      : lmdb_fail(rc, "committing the index");
	char why2[sizeof why_buf];
	memcpy(why, why_buf, sizeof why);
	if (log_group_unwrite(s->log, g, why2, sizeof why2) != 0) {
		s->broken = EIO;
		return fail(EIO, "%s; and taking the group back out of the log failed: %s",
			    why, why2);
	}
	memcpy(why_buf, why, sizeof why);
	return err;
}

/* Commits the group of changes that starts at first, each in a nested
 * transaction of one transaction, and their records with one flush of the
 * log. A full map is grown and the group run again from the start, so a
 * write_fn must not change anything outside its transaction. */
static void commit_group(es_store *s, struct write_req *first)
{
	struct write_req *r;

	for (;;) {
		MDB_txn *txn;
		size_t seen = map_size(s);
		int full = 0, err = s->broken ?
			fail(EIO, "an earlier failure left the log and the index apart: open the store again") :
			txn_begin(s, 0, &txn);

		if (!err) {
			log_group_init(&s->group, s->indexed);
			for (r = first; r && !full; r = r->next)
				full = run_nested(s, txn, r) == RETRY_MAP;
			if (full) {
				mdb_txn_abort(txn);
			} else {
				err = commit_logged(s, txn);
				if (err == 0 && s->lock_fd >= 0)
					dir_published(s->lock_fd);
				if (err == RETRY_MAP) {
					full = 1;
					err = 0;
				}
				trim_map(s, 0);
			}
			pthread_rwlock_unlock(&s->map_lock);
		}
		if (full && (err = grow_map(s, seen)) == 0)
			continue;
		if (err) {	/* nothing of the group was stored */
			for (r = first; r; r = r->next)
				if (r->err == 0) {
					r->err = err;
					memcpy(r->why, why_buf, sizeof r->why);
				}
		}
		return;
	}
}

/* Runs fn as one durable change, in a group with whatever changes other
 * threads make at the same time. fn returns 0 to commit, NO_CHANGE to
 * succeed without writing, or an error (from fail or lmdb_fail). */
int write_txn(es_store *s, write_fn fn, void *arg)
{
	struct write_req me = {.fn = fn, .arg = arg};
	struct write_req *group, *r, *next;

	if (s->read_only)
		return fail(EROFS, "the store is open read-only");
	check_readers(s);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&me.wake, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_lock(&s->queue_lock);
	*s->queue_tail = &me;
	s->queue_tail = &me.next;
	s->queued++;
	if (s->queue != &me && !s->leading)
		pthread_cond_signal(&s->queue->wake);	/* a leader may be waiting */
	while (!me.done && (s->leading || s->queue != &me))
		pthread_cond_wait(&me.wake, &s->queue_lock);
	if (!me.done) {
		/* Lead: wait a little for the writers that are coming back,
		 * then take the whole queue. */
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		int64_t ns = until.tv_nsec + s->commit_us * 500;
		until.tv_sec += ns / 1000000000;
		until.tv_nsec = ns % 1000000000;
		while (s->queued < s->expect &&
		       pthread_cond_timedwait(&me.wake, &s->queue_lock, &until) == 0)
			;
		s->leading = 1;
		group = s->queue;
		int size = s->queued;
		s->queue = NULL;
		s->queue_tail = &s->queue;
		s->queued = 0;
		pthread_mutex_unlock(&s->queue_lock);
		int64_t start = now_us();
		commit_group(s, group);
		int64_t took = now_us() - start;
		pthread_mutex_lock(&s->queue_lock);
		for (r = group; r; r = next) {
			next = r->next;
			r->done = 1;
			if (r != &me)
				pthread_cond_signal(&r->wake);
		}
		s->commit_us = took < 0 ? 0 : took > 4000 ? 4000 : took;
		s->expect = size + s->queued;
		s->leading = 0;
		if (s->queue)	/* the next group's leader */
			pthread_cond_signal(&s->queue->wake);
	}
	pthread_mutex_unlock(&s->queue_lock);
	pthread_cond_destroy(&me.wake);
	if (me.err)
		memcpy(why_buf, me.why, sizeof why_buf);
	return me.err;
}

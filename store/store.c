/* store.c — the event store on LMDB (see store.h for the API).
 *
 * Layout, one LMDB database each (u64 keys are native MDB_INTEGERKEY,
 * pairs are two big-endian u64 so that memcmp orders them):
 *
 *   meta            name -> u64        format, counters
 *   events          position -> event record (header + envelope)
 *   event_ids       uuid[16] -> position
 *   streams         stream id -> stream record (header + name)
 *   stream_names    name -> stream id
 *   stream_events   (stream id, version) -> position
 *   snapshots       stream id -> snapshot record (header + line)
 *   checkpoints     checkpoint id -> checkpoint record (header + name)
 *   checkpoint_names name -> checkpoint id
 *
 * Every lookup is one B-tree search and every listing a cursor walk. More
 * indexes (by category, by event type) are more databases filled in the
 * same append transaction.
 *
 * The memory map grows on demand: transactions hold map_lock shared; a
 * writer that meets MDB_MAP_FULL aborts, takes it exclusively, doubles the
 * map and retries. Another process that grew the map makes our next
 * transaction fail with MDB_MAP_RESIZED, and we adopt the new size.
 */
#include "store.h"
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#define FORMAT 1
#define MAP_INITIAL ((size_t)1 << 30)
#define READER_CHECK_US (60 * 1000000)	/* how often to free dead readers' slots */
#define TRIM_EVERY 64			/* read views and commits between looks at the RSS */
#define TRIM_ABOVE ((size_t)32 << 20)	/* map bytes the process may keep resident */
#define TRIM_WALKED ((size_t)8 << 20)	/* bytes walked between looks at the RSS */
#define RETRY_MAP (-1)		/* internal: the map is full, grow and retry */
#define NO_CHANGE (-3)		/* internal: succeed without committing */

enum {
	DB_META, DB_EVENTS, DB_EVENT_IDS, DB_STREAMS, DB_STREAM_NAMES,
	DB_STREAM_EVENTS, DB_SNAPSHOTS, DB_CHECKPOINTS, DB_CHECKPOINT_NAMES,
	DB_COUNT
};

static const struct {
	const char *name;
	unsigned flags;
} db_spec[DB_COUNT] = {
	[DB_META] = {"meta", 0},
	[DB_EVENTS] = {"events", MDB_INTEGERKEY},
	[DB_EVENT_IDS] = {"event_ids", 0},
	[DB_STREAMS] = {"streams", MDB_INTEGERKEY},
	[DB_STREAM_NAMES] = {"stream_names", 0},
	[DB_STREAM_EVENTS] = {"stream_events", 0},
	[DB_SNAPSHOTS] = {"snapshots", MDB_INTEGERKEY},
	[DB_CHECKPOINTS] = {"checkpoints", MDB_INTEGERKEY},
	[DB_CHECKPOINT_NAMES] = {"checkpoint_names", 0},
};

/* Record headers: fixed fields, then variable bytes. */
#define EVENT_HDR 40		/* stream id, version, created, uuid[16] */
#define STREAM_HDR 24		/* version, created, updated; then name */
#define SNAPSHOT_HDR 16		/* version, created; then line */
#define CHECKPOINT_HDR 24	/* position, updated, has_position; then name */

struct es_store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	pthread_rwlock_t map_lock;
	size_t max_event;
	int read_only;
	_Atomic int64_t readers_checked;	/* when, in microseconds */
	_Atomic unsigned uses;			/* read views and commits, for trim_map */
	_Atomic size_t walked;			/* bytes walked since, for trim_map */
	void *map_addr;				/* where LMDB mapped the file */
	size_t map_len;
	/* Group commit (see write_txn). */
	pthread_mutex_t queue_lock;
	struct write_req *queue;	/* changes waiting, oldest first */
	struct write_req **queue_tail;
	int queued;			/* how many */
	int leading;			/* a group is being committed */
	int expect;			/* writers active when the last group ended */
	int64_t commit_us;		/* how long the last group took */
};

struct es_read {
	es_store *s;
	MDB_txn *txn;
	size_t walked;		/* bytes its walks went through */
};

/* ---- Errors. --------------------------------------------------------- */

static _Thread_local char why_buf[512];

const char *es_why(void)
{
	return why_buf;
}

static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof why_buf, fmt, ap);
	va_end(ap);
	return err;
}

/* Maps an LMDB return code to an errno, with the reason. */
static int lmdb_fail(int rc, const char *what)
{
	if (rc == MDB_MAP_FULL)
		return RETRY_MAP;
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "%s: not found", what);
	if (rc == MDB_TXN_FULL)
		return fail(EFBIG, "%s: too much in one transaction", what);
	if (rc > 0)	/* a system errno; LMDB's own codes are negative */
		return fail(rc, "%s: %s", what, strerror(rc));
	return fail(EIO, "%s: %s", what, mdb_strerror(rc));
}

/* ---- Encoding. ------------------------------------------------------- */

static uint64_t get64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void put64(void *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static MDB_val val(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static void decode_event(uint64_t pos, const MDB_val *v, es_event *ev)
{
	const char *p = v->mv_data;

	ev->position = pos;
	ev->stream_id = get64(p);
	ev->version = get64(p + 8);
	ev->created_us = (int64_t)get64(p + 16);
	memcpy(ev->id, p + 24, 16);
	ev->json = p + EVENT_HDR;
	ev->json_len = v->mv_size - EVENT_HDR;
}

static void decode_stream(uint64_t id, const MDB_val *v, es_stream *st)
{
	const char *p = v->mv_data;

	st->id = id;
	st->version = get64(p);
	st->created_us = (int64_t)get64(p + 8);
	st->updated_us = (int64_t)get64(p + 16);
	st->name = p + STREAM_HDR;
	st->name_len = v->mv_size - STREAM_HDR;
}

static void decode_snapshot(uint64_t sid, const MDB_val *v, es_snapshot *sn)
{
	const char *p = v->mv_data;

	sn->stream_id = sid;
	sn->version = get64(p);
	sn->created_us = (int64_t)get64(p + 8);
	sn->json = p + SNAPSHOT_HDR;
	sn->json_len = v->mv_size - SNAPSHOT_HDR;
}

static void decode_checkpoint(uint64_t id, const MDB_val *v, es_checkpoint *cp)
{
	const char *p = v->mv_data;

	cp->id = id;
	cp->position = get64(p);
	cp->updated_us = (int64_t)get64(p + 8);
	cp->has_position = get64(p + 16) != 0;
	cp->name = p + CHECKPOINT_HDR;
	cp->name_len = v->mv_size - CHECKPOINT_HDR;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t es_time_format(int64_t us, char *buf)
{
	time_t sec = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	size_t n = strftime(buf, 21, "%Y-%m-%dT%H:%M:%S", &tm);
	return n + (size_t)snprintf(buf + n, 9, ".%06ldZ", frac);
}

/* ---- Transactions. --------------------------------------------------- */

static void locate_map(es_store *s);
static void trim_map(es_store *s, size_t walked);

/* Adopts a map grown by another process. */
static void adopt_map(es_store *s)
{
	pthread_rwlock_wrlock(&s->map_lock);
	mdb_env_set_mapsize(s->env, 0);
	locate_map(s);
	pthread_rwlock_unlock(&s->map_lock);
}

/* Doubles the map, unless another thread already grew it past seen. */
static int grow_map(es_store *s, size_t seen)
{
	MDB_envinfo info;
	int rc = 0;

	pthread_rwlock_wrlock(&s->map_lock);
	mdb_env_info(s->env, &info);
	if (info.me_mapsize <= seen)
		rc = mdb_env_set_mapsize(s->env, seen * 2);
	locate_map(s);
	pthread_rwlock_unlock(&s->map_lock);
	return rc ? lmdb_fail(rc, "growing the map") : 0;
}

static size_t map_size(es_store *s)
{
	MDB_envinfo info;

	mdb_env_info(s->env, &info);
	return info.me_mapsize;
}

/* Begins a transaction with map_lock held shared. */
static int txn_begin(es_store *s, unsigned flags, MDB_txn **txn)
{
	for (;;) {
		pthread_rwlock_rdlock(&s->map_lock);
		int rc = mdb_txn_begin(s->env, NULL, flags, txn);
		if (rc == 0)
			return 0;
		pthread_rwlock_unlock(&s->map_lock);
		if (rc != MDB_MAP_RESIZED)
			return lmdb_fail(rc, "beginning a transaction");
		adopt_map(s);
	}
}

typedef int (*write_fn)(es_store *s, MDB_txn *txn, void *arg);

/* A process killed while reading leaves its reader slot taken, which keeps
 * old pages from reuse and makes the file grow: free such slots now and
 * then. */
static void check_readers(es_store *s)
{
	int64_t now = now_us(), last = s->readers_checked;
	int dead;

	if (now - last >= READER_CHECK_US &&
	    atomic_compare_exchange_strong(&s->readers_checked, &last, now))
		mdb_reader_check(s->env, &dead);
}

/* ---- Group commit. ---------------------------------------------------
 *
 * Every change is a write_fn run inside a write transaction. Changes that
 * arrive while another group is committing queue up; the first in the
 * queue then leads: it runs each queued change in a nested transaction of
 * one write transaction (a change that fails is rolled back alone, and
 * never fails its neighbours), commits them all with one sync, and wakes
 * the others. No caller returns before its own change is durable. A lone
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

struct write_req {
	write_fn fn;
	void *arg;
	int err;
	int done;
	char why[sizeof why_buf];
	pthread_cond_t wake;
	struct write_req *next;
};

/* Runs r in a nested transaction of parent. Returns RETRY_MAP when the map
 * is full, else 0 with r's outcome in r->err. */
static int run_nested(es_store *s, MDB_txn *parent, struct write_req *r)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, parent, 0, &txn);

	if (rc) {
		r->err = lmdb_fail(rc, "beginning a nested transaction");
	} else {
		r->err = r->fn(s, txn, r->arg);
		if (r->err == 0 && (rc = mdb_txn_commit(txn)) != 0)
			r->err = lmdb_fail(rc, "committing a nested transaction");
		else if (r->err != 0)
			mdb_txn_abort(txn);
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

/* Commits the group of changes that starts at first, each in a nested
 * transaction of one durable transaction. A full map is grown and the
 * group run again from the start, so a write_fn must not change anything
 * outside its transaction. */
static void commit_group(es_store *s, struct write_req *first)
{
	struct write_req *r;

	for (;;) {
		MDB_txn *txn;
		size_t seen = map_size(s);
		int full = 0, err = txn_begin(s, 0, &txn);

		if (!err) {
			for (r = first; r && !full; r = r->next)
				full = run_nested(s, txn, r) == RETRY_MAP;
			if (full) {
				mdb_txn_abort(txn);
			} else {
				int rc = mdb_txn_commit(txn);
				if (rc == EIO && disk_full(s))
					err = fail(ENOSPC, "committing: the disk is full");
				else if (rc && (err = lmdb_fail(rc, "committing")) == RETRY_MAP) {
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
static int write_txn(es_store *s, write_fn fn, void *arg)
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

/* Reads a u64 value: 0, MDB_NOTFOUND, or an errno (with the reason). */
static int get_u64(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
		   uint64_t *out)
{
	MDB_val k = val(key, klen), v;
	int rc = mdb_get(txn, dbi, &k, &v);

	if (rc == MDB_NOTFOUND)
		return rc;
	if (rc)
		return lmdb_fail(rc, "reading");
	if (v.mv_size != 8)
		return fail(EIO, "a record of %zu bytes where 8 were expected",
			    v.mv_size);
	*out = get64(v.mv_data);
	return 0;
}

static int put_raw(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
		   const void *data, size_t dlen, unsigned flags)
{
	MDB_val k = val(key, klen), v = val(data, dlen);
	int rc = mdb_put(txn, dbi, &k, &v, flags);

	return rc ? lmdb_fail(rc, "writing") : 0;
}

static int meta_get(es_store *s, MDB_txn *txn, const char *key, uint64_t *out)
{
	int rc = get_u64(txn, s->dbi[DB_META], key, strlen(key), out);

	if (rc == MDB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	return rc;
}

static int meta_put(es_store *s, MDB_txn *txn, const char *key, uint64_t v)
{
	return put_raw(txn, s->dbi[DB_META], key, strlen(key), &v, 8, 0);
}

/* ---- Opening. -------------------------------------------------------- */

static int open_dbs(es_store *s, const char *dir)
{
	MDB_txn *txn;
	MDB_dbi main;
	unsigned create = s->read_only ? 0 : MDB_CREATE;
	int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);

	if (rc)
		return lmdb_fail(rc, "opening the store");
	/* A foreign LMDB environment has keys in its main database but no
	 * meta database: refuse it rather than add ours beside its data. */
	rc = mdb_dbi_open(txn, NULL, 0, &main);
	if (rc == 0) {
		MDB_stat st;
		MDB_val k = val("meta", 4), v;
		mdb_stat(txn, main, &st);
		if (st.ms_entries > 0 && mdb_get(txn, main, &k, &v) != 0) {
			mdb_txn_abort(txn);
			return fail(EINVAL, "%s holds an LMDB database that is not an esfs store", dir);
		}
	}
	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_spec[i].name, db_spec[i].flags | create,
				  &s->dbi[i]);
		if (rc) {
			mdb_txn_abort(txn);
			if (rc == MDB_NOTFOUND)
				return fail(ENOENT, "%s is not an esfs store", dir);
			return lmdb_fail(rc, "opening the store's databases");
		}
	}
	uint64_t format;
	int err = meta_get(s, txn, "format", &format);
	if (!err && format == 0 && !s->read_only) {
		format = FORMAT;
		err = meta_put(s, txn, "format", FORMAT);
		if (!err)
			err = meta_put(s, txn, "created", (uint64_t)now_us());
	}
	if (!err && format != FORMAT)
		err = fail(EINVAL, "%s has store format %llu; this esfs reads format %d",
			   dir, (unsigned long long)format, FORMAT);
	if (err) {
		mdb_txn_abort(txn);
		return err == RETRY_MAP ? fail(ENOSPC, "no room to create the store") : err;
	}
	rc = mdb_txn_commit(txn);
	return rc ? lmdb_fail(rc, "creating the store") : 0;
}

int es_open(const char *dir, const es_options *opts, es_store **out)
{
	es_store *s = calloc(1, sizeof *s);
	pthread_rwlockattr_t attr;
	int rc, err;

	if (!s)
		return fail(ENOMEM, "out of memory");
	s->read_only = opts && opts->read_only;
	s->max_event = opts && opts->max_event ? opts->max_event : ES_MAX_EVENT_DEFAULT;
	pthread_rwlockattr_init(&attr);
	/* A writer waiting to grow the map must not starve behind readers. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->map_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&s->queue_lock, NULL);
	s->queue_tail = &s->queue;

	if (!s->read_only && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		err = fail(errno, "cannot create %s: %s", dir, strerror(errno));
		goto out_free;
	}
	rc = mdb_env_create(&s->env);
	if (rc) {
		err = lmdb_fail(rc, "creating the LMDB environment");
		goto out_free;
	}
	mdb_env_set_maxdbs(s->env, 32);
	mdb_env_set_maxreaders(s->env, 1024);
	mdb_env_set_mapsize(s->env, opts && opts->map_initial ? opts->map_initial : MAP_INITIAL);
	rc = mdb_env_open(s->env, dir, s->read_only ? MDB_RDONLY : 0, 0644);
	if (rc) {
		if (rc == ENOENT)
			err = fail(ENOENT, "no store at %s", dir);
		else if (rc > 0)
			err = fail(rc, "cannot open the store at %s: %s", dir, strerror(rc));
		else
			err = fail(EINVAL, "cannot open the store at %s: %s", dir, mdb_strerror(rc));
		goto out_env;
	}
	check_readers(s);
	err = open_dbs(s, dir);
	if (err)
		goto out_env;
	locate_map(s);
	*out = s;
	return 0;

out_env:
	mdb_env_close(s->env);
out_free:
	pthread_rwlock_destroy(&s->map_lock);
	pthread_mutex_destroy(&s->queue_lock);
	free(s);
	return err;
}

void es_close(es_store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->map_lock);
	pthread_mutex_destroy(&s->queue_lock);
	free(s);
}

/* ---- Reads. ---------------------------------------------------------- */

int es_read_begin(es_store *s, es_read **out)
{
	es_read *r = malloc(sizeof *r);
	int err;

	if (!r)
		return fail(ENOMEM, "out of memory");
	r->s = s;
	err = txn_begin(s, MDB_RDONLY, &r->txn);
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

/* Pages of the map that a process has read stay in its page tables and
 * count in its RSS, up to the whole store: read views and commits both
 * read them. Every TRIM_EVERY views and commits, and whenever walks went
 * through TRIM_WALKED bytes (one listing request can take thousands of
 * entries), look: when more than TRIM_ABOVE of them are resident, let them
 * go. They stay in the kernel's page cache, and the next read of one maps
 * it again without I/O. Called with map_lock held shared, so the map does
 * not move. */
static void trim_map(es_store *s, size_t walked)
{
	unsigned long size, resident, shared;
	FILE *f;

	if ((++s->uses % TRIM_EVERY != 0 && (s->walked += walked) < TRIM_WALKED) ||
	    !s->map_addr)
		return;
	s->walked = 0;
	if (!(f = fopen("/proc/self/statm", "r")))
		return;
	int n = fscanf(f, "%lu %lu %lu", &size, &resident, &shared);
	fclose(f);
	if (n == 3 && shared * (unsigned long)sysconf(_SC_PAGESIZE) > TRIM_ABOVE)
		madvise(s->map_addr, s->map_len, MADV_DONTNEED);
}

/* Finds where LMDB mapped the data file (its API does not say), in
 * /proc/self/maps by the file's inode. Called when the map is made or
 * moved, with no transaction open. */
static void locate_map(es_store *s)
{
	struct stat st;
	char line[PATH_MAX + 128];
	unsigned long start, end, ino;
	int fd;
	FILE *f;

	s->map_addr = NULL;
	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0 ||
	    !(f = fopen("/proc/self/maps", "r")))
		return;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &start, &end, &ino) == 3 &&
		    ino == (unsigned long)st.st_ino && strstr(line, "data.mdb")) {
			s->map_addr = (void *)start;
			s->map_len = end - start;
			break;
		}
	fclose(f);
}

void es_read_end(es_read *r)
{
	if (!r)
		return;
	mdb_txn_abort(r->txn);
	trim_map(r->s, r->walked);
	pthread_rwlock_unlock(&r->s->map_lock);
	free(r);
}

static int find_stream(es_store *s, MDB_txn *txn, const char *name, size_t len,
		       es_stream *out)
{
	uint64_t id;
	int rc;

	if (len == 0 || len > 255)
		return fail(ENOENT, "no stream of that name");
	rc = get_u64(txn, s->dbi[DB_STREAM_NAMES], name, len, &id);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no stream %.*s", (int)len, name);
	if (rc)
		return rc;
	MDB_val k = val(&id, 8), v;
	rc = mdb_get(txn, s->dbi[DB_STREAMS], &k, &v);
	if (rc)
		return lmdb_fail(rc, "reading a stream");
	decode_stream(id, &v, out);
	return 0;
}

int es_stream_get(es_read *r, const char *name, size_t len, es_stream *out)
{
	return find_stream(r->s, r->txn, name, len, out);
}

int es_stream_get_id(es_read *r, uint64_t id, es_stream *out)
{
	MDB_val k = val(&id, 8), v;
	int rc = mdb_get(r->txn, r->s->dbi[DB_STREAMS], &k, &v);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no stream with id %llu", (unsigned long long)id);
	if (rc)
		return lmdb_fail(rc, "reading a stream");
	decode_stream(id, &v, out);
	return 0;
}

static int event_at(es_store *s, MDB_txn *txn, uint64_t pos, es_event *out)
{
	MDB_val k = val(&pos, 8), v;
	int rc = mdb_get(txn, s->dbi[DB_EVENTS], &k, &v);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no event at position %llu", (unsigned long long)pos);
	if (rc)
		return lmdb_fail(rc, "reading an event");
	decode_event(pos, &v, out);
	return 0;
}

int es_event_get(es_read *r, uint64_t position, es_event *out)
{
	return event_at(r->s, r->txn, position, out);
}

int es_stream_event(es_read *r, uint64_t stream_id, uint64_t version,
		    es_event *out)
{
	unsigned char key[16];
	uint64_t pos;
	int rc;

	put_be64(key, stream_id);
	put_be64(key + 8, version);
	rc = get_u64(r->txn, r->s->dbi[DB_STREAM_EVENTS], key, 16, &pos);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no version %llu in that stream", (unsigned long long)version);
	if (rc)
		return rc;
	return event_at(r->s, r->txn, pos, out);
}

static int last_event(es_store *s, MDB_txn *txn, uint64_t *pos, int64_t *created)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &c);

	if (rc)
		return lmdb_fail(rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	*pos = 0;
	*created = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return lmdb_fail(rc, "reading the head");
	*pos = get64(k.mv_data);
	*created = (int64_t)get64((char *)v.mv_data + 16);
	return 0;
}

int es_head(es_read *r, uint64_t *position, int64_t *created_us)
{
	return last_event(r->s, r->txn, position, created_us);
}

int es_stream_count(es_read *r, uint64_t *count)
{
	return meta_get(r->s, r->txn, "stream_count", count);
}

int es_snapshot_get(es_read *r, uint64_t stream_id, es_snapshot *out)
{
	MDB_val k = val(&stream_id, 8), v;
	int rc = mdb_get(r->txn, r->s->dbi[DB_SNAPSHOTS], &k, &v);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no snapshot");
	if (rc)
		return lmdb_fail(rc, "reading a snapshot");
	decode_snapshot(stream_id, &v, out);
	return 0;
}

int es_checkpoint_get_id(es_read *r, uint64_t id, es_checkpoint *out)
{
	MDB_val k = val(&id, 8), v;
	int rc = mdb_get(r->txn, r->s->dbi[DB_CHECKPOINTS], &k, &v);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no checkpoint with id %llu", (unsigned long long)id);
	if (rc)
		return lmdb_fail(rc, "reading a checkpoint");
	decode_checkpoint(id, &v, out);
	return 0;
}

int es_checkpoint_get(es_read *r, const char *name, size_t len,
		      es_checkpoint *out)
{
	uint64_t id;
	int rc;

	if (len == 0 || len > 255)
		return fail(ENOENT, "no checkpoint of that name");
	rc = get_u64(r->txn, r->s->dbi[DB_CHECKPOINT_NAMES], name, len, &id);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no checkpoint %.*s", (int)len, name);
	if (rc)
		return rc;
	return es_checkpoint_get_id(r, id, out);
}

/* ---- Walks. ---------------------------------------------------------- */

#define STOP (-2)

/* Walks dbi from key on; each (key, value) goes to step, which returns 0
 * to go on, STOP to stop, or an error. */
typedef int (*step_fn)(es_read *r, const MDB_val *k, const MDB_val *v,
		       void *ctx);

static int walk(es_read *r, int db, const void *from, size_t flen,
		step_fn step, void *ctx)
{
	MDB_cursor *c;
	MDB_val k = val(from, flen), v;
	int rc = mdb_cursor_open(r->txn, r->s->dbi[db], &c);
	int err = 0;

	if (rc)
		return lmdb_fail(rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		r->walked += k.mv_size + v.mv_size;
		err = step(r, &k, &v, ctx);
		if (err)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (err && err != STOP)
		return err;
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_fail(rc, "walking");
	return 0;
}

struct walk_ctx {
	void *fn;
	void *arg;
	uint64_t stream_id;
};

static int stop_or(int cb)
{
	return cb ? STOP : 0;
}

static int log_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_event ev;

	(void)r;
	decode_event(get64(k->mv_data), v, &ev);
	return stop_or(((es_event_fn)w->fn)(w->arg, &ev));
}

int es_log_walk(es_read *r, uint64_t from, es_event_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, 0};

	return walk(r, DB_EVENTS, &from, 8, log_step, &w);
}

static int stream_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	unsigned char prefix[8];
	es_event ev;

	put_be64(prefix, w->stream_id);
	if (memcmp(k->mv_data, prefix, 8) != 0)
		return STOP;
	int err = event_at(r->s, r->txn, get64(v->mv_data), &ev);
	if (err)
		return err == ENOENT ? fail(EIO, "stream index points at a missing event") : err;
	r->walked += ev.json_len;
	return stop_or(((es_event_fn)w->fn)(w->arg, &ev));
}

int es_stream_walk(es_read *r, uint64_t stream_id, uint64_t from,
		   es_event_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, stream_id};
	unsigned char key[16];

	put_be64(key, stream_id);
	put_be64(key + 8, from);
	return walk(r, DB_STREAM_EVENTS, key, 16, stream_step, &w);
}

static int streams_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_stream st;

	(void)r;
	decode_stream(get64(k->mv_data), v, &st);
	return stop_or(((es_stream_fn)w->fn)(w->arg, &st));
}

int es_streams_walk(es_read *r, uint64_t from, es_stream_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, 0};

	return walk(r, DB_STREAMS, &from, 8, streams_step, &w);
}

static int snapshots_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_snapshot sn;
	es_stream st;

	decode_snapshot(get64(k->mv_data), v, &sn);
	int err = es_stream_get_id(r, sn.stream_id, &st);
	if (err)
		return err == ENOENT ? fail(EIO, "a snapshot of a missing stream") : err;
	return stop_or(((es_snapshot_fn)w->fn)(w->arg, &sn, &st));
}

int es_snapshots_walk(es_read *r, uint64_t from, es_snapshot_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, 0};

	return walk(r, DB_SNAPSHOTS, &from, 8, snapshots_step, &w);
}

static int checkpoints_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_checkpoint cp;

	(void)r;
	decode_checkpoint(get64(k->mv_data), v, &cp);
	if (!cp.has_position)
		return 0;
	return stop_or(((es_checkpoint_fn)w->fn)(w->arg, &cp));
}

int es_checkpoints_walk(es_read *r, uint64_t from, es_checkpoint_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, 0};

	return walk(r, DB_CHECKPOINTS, &from, 8, checkpoints_step, &w);
}

/* ---- Streams. -------------------------------------------------------- */

struct name_arg {
	const char *name;
	size_t len;
};

static int put_stream(es_store *s, MDB_txn *txn, uint64_t id, uint64_t version,
		      int64_t created, int64_t updated, const char *name, size_t len)
{
	char rec[STREAM_HDR + 255];

	put64(rec, version);
	put64(rec + 8, (uint64_t)created);
	put64(rec + 16, (uint64_t)updated);
	memcpy(rec + STREAM_HDR, name, len);
	return put_raw(txn, s->dbi[DB_STREAMS], &id, 8, rec, STREAM_HDR + len, 0);
}

static int do_stream_create(es_store *s, MDB_txn *txn, void *p)
{
	struct name_arg *a = p;
	uint64_t id, count;
	MDB_val k = val(a->name, a->len), v;
	int64_t now = now_us();
	int err;

	if (mdb_get(txn, s->dbi[DB_STREAM_NAMES], &k, &v) == 0)
		return fail(EEXIST, "stream %.*s exists", (int)a->len, a->name);
	if ((err = meta_get(s, txn, "next_stream", &id)) ||
	    (err = meta_get(s, txn, "stream_count", &count)))
		return err;
	id = id ? id : 1;
	if (id > ES_ID_MAX)
		return fail(ENOSPC, "no stream ids left");
	if ((err = put_stream(s, txn, id, 0, now, now, a->name, a->len)) ||
	    (err = put_raw(txn, s->dbi[DB_STREAM_NAMES], a->name, a->len, &id, 8,
			   MDB_NOOVERWRITE)) ||
	    (err = meta_put(s, txn, "next_stream", id + 1)) ||
	    (err = meta_put(s, txn, "stream_count", count + 1)))
		return err;
	return 0;
}

int es_stream_create(es_store *s, const char *name, size_t len)
{
	struct name_arg a = {name, len};
	int err = es_name_check(name, len, why_buf, sizeof why_buf);

	return err ? err : write_txn(s, do_stream_create, &a);
}

static int do_stream_remove(es_store *s, MDB_txn *txn, void *p)
{
	struct name_arg *a = p;
	es_stream st;
	uint64_t count;
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	if (st.version > 0)
		return fail(ENOTEMPTY, "stream %.*s has %llu events", (int)a->len,
			    a->name, (unsigned long long)st.version);
	MDB_val k = val(&st.id, 8), n = val(a->name, a->len);
	int rc = mdb_del(txn, s->dbi[DB_STREAMS], &k, NULL);
	if (rc == 0)
		rc = mdb_del(txn, s->dbi[DB_STREAM_NAMES], &n, NULL);
	if (rc)
		return lmdb_fail(rc, "removing a stream");
	if ((err = meta_get(s, txn, "stream_count", &count)))
		return err;
	return meta_put(s, txn, "stream_count", count ? count - 1 : 0);
}

int es_stream_remove(es_store *s, const char *name, size_t len)
{
	struct name_arg a = {name, len};

	return write_txn(s, do_stream_remove, &a);
}

/* ---- Appends. -------------------------------------------------------- */

/* One event to append, validated and compacted before the transaction. */
struct prepared {
	const char *type;
	size_t type_len;
	unsigned char id[16];
	int given_id;
	uint32_t schema_version;
	char *data, *meta;
	size_t data_len, meta_len;
};

struct append_arg {
	const char *name;
	size_t len;
	int64_t expected;
	struct prepared *ev;
	size_t n;
	es_appended *out;
	char *buf;		/* envelope under construction */
	size_t cap;
};

static int cmp_ids(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static int prepare(const es_event_in *in, size_t n, struct prepared *ev)
{
	unsigned char (*ids)[16] = NULL;
	size_t given = 0;
	char why[256];
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		struct prepared *p = &ev[i];
		p->type = in[i].type;
		p->type_len = in[i].type_len;
		p->schema_version = in[i].schema_version ? in[i].schema_version : 1;
		if (!in[i].type || es_name_check(in[i].type, in[i].type_len, why, sizeof why))
			return fail(EINVAL, "event %zu: bad event type: %s", i + 1,
				    in[i].type ? why : "missing");
		if (!in[i].data)
			return fail(EINVAL, "event %zu: no data", i + 1);
		err = es_json_check(in[i].data, in[i].data_len, 0, why, sizeof why,
				    &p->data, &p->data_len, NULL);
		if (err)
			return fail(err, "event %zu: data: %s", i + 1, why);
		if (in[i].metadata) {
			err = es_json_check(in[i].metadata, in[i].metadata_len, 0, why,
					    sizeof why, &p->meta, &p->meta_len, NULL);
		} else {
			p->meta = strdup("{}");
			p->meta_len = 2;
			err = p->meta ? 0 : ENOMEM;
		}
		if (err)
			return fail(err, "event %zu: metadata: %s", i + 1, why);
		p->given_id = in[i].id != NULL;
		if (p->given_id) {
			memcpy(p->id, in[i].id, 16);
			given++;
		} else {
			uuid_generate(p->id);
		}
	}
	if (given < 2)
		return 0;
	ids = malloc(given * 16);
	if (!ids)
		return fail(ENOMEM, "out of memory");
	given = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].given_id)
			memcpy(ids[given++], ev[i].id, 16);
	qsort(ids, given, 16, cmp_ids);
	for (size_t i = 1; i < given && !err; i++)
		if (memcmp(ids[i - 1], ids[i], 16) == 0) {
			char u[37];
			uuid_unparse_lower(ids[i], u);
			err = fail(EINVAL, "event id %s appears twice in the batch", u);
		}
	free(ids);
	return err;
}

/* Decides whether the batch is a retry, a conflict, or new. Returns 0 for
 * new events, 1 for a retry (out filled), or an error. */
static int check_ids(es_store *s, MDB_txn *txn, struct append_arg *a,
		     const es_stream *st)
{
	size_t found = 0;
	uint64_t prev_version = 0;
	int in_order = 1;
	es_event first = {0}, last = {0};
	char u[37];

	for (size_t i = 0; i < a->n; i++) {
		uint64_t pos;
		es_event ev;
		if (!a->ev[i].given_id)
			continue;
		int rc = get_u64(txn, s->dbi[DB_EVENT_IDS], a->ev[i].id, 16, &pos);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc)
			return rc;
		int err = event_at(s, txn, pos, &ev);
		if (err)
			return err;
		if (ev.stream_id != st->id) {
			MDB_val k = val(&ev.stream_id, 8), v;
			es_stream other = {.name = "?", .name_len = 1};
			if (mdb_get(txn, s->dbi[DB_STREAMS], &k, &v) == 0)
				decode_stream(ev.stream_id, &v, &other);
			uuid_unparse_lower(a->ev[i].id, u);
			return fail(EEXIST, "event id %s is already stored in stream %.*s at version %llu",
				    u, (int)other.name_len, other.name,
				    (unsigned long long)ev.version);
		}
		if (found == 0)
			first = ev;
		else if (ev.version != prev_version + 1)
			in_order = 0;	/* a retry is the batch as it was stored */
		prev_version = ev.version;
		last = ev;
		found++;
	}
	if (found == 0)
		return 0;
	if (found < a->n || !in_order) {
		uuid_unparse_lower(first.id, u);
		return fail(EEXIST, "stream %.*s: %zu of the %zu events are already stored (event id %s at version %llu)%s",
			    (int)a->len, a->name, found, a->n, u,
			    (unsigned long long)first.version,
			    in_order ? "" : ", in another order");
	}
	if (a->out) {
		a->out->first_version = first.version;
		a->out->last_version = last.version;
		a->out->first_position = first.position;
		a->out->last_position = last.position;
		a->out->retry = 1;
	}
	return 1;
}

static int reserve_buf(struct append_arg *a, size_t need)
{
	if (need <= a->cap)
		return 0;
	char *b = realloc(a->buf, need);
	if (!b)
		return fail(ENOMEM, "out of memory");
	a->buf = b;
	a->cap = need;
	return 0;
}

/* Fixed bytes of an envelope, its numbers at their widest included. */
#define ENVELOPE_FIXED 256

/* Writes the envelope of ev into b; returns its length, at most
 * ENVELOPE_FIXED + the quoted stream + 2 * type + data + metadata. */
static size_t envelope(char *b, const struct prepared *ev,
		       const char *qstream, size_t qstream_len, uint64_t version,
		       uint64_t pos, int64_t created)
{
	char uuid[37], when[32];
	size_t n = 0;

	uuid_unparse_lower(ev->id, uuid);
	es_time_format(created, when);
#define LIT(s) (memcpy(b + n, s, sizeof s - 1), n += sizeof s - 1)
#define BYTES(p, len) (memcpy(b + n, p, len), n += len)
	LIT("{\"event_id\":\"");
	BYTES(uuid, 36);
	LIT("\",\"stream_id\":");
	BYTES(qstream, qstream_len);
	LIT(",\"event_type\":");
	n += es_json_quote(ev->type, ev->type_len, b + n);
	n += (size_t)sprintf(b + n, ",\"version\":%llu,\"schema_version\":%u,\"data\":",
			     (unsigned long long)version, ev->schema_version);
	BYTES(ev->data, ev->data_len);
	LIT(",\"metadata\":");
	BYTES(ev->meta, ev->meta_len);
	n += (size_t)sprintf(b + n, ",\"global_position\":%llu,\"created_at\":\"",
			     (unsigned long long)pos);
	BYTES(when, 27);
	LIT("\"}\n");
#undef LIT
#undef BYTES
	return n;
}

static int do_append(es_store *s, MDB_txn *txn, void *p)
{
	struct append_arg *a = p;
	es_stream st;
	uint64_t head;
	int64_t last_created, created = now_us();
	char qstream[2 * 255 + 2];
	size_t qlen;
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	err = check_ids(s, txn, a, &st);
	if (err == 1)
		return NO_CHANGE;	/* a retry: the events are stored already */
	if (err)
		return err;
	if (a->expected != ES_ANY && (uint64_t)a->expected != st.version)
		return fail(EEXIST, "wrong expected version: stream %.*s, expected %lld, actual %llu",
			    (int)a->len, a->name, (long long)a->expected,
			    (unsigned long long)st.version);
	if ((err = last_event(s, txn, &head, &last_created)))
		return err;
	if (created < last_created)
		created = last_created;	/* created_at never goes backwards */
	if (head + a->n > ES_ID_MAX || st.version + a->n > ES_ID_MAX)
		return fail(ENOSPC, "no positions left");
	qlen = es_json_quote(a->name, a->len, qstream);

	for (size_t i = 0; i < a->n; i++) {
		struct prepared *ev = &a->ev[i];
		uint64_t pos = head + 1 + i, version = st.version + 1 + i;
		size_t need = EVENT_HDR + ENVELOPE_FIXED + qlen + 2 * ev->type_len +
			      ev->data_len + ev->meta_len;
		if ((err = reserve_buf(a, need)))
			return err;
		/* The record: header, then the envelope. */
		size_t len = envelope(a->buf + EVENT_HDR, ev, qstream, qlen, version,
				      pos, created);
		if (len > s->max_event)
			return fail(EFBIG, "event %zu is %zu bytes, over the limit of %zu",
				    i + 1, len, s->max_event);
		put64(a->buf, st.id);
		put64(a->buf + 8, version);
		put64(a->buf + 16, (uint64_t)created);
		memcpy(a->buf + 24, ev->id, 16);
		unsigned char skey[16];
		put_be64(skey, st.id);
		put_be64(skey + 8, version);
		if ((err = put_raw(txn, s->dbi[DB_EVENTS], &pos, 8, a->buf,
				   EVENT_HDR + len, MDB_APPEND)) ||
		    (err = put_raw(txn, s->dbi[DB_EVENT_IDS], ev->id, 16, &pos, 8,
				   MDB_NOOVERWRITE)) ||
		    (err = put_raw(txn, s->dbi[DB_STREAM_EVENTS], skey, 16, &pos, 8,
				   MDB_NOOVERWRITE)))
			return err;
	}
	if ((err = put_stream(s, txn, st.id, st.version + a->n, st.created_us,
			      created, a->name, a->len)))
		return err;
	if (a->out) {
		a->out->first_version = st.version + 1;
		a->out->last_version = st.version + a->n;
		a->out->first_position = head + 1;
		a->out->last_position = head + a->n;
		a->out->retry = 0;
	}
	return 0;
}

int es_append(es_store *s, const char *name, size_t len, int64_t expected,
	      const es_event_in *ev, size_t n, es_appended *out)
{
	struct append_arg a = {name, len, expected, NULL, n, out, NULL, 0};
	int err;

	if (n == 0)
		return fail(EINVAL, "no events to append");
	if (expected < ES_ANY)
		return fail(EINVAL, "bad expected version %lld", (long long)expected);
	a.ev = calloc(n, sizeof *a.ev);
	if (!a.ev)
		return fail(ENOMEM, "out of memory");
	err = prepare(ev, n, a.ev);
	if (!err)
		err = write_txn(s, do_append, &a);
	for (size_t i = 0; i < n; i++) {
		free(a.ev[i].data);
		free(a.ev[i].meta);
	}
	free(a.ev);
	free(a.buf);
	return err;
}

/* ---- Snapshots. ------------------------------------------------------ */

struct snapshot_arg {
	const char *name;
	size_t len;
	uint64_t version;
	const char *data;
	size_t data_len;
};

static int do_snapshot_put(es_store *s, MDB_txn *txn, void *p)
{
	struct snapshot_arg *a = p;
	es_stream st;
	int64_t now = now_us();
	char when[32];
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	if (a->version < 1 || a->version > st.version)
		return fail(EINVAL, "snapshot version %llu is outside 1 … %llu, the versions of stream %.*s",
			    (unsigned long long)a->version, (unsigned long long)st.version,
			    (int)a->len, a->name);
	size_t cap = SNAPSHOT_HDR + 2 * a->len + a->data_len + 120;
	char *rec = malloc(cap), *b = rec + SNAPSHOT_HDR;
	if (!rec)
		return fail(ENOMEM, "out of memory");
	put64(rec, a->version);
	put64(rec + 8, (uint64_t)now);
	es_time_format(now, when);
	size_t n = (size_t)sprintf(b, "{\"stream_id\":");
	n += es_json_quote(a->name, a->len, b + n);
	n += (size_t)sprintf(b + n, ",\"version\":%llu,\"created_at\":\"%s\",\"data\":",
			     (unsigned long long)a->version, when);
	memcpy(b + n, a->data, a->data_len);
	n += a->data_len;
	memcpy(b + n, "}\n", 2);
	n += 2;
	err = put_raw(txn, s->dbi[DB_SNAPSHOTS], &st.id, 8, rec, SNAPSHOT_HDR + n, 0);
	free(rec);
	return err;
}

int es_snapshot_put(es_store *s, const char *name, size_t len,
		    uint64_t version, const char *data, size_t data_len)
{
	struct snapshot_arg a = {name, len, version, NULL, 0};
	char why[256], *compact;
	int err = es_json_check(data, data_len, 0, why, sizeof why, &compact,
				&a.data_len, NULL);

	if (err)
		return fail(err, "snapshot data: %s", why);
	a.data = compact;
	if (a.data_len > s->max_event)
		err = fail(EFBIG, "snapshot data is %zu bytes, over the limit of %zu",
			   a.data_len, s->max_event);
	else
		err = write_txn(s, do_snapshot_put, &a);
	free(compact);
	return err;
}

static int do_snapshot_delete(es_store *s, MDB_txn *txn, void *p)
{
	struct name_arg *a = p;
	es_stream st;
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	MDB_val k = val(&st.id, 8);
	int rc = mdb_del(txn, s->dbi[DB_SNAPSHOTS], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "stream %.*s has no snapshot", (int)a->len, a->name);
	return rc ? lmdb_fail(rc, "deleting a snapshot") : 0;
}

int es_snapshot_delete(es_store *s, const char *name, size_t len)
{
	struct name_arg a = {name, len};

	return write_txn(s, do_snapshot_delete, &a);
}

/* ---- Checkpoints. ---------------------------------------------------- */

struct checkpoint_arg {
	const char *name;
	size_t len;
	uint64_t position;
	int has_position;
	uint64_t id;
};

static int put_checkpoint(es_store *s, MDB_txn *txn, struct checkpoint_arg *a)
{
	char rec[CHECKPOINT_HDR + 255];

	put64(rec, a->position);
	put64(rec + 8, (uint64_t)now_us());
	put64(rec + 16, (uint64_t)a->has_position);
	memcpy(rec + CHECKPOINT_HDR, a->name, a->len);
	return put_raw(txn, s->dbi[DB_CHECKPOINTS], &a->id, 8, rec,
		       CHECKPOINT_HDR + a->len, 0);
}

/* Finds the id of checkpoint a->name, or gives it one. */
static int checkpoint_id(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
			 int *created)
{
	int err, rc = get_u64(txn, s->dbi[DB_CHECKPOINT_NAMES], a->name, a->len, &a->id);

	*created = 0;
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((err = meta_get(s, txn, "next_checkpoint", &a->id)))
		return err;
	a->id = a->id ? a->id : 1;
	if (a->id > ES_ID_MAX)
		return fail(ENOSPC, "no checkpoint ids left");
	*created = 1;
	if ((err = meta_put(s, txn, "next_checkpoint", a->id + 1)))
		return err;
	return put_raw(txn, s->dbi[DB_CHECKPOINT_NAMES], a->name, a->len, &a->id, 8,
		       MDB_NOOVERWRITE);
}

static int do_checkpoint_reserve(es_store *s, MDB_txn *txn, void *p)
{
	struct checkpoint_arg *a = p;
	int created, err = checkpoint_id(s, txn, a, &created);

	if (err || !created)
		return err;
	a->has_position = 0;
	a->position = 0;
	return put_checkpoint(s, txn, a);
}

int es_checkpoint_reserve(es_store *s, const char *name, size_t len, uint64_t *id)
{
	struct checkpoint_arg a = {name, len, 0, 0, 0};
	int err = es_name_check(name, len, why_buf, sizeof why_buf);

	if (!err)
		err = write_txn(s, do_checkpoint_reserve, &a);
	if (!err)
		*id = a.id;
	return err;
}

static int do_checkpoint_put(es_store *s, MDB_txn *txn, void *p)
{
	struct checkpoint_arg *a = p;
	uint64_t head;
	int64_t t;
	int created, err = last_event(s, txn, &head, &t);

	if (err)
		return err;
	if (a->position > head)
		return fail(EINVAL, "checkpoint position %llu is beyond the last global position, %llu",
			    (unsigned long long)a->position, (unsigned long long)head);
	if ((err = checkpoint_id(s, txn, a, &created)))
		return err;
	a->has_position = 1;
	return put_checkpoint(s, txn, a);
}

int es_checkpoint_put(es_store *s, const char *name, size_t len, uint64_t position)
{
	struct checkpoint_arg a = {name, len, position, 1, 0};
	int err = es_name_check(name, len, why_buf, sizeof why_buf);

	return err ? err : write_txn(s, do_checkpoint_put, &a);
}

static int do_checkpoint_delete(es_store *s, MDB_txn *txn, void *p)
{
	struct checkpoint_arg *a = p;
	MDB_val k, v;
	int rc = get_u64(txn, s->dbi[DB_CHECKPOINT_NAMES], a->name, a->len, &a->id);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no checkpoint %.*s", (int)a->len, a->name);
	if (rc)
		return rc;
	k = val(&a->id, 8);
	rc = mdb_get(txn, s->dbi[DB_CHECKPOINTS], &k, &v);
	if (rc)
		return lmdb_fail(rc, "reading a checkpoint");
	if (get64((char *)v.mv_data + 16) == 0)
		return fail(ENOENT, "no checkpoint %.*s", (int)a->len, a->name);
	/* Keep the name's id, so that its inode stays the same. */
	a->has_position = 0;
	a->position = 0;
	return put_checkpoint(s, txn, a);
}

int es_checkpoint_delete(es_store *s, const char *name, size_t len)
{
	struct checkpoint_arg a = {name, len, 0, 0, 0};

	if (len == 0 || len > 255)
		return fail(ENOENT, "no checkpoint of that name");
	return write_txn(s, do_checkpoint_delete, &a);
}

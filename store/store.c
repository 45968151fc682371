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
 *   views           view id (big-endian) -> name
 *   view_names      kind byte + name -> view id
 *   view_events     (view id, position) -> nothing
 *
 * A view id carries its kind in its top bits (kind << VIEW_KIND_SHIFT), so
 * the views of one kind are one range of keys. view_events is filled in the
 * append's own transaction.
 *
 * Every lookup is one B-tree search and every listing a cursor walk.
 *
 * The memory map grows on demand: transactions hold map_lock shared; a
 * writer that meets MDB_MAP_FULL aborts, takes it exclusively, doubles the
 * map and retries. Another process that grew the map makes our next
 * transaction fail with MDB_MAP_RESIZED, and we adopt the new size.
 */
#include "store.h"
#include "dir.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#define FORMAT 2		/* 2 added the views; a format 1 store is upgraded */
#define MAP_INITIAL ((size_t)1 << 30)
#define READER_CHECK_US (60 * 1000000)	/* how often to free dead readers' slots */
#define TRIM_EVERY 64			/* read views and commits between looks at the RSS */
#define TRIM_ABOVE ((size_t)32 << 20)	/* map bytes the process may keep resident */
#define TRIM_WALKED ((size_t)1 << 20)	/* bytes walked between looks at the RSS */
#define RETRY_MAP (-1)		/* internal: the map is full, grow and retry */
#define NO_CHANGE (-3)		/* internal: succeed without committing */

enum {
	DB_META, DB_EVENTS, DB_EVENT_IDS, DB_STREAMS, DB_STREAM_NAMES,
	DB_STREAM_EVENTS, DB_SNAPSHOTS, DB_CHECKPOINTS, DB_CHECKPOINT_NAMES,
	DB_VIEWS, DB_VIEW_NAMES, DB_VIEW_EVENTS, DB_COUNT
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
	[DB_VIEWS] = {"views", 0},
	[DB_VIEW_NAMES] = {"view_names", 0},
	[DB_VIEW_EVENTS] = {"view_events", 0},
};

#define VIEW_KIND_SHIFT 48	/* view id = kind << 48 | a number from 1 */

/* Record headers: fixed fields, then variable bytes. */
#define EVENT_HDR 40		/* stream id, version, created, uuid[16] */
#define STREAM_HDR 24		/* version, created, updated; then name */
#define SNAPSHOT_HDR 16		/* version, created; then line */
#define CHECKPOINT_HDR 24	/* position, updated, has_position; then name */

struct es_store {
	MDB_env *env;
	char *dir;		/* absolute */
	int lock_fd;		/* dir/esfs.lock (dir.h) when read-write, else -1 */
	int watch_fd;		/* es_watch_open's, or -1 */
	MDB_dbi dbi[DB_COUNT];
	pthread_rwlock_t map_lock;
	size_t max_event;
	int read_only;
	int upgrade;				/* format 1: build the views at open */
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

static uint64_t get_be64(const void *p)
{
	const unsigned char *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* The key of a view's name: its kind, then the name. */
static void view_key(unsigned char *key, int kind, const char *name, size_t len)
{
	key[0] = (unsigned char)kind;
	memcpy(key + 1, name, len);
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

unsigned es_event_names(const es_event *ev)
{
	/* The envelope starts {"event_id":"<36>","stream_id":"<name>" */
	const size_t at = sizeof "{\"event_id\":\"" - 1 + 36 + sizeof "\",\"stream_id\":\"" - 1;

	for (size_t i = at; i < ev->json_len && ev->json[i] != '"'; i++) {
		if (ev->json[i] == '\\')
			i++;	/* an escaped '"' or '\\' */
		else if (ev->json[i] == '-')
			return i > at ? 4 : 3;	/* a category: the text before it */
	}
	return 3;
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

int es_time_parse(const char *text, int64_t *us)
{
	struct tm tm = {0};
	int frac = 0, n = 0;
	char back[32];

	if (!text || strlen(text) != 27 ||
	    sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac, &n) != 7 ||
	    n != 27)
		return fail(EINVAL, "%s is not a time as esfs writes it", text ? text : "(none)");
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	es_time_format(*us, back);
	return strcmp(back, text) ? fail(EINVAL, "%s is not a time as esfs writes it", text) : 0;
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
				if (rc == 0 && s->lock_fd >= 0)
					dir_published(s->lock_fd);
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

static int build_views(es_store *s, MDB_txn *txn, void *arg);

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
	uint64_t format;
	int err = 0;
	for (int i = 0; i < DB_COUNT && !err; i++) {
		rc = mdb_dbi_open(txn, db_spec[i].name, db_spec[i].flags | create,
				  &s->dbi[i]);
		if (rc == MDB_NOTFOUND && i > DB_META && meta_get(s, txn, "format", &format) == 0 &&
		    format == 1)
			err = fail(EROFS, "%s has store format 1, without views: open it read-write once to upgrade it",
				   dir);
		else if (rc == MDB_NOTFOUND)
			err = fail(ENOENT, "%s is not an esfs store", dir);
		else if (rc)
			err = lmdb_fail(rc, "opening the store's databases");
	}
	if (!err)
		err = meta_get(s, txn, "format", &format);
	if (!err && format == 0 && !s->read_only) {
		format = FORMAT;
		err = meta_put(s, txn, "format", FORMAT);
		if (!err)
			err = meta_put(s, txn, "created", (uint64_t)now_us());
	}
	/* Format 1 had no views: es_open builds them, in a transaction that
	 * can grow the map. */
	if (!err && format == 1 && !s->read_only)
		s->upgrade = 1;
	else if (!err && format == 1)
		err = fail(EROFS, "%s has store format 1, without views: open it read-write once to upgrade it",
			   dir);
	else if (!err && format != FORMAT)
		err = fail(EINVAL, "%s has store format %llu; this esfs reads format %d",
			   dir, (unsigned long long)format, FORMAT);
	if (err) {
		mdb_txn_abort(txn);
		return err == RETRY_MAP ? fail(ENOSPC, "no room to create the store") : err;
	}
	rc = mdb_txn_commit(txn);
	return rc ? lmdb_fail(rc, "creating the store") : 0;
}

int es_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0)
		return fail(ENOENT, "cannot create a directory with no name");
	if (n >= sizeof buf)
		return fail(ENAMETOOLONG, "cannot create %s: %s", path, strerror(ENAMETOOLONG));
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return fail(errno, "cannot create %s: %s", buf, strerror(errno));
		if (c == '\0') {
			struct stat st;
			if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode))
				return fail(ENOTDIR, "cannot create %s: %s", buf, strerror(ENOTDIR));
			return 0;
		}
		*p = c;
	}
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
	s->lock_fd = s->watch_fd = -1;

	if (!s->read_only && (err = es_mkdirs(dir, 0700)))
		goto out_free;
	if (!(s->dir = realpath(dir, NULL))) {
		err = errno == ENOENT ? fail(ENOENT, "no store at %s", dir)
		      : fail(errno, "cannot open the store at %s: %s", dir, strerror(errno));
		goto out_free;
	}
	if (!s->read_only && (err = dir_lock(s->dir, &s->lock_fd, why_buf, sizeof why_buf)))
		goto out_free;
	rc = mdb_env_create(&s->env);
	if (rc) {
		err = lmdb_fail(rc, "creating the LMDB environment");
		goto out_free;
	}
	mdb_env_set_maxdbs(s->env, 32);
	mdb_env_set_maxreaders(s->env, 1024);
	mdb_env_set_mapsize(s->env, opts && opts->map_initial ? opts->map_initial : MAP_INITIAL);
	rc = mdb_env_open(s->env, dir, (s->read_only ? MDB_RDONLY : 0)
#ifdef ES_UNSAFE_NOSYNC	/* make unsafe: a store that power cuts break, for the soak */
			  | MDB_NOSYNC
#endif
			  , 0644);
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
	if (s->upgrade && (err = write_txn(s, build_views, NULL)))
		goto out_env;
	*out = s;
	return 0;

out_env:
	mdb_env_close(s->env);
out_free:
	if (s->lock_fd >= 0)
		dir_unlock(s->dir, s->lock_fd);
	free(s->dir);
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
	if (s->watch_fd >= 0)
		close(s->watch_fd);
	if (s->lock_fd >= 0)
		dir_unlock(s->dir, s->lock_fd);
	free(s->dir);
	pthread_rwlock_destroy(&s->map_lock);
	pthread_mutex_destroy(&s->queue_lock);
	free(s);
}

int es_watch_open(es_store *s, int *fd)
{
	int err;

	if (s->watch_fd < 0 && (err = dir_watch(s->dir, &s->watch_fd, why_buf, sizeof why_buf)))
		return err;
	*fd = s->watch_fd;
	return 0;
}

void es_watch_drain(es_store *s)
{
	if (s->watch_fd >= 0)
		dir_drain(s->watch_fd);
}

int es_file_bytes(const char *dir, uint64_t *bytes)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path)
		return fail(ENAMETOOLONG, "%s: path too long", dir);
	if (stat(path, &st) != 0)
		return fail(errno, "%s: %s", path, strerror(errno));
	*bytes = (uint64_t)st.st_size;
	return 0;
}

int es_statfs(es_store *s, struct statvfs *out)
{
	int fd, rc = mdb_env_get_fd(s->env, &fd);

	if (rc)
		return lmdb_fail(rc, "finding the store's file");
	if (fstatvfs(fd, out) != 0)
		return fail(errno, "%s: %s", s->dir, strerror(errno));
	return 0;
}

/* ---- Reads. ---------------------------------------------------------- */

int es_read_begin(es_store *s, es_read **out)
{
	es_read *r = calloc(1, sizeof *r);
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

/* ---- Reading views. -------------------------------------------------- */

/* Fills out from the record of view id (value v). */
static int view_at(es_read *r, uint64_t id, const MDB_val *v, es_view *out)
{
	unsigned char key[16];
	MDB_cursor *c;
	MDB_val k = val(key, 16), kv;
	es_event ev;
	int rc, err;

	out->id = id;
	out->kind = (int)(id >> VIEW_KIND_SHIFT);
	out->name = v->mv_data;
	out->name_len = v->mv_size;
	/* Its newest event: the last key before (id + 1, 0). */
	put_be64(key, id + 1);
	put_be64(key + 8, 0);
	if ((rc = mdb_cursor_open(r->txn, r->s->dbi[DB_VIEW_EVENTS], &c)))
		return lmdb_fail(rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &kv, MDB_SET_RANGE);
	rc = mdb_cursor_get(c, &k, &kv, rc == 0 ? MDB_PREV : MDB_LAST);
	if (rc == 0 && (k.mv_size != 16 || get_be64(k.mv_data) != id))
		rc = MDB_NOTFOUND;
	if (rc == 0)
		out->last_position = get_be64((char *)k.mv_data + 8);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "view %.*s has no events", (int)v->mv_size,
			    (const char *)v->mv_data);
	if (rc)
		return lmdb_fail(rc, "reading a view");
	if ((err = event_at(r->s, r->txn, out->last_position, &ev)))
		return err;
	out->updated_us = ev.created_us;
	return 0;
}

int es_view_get_id(es_read *r, uint64_t id, es_view *out)
{
	unsigned char key[8];
	MDB_val k = val(key, 8), v;

	put_be64(key, id);
	int rc = mdb_get(r->txn, r->s->dbi[DB_VIEWS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no view %llu", (unsigned long long)id);
	if (rc)
		return lmdb_fail(rc, "reading a view");
	return view_at(r, id, &v, out);
}

int es_view_get(es_read *r, int kind, const char *name, size_t len, es_view *out)
{
	unsigned char key[1 + 255];
	uint64_t id;

	if (len == 0 || len > 255)
		return fail(ENOENT, "no view of that name");
	view_key(key, kind, name, len);
	int rc = get_u64(r->txn, r->s->dbi[DB_VIEW_NAMES], key, 1 + len, &id);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no %s %.*s", kind == ES_CATEGORY ? "category" : "event type",
			    (int)len, name);
	return rc ? rc : es_view_get_id(r, id, out);
}

int es_view_has(es_read *r, uint64_t id, uint64_t position)
{
	unsigned char key[16];
	MDB_val k = val(key, 16), v;

	put_be64(key, id);
	put_be64(key + 8, position);
	int rc = mdb_get(r->txn, r->s->dbi[DB_VIEW_EVENTS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "event %llu is not in view %llu",
			    (unsigned long long)position, (unsigned long long)id);
	return rc ? lmdb_fail(rc, "reading a view") : 0;
}

static int views_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	uint64_t id = get_be64(k->mv_data);
	es_view view;

	if (id >> VIEW_KIND_SHIFT != w->stream_id)	/* the kind, here */
		return STOP;
	int err = view_at(r, id, v, &view);
	if (err == ENOENT)
		return 0;
	return err ? err : stop_or(((es_view_fn)w->fn)(w->arg, &view));
}

int es_views_walk(es_read *r, int kind, uint64_t from, es_view_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, (uint64_t)kind};
	uint64_t first = (uint64_t)kind << VIEW_KIND_SHIFT;
	unsigned char key[8];

	put_be64(key, from > first ? from : first);
	return walk(r, DB_VIEWS, key, 8, views_step, &w);
}

static int view_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_event ev;

	(void)v;
	if (get_be64(k->mv_data) != w->stream_id)	/* the view id, here */
		return STOP;
	int err = event_at(r->s, r->txn, get_be64((char *)k->mv_data + 8), &ev);
	if (err)
		return err == ENOENT ? fail(EIO, "a view points at a missing event") : err;
	r->walked += ev.json_len;
	return stop_or(((es_event_fn)w->fn)(w->arg, &ev));
}

int es_view_walk(es_read *r, uint64_t id, uint64_t from, es_event_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, id};
	unsigned char key[16];

	put_be64(key, id);
	put_be64(key + 8, from);
	return walk(r, DB_VIEW_EVENTS, key, 16, view_step, &w);
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

/* Creates the empty stream name, made at time created; fills out. */
static int create_stream(es_store *s, MDB_txn *txn, const char *name, size_t len,
			 int64_t created, es_stream *out)
{
	uint64_t id, count;
	MDB_val k = val(name, len), v;
	int err;

	if (mdb_get(txn, s->dbi[DB_STREAM_NAMES], &k, &v) == 0)
		return fail(EEXIST, "stream %.*s exists", (int)len, name);
	if ((err = meta_get(s, txn, "next_stream", &id)) ||
	    (err = meta_get(s, txn, "stream_count", &count)))
		return err;
	id = id ? id : 1;
	if (id > ES_ID_MAX)
		return fail(ENOSPC, "no stream ids left");
	if ((err = put_stream(s, txn, id, 0, created, created, name, len)) ||
	    (err = put_raw(txn, s->dbi[DB_STREAM_NAMES], name, len, &id, 8,
			   MDB_NOOVERWRITE)) ||
	    (err = meta_put(s, txn, "next_stream", id + 1)) ||
	    (err = meta_put(s, txn, "stream_count", count + 1)))
		return err;
	*out = (es_stream){id, 0, created, created, name, len};
	return 0;
}

static int do_stream_create(es_store *s, MDB_txn *txn, void *p)
{
	struct name_arg *a = p;
	es_stream st;

	return create_stream(s, txn, a->name, a->len, now_us(), &st);
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

/* ---- Views. ---------------------------------------------------------- */

/* The category of a stream: the part of its name before the first '-';
 * 0 when there is none. */
static size_t category_len(const char *name, size_t len)
{
	const char *dash = memchr(name, '-', len);

	return dash ? (size_t)(dash - name) : 0;
}

/* Finds the view of kind and name, or makes it. */
static int view_id(es_store *s, MDB_txn *txn, int kind, const char *name,
		   size_t len, uint64_t *id)
{
	unsigned char key[1 + 255], be[8];
	const char *counter = kind == ES_CATEGORY ? "next_category" : "next_type";
	uint64_t next;
	int err;

	view_key(key, kind, name, len);
	int rc = get_u64(txn, s->dbi[DB_VIEW_NAMES], key, 1 + len, id);
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((err = meta_get(s, txn, counter, &next)))
		return err;
	next = next ? next : 1;
	if (next >= (UINT64_C(1) << VIEW_KIND_SHIFT))
		return fail(ENOSPC, "no view ids left");
	*id = (uint64_t)kind << VIEW_KIND_SHIFT | next;
	put_be64(be, *id);
	if ((err = meta_put(s, txn, counter, next + 1)) ||
	    (err = put_raw(txn, s->dbi[DB_VIEW_NAMES], key, 1 + len, id, 8,
			   MDB_NOOVERWRITE)))
		return err;
	return put_raw(txn, s->dbi[DB_VIEWS], be, 8, name, len, MDB_NOOVERWRITE);
}

static int view_put(es_store *s, MDB_txn *txn, int kind, const char *name,
		    size_t len, uint64_t pos)
{
	unsigned char key[16];
	uint64_t id;
	int err = view_id(s, txn, kind, name, len, &id);

	if (err)
		return err;
	put_be64(key, id);
	put_be64(key + 8, pos);
	return put_raw(txn, s->dbi[DB_VIEW_EVENTS], key, 16, "", 0, 0);
}

/* Puts the event at pos, of stream and type, in its views. */
static int index_event(es_store *s, MDB_txn *txn, uint64_t pos,
		       const char *stream, size_t slen, const char *type,
		       size_t tlen)
{
	size_t clen = category_len(stream, slen);
	int err = 0;

	if (clen > 0)
		err = view_put(s, txn, ES_CATEGORY, stream, clen, pos);
	return err ? err : view_put(s, txn, ES_TYPE, type, tlen, pos);
}

/* The event type of an envelope, unquoted into buf (256 bytes). */
static int envelope_type(const es_event *ev, char *buf, size_t *len)
{
	es_json_member m;
	size_t at = 0;

	while (es_json_next_member(ev->json, ev->json_len - 1, &at, &m))
		if (m.key_len == 12 && memcmp(m.key, "\"event_type\"", 12) == 0) {
			*len = 0;
			for (size_t i = 1; i + 1 < m.value_len && *len < 255; i++) {
				if (m.value[i] == '\\')
					i++;	/* names escape only '"' and '\\' */
				buf[(*len)++] = m.value[i];
			}
			return 0;
		}
	return fail(EIO, "event %llu has no event_type", (unsigned long long)ev->position);
}

/* Fills the views from the events of a format 1 store, and makes it
 * format 2. */
static int build_views(es_store *s, MDB_txn *txn, void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	es_stream st = {0};
	char type[256];
	size_t tlen = 0;
	int err = 0, rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &c);

	if (rc)
		return lmdb_fail(rc, "opening a cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !err;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		es_event ev;
		decode_event(get64(k.mv_data), &v, &ev);
		if (ev.stream_id != st.id) {
			MDB_val sk = val(&ev.stream_id, 8), sv;
			if ((rc = mdb_get(txn, s->dbi[DB_STREAMS], &sk, &sv))) {
				err = rc == MDB_NOTFOUND ? fail(EIO, "event %llu: its stream is missing",
								(unsigned long long)ev.position)
							 : lmdb_fail(rc, "building the views");
				break;
			}
			decode_stream(ev.stream_id, &sv, &st);
		}
		if (!(err = envelope_type(&ev, type, &tlen)))
			err = index_event(s, txn, ev.position, st.name, st.name_len, type, tlen);
	}
	mdb_cursor_close(c);
	(void)arg;
	if (!err && rc && rc != MDB_NOTFOUND)
		err = lmdb_fail(rc, "building the views");
	return err ? err : meta_put(s, txn, "format", FORMAT);
}

/* Stores the event at pos, version of stream st: rec holds EVENT_HDR free
 * bytes, then its envelope of len bytes. The caller updates the stream. */
static int store_event(es_store *s, MDB_txn *txn, const es_stream *st,
		       uint64_t version, uint64_t pos, int64_t created,
		       const unsigned char *id, char *rec, size_t len,
		       const char *type, size_t type_len)
{
	unsigned char skey[16];
	int err;

	put64(rec, st->id);
	put64(rec + 8, version);
	put64(rec + 16, (uint64_t)created);
	memcpy(rec + 24, id, 16);
	put_be64(skey, st->id);
	put_be64(skey + 8, version);
	if ((err = put_raw(txn, s->dbi[DB_EVENTS], &pos, 8, rec, EVENT_HDR + len,
			   MDB_APPEND)) ||
	    (err = put_raw(txn, s->dbi[DB_EVENT_IDS], id, 16, &pos, 8,
			   MDB_NOOVERWRITE)) ||
	    (err = put_raw(txn, s->dbi[DB_STREAM_EVENTS], skey, 16, &pos, 8,
			   MDB_NOOVERWRITE)))
		return err;
	return index_event(s, txn, pos, st->name, st->name_len, type, type_len);
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
		if ((err = store_event(s, txn, &st, version, pos, created, ev->id,
				       a->buf, len, ev->type, ev->type_len)))
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

/* A snapshot's record: header, then its line. malloc'd; *len its size. */
static char *snapshot_record(const char *name, size_t len, uint64_t version,
			     int64_t created, const char *data, size_t data_len,
			     size_t *rec_len)
{
	char *rec = malloc(SNAPSHOT_HDR + 2 * len + data_len + 120), *b, when[32];
	size_t n;

	if (!rec)
		return NULL;
	b = rec + SNAPSHOT_HDR;
	put64(rec, version);
	put64(rec + 8, (uint64_t)created);
	es_time_format(created, when);
	n = (size_t)sprintf(b, "{\"stream_id\":");
	n += es_json_quote(name, len, b + n);
	n += (size_t)sprintf(b + n, ",\"version\":%llu,\"created_at\":\"%s\",\"data\":",
			     (unsigned long long)version, when);
	memcpy(b + n, data, data_len);
	n += data_len;
	memcpy(b + n, "}\n", 2);
	*rec_len = SNAPSHOT_HDR + n + 2;
	return rec;
}

static int do_snapshot_put(es_store *s, MDB_txn *txn, void *p)
{
	struct snapshot_arg *a = p;
	es_stream st;
	int64_t now = now_us();
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	if (a->version < 1 || a->version > st.version)
		return fail(EINVAL, "snapshot version %llu is outside 1 … %llu, the versions of stream %.*s",
			    (unsigned long long)a->version, (unsigned long long)st.version,
			    (int)a->len, a->name);
	size_t n;
	char *rec = snapshot_record(a->name, a->len, a->version, now, a->data,
				    a->data_len, &n);
	if (!rec)
		return fail(ENOMEM, "out of memory");
	err = put_raw(txn, s->dbi[DB_SNAPSHOTS], &st.id, 8, rec, n, 0);
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

static int put_checkpoint(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
			  int64_t updated)
{
	char rec[CHECKPOINT_HDR + 255];

	put64(rec, a->position);
	put64(rec + 8, (uint64_t)updated);
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
	return put_checkpoint(s, txn, a, now_us());
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
	return put_checkpoint(s, txn, a, now_us());
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
	return put_checkpoint(s, txn, a, now_us());
}

int es_checkpoint_delete(es_store *s, const char *name, size_t len)
{
	struct checkpoint_arg a = {name, len, 0, 0, 0};

	if (len == 0 || len > 255)
		return fail(ENOENT, "no checkpoint of that name");
	return write_txn(s, do_checkpoint_delete, &a);
}

/* ---- Administration. ------------------------------------------------- */

static int count_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	uint64_t *n = p;

	(void)v;
	if (get_be64(k->mv_data) >> VIEW_KIND_SHIFT != (n[1]))
		return STOP;
	(void)r;
	n[0]++;
	return 0;
}

/* Views of a kind: n[0] counts, n[1] is the kind. */
static int count_views(es_read *r, int kind, uint64_t *count)
{
	uint64_t n[2] = {0, (uint64_t)kind};
	unsigned char key[8];

	put_be64(key, (uint64_t)kind << VIEW_KIND_SHIFT);
	int err = walk(r, DB_VIEWS, key, 8, count_step, n);
	*count = n[0];
	return err;
}

static int count_checkpoint(void *arg, const es_checkpoint *cp)
{
	(void)cp;
	++*(uint64_t *)arg;
	return 0;
}

static uint64_t entries(es_read *r, int db)
{
	MDB_stat st;

	return mdb_stat(r->txn, r->s->dbi[db], &st) == 0 ? st.ms_entries : 0;
}

int es_stats_get(es_read *r, es_stats *out)
{
	MDB_envinfo info;
	MDB_stat st;
	int64_t created;
	int err;

	memset(out, 0, sizeof *out);
	out->streams = entries(r, DB_STREAMS);
	out->events = entries(r, DB_EVENTS);
	out->snapshots = entries(r, DB_SNAPSHOTS);
	if ((err = es_checkpoints_walk(r, 0, count_checkpoint, &out->checkpoints)) ||
	    (err = count_views(r, ES_CATEGORY, &out->categories)) ||
	    (err = count_views(r, ES_TYPE, &out->types)) ||
	    (err = last_event(r->s, r->txn, &out->head, &created)))
		return err;
	if (mdb_env_info(r->s->env, &info) != 0 || mdb_env_stat(r->s->env, &st) != 0)
		return fail(EIO, "cannot read the store's size");
	out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	out->map_bytes = info.me_mapsize;
	return 0;
}

/* Whether directory dir is empty, or missing and then made. */
static int empty_dir(const char *dir, int *made)
{
	DIR *d;
	struct dirent *e;
	int empty = 1;

	*made = mkdir(dir, 0755) == 0;
	if (*made)
		return 0;
	if (errno != EEXIST)
		return fail(errno, "cannot create %s: %s", dir, strerror(errno));
	if (!(d = opendir(dir)))
		return fail(errno, "cannot read %s: %s", dir, strerror(errno));
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty ? 0 : fail(EEXIST, "%s is not empty", dir);
}

/* fsync of a file or directory: 0 or an errno. */
static int sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return errno;
	if (fsync(fd) != 0)
		err = errno;
	close(fd);
	return err;
}

int es_backup(es_store *s, const char *dir)
{
	char path[PATH_MAX];
	int made, rc, err = empty_dir(dir, &made);

	if (err)
		return err;
	/* The copy's read transaction fails with MDB_MAP_RESIZED when a
	 * writer in another process grew the map: follow it and start over. */
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	for (int tries = 0; tries < 8; tries++) {
		rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
		if (rc != MDB_MAP_RESIZED)
			break;
		unlink(path);	/* the copy makes its file with O_EXCL */
		adopt_map(s);
	}
	if (rc == 0 && (rc = sync_path(path)) == 0 && (rc = sync_path(dir)) == 0)
		return 0;
	err = rc == ENOSPC ? fail(ENOSPC, "copying to %s: the disk is full", dir)
	      : rc > 0 ? fail(rc, "copying to %s: %s", dir, strerror(rc))
	      : lmdb_fail(rc, "copying the store");
	unlink(path);
	if (made)
		rmdir(dir);
	return err;
}

/* ---- Import: putting a copy back. ------------------------------------ */

/* Parses line (one JSON object and '\n', n bytes) into *o, and checks that
 * it is compact, as esfs writes it, so that its members can be walked. */
static int parse_line(const char *line, size_t n, const char *what, json_t **o)
{
	char why[256], *compact = NULL;
	size_t clen = 0;
	int err;

	if (n < 3 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
		return fail(EINVAL, "%s is one line of JSON ending in a newline", what);
	if ((err = es_json_check(line, n - 1, 0, why, sizeof why, &compact, &clen, o)))
		return fail(err, "%s that is not a JSON object: %s", what, why);
	free(compact);
	if (clen != n - 1) {
		json_decref(*o);
		*o = NULL;
		return fail(EINVAL, "%s is not compact JSON, as esfs writes it", what);
	}
	return 0;
}

/* The raw text of member key of a compact object line. */
static int member_text(const char *line, size_t n, const char *key,
		       const char **text, size_t *len)
{
	size_t at = 0, klen = strlen(key);
	es_json_member m;

	while (es_json_next_member(line, n, &at, &m))
		if (m.key_len == klen + 2 && memcmp(m.key + 1, key, klen) == 0) {
			*text = m.value;
			*len = m.value_len;
			return 0;
		}
	return fail(EINVAL, "no %s", key);
}

/* A decimal member of a compact object line, min … ES_ID_MAX, from its
 * text (jansson reads numbers as doubles here). */
static int member_u64(const char *line, size_t n, const char *key, uint64_t min,
		      uint64_t *out)
{
	const char *text;
	size_t len;
	uint64_t v = 0;

	if (member_text(line, n, key, &text, &len) != 0 || len == 0 || len > 17)
		return fail(EINVAL, "%s is not a number from %llu", key, (unsigned long long)min);
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return fail(EINVAL, "%s is not a number from %llu", key,
				    (unsigned long long)min);
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	if (v < min || v > ES_ID_MAX)
		return fail(EINVAL, "%s is outside %llu … %llu", key, (unsigned long long)min,
			    (unsigned long long)ES_ID_MAX);
	*out = v;
	return 0;
}

static int member_name(json_t *o, const char *key, const char **name, size_t *len)
{
	json_t *v = json_object_get(o, key);
	char why[256];

	if (!json_is_string(v))
		return fail(EINVAL, "%s is not a string", key);
	*name = json_string_value(v);
	*len = json_string_length(v);
	if (es_name_check(*name, *len, why, sizeof why))
		return fail(EINVAL, "%s: %s", key, why);
	return 0;
}

/* An envelope line read back: its fields, checked to be exactly the line
 * esfs writes for them. */
struct envelope_fields {
	json_t *o;		/* owns name and type */
	unsigned char id[16];
	const char *name, *type;
	size_t name_len, type_len;
	uint64_t version, position;
	int64_t created;
	char *rec;		/* EVENT_HDR free bytes, then the line: malloc'd */
	size_t len;
};

static void envelope_free(struct envelope_fields *f)
{
	json_decref(f->o);
	free(f->rec);
	memset(f, 0, sizeof *f);
}

static int read_envelope(const char *line, size_t n, struct envelope_fields *f)
{
	struct prepared ev = {0};
	const char *id;
	char qstream[2 * 255 + 2];
	uint64_t schema;
	size_t qlen;
	int err;

	memset(f, 0, sizeof *f);
	if ((err = parse_line(line, n, "an event", &f->o)))
		return err;
	id = json_string_value(json_object_get(f->o, "event_id"));
	if (!id || strlen(id) != 36 || uuid_parse(id, f->id) != 0)
		return fail(EINVAL, "event_id is not a UUID");
	if ((err = member_u64(line, n - 1, "global_position", 1, &f->position)) ||
	    (err = member_u64(line, n - 1, "version", 1, &f->version)) ||
	    (err = member_u64(line, n - 1, "schema_version", 1, &schema)) ||
	    (err = member_name(f->o, "stream_id", &f->name, &f->name_len)) ||
	    (err = member_name(f->o, "event_type", &f->type, &f->type_len)) ||
	    (err = es_time_parse(json_string_value(json_object_get(f->o, "created_at")),
			      &f->created)) ||
	    (err = member_text(line, n - 1, "data", (const char **)&ev.data, &ev.data_len)) ||
	    (err = member_text(line, n - 1, "metadata", (const char **)&ev.meta, &ev.meta_len)))
		return err;
	if (schema > UINT32_MAX)
		return fail(EINVAL, "schema_version is out of range");
	if (!json_is_object(json_object_get(f->o, "data")) ||
	    !json_is_object(json_object_get(f->o, "metadata")))
		return fail(EINVAL, "data and metadata must be JSON objects");
	memcpy(ev.id, f->id, 16);
	ev.type = f->type;
	ev.type_len = f->type_len;
	ev.schema_version = (uint32_t)schema;
	qlen = es_json_quote(f->name, f->name_len, qstream);
	f->rec = malloc(EVENT_HDR + ENVELOPE_FIXED + qlen + 2 * f->type_len + ev.data_len +
			ev.meta_len);
	if (!f->rec)
		return fail(ENOMEM, "out of memory");
	f->len = envelope(f->rec + EVENT_HDR, &ev, qstream, qlen, f->version, f->position,
			  f->created);
	if (f->len != n || memcmp(f->rec + EVENT_HDR, line, n) != 0)
		return fail(EINVAL, "event %llu is not exactly as esfs writes it (keys, order, spacing or escapes differ)",
			    (unsigned long long)f->position);
	return 0;
}

static int import_event(es_store *s, MDB_txn *txn, const es_import *it)
{
	struct envelope_fields f;
	uint64_t head, have;
	int64_t last;
	es_stream st;
	char uuid[37];
	int err = read_envelope(it->json, it->json_len, &f);

	if (!err)
		err = last_event(s, txn, &head, &last);
	if (err)
		goto out;
	if (f.position != head + 1)
		err = fail(EINVAL, "event at global position %llu where %llu comes next",
			   (unsigned long long)f.position, (unsigned long long)head + 1);
	else if (f.created < last)
		err = fail(EINVAL, "event %llu: created_at is before the previous event's",
			   (unsigned long long)f.position);
	else if (f.len > s->max_event)
		err = fail(EFBIG, "event %llu is %zu bytes, over the limit of %zu",
			   (unsigned long long)f.position, f.len, s->max_event);
	else if (get_u64(txn, s->dbi[DB_EVENT_IDS], f.id, 16, &have) == 0) {
		uuid_unparse_lower(f.id, uuid);
		err = fail(EEXIST, "event %llu: event id %s is stored already at position %llu",
			   (unsigned long long)f.position, uuid, (unsigned long long)have);
	}
	if (err)
		goto out;
	err = find_stream(s, txn, f.name, f.name_len, &st);
	if (err == ENOENT && f.version == 1)
		err = create_stream(s, txn, f.name, f.name_len, f.created, &st);
	else if (err == ENOENT)
		err = fail(EINVAL, "event %llu is version %llu of stream %s, which does not exist",
			   (unsigned long long)f.position, (unsigned long long)f.version, f.name);
	if (!err && f.version != st.version + 1)
		err = fail(EINVAL, "event %llu is version %llu of stream %s, which is at version %llu",
			   (unsigned long long)f.position, (unsigned long long)f.version, f.name,
			   (unsigned long long)st.version);
	if (!err)
		err = store_event(s, txn, &st, f.version, f.position, f.created, f.id, f.rec,
				  f.len, f.type, f.type_len);
	if (!err)
		err = put_stream(s, txn, st.id, f.version, st.created_us, f.created, f.name,
				 f.name_len);
out:
	envelope_free(&f);
	return err;
}

static int import_snapshot(es_store *s, MDB_txn *txn, const es_import *it)
{
	const char *line = it->json, *name, *data;
	size_t n = it->json_len, name_len, data_len, rec_len = 0;
	json_t *o = NULL;
	uint64_t version;
	int64_t created;
	es_stream st;
	char *rec = NULL;
	int err;

	if ((err = parse_line(line, n, "a snapshot", &o)))
		return err;
	if (!(err = member_name(o, "stream_id", &name, &name_len)) &&
	    !(err = member_u64(line, n - 1, "version", 1, &version)) &&
	    !(err = es_time_parse(json_string_value(json_object_get(o, "created_at")), &created)) &&
	    !(err = member_text(line, n - 1, "data", &data, &data_len)) &&
	    !(err = find_stream(s, txn, name, name_len, &st))) {
		if (!json_is_object(json_object_get(o, "data")))
			err = fail(EINVAL, "the snapshot of %s: data must be a JSON object", name);
		else if (version > st.version)
			err = fail(EINVAL, "snapshot of %s at version %llu, past the stream's %llu",
				   name, (unsigned long long)version, (unsigned long long)st.version);
		else if (!(rec = snapshot_record(name, name_len, version, created, data,
						 data_len, &rec_len)))
			err = fail(ENOMEM, "out of memory");
		else if (rec_len - SNAPSHOT_HDR != n || memcmp(rec + SNAPSHOT_HDR, line, n) != 0)
			err = fail(EINVAL, "the snapshot of %s is not exactly as esfs writes it", name);
		else
			err = put_raw(txn, s->dbi[DB_SNAPSHOTS], &st.id, 8, rec, rec_len, 0);
	}
	free(rec);
	json_decref(o);
	return err;
}

static int import_one(es_store *s, MDB_txn *txn, const es_import *it)
{
	char why[256];
	es_stream st;
	uint64_t head;
	int64_t last;
	int err, created;

	switch (it->kind) {
	case ES_IMPORT_STREAM:
		if (es_name_check(it->name, it->name_len, why, sizeof why))
			return fail(EINVAL, "stream name: %s", why);
		return create_stream(s, txn, it->name, it->name_len, it->time_us, &st);
	case ES_IMPORT_EVENT:
		return import_event(s, txn, it);
	case ES_IMPORT_SNAPSHOT:
		return import_snapshot(s, txn, it);
	case ES_IMPORT_CHECKPOINT: {
		struct checkpoint_arg a = {it->name, it->name_len, it->position, 1, 0};
		if (es_name_check(it->name, it->name_len, why, sizeof why))
			return fail(EINVAL, "checkpoint name: %s", why);
		if ((err = last_event(s, txn, &head, &last)))
			return err;
		if (it->position > head)
			return fail(EINVAL, "checkpoint %.*s at %llu, past the last position %llu",
				    (int)it->name_len, it->name,
				    (unsigned long long)it->position, (unsigned long long)head);
		if ((err = checkpoint_id(s, txn, &a, &created)))
			return err;
		return put_checkpoint(s, txn, &a, it->time_us);
	}
	default:
		return fail(EINVAL, "unknown import kind %d", it->kind);
	}
}

struct import_arg {
	const es_import *items;
	size_t n;
};

static int do_import(es_store *s, MDB_txn *txn, void *p)
{
	struct import_arg *a = p;

	for (size_t i = 0; i < a->n; i++) {
		int err = import_one(s, txn, &a->items[i]);
		if (err) {
			char why[sizeof why_buf];
			memcpy(why, why_buf, sizeof why);
			return fail(err, "item %zu: %s", i + 1, why);
		}
	}
	return 0;
}

int es_import_batch(es_store *s, const es_import *items, size_t n)
{
	struct import_arg a = {items, n};

	return n ? write_txn(s, do_import, &a) : 0;
}

/* ---- Verify. --------------------------------------------------------- */

struct verify {
	es_read *r;
	es_problem_fn problem;
	void *arg;
	uint64_t problems;
	uint64_t max_stream, max_checkpoint, max_view[3];	/* the largest ids seen */
};

static void problem(struct verify *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct verify *v, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	v->problems++;
	v->problem(v->arg, line);
}

/* Does db map key to the u64 want? */
static int maps_to(struct verify *v, int db, const void *key, size_t klen, uint64_t want)
{
	uint64_t got;

	return get_u64(v->r->txn, v->r->s->dbi[db], key, klen, &got) == 0 && got == want;
}

static int in_view(struct verify *v, int kind, const char *name, size_t len, uint64_t pos)
{
	unsigned char key[1 + 255];
	uint64_t id;

	view_key(key, kind, name, len);
	return get_u64(v->r->txn, v->r->s->dbi[DB_VIEW_NAMES], key, 1 + len, &id) == 0 &&
	       es_view_has(v->r, id, pos) == 0;
}

/* One event: its record, its envelope, and each index entry for it. */
static void verify_event(struct verify *v, uint64_t pos, const MDB_val *val_,
			 es_stream *st, int64_t *last_created, uint64_t *categorized)
{
	MDB_txn *txn = v->r->txn;
	es_event ev;
	struct envelope_fields f;
	unsigned char skey[16];

	if (val_->mv_size < EVENT_HDR + 3) {
		problem(v, "event %llu: a record of %zu bytes", (unsigned long long)pos, val_->mv_size);
		return;
	}
	decode_event(pos, val_, &ev);
	if (ev.stream_id != st->id) {
		MDB_val k = val(&ev.stream_id, 8), sv;
		if (mdb_get(txn, v->r->s->dbi[DB_STREAMS], &k, &sv) != 0) {
			problem(v, "event %llu: its stream %llu does not exist",
				(unsigned long long)pos, (unsigned long long)ev.stream_id);
			st->id = 0;
			return;
		}
		decode_stream(ev.stream_id, &sv, st);
	}
	if (read_envelope(ev.json, ev.json_len, &f) != 0) {
		problem(v, "event %llu: %s", (unsigned long long)pos, es_why());
		envelope_free(&f);
		return;
	}
	if (f.position != pos || f.version != ev.version || f.created != ev.created_us ||
	    memcmp(f.id, ev.id, 16) != 0 || f.name_len != st->name_len ||
	    memcmp(f.name, st->name, st->name_len) != 0)
		problem(v, "event %llu: its envelope and its record disagree", (unsigned long long)pos);
	if (ev.version > st->version)
		problem(v, "event %llu: version %llu, past its stream's %llu", (unsigned long long)pos,
			(unsigned long long)ev.version, (unsigned long long)st->version);
	if (ev.created_us < *last_created)
		problem(v, "event %llu: created before the event before it", (unsigned long long)pos);
	*last_created = ev.created_us;
	if (!maps_to(v, DB_EVENT_IDS, ev.id, 16, pos))
		problem(v, "event %llu: the event id index does not point at it", (unsigned long long)pos);
	put_be64(skey, ev.stream_id);
	put_be64(skey + 8, ev.version);
	if (!maps_to(v, DB_STREAM_EVENTS, skey, 16, pos))
		problem(v, "event %llu: the stream index does not point at it", (unsigned long long)pos);
	if (!in_view(v, ES_TYPE, f.type, f.type_len, pos))
		problem(v, "event %llu: not in the view of its type", (unsigned long long)pos);
	size_t clen = category_len(st->name, st->name_len);
	if (clen > 0) {
		++*categorized;
		if (!in_view(v, ES_CATEGORY, st->name, clen, pos))
			problem(v, "event %llu: not in the view of its category", (unsigned long long)pos);
	}
	envelope_free(&f);
}

static void verify_events(struct verify *v, es_progress_fn progress,
			  uint64_t *events, uint64_t *categorized)
{
	MDB_cursor *c;
	MDB_val k, val_;
	es_stream st = {0};
	int64_t last_created = 0;
	uint64_t next = 1, total = entries(v->r, DB_EVENTS);
	int rc = mdb_cursor_open(v->r->txn, v->r->s->dbi[DB_EVENTS], &c);

	*events = 0;
	if (rc) {
		problem(v, "cannot walk the events: %s", mdb_strerror(rc));
		return;
	}
	for (rc = mdb_cursor_get(c, &k, &val_, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &val_, MDB_NEXT)) {
		uint64_t pos = get64(k.mv_data);
		if (pos != next)
			problem(v, "positions %llu … %llu are missing", (unsigned long long)next,
				(unsigned long long)pos - 1);
		next = pos + 1;
		verify_event(v, pos, &val_, &st, &last_created, categorized);
		if (++*events % 65536 == 0 && progress)
			progress(v->arg, *events, total);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		problem(v, "walking the events: %s", mdb_strerror(rc));
	if (progress)
		progress(v->arg, *events, total);
}

static int verify_stream(void *arg, const es_stream *st)
{
	struct verify *v = ((void **)arg)[0];
	uint64_t *versions = ((void **)arg)[1];

	*versions += st->version;
	if (st->id > v->max_stream)
		v->max_stream = st->id;
	if (!maps_to(v, DB_STREAM_NAMES, st->name, st->name_len, st->id))
		problem(v, "stream %.*s: the name index does not point at it",
			(int)st->name_len, st->name);
	return 0;
}

static int verify_snapshot(void *arg, const es_snapshot *sn, const es_stream *st)
{
	struct verify *v = arg;
	char why[256], *rec, *compact = NULL;
	size_t len, clen = 0;

	if (sn->version < 1 || sn->version > st->version)
		problem(v, "snapshot of %.*s: version %llu outside 1 … %llu", (int)st->name_len,
			st->name, (unsigned long long)sn->version, (unsigned long long)st->version);
	rec = snapshot_record(st->name, st->name_len, sn->version, sn->created_us, "", 0, &len);
	if (!rec)
		return fail(ENOMEM, "out of memory");
	/* The line is the record's text up to "data":, then the data and "}\n". */
	len -= SNAPSHOT_HDR + 2;
	if (sn->json_len < len + 4 || memcmp(sn->json, rec + SNAPSHOT_HDR, len) != 0 ||
	    memcmp(sn->json + sn->json_len - 2, "}\n", 2) != 0 ||
	    es_json_check(sn->json + len, sn->json_len - len - 2, 0, why, sizeof why,
			  &compact, &clen, NULL) != 0 || clen != sn->json_len - len - 2)
		problem(v, "snapshot of %.*s: its line is not as esfs writes it", (int)st->name_len,
			st->name);
	free(compact);
	free(rec);
	return 0;
}

/* Every snapshot record, of a missing stream too. */
static int verify_snapshot_record(es_read *r, const MDB_val *k, const MDB_val *val_, void *p)
{
	struct verify *v = p;
	es_snapshot sn;
	es_stream st;
	uint64_t sid = get64(k->mv_data);

	if (val_->mv_size < SNAPSHOT_HDR + 3) {
		problem(v, "snapshot of stream %llu: a record of %zu bytes", (unsigned long long)sid,
			val_->mv_size);
		return 0;
	}
	decode_snapshot(sid, val_, &sn);
	int err = es_stream_get_id(r, sid, &st);
	if (err == ENOENT)
		problem(v, "a snapshot of stream %llu, which does not exist", (unsigned long long)sid);
	return err == ENOENT ? 0 : err ? err : verify_snapshot(v, &sn, &st);
}

/* A counter of ids must be past the largest id given. */
static void counter_past(struct verify *v, const char *counter, uint64_t largest)
{
	uint64_t next;

	if (meta_get(v->r->s, v->r->txn, counter, &next) == 0 && largest > 0 && next <= largest)
		problem(v, "%s is %llu, but id %llu is given already", counter,
			(unsigned long long)next, (unsigned long long)largest);
}

static int verify_checkpoint(void *arg, const es_checkpoint *cp)
{
	struct verify *v = ((void **)arg)[0];
	uint64_t head = *(uint64_t *)((void **)arg)[1];

	if (cp->position > head)
		problem(v, "checkpoint %.*s: position %llu, past the last %llu", (int)cp->name_len,
			cp->name, (unsigned long long)cp->position, (unsigned long long)head);
	return 0;
}

static int verify_view(es_read *r, const MDB_val *k, const MDB_val *val_, void *p)
{
	struct verify *v = p;
	uint64_t id = get_be64(k->mv_data);
	unsigned char key[1 + 255];
	int kind = (int)(id >> VIEW_KIND_SHIFT);

	(void)r;
	if ((kind != ES_CATEGORY && kind != ES_TYPE) || val_->mv_size < 1 || val_->mv_size > 255) {
		problem(v, "view %llu: a bad record", (unsigned long long)id);
		return 0;
	}
	if ((id & ((UINT64_C(1) << VIEW_KIND_SHIFT) - 1)) > v->max_view[kind])
		v->max_view[kind] = id & ((UINT64_C(1) << VIEW_KIND_SHIFT) - 1);
	view_key(key, kind, val_->mv_data, val_->mv_size);
	if (!maps_to(v, DB_VIEW_NAMES, key, 1 + val_->mv_size, id))
		problem(v, "view %.*s: the name index does not point at it", (int)val_->mv_size,
			(const char *)val_->mv_data);
	return 0;
}

/* Checkpoint records, reserved ones too, against their name index. */
static int verify_checkpoint_name(es_read *r, const MDB_val *k, const MDB_val *val_, void *p)
{
	struct verify *v = p;
	es_checkpoint cp;

	(void)r;
	if (val_->mv_size < CHECKPOINT_HDR + 1) {
		problem(v, "checkpoint %llu: a bad record", (unsigned long long)get64(k->mv_data));
		return 0;
	}
	decode_checkpoint(get64(k->mv_data), val_, &cp);
	if (cp.id > v->max_checkpoint)
		v->max_checkpoint = cp.id;
	if (!maps_to(v, DB_CHECKPOINT_NAMES, cp.name, cp.name_len, cp.id))
		problem(v, "checkpoint %.*s: the name index does not point at it", (int)cp.name_len,
			cp.name);
	return 0;
}

/* A name index must have as many entries as what it names. */
static void same_count(struct verify *v, int names, int db)
{
	uint64_t a = entries(v->r, names), b = entries(v->r, db);

	if (a != b)
		problem(v, "%s has %llu entries for %llu in %s", db_spec[names].name,
			(unsigned long long)a, (unsigned long long)b, db_spec[db].name);
}

int es_verify(es_store *s, es_problem_fn problem_fn, es_progress_fn progress,
	      void *arg, uint64_t *problems)
{
	struct verify v = {.problem = problem_fn, .arg = arg};
	uint64_t events = 0, categorized = 0, versions = 0, head, zero = 0, stream_count;
	int64_t created;
	int err = es_read_begin(s, &v.r);

	if (err)
		return err;
	verify_events(&v, progress, &events, &categorized);
	/* Each event has its entry in each index (above); equal counts mean
	 * the indexes hold nothing else. */
	if (entries(v.r, DB_EVENT_IDS) != events)
		problem(&v, "the event id index has %llu entries for %llu events",
			(unsigned long long)entries(v.r, DB_EVENT_IDS), (unsigned long long)events);
	if (entries(v.r, DB_STREAM_EVENTS) != events)
		problem(&v, "the stream index has %llu entries for %llu events",
			(unsigned long long)entries(v.r, DB_STREAM_EVENTS), (unsigned long long)events);
	if (entries(v.r, DB_VIEW_EVENTS) != events + categorized)
		problem(&v, "the views have %llu entries for %llu events, %llu of them in a category",
			(unsigned long long)entries(v.r, DB_VIEW_EVENTS), (unsigned long long)events,
			(unsigned long long)categorized);
	/* Versions are distinct per stream and at most its version; that they
	 * add up to the events means each stream has 1 … its version. */
	void *sarg[2] = {&v, &versions};
	if (!err)
		err = es_streams_walk(v.r, 0, verify_stream, sarg);
	if (!err && versions != events)
		problem(&v, "the streams' versions add up to %llu, for %llu events",
			(unsigned long long)versions, (unsigned long long)events);
	same_count(&v, DB_STREAM_NAMES, DB_STREAMS);
	if (!err && !(err = meta_get(s, v.r->txn, "stream_count", &stream_count)) &&
	    stream_count != entries(v.r, DB_STREAMS))
		problem(&v, "the stream count says %llu, there are %llu",
			(unsigned long long)stream_count, (unsigned long long)entries(v.r, DB_STREAMS));
	if (!err)
		err = walk(v.r, DB_SNAPSHOTS, &zero, 8, verify_snapshot_record, &v);
	if (!err)
		err = last_event(s, v.r->txn, &head, &created);
	void *carg[2] = {&v, &head};
	if (!err)
		err = es_checkpoints_walk(v.r, 0, verify_checkpoint, carg);
	if (!err)
		err = walk(v.r, DB_CHECKPOINTS, &zero, 8, verify_checkpoint_name, &v);
	same_count(&v, DB_CHECKPOINT_NAMES, DB_CHECKPOINTS);
	if (!err)
		err = walk(v.r, DB_VIEWS, &zero, 8, verify_view, &v);
	same_count(&v, DB_VIEW_NAMES, DB_VIEWS);
	if (!err) {
		counter_past(&v, "next_stream", v.max_stream);
		counter_past(&v, "next_checkpoint", v.max_checkpoint);
		counter_past(&v, "next_category", v.max_view[ES_CATEGORY]);
		counter_past(&v, "next_type", v.max_view[ES_TYPE]);
	}
	es_read_end(v.r);
	*problems = v.problems;
	return err;
}

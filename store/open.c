/* open.c — opening and closing the store: the LMDB environment and its
 * databases, the log beside them, the memory map (grown on demand,
 * adopted from another process, trimmed from the RSS), the dead readers'
 * slots, es_mkdirs, the commit notification (es_watch_*), es_file_bytes
 * and es_statfs. */
#include "internal.h"
#include "backend.h"
#include "dir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MAP_INITIAL ((size_t)1 << 30)
#define READER_CHECK_US (60 * 1000000)	/* how often to free dead readers' slots */
#define TRIM_EVERY 32			/* read views and commits between looks at the RSS */
#define TRIM_ABOVE ((size_t)16 << 20)	/* map bytes (index and log) the process may keep resident */
#define TRIM_WALKED ((size_t)512 << 10)	/* bytes walked between looks at the RSS */

const struct db_spec db_spec[DB_COUNT] = {
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

static void locate_map(es_store *s);

/* Adopts a map grown by another process. */
void adopt_map(es_store *s)
{
	pthread_rwlock_wrlock(&s->map_lock);
	mdb_env_set_mapsize(s->env, 0);
	locate_map(s);
	pthread_rwlock_unlock(&s->map_lock);
}

/* Doubles the map, unless another thread already grew it past seen. */
int grow_map(es_store *s, size_t seen)
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

size_t map_size(es_store *s)
{
	MDB_envinfo info;

	mdb_env_info(s->env, &info);
	return info.me_mapsize;
}

/* Begins a transaction with map_lock held shared. */
int txn_begin(es_store *s, unsigned flags, MDB_txn **txn)
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

/* A process killed while reading leaves its reader slot taken, which keeps
 * old pages from reuse and makes the file grow: free such slots now and
 * then. */
void check_readers(es_store *s)
{
	int64_t now = now_us(), last = s->readers_checked;
	int dead;

	if (now - last >= READER_CHECK_US &&
	    atomic_compare_exchange_strong(&s->readers_checked, &last, now))
		mdb_reader_check(s->env, &dead);
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
	uint64_t format;
	int err = 0;
	for (int i = 0; i < DB_COUNT && !err; i++) {
		rc = mdb_dbi_open(txn, db_spec[i].name, db_spec[i].flags | create,
				  &s->dbi[i]);
		if (rc == MDB_NOTFOUND)
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
	if (!err && format != FORMAT)
		err = fail(EINVAL, "%s has store format %llu; this esfs reads format %d",
			   dir, (unsigned long long)format, FORMAT);
	if (!err)
		err = get_log_end(s, txn, &s->indexed);
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

/* Frees what es_open made beside the LMDB environment: the log, the
 * watch, the lock (and its file), the locks of the struct. */
static void store_free(es_store *s)
{
	log_close(s->log);
	log_group_free(&s->group);
	free(s->change);
	if (s->watch_fd >= 0)
		close(s->watch_fd);
	if (s->lock_fd >= 0)
		dir_unlock(s->dir, s->lock_fd);
	free(s->dir);
	pthread_rwlock_destroy(&s->map_lock);
	pthread_mutex_destroy(&s->queue_lock);
	free(s);
}

/* Opens the LMDB environment and its databases: unsynced (the log is the
 * durable record), and read-only beside a writer. *damaged says whether a
 * failure was the file's (not LMDB's, not an esfs store's index, torn):
 * an index the log can rebuild. */
static int open_env(es_store *s, const es_options *opts, int *damaged)
{
	int rc = mdb_env_create(&s->env);

	*damaged = 0;
	if (rc) {
		s->env = NULL;
		return lmdb_fail(rc, "creating the LMDB environment");
	}
	mdb_env_set_maxdbs(s->env, 32);
	mdb_env_set_maxreaders(s->env, 1024);
	mdb_env_set_mapsize(s->env, opts && opts->map_initial ? opts->map_initial : MAP_INITIAL);
	rc = mdb_env_open(s->env, s->dir, s->read_only ? MDB_RDONLY : MDB_NOSYNC, 0644);
	if (rc) {
		mdb_env_close(s->env);
		s->env = NULL;
		*damaged = rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
			   rc == MDB_VERSION_MISMATCH;
		if (rc == ENOENT)
			return fail(ENOENT, "no store at %s", s->dir);
		if (rc > 0)
			return fail(rc, "cannot open the store at %s: %s", s->dir, strerror(rc));
		return fail(EINVAL, "cannot open the store at %s: %s", s->dir, mdb_strerror(rc));
	}
	check_readers(s);
	int err = open_dbs(s, s->dir);
	if (err) {
		*damaged = err == EIO || err == ENOENT;	/* not EINVAL: a foreign or newer store */
		mdb_env_close(s->env);
		s->env = NULL;
		return err;
	}
	locate_map(s);
	return 0;
}

static int open_log(es_store *s)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/log", s->dir);
	return log_open(path, s->read_only, &s->log, why_buf, sizeof why_buf);
}

/* A read-write open: converts an old store, finds whether the index can
 * be trusted (recover.c), opens log and index, replays the log's tail, or
 * the whole log into a new index when the old one cannot be trusted, is
 * damaged, or disagrees with the log. */
static int open_writer(es_store *s, const es_options *opts)
{
	char path[PATH_MAX], old[PATH_MAX];
	int rebuild, damaged, err;

	snprintf(path, sizeof path, "%s/log", s->dir);
	if (access(path, F_OK) != 0) {
		/* No log yet: a new store, or an older one to convert (put back
		 * first if a conversion was cut short before its log). */
		snprintf(path, sizeof path, "%s/data.mdb", s->dir);
		snprintf(old, sizeof old, "%s/data.mdb.format2", s->dir);
		if (access(path, F_OK) != 0 && access(old, F_OK) == 0 && rename(old, path) != 0)
			return fail(errno, "cannot put back %s: %s", old, strerror(errno));
		if (access(path, F_OK) == 0 && (err = convert_old(s)))
			return err;
	}
	if ((err = recover_begin(s, &rebuild)) || (err = open_log(s)))
		return err;
	err = open_env(s, opts, &damaged);
	if (err && damaged && !rebuild) {
		rebuild = 1;	/* an index that does not open is rebuilt */
		if (!(err = drop_index(s)))
			err = open_env(s, opts, &damaged);
	}
	if (err)
		return err;
	err = recover_replay(s);
	if (err == EIO && !rebuild) {
		/* an index the log disagrees with is rebuilt */
		if (!(err = drop_index(s)) && !(err = open_env(s, opts, &damaged)))
			err = recover_replay(s);
	}
	if (!err)
		err = convert_check(s);
	return err ? err : recover_end(s);
}

int local_open(const char *dir, const es_options *opts, es_store **out)
{
	es_store *s = calloc(1, sizeof *s);
	pthread_rwlockattr_t attr;
	int err, damaged;

	if (!s)
		return fail(ENOMEM, "out of memory");
	s->be = &es_local_backend;
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
	if (s->read_only)
		err = state_readable(s);
	else
		err = dir_lock(s->dir, &s->lock_fd, why_buf, sizeof why_buf);
	if (err)
		goto out_free;
	if (s->read_only)
		err = open_log(s);
	if (!err)
		err = s->read_only ? open_env(s, opts, &damaged) : open_writer(s, opts);
	if (err)
		goto out_env;
	*out = s;
	return 0;

out_env:
	if (s->env)
		mdb_env_close(s->env);
out_free:
	store_free(s);
	return err;
}

const char *local_location(es_store *s)
{
	return s->dir;
}

int local_shared(es_store *s)
{
	return s->read_only;
}

void local_close(es_store *s)
{
	if (!s)
		return;
	recover_close(s);
	mdb_env_close(s->env);
	store_free(s);
}

int local_watch_open(es_store *s, int *fd)
{
	int err;

	if (s->watch_fd < 0 && (err = dir_watch(s->dir, &s->watch_fd, why_buf, sizeof why_buf)))
		return err;
	*fd = s->watch_fd;
	return 0;
}

void local_watch_drain(es_store *s)
{
	if (s->watch_fd >= 0)
		dir_drain(s->watch_fd);
}

int es_file_bytes(const char *dir, uint64_t *bytes)
{
	char path[PATH_MAX];
	struct stat st;

	*bytes = 0;
	if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path)
		return fail(ENAMETOOLONG, "%s: path too long", dir);
	if (stat(path, &st) != 0)
		return fail(errno, "%s: %s", path, strerror(errno));
	*bytes = (uint64_t)st.st_size;
	snprintf(path, sizeof path, "%s/log", dir);
	if (stat(path, &st) == 0)
		*bytes += (uint64_t)st.st_size;
	return 0;
}

int local_statfs(es_store *s, struct statvfs *out)
{
	int fd, rc = mdb_env_get_fd(s->env, &fd);

	if (rc)
		return lmdb_fail(rc, "finding the store's file");
	if (fstatvfs(fd, out) != 0)
		return fail(errno, "%s: %s", s->dir, strerror(errno));
	return 0;
}

/* Pages of the maps (the index's, the log's) that a process has read stay
 * in its page tables and count in its RSS, up to the whole store: read
 * views and commits both
 * read them. Every TRIM_EVERY views and commits, and whenever walks went
 * through TRIM_WALKED bytes (one listing request can take thousands of
 * entries), look: when more than TRIM_ABOVE of them are resident, let them
 * go. They stay in the kernel's page cache, and the next read of one maps
 * it again without I/O. Called with map_lock held shared, so the map does
 * not move. */
void trim_map(es_store *s, size_t walked)
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
	if (n == 3 && shared * (unsigned long)sysconf(_SC_PAGESIZE) > TRIM_ABOVE) {
		madvise(s->map_addr, s->map_len, MADV_DONTNEED);
		if (s->log)
			log_trim(s->log);
	}
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

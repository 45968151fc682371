/* backup.c — es_backup: a consistent copy of the store into a directory:
 * the index, copied by LMDB in one read transaction, then the log up to
 * exactly what that copy indexed. */
#include "internal.h"
#include "dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The log's end that the index copied into dir holds (its meta record). */
static int copied_end(const char *dir, uint64_t *end)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	MDB_val k = val("log_offset", 10), v;
	int rc = mdb_env_create(&env);

	if (rc)
		return lmdb_fail(rc, "reading the copy");
	mdb_env_set_maxdbs(env, 32);
	*end = LOG_HEADER;
	if (!(rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0644)) &&
	    !(rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))) {
		if (!(rc = mdb_dbi_open(txn, "meta", 0, &meta)) &&
		    !(rc = mdb_get(txn, meta, &k, &v)) && v.mv_size == 8)
			*end = get64(v.mv_data);
		rc = rc == MDB_NOTFOUND ? 0 : rc;
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return rc ? lmdb_fail(rc, "reading the copy") : 0;
}

/* Copies the log's records, exactly those the index copied into dir
 * holds (the live log has them: it is flushed before the index commits),
 * to dir/log, synced, and marks the copy clean: one moment, in both. */
static int copy_log(es_store *s, const char *dir)
{
	char path[PATH_MAX];
	log_end end;
	int fd, err = copied_end(dir, &end.offset);

	if (err)
		return err;
	const char *p = log_at(s->log, 0, end.offset);
	if (!p)
		return fail(EIO, "the log is shorter than its index says");
	snprintf(path, sizeof path, "%s/log", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return fail(errno, "%s: %s", path, strerror(errno));
	for (uint64_t off = 0; off < end.offset && !err;) {
		ssize_t n = write(fd, p + off, end.offset - off > (1 << 20) ? 1 << 20 : end.offset - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n < 0 ? errno : EIO;
		else
			off += (uint64_t)n;
	}
	if (!err && fsync(fd) != 0)
		err = errno;
	close(fd);
	if (err)
		return fail(err, "copying the log to %s: %s", dir, strerror(err));
	snprintf(path, sizeof path, "%s/state", dir);
	err = dir_replace(path, "clean\n", 6);
	return err ? fail(err, "%s: %s", path, strerror(err)) : 0;
}

static void remove_copy(const char *dir, int made)
{
	static const char *const files[] = {"data.mdb", "log", "state"};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	if (made)
		rmdir(dir);
}

int local_backup(es_store *s, const char *dir)
{
	char path[PATH_MAX];
	int made, rc, err = empty_dir(dir, &made);

	if (err)
		return err;
	/* The copy's read transaction fails with MDB_MAP_RESIZED when a
	 * writer in another process grew the map: follow it and start over. */
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	for (int tries = 0; tries < 8; tries++) {
		/* map_lock shared: no thread grows the map under the copy. */
		pthread_rwlock_rdlock(&s->map_lock);
		rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
		pthread_rwlock_unlock(&s->map_lock);
		if (rc != MDB_MAP_RESIZED)
			break;
		unlink(path);	/* the copy makes its file with O_EXCL */
		adopt_map(s);
	}
	if (rc == 0 && (rc = dir_sync(path)) == 0) {
		if ((err = copy_log(s, dir)) == 0 && (err = dir_sync(dir)) != 0)
			err = fail(err, "%s: %s", dir, strerror(err));
		if (err == 0)
			return 0;
	} else {
		err = rc == ENOSPC ? fail(ENOSPC, "copying to %s: the disk is full", dir)
		      : rc > 0 ? fail(rc, "copying to %s: %s", dir, strerror(rc))
		      : lmdb_fail(rc, "copying the store");
	}
	remove_copy(dir, made);
	return err;
}

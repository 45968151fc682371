/* backup.c — es_backup: a consistent copy of the store into a directory:
 * the index, copied by LMDB in one read transaction, then the log up to at
 * least what that copy indexed. */
#include "internal.h"

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

/* Copies the log's records up to the end a read view of the index has
 * (at least what the index copy holds: its tail is replayed at open) to
 * dir/log, synced, and marks the copy clean. */
static int copy_log(es_store *s, const char *dir)
{
	char path[PATH_MAX];
	MDB_txn *txn;
	log_end end;
	int fd, err = txn_begin(s, MDB_RDONLY, &txn);

	if (err)
		return err;
	err = get_log_end(s, txn, &end);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->map_lock);
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
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return fail(errno, "%s: %s", path, strerror(errno));
	if (write(fd, "clean\n", 6) != 6 || fsync(fd) != 0)
		err = errno ? errno : EIO;
	close(fd);
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
	if (rc == 0 && (rc = sync_path(path)) == 0) {
		if ((err = copy_log(s, dir)) == 0 && (err = sync_path(dir)) != 0)
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

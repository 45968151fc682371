/* backup.c — es_backup: a consistent copy of the store into a directory. */
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

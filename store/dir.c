/* dir.c — the store directory's own files beside LMDB's (see dir.h): the
 * single-writer lock, the notification of commits that read-only openers
 * of the store watch for, and writing small files durably. */
#include "dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_FILE "esfs.lock"

static void lock_path(const char *dir, char *path, size_t size)
{
	snprintf(path, size, "%s/" LOCK_FILE, dir);
}

/* Says who holds the lock on fd: its pid, when it wrote one yet. */
static int busy(const char *dir, int fd, char *why, size_t size)
{
	char pid[32] = "";
	ssize_t n = pread(fd, pid, sizeof pid - 1, 0);

	pid[n > 0 ? n : 0] = '\0';
	pid[strcspn(pid, "\n")] = '\0';
	snprintf(why, size, "%s is served already by another esfs%s%s%s; "
		 "one daemon writes a store (-o ro mounts it beside)",
		 dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
	return EBUSY;
}

/* The holder removes the file before it lets go (dir_unlock), so a lock
 * taken on a file that is no longer the one at path is taken on nothing:
 * open it again. */
int dir_lock(const char *dir, int *fd, char *why, size_t size)
{
	char path[PATH_MAX + 16], pid[32];
	struct stat held, named;
	int err;

	lock_path(dir, path, sizeof path);
	for (;;) {
		*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (*fd < 0) {
			err = errno;
			snprintf(why, size, "%s: %s", path, strerror(err));
			return err;	/* *fd is -1 */
		}
		if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
			err = errno == EWOULDBLOCK ? busy(dir, *fd, why, size) : errno;
			if (err != EBUSY)
				snprintf(why, size, "%s: %s", path, strerror(err));
			close(*fd);
			*fd = -1;	/* not ours: es_open must not unlock it */
			return err;
		}
		if (fstat(*fd, &held) != 0 || stat(path, &named) != 0) {
			err = errno;
			if (err != ENOENT) {
				snprintf(why, size, "%s: %s", path, strerror(err));
				close(*fd);
				*fd = -1;
				return err;
			}
		} else if (held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
			break;
		}
		close(*fd);
	}
	(void)fcntl(*fd, F_SETFL, O_NOATIME);	/* see dir_published */
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, pid, (size_t)n, 0) != n) {
		err = errno;
		snprintf(why, size, "%s: %s", path, strerror(err));
		dir_unlock(dir, *fd);	/* ours: the file goes with it */
		*fd = -1;
		return err;
	}
	return 0;
}

void dir_unlock(const char *dir, int fd)
{
	char path[PATH_MAX + 16];

	lock_path(dir, path, sizeof path);
	unlink(path);	/* gone already only if someone removed it by hand */
	close(fd);
}

/* A read of the lock file is the notification: the watches see it as
 * IN_ACCESS. A read changes nothing on disk (the descriptor is O_NOATIME
 * where the kernel allows it, and relatime updates atime once at most),
 * where touching the file dirtied its inode at every commit, and the
 * log's next fdatasync wrote that inode's block too when the two inodes
 * shared one (measured: one more synchronous write an append). A failed
 * read leaves the watches to wake at the next commit, and the commit
 * stands whatever happens here, so nothing is reported. */
void dir_published(int fd)
{
	char c;

	(void)!pread(fd, &c, 1, 0);	/* see above */
}

int dir_watch(const char *dir, int *fd, char *why, size_t size)
{
	int err;

	*fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (*fd >= 0 && inotify_add_watch(*fd, dir, IN_MODIFY | IN_ATTRIB | IN_ACCESS) >= 0)
		return 0;
	err = errno;
	snprintf(why, size, "cannot watch %s for appends: %s", dir, strerror(err));
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return err;
}

void dir_drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(fd, buf, sizeof buf) > 0)
		;	/* nonblocking: drained */
}

int dir_sync(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return errno;
	if (fsync(fd) != 0)
		err = errno;
	close(fd);
	return err;
}

int dir_replace(const char *path, const void *data, size_t n)
{
	char tmp[PATH_MAX + 8], dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *p = data;
	int fd, err = 0;

	int dlen = !slash ? 1 : slash == path ? 1 : (int)(slash - path);

	if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp ||
	    snprintf(dir, sizeof dir, "%.*s", dlen, !slash ? "." : slash == path ? "/" : path) >=
	    (int)sizeof dir)
		return ENAMETOOLONG;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return errno;
	while (n > 0 && !err) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			err = w < 0 ? errno : EIO;
		else {
			p += w;
			n -= (size_t)w;
		}
	}
	if (!err && fsync(fd) != 0)
		err = errno;
	close(fd);
	if (!err && rename(tmp, path) != 0)
		err = errno;
	if (!err)
		err = dir_sync(dir);
	if (err)
		unlink(tmp);
	return err;
}

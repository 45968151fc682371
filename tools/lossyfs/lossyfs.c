/* lossyfs.c — a lossy disk for power-cut tests: lossyfs [options] BACKING
 * MOUNTPOINT mounts a FUSE passthrough of the directory BACKING on
 * MOUNTPOINT that keeps every write in memory until it is made durable, so
 * that BACKING always holds what a disk would hold after a power cut that
 * lost everything unsynced. See man/lossyfs.1.
 *
 * Durable: the writes of a file reach BACKING at an fsync or fdatasync of
 * it (msync(MS_SYNC) arrives as one), and at once for a file opened O_SYNC
 * or O_DSYNC (the kernel follows each such write with an fsync of the whole
 * file, which makes the file's earlier writes durable too). Nothing else is:
 * not close, sync_file_range, sync or syncfs. Reads see the pending writes
 * over the backing file's bytes, and sizes include their extensions.
 *
 * Pending writes are kept per file (per backing inode, whose fd they hold
 * open) as disjoint extents, as a page cache keeps dirty data: a write
 * replaces the bytes of older pending writes that it overlaps. A cut
 * (SIGUSR1) takes the one lock every request holds, so no request runs
 * after it, then with -o cut=drop throws the pending writes away, or with
 * -o cut=subset applies a random subset of them (seeded by -o seed=N), in
 * random order, one of those cut short at a 512-byte boundary; then the
 * process exits and the mount is dead (clear it with fusermount3 -u -z). An
 * unmount applies every pending write, as a clean shutdown would.
 *
 * Simplification: metadata (create, mkdir, unlink, rename, link, symlink,
 * truncate, fallocate, chmod, chown, utimens) goes to BACKING at once, as
 * if journalled synchronously. BACKING itself is never synced: the machine
 * that runs lossyfs does not lose power. POSIX locks and flock() stay in
 * the kernel (lossyfs implements neither), which is right on one machine.
 * No direct_io and no writeback cache, so mmap works: LMDB runs on it.
 */
#define FUSE_USE_VERSION 312
#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* A pending write: bytes [off, off + len) of a file. */
struct wr {
	struct wr *next;
	off_t off;
	size_t len;
	char *data;
	char *mem;		/* its allocation, which data points into */
};

/* A backing inode with open handles or pending writes. */
struct file {
	struct file *next;
	dev_t dev;
	ino_t ino;
	int fd;			/* writable, once it has been opened so; -1 */
	int opens;
	struct wr *pending;	/* disjoint, newest first */
};

/* An open file: fi->fh. */
struct handle {
	int fd;
	int sync;		/* opened O_SYNC or O_DSYNC */
	struct file *f;
};

static struct {
	const char *backing;
	char *cut;		/* drop or subset */
	unsigned seed;
} conf;

static int bfd;				/* BACKING, opened before the mount */
static struct file *files;
/* Held by every request from start to end, and by a cut for ever. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#define H(fi) ((struct handle *)(uintptr_t)(fi)->fh)
/* Whether a request came with an open file of ours (a directory's has none). */
#define HAS(fi) ((fi) && (fi)->fh)

/* The path relative to BACKING. */
static const char *rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

static struct file *find(dev_t dev, ino_t ino)
{
	for (struct file *f = files; f; f = f->next)
		if (f->dev == dev && f->ino == ino)
			return f;
	return NULL;
}

static int pread_full(int fd, char *buf, size_t len, off_t off, size_t *got)
{
	size_t n = 0;
	while (n < len) {
		ssize_t r = pread(fd, buf + n, len - n, off + n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += r;
	}
	*got = n;
	return 0;
}

static int pwrite_full(int fd, const char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t r = pwrite(fd, buf, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		buf += r;
		len -= r;
		off += r;
	}
	return 0;
}

/* Removes the bytes [a, b) from f's pending writes. */
static int trim(struct file *f, off_t a, off_t b)
{
	struct wr **p = &f->pending;
	while (*p) {
		struct wr *w = *p;
		off_t e = w->off + (off_t)w->len;
		if (e <= a || w->off >= b) {
			p = &w->next;
		} else if (w->off < a && e > b) {	/* split in two */
			struct wr *r = malloc(sizeof *r);
			char *mem = malloc(e - b);
			if (!r || !mem) {
				free(r);
				free(mem);
				return -ENOMEM;
			}
			memcpy(mem, w->data + (b - w->off), e - b);
			*r = (struct wr){w->next, b, e - b, mem, mem};
			w->len = a - w->off;
			w->next = r;
			p = &r->next;
		} else if (w->off < a) {
			w->len = a - w->off;
			p = &w->next;
		} else if (e > b) {
			w->data += b - w->off;
			w->len = e - b;
			w->off = b;
			p = &w->next;
		} else {
			*p = w->next;
			free(w->mem);
			free(w);
		}
	}
	return 0;
}

/* Frees f if nothing holds it any more. */
static void release_file(struct file *f)
{
	if (f->opens || f->pending)
		return;
	for (struct file **p = &files; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/* Writes f's pending writes to the backing file: an fsync. */
static int flush_file(struct file *f)
{
	while (f->pending) {
		struct wr *w = f->pending;
		int rc = pwrite_full(f->fd, w->data, w->len, w->off);
		if (rc)
			return rc;
		f->pending = w->next;
		free(w->mem);
		free(w);
	}
	return 0;
}

static off_t pending_end(const struct file *f)
{
	off_t end = 0;
	for (const struct wr *w = f->pending; w; w = w->next)
		if (w->off + (off_t)w->len > end)
			end = w->off + w->len;
	return end;
}

/* ---- the cut ---------------------------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)	/* splitmix64 */
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

struct item {
	struct file *f;
	struct wr *w;
};

/* Applies a random subset of the pending writes, in random order, the
 * first of them (after the shuffle) torn; reports on stderr. */
static void cut_subset(void)
{
	size_t n = 0, k = 0, total = 0, applied = 0;
	for (struct file *f = files; f; f = f->next)
		for (struct wr *w = f->pending; w; w = w->next)
			n++;
	struct item *it = calloc(n ? n : 1, sizeof *it);
	if (!it) {
		fprintf(stderr, "lossyfs: cut: out of memory\n");
		_exit(1);
	}
	rng = conf.seed;
	for (struct file *f = files; f; f = f->next)
		for (struct wr *w = f->pending; w; w = w->next) {
			total += w->len;
			if (rnd() & 1)
				it[k++] = (struct item){f, w};
		}
	for (size_t i = k; i > 1; i--) {	/* Fisher-Yates */
		size_t j = rnd() % i;
		struct item t = it[i - 1];
		it[i - 1] = it[j];
		it[j] = t;
	}
	size_t torn = 0, torn_len = 0;
	for (size_t i = 0; i < k; i++) {
		size_t len = it[i].w->len;
		if (i == 0) {
			torn_len = len;
			len = rnd() % ((len + 511) / 512) * 512;
			torn = len;
		}
		int rc = pwrite_full(it[i].f->fd, it[i].w->data, len, it[i].w->off);
		if (rc) {
			fprintf(stderr, "lossyfs: cut: writing to the backing file: %s\n", strerror(-rc));
			_exit(1);
		}
		applied += len;
	}
	fprintf(stderr, "lossyfs: cut (subset, seed %u): applied %zu of %zu pending writes "
		"(%zu of %zu bytes) in random order", conf.seed, k, n, applied, total);
	if (k)
		fprintf(stderr, ", one torn at %zu of its %zu bytes", torn, torn_len);
	fprintf(stderr, "\n");
	free(it);
}

/* The cut: waits for the request in progress, never lets another run. */
static void *cutter(void *arg)
{
	sigset_t set;
	int sig;
	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigwait(&set, &sig) != 0) {
		fprintf(stderr, "lossyfs: sigwait failed\n");
		_exit(1);
	}
	pthread_mutex_lock(&lock);
	if (strcmp(conf.cut, "subset") == 0) {
		cut_subset();
	} else {
		size_t n = 0, total = 0;
		for (struct file *f = files; f; f = f->next)
			for (struct wr *w = f->pending; w; w = w->next) {
				n++;
				total += w->len;
			}
		fprintf(stderr, "lossyfs: cut (drop): threw away %zu pending writes (%zu bytes)\n",
			n, total);
	}
	_exit(0);
}

/* ---- the filesystem --------------------------------------------------- */

static void *lf_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	pthread_t t;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	cfg->use_ino = 1;
	cfg->nullpath_ok = 1;
	cfg->hard_remove = 1;
	cfg->direct_io = 0;
	cfg->kernel_cache = 0;
	if (pthread_create(&t, NULL, cutter, NULL) != 0) {
		fprintf(stderr, "lossyfs: cannot start the thread that waits for SIGUSR1\n");
		exit(1);
	}
	pthread_detach(t);
	return NULL;
}

/* An unmount writes everything back. */
static void lf_destroy(void *data)
{
	(void)data;
	pthread_mutex_lock(&lock);
	for (struct file *f = files; f; f = f->next) {
		int rc = flush_file(f);
		if (rc)
			fprintf(stderr, "lossyfs: writing back at unmount: %s\n", strerror(-rc));
	}
	pthread_mutex_unlock(&lock);
}

static int lf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	int rc = HAS(fi) ? fstat(H(fi)->fd, st) : fstatat(bfd, rel(path), st, AT_SYMLINK_NOFOLLOW);
	if (rc != 0)
		return -errno;
	struct file *f = S_ISREG(st->st_mode) ? find(st->st_dev, st->st_ino) : NULL;
	if (f && pending_end(f) > st->st_size)
		st->st_size = pending_end(f);
	return 0;
}

/* Opens a handle on fd (a new backing fd) for fi. */
static int attach(int fd, struct fuse_file_info *fi)
{
	struct stat st;
	struct handle *h = malloc(sizeof *h);
	struct file *f;
	int rc = 0;

	if (!h || fstat(fd, &st) != 0) {
		rc = h ? -errno : -ENOMEM;
		goto fail;
	}
	f = find(st.st_dev, st.st_ino);
	if (!f) {
		f = malloc(sizeof *f);
		if (!f) {
			rc = -ENOMEM;
			goto fail;
		}
		*f = (struct file){files, st.st_dev, st.st_ino, -1, 0, NULL};
		files = f;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY && f->fd < 0 &&
	    (f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		rc = -errno;
		release_file(f);
		goto fail;
	}
	f->opens++;
	if (fi->flags & O_TRUNC)
		trim(f, 0, INT64_MAX);	/* cannot fail: nothing starts before 0 to split */
	*h = (struct handle){fd, (fi->flags & O_DSYNC) != 0, f};
	fi->fh = (uintptr_t)h;
	return 0;
fail:
	free(h);
	close(fd);
	return rc;
}

/* The backing fd's flags: readable whenever it can be (the kernel's
 * page cache reads through any handle); no O_APPEND (the kernel picks the
 * offset), O_SYNC or O_DSYNC (emulated) or O_DIRECT. */
static int backing_open(const char *path, int flags, mode_t mode)
{
	int keep = flags & (O_CREAT | O_EXCL | O_TRUNC | O_NOFOLLOW | O_DIRECTORY);
	int fd = openat(bfd, rel(path), ((flags & O_ACCMODE) == O_RDONLY ? O_RDONLY : O_RDWR) |
			keep | O_CLOEXEC, mode);
	if (fd < 0 && errno == EACCES && (flags & O_ACCMODE) == O_WRONLY)
		fd = openat(bfd, rel(path), O_WRONLY | keep | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

static int lf_open(const char *path, struct fuse_file_info *fi)
{
	int fd = backing_open(path, fi->flags, 0);
	return fd < 0 ? fd : attach(fd, fi);
}

static int lf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd = backing_open(path, fi->flags | O_CREAT, mode);
	return fd < 0 ? fd : attach(fd, fi);
}

static int lf_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	(void)path;
	close(h->fd);
	h->f->opens--;
	release_file(h->f);
	free(h);
	return 0;
}

static int lf_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	struct stat st;
	size_t got = 0, n;
	int rc;
	(void)path;

	if (fstat(h->fd, &st) != 0)
		return -errno;
	off_t end = pending_end(h->f) > st.st_size ? pending_end(h->f) : st.st_size;
	if (off >= end)
		return 0;
	n = (off_t)size < end - off ? size : (size_t)(end - off);
	if ((rc = pread_full(h->fd, buf, n, off, &got)))
		return rc;
	memset(buf + got, 0, n - got);
	for (struct wr *w = h->f->pending; w; w = w->next) {
		off_t a = w->off > off ? w->off : off;
		off_t b = w->off + (off_t)w->len < off + (off_t)n ? w->off + (off_t)w->len : off + (off_t)n;
		if (a < b)
			memcpy(buf + (a - off), w->data + (a - w->off), b - a);
	}
	return n;
}

static int lf_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	struct file *f = h->f;
	int rc;
	(void)path;

	if (size == 0)
		return 0;
	if (h->sync) {
		if ((rc = pwrite_full(h->fd, buf, size, off)) || (rc = trim(f, off, off + size)))
			return rc;
		return size;
	}
	struct wr *w = malloc(sizeof *w);
	char *mem = malloc(size);
	rc = w && mem ? trim(f, off, off + size) : -ENOMEM;
	if (rc) {
		free(w);
		free(mem);
		return rc;
	}
	memcpy(mem, buf, size);
	*w = (struct wr){f->pending, off, size, mem, mem};
	f->pending = w;
	return size;
}

static int lf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	return flush_file(H(fi)->f);
}

static int lf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct stat st;
	int fd = HAS(fi) ? H(fi)->fd : openat(bfd, rel(path), O_WRONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) != 0 || fstat(fd, &st) != 0)
		rc = -errno;
	else if (find(st.st_dev, st.st_ino))
		rc = trim(find(st.st_dev, st.st_ino), size, INT64_MAX);
	if (!HAS(fi))
		close(fd);
	return rc;
}

static int lf_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	(void)path;
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	return fallocate(H(fi)->fd, mode, off, len) == 0 ? 0 : -errno;
}

static int lf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	int fd = openat(bfd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	int rc = 0;
	(void)off;
	(void)fi;
	(void)flags;

	if (!d) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	for (errno = 0; (e = readdir(d)); errno = 0) {
		struct stat st = {.st_ino = e->d_ino, .st_mode = DTTOIF(e->d_type)};
		if (fill(buf, e->d_name, &st, 0, 0))
			break;
	}
	if (errno)
		rc = -errno;
	closedir(d);
	return rc;
}

static int lf_mkdir(const char *path, mode_t mode)
{
	return mkdirat(bfd, rel(path), mode) == 0 ? 0 : -errno;
}

static int lf_rmdir(const char *path)
{
	return unlinkat(bfd, rel(path), AT_REMOVEDIR) == 0 ? 0 : -errno;
}

static int lf_unlink(const char *path)
{
	return unlinkat(bfd, rel(path), 0) == 0 ? 0 : -errno;
}

static int lf_rename(const char *from, const char *to, unsigned int flags)
{
	return renameat2(bfd, rel(from), bfd, rel(to), flags) == 0 ? 0 : -errno;
}

static int lf_link(const char *from, const char *to)
{
	return linkat(bfd, rel(from), bfd, rel(to), 0) == 0 ? 0 : -errno;
}

static int lf_symlink(const char *target, const char *path)
{
	return symlinkat(target, bfd, rel(path)) == 0 ? 0 : -errno;
}

static int lf_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlinkat(bfd, rel(path), buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int lf_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int rc = HAS(fi) ? fchmod(H(fi)->fd, mode) : fchmodat(bfd, rel(path), mode, 0);
	return rc == 0 ? 0 : -errno;
}

static int lf_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	int rc = HAS(fi) ? fchown(H(fi)->fd, uid, gid)
		    : fchownat(bfd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
	return rc == 0 ? 0 : -errno;
}

static int lf_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	int rc = HAS(fi) ? futimens(H(fi)->fd, tv) : utimensat(bfd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
	return rc == 0 ? 0 : -errno;
}

static int lf_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	return fstatvfs(bfd, st) == 0 ? 0 : -errno;
}

/* Every request runs under the lock: the operations above are wrapped by
 * these, made with one macro per signature's argument list. */
#define LOCKED(name, params, args)				\
	static int locked_##name params				\
	{							\
		pthread_mutex_lock(&lock);			\
		int rc = lf_##name args;			\
		pthread_mutex_unlock(&lock);			\
		return rc;					\
	}
LOCKED(getattr, (const char *p, struct stat *st, struct fuse_file_info *fi), (p, st, fi))
LOCKED(open, (const char *p, struct fuse_file_info *fi), (p, fi))
LOCKED(create, (const char *p, mode_t m, struct fuse_file_info *fi), (p, m, fi))
LOCKED(release, (const char *p, struct fuse_file_info *fi), (p, fi))
LOCKED(read, (const char *p, char *b, size_t n, off_t o, struct fuse_file_info *fi), (p, b, n, o, fi))
LOCKED(write, (const char *p, const char *b, size_t n, off_t o, struct fuse_file_info *fi),
       (p, b, n, o, fi))
LOCKED(fsync, (const char *p, int d, struct fuse_file_info *fi), (p, d, fi))
LOCKED(truncate, (const char *p, off_t n, struct fuse_file_info *fi), (p, n, fi))
LOCKED(fallocate, (const char *p, int m, off_t o, off_t n, struct fuse_file_info *fi),
       (p, m, o, n, fi))
LOCKED(readdir, (const char *p, void *b, fuse_fill_dir_t fl, off_t o, struct fuse_file_info *fi,
		 enum fuse_readdir_flags f), (p, b, fl, o, fi, f))
LOCKED(mkdir, (const char *p, mode_t m), (p, m))
LOCKED(rmdir, (const char *p), (p))
LOCKED(unlink, (const char *p), (p))
LOCKED(rename, (const char *a, const char *b, unsigned int f), (a, b, f))
LOCKED(link, (const char *a, const char *b), (a, b))
LOCKED(symlink, (const char *a, const char *b), (a, b))
LOCKED(readlink, (const char *p, char *b, size_t n), (p, b, n))
LOCKED(chmod, (const char *p, mode_t m, struct fuse_file_info *fi), (p, m, fi))
LOCKED(chown, (const char *p, uid_t u, gid_t g, struct fuse_file_info *fi), (p, u, g, fi))
LOCKED(utimens, (const char *p, const struct timespec tv[2], struct fuse_file_info *fi), (p, tv, fi))
LOCKED(statfs, (const char *p, struct statvfs *st), (p, st))

static const struct fuse_operations ops = {
	.init = lf_init,
	.destroy = lf_destroy,
	.getattr = locked_getattr,
	.open = locked_open,
	.create = locked_create,
	.release = locked_release,
	.read = locked_read,
	.write = locked_write,
	.fsync = locked_fsync,
	.truncate = locked_truncate,
	.fallocate = locked_fallocate,
	.readdir = locked_readdir,
	.mkdir = locked_mkdir,
	.rmdir = locked_rmdir,
	.unlink = locked_unlink,
	.rename = locked_rename,
	.link = locked_link,
	.symlink = locked_symlink,
	.readlink = locked_readlink,
	.chmod = locked_chmod,
	.chown = locked_chown,
	.utimens = locked_utimens,
	.statfs = locked_statfs,
};

/* ---- the command ------------------------------------------------------ */

static const struct fuse_opt options[] = {
	{"cut=%s", offsetof(__typeof__(conf), cut), 0},
	{"seed=%u", offsetof(__typeof__(conf), seed), 0},
	FUSE_OPT_END
};

/* The first argument that is not an option is BACKING; the second, the
 * mountpoint, goes on to libfuse. */
static int option_proc(void *data, const char *arg, int key, struct fuse_args *args)
{
	(void)data;
	(void)args;
	if (key == FUSE_OPT_KEY_NONOPT && !conf.backing) {
		conf.backing = arg;
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	sigset_t set;
	int rc;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: lossyfs [-f] [-o cut=drop|subset,seed=N,...] BACKING MOUNTPOINT\n"
		       "A cut: kill -USR1 PID. See lossyfs(1).\n");
		return 0;
	}
	if (fuse_opt_parse(&args, &conf, options, option_proc) != 0)
		return 1;
	if (!conf.backing || args.argc < 2) {
		fprintf(stderr, "usage: lossyfs [-f] [-o cut=drop|subset,seed=N,...] BACKING MOUNTPOINT\n");
		return 2;
	}
	if (!conf.cut && !(conf.cut = strdup("drop"))) {
		fprintf(stderr, "lossyfs: out of memory\n");
		return 1;
	}
	if (strcmp(conf.cut, "drop") != 0 && strcmp(conf.cut, "subset") != 0) {
		fprintf(stderr, "lossyfs: -o cut=%s: not drop or subset\n", conf.cut);
		return 2;
	}
	bfd = open(conf.backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0) {
		fprintf(stderr, "lossyfs: %s: %s\n", conf.backing, strerror(errno));
		return 1;
	}
	/* (libfuse 3.14's fuse_main warns about its own default without one) */
	if (fuse_opt_add_arg(&args, "-osubtype=lossyfs") != 0 ||
	    fuse_opt_insert_arg(&args, 1, "-omax_idle_threads=16") != 0) {
		fprintf(stderr, "lossyfs: out of memory\n");
		return 1;
	}
	/* SIGUSR1 waits, blocked in every thread, for the cut thread's sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if ((errno = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0) {
		fprintf(stderr, "lossyfs: cannot block SIGUSR1: %s\n", strerror(errno));
		return 1;
	}
	rc = fuse_main(args.argc, args.argv, &ops, NULL);
	fuse_opt_free_args(&args);
	free(conf.cut);
	return rc;
}

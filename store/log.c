/* log.c — the store's append-only log file (see log.h and doc/log.md). */
#include "log.h"
#include "encode.h"
#include "dir.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define LOG_MAGIC "ESLOG\0\0\1"		/* 8 bytes at offset 0 */
#define REC_MAGIC 0x524c5345u		/* "ESLR", little-endian */
#define RESERVE ((size_t)1 << 40)	/* address space for the map */
#define MIN_RESERVE ((size_t)1 << 26)
#define HEADROOM ((uint64_t)32 << 20)	/* preallocated ahead of the end */
#define STEP ((uint64_t)64 << 20)	/* ... in steps of this */
#define FREE_SHARE 8			/* at most 1/8 of the free space a step */
#define MIN_STEP ((uint64_t)1 << 20)	/* below which it does not preallocate */
#define MAX_PAYLOAD ((uint64_t)1 << 31)

struct es_log {
	int fd;
	int zfd;		/* the preallocation thread's own descriptor */
	int read_only;
	char *map;
	size_t reserve;		/* bytes of address space mapped */
	uint64_t size;		/* the file's size as last seen */
	uint32_t salt;
	pthread_mutex_t lock;	/* guards what follows */
	pthread_cond_t cond;
	log_end end;		/* where the next group goes */
	uint64_t alloc;		/* the file holds zeros or records up to here */
	uint64_t want;		/* the preallocation thread's target */
	int broken;		/* a flush failed: no more writes */
	int stop;
	int err;		/* the preallocation thread's last failure */
	pthread_t thread;
	int has_thread;
};

static int fail(char *why, size_t size, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t size, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return err;
}

static size_t padded(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static uint32_t record_crc(uint32_t prev, const char *hdr, const char *payload,
			   size_t len)
{
	uLong c = crc32(prev, (const Bytef *)hdr, 20);

	while (len > 0) {	/* zlib takes lengths as uInt */
		uInt n = len > (1u << 30) ? 1u << 30 : (uInt)len;
		c = crc32(c, (const Bytef *)payload, n);
		payload += n;
		len -= n;
	}
	return (uint32_t)c;
}

static int write_all(int fd, const char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* ---- Preallocation. -------------------------------------------------- */

/* Caps the zeros ahead of the log's end at a share of the filesystem's
 * free space, so that the log's headroom never fills a disk others use:
 * ENOSPC when even a little would be too much (appends then grow the file
 * themselves, and fail with ENOSPC when the disk is full). */
static int room_for(es_log *l, uint64_t from, uint64_t end, uint64_t *to)
{
	struct statvfs st;

	if (fstatvfs(l->fd, &st) != 0)
		return errno;
	uint64_t share = (uint64_t)st.f_bavail * st.f_frsize / FREE_SHARE / 4096 * 4096;
	if (*to > end + share)
		*to = end + share;
	return *to < from + MIN_STEP ? ENOSPC : 0;
}

/* Keeps zeros, allocated and flushed, ahead of the end: an append then
 * overwrites allocated blocks, and its fdatasync has no metadata to
 * write. Appends that would pass alloc wait for it (log_group_write). It
 * writes and flushes through a descriptor of its own: a write-back error
 * is then reported to the commit's fdatasync too (Linux tells each open
 * file of the inode once), never only to this thread's. It never shrinks
 * the file, so that a reader's map never faults past what it was told. */
static void *preallocate(void *arg)
{
	es_log *l = arg;
	static const char zeros[1 << 16];

	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->stop && l->alloc >= l->want)
			pthread_cond_wait(&l->cond, &l->lock);
		if (l->stop)
			break;
		uint64_t from = l->alloc, to = l->want, end = l->end.offset;
		pthread_mutex_unlock(&l->lock);
		int err = room_for(l, from, end, &to);
		for (uint64_t off = from; !err && off < to; off += sizeof zeros)
			err = write_all(l->zfd, zeros, to - off < sizeof zeros ? to - off : sizeof zeros, off);
		if (!err && fdatasync(l->zfd) != 0)
			err = errno;	/* (zeros written stay: harmless, overwritten) */
		pthread_mutex_lock(&l->lock);
		if (err) {
			/* Appends go on past alloc, growing the file. */
			l->err = err;
			l->want = l->alloc;
		} else {
			l->alloc = to;
		}
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* With lock held: asks for zeros up to past `need`. */
static void ask_room(es_log *l, uint64_t need)
{
	if (l->err || need + HEADROOM <= l->want)
		return;
	l->want = (need + HEADROOM + STEP) / STEP * STEP;
	pthread_cond_broadcast(&l->cond);
}

/* ---- Opening. -------------------------------------------------------- */

/* Makes a new, empty log at path: its header block written to a
 * temporary file, flushed, then renamed into place, so that a crash never
 * leaves a log without its header. */
static int create_log(const char *path, char *why, size_t size)
{
	char hdr[LOG_HEADER] = {0};
	uint32_t salt;
	int err;

	if (getrandom(&salt, sizeof salt, 0) != sizeof salt)
		return fail(why, size, errno, "%s: no random salt: %s", path, strerror(errno));
	memcpy(hdr, LOG_MAGIC, 8);
	put32(hdr + 8, salt);
	if ((err = dir_replace(path, hdr, sizeof hdr)))
		return fail(why, size, err, "%s: cannot write its header: %s", path, strerror(err));
	return 0;
}

int log_open(const char *path, int read_only, es_log **out, char *why,
	     size_t why_size)
{
	es_log *l = calloc(1, sizeof *l);
	struct stat st;
	int err = 0;

	*out = NULL;
	if (!l)
		return fail(why, why_size, ENOMEM, "out of memory");
	l->read_only = read_only;
	l->zfd = -1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	if (!read_only && access(path, F_OK) != 0 && errno == ENOENT &&
	    (err = create_log(path, why, why_size)))
		goto fail;
	l->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (l->fd < 0) {
		err = fail(why, why_size, errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(l->fd, &st) != 0) {
		err = fail(why, why_size, errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	l->size = (uint64_t)st.st_size;
	if (!read_only && (l->zfd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		err = fail(why, why_size, errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* As much address space as the system gives, up to RESERVE (valgrind,
	 * or a ulimit -v, give less). */
	for (l->reserve = RESERVE; l->reserve >= MIN_RESERVE; l->reserve /= 2)
		if ((l->map = mmap(NULL, l->reserve, PROT_READ, MAP_SHARED, l->fd, 0)) != MAP_FAILED)
			break;
	if (l->map == MAP_FAILED) {
		l->map = NULL;
		err = fail(why, why_size, errno, "%s: cannot map it: %s", path, strerror(errno));
		goto fail;
	}
	if (l->size < LOG_HEADER || memcmp(l->map, LOG_MAGIC, 8) != 0) {
		err = fail(why, why_size, EINVAL, "%s is not an esfs log", path);
		goto fail;
	}
	l->salt = get32(l->map + 8);
	l->end = log_start(l);
	l->alloc = l->want = l->size;
	if (!read_only) {
		l->broken = EAGAIN;	/* until log_set_end */
		if ((err = pthread_create(&l->thread, NULL, preallocate, l))) {
			err = fail(why, why_size, err, "cannot start a thread: %s", strerror(err));
			goto fail;
		}
		l->has_thread = 1;
	}
	*out = l;
	return 0;
fail:
	log_close(l);
	return err;
}

void log_close(es_log *l)
{
	if (!l)
		return;
	if (l->has_thread) {
		pthread_mutex_lock(&l->lock);
		l->stop = 1;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
	}
	if (l->map)
		munmap(l->map, l->reserve);
	if (l->fd >= 0)
		close(l->fd);
	if (l->zfd >= 0)
		close(l->zfd);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

log_end log_start(const es_log *l)
{
	return (log_end){.offset = LOG_HEADER, .seq = 1, .crc = l->salt};
}

void log_set_end(es_log *l, log_end end)
{
	pthread_mutex_lock(&l->lock);
	l->end = end;
	l->broken = 0;
	ask_room(l, end.offset);
	pthread_mutex_unlock(&l->lock);
}

/* ---- Groups. --------------------------------------------------------- */

void log_group_init(log_group *g, log_end at)
{
	g->len = 0;
	g->start = g->end = at;
}

void log_group_free(log_group *g)
{
	free(g->buf);
	memset(g, 0, sizeof *g);
}

int log_group_add(log_group *g, uint32_t type, const struct iovec *pieces,
		  int n, uint64_t *payload)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += pieces[i].iov_len;
	if (len > MAX_PAYLOAD)
		return EFBIG;
	size_t need = g->len + LOG_RECORD_HEADER + padded(len);
	if (need > g->cap) {
		size_t cap = g->cap ? g->cap : 64 * 1024;
		while (cap < need)
			cap *= 2;
		char *b = realloc(g->buf, cap);
		if (!b)
			return ENOMEM;
		g->buf = b;
		g->cap = cap;
	}
	char *h = g->buf + g->len, *p = h + LOG_RECORD_HEADER;
	for (int i = 0; i < n; i++) {
		memcpy(p, pieces[i].iov_base, pieces[i].iov_len);
		p += pieces[i].iov_len;
	}
	memset(p, 0, padded(len) - len);
	put32(h, REC_MAGIC);
	put32(h + 4, (uint32_t)len);
	put64(h + 8, g->end.seq);
	put32(h + 16, type);
	uint32_t crc = record_crc(g->end.crc, h, h + LOG_RECORD_HEADER, len);
	put32(h + 20, crc);
	*payload = g->end.offset + LOG_RECORD_HEADER;
	g->len = need;
	g->end.offset += LOG_RECORD_HEADER + padded(len);
	g->end.seq++;
	g->end.crc = crc;
	return 0;
}

void log_group_undo(log_group *g, const log_end *mark)
{
	g->len -= (size_t)(g->end.offset - mark->offset);
	g->end = *mark;
}

/* After a failed write or flush: zeros over what of the group may have
 * reached the file, so that a later scan cannot take its records (the CRC
 * chain also keeps them from following any newer record). */
static int unwrite(es_log *l, const log_group *g)
{
	static const char zeros[1 << 16];
	uint64_t keep, to;
	int err = 0;

	pthread_mutex_lock(&l->lock);
	keep = l->alloc;	/* allocated before this group: zero it in place */
	pthread_mutex_unlock(&l->lock);
	to = g->end.offset < keep ? g->end.offset : keep;
	for (uint64_t off = g->start.offset; !err && off < to; off += sizeof zeros)
		err = write_all(l->fd, zeros, to - off < sizeof zeros ? to - off : sizeof zeros, off);
	/* What the group added past that (on a nearly full disk) is cut off:
	 * no reader was told of it, and zeros there could need room. */
	if (!err && g->end.offset > keep &&
	    ftruncate(l->fd, (off_t)(g->start.offset > keep ? g->start.offset : keep)) != 0)
		err = errno;
	return err;
}

/* The one flush of a group. make unsafe (ES_UNSAFE_NOSYNC) leaves it out:
 * a store that power cuts break, to prove the power-cut soak finds it. */
static int flush(es_log *l)
{
#ifdef ES_UNSAFE_NOSYNC
	(void)l;
	return 0;
#else
	return fdatasync(l->fd) != 0 ? errno : 0;
#endif
}

int log_sync(es_log *l)
{
	return fdatasync(l->fd) != 0 ? errno : 0;
}

int log_group_unwrite(es_log *l, log_group *g, char *why, size_t why_size)
{
	int err = unwrite(l, g);

	if (!err)
		err = flush(l);
	pthread_mutex_lock(&l->lock);
	if (err)
		l->broken = EIO;
	else
		l->end = g->start;
	pthread_mutex_unlock(&l->lock);
	return err ? fail(why, why_size, EIO, "zeroing the log: %s", strerror(err)) : 0;
}

int log_group_write(es_log *l, log_group *g, char *why, size_t why_size)
{
	int err;

	pthread_mutex_lock(&l->lock);
	if (l->broken) {
		err = l->broken == EAGAIN ? EINVAL : EIO;
		pthread_mutex_unlock(&l->lock);
		return fail(why, why_size, err, err == EIO ?
			    "the log's last flush failed; what the disk holds is unknown until the store is opened again" :
			    "the log's end is not known yet");
	}
	if (g->start.offset != l->end.offset || g->start.seq != l->end.seq) {
		pthread_mutex_unlock(&l->lock);
		return fail(why, why_size, EINVAL, "a group written out of order");
	}
	ask_room(l, g->end.offset);
	while (g->end.offset > l->alloc && l->alloc < l->want && !l->err && !l->stop)
		pthread_cond_wait(&l->cond, &l->lock);	/* preallocation fell behind */
	pthread_mutex_unlock(&l->lock);

	if (g->len == 0)
		return 0;
	if ((err = write_all(l->fd, g->buf, g->len, g->start.offset))) {
		/* What of the group reached the file is zeroed and flushed, so
		 * that no later scan finds it. */
		if (unwrite(l, g) != 0 || flush(l) != 0) {
			pthread_mutex_lock(&l->lock);
			l->broken = EIO;
			pthread_mutex_unlock(&l->lock);
		}
		return fail(why, why_size, err, "writing the log: %s", strerror(err));
	}
	if ((err = flush(l)) != 0) {
		/* What the disk holds is unknown now (whatever the errno): the
		 * group may be there or not. */
		unwrite(l, g);
		pthread_mutex_lock(&l->lock);
		l->broken = EIO;
		pthread_mutex_unlock(&l->lock);
		return fail(why, why_size, EIO, "flushing the log: %s", strerror(err));
	}
	pthread_mutex_lock(&l->lock);
	l->end = g->end;
	l->err = 0;	/* room may be back: preallocate again */
	if (g->end.offset > l->alloc)
		l->alloc = g->end.offset;
	if (g->end.offset > l->size)
		__atomic_store_n(&l->size, g->end.offset, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

/* ---- Reading. -------------------------------------------------------- */

/* The file's size, seen again when asked past what was seen. */
static uint64_t size_past(es_log *l, uint64_t off)
{
	struct stat st;

	if (off > __atomic_load_n(&l->size, __ATOMIC_ACQUIRE) && fstat(l->fd, &st) == 0)
		__atomic_store_n(&l->size, (uint64_t)st.st_size, __ATOMIC_RELEASE);
	return __atomic_load_n(&l->size, __ATOMIC_ACQUIRE);
}

const char *log_at(es_log *l, uint64_t offset, size_t len)
{
	if (offset > l->reserve || len > l->reserve - offset ||
	    offset + len > size_past(l, offset + len))
		return NULL;
	return l->map + offset;
}

int log_scan(es_log *l, log_end from, log_record_fn fn, void *arg, log_end *end)
{
	log_end at = from;
	int rc = 0;

	for (;;) {
		const char *h = log_at(l, at.offset, LOG_RECORD_HEADER);
		if (!h || get32(h) != REC_MAGIC || get64(h + 8) != at.seq)
			break;
		size_t len = get32(h + 4);
		const char *p = len <= MAX_PAYLOAD ?
			log_at(l, at.offset + LOG_RECORD_HEADER, padded(len)) : NULL;
		if (!p)
			break;
		uint32_t crc = record_crc(at.crc, h, p, len);
		if (crc != get32(h + 20))
			break;
		if (fn && (rc = fn(arg, at.seq, get32(h + 16), at.offset + LOG_RECORD_HEADER, p, len)))
			break;
		at.offset += LOG_RECORD_HEADER + padded(len);
		at.seq++;
		at.crc = crc;
	}
	*end = at;
	return rc;
}

void log_trim(es_log *l)
{
	uint64_t size = __atomic_load_n(&l->size, __ATOMIC_ACQUIRE);

	madvise(l->map, size < l->reserve ? size : l->reserve, MADV_DONTNEED);
}

void log_sizes(es_log *l, uint64_t *file_bytes, uint64_t *used_bytes)
{
	pthread_mutex_lock(&l->lock);
	*used_bytes = l->end.offset;
	pthread_mutex_unlock(&l->lock);
	*file_bytes = size_past(l, UINT64_MAX);
}

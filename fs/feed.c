/* feed.c — feed/N: one file holding every event after global position N,
 * streamed from the store as it is read (a log cursor, cursor.c). It grows
 * with the log as a regular file would: its size is the bytes of those
 * events up to the head now (es_log_bytes), and a read ends at the head
 * as it is at that read, so a read at the end gives 0 (EOF) and, after an
 * append, the new events; tail -f follows it. feed/ lists nothing: feed/N
 * is found by name, so that cp -a copies feed/ empty.
 *
 * A read that starts where the last one ended goes on from there; any
 * other offset finds the event that holds its byte by a binary search
 * over positions with es_log_bytes.
 *
 * The attributes are never cached (attribute timeout 0), so that every
 * stat, and tail -f's fstat, sees the size of the log now. Reads stay
 * direct_io: the page cache would keep the last page of a smaller size
 * with zeros after its end, and a read that came back short while the
 * size changed can leave such a page in the cache under the larger size,
 * so that a read returned zeros where events are. With direct_io every
 * read comes here, and the kernel does not cut it at the size it last
 * saw, so a read past the size a stat gave returns the events appended
 * since. (No readahead: a reader gets what its read() asks for, cat
 * 128 KiB at a time.)
 */
#include "node.h"
#include "cursor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>

/* The I/O size a feed file asks for (st_blksize), which cat, dd's
 * default aside, and stdio use as their buffer: a read() of a whole log is
 * then a request of 1 MiB (the kernel's largest), not 128 KiB, so a
 * quarter of the requests, read views and walks. */
#define FEED_BLKSIZE (1u << 20)

/* An open feed/N. */
struct feed {
	pthread_mutex_t lock;
	uint64_t first;		/* N + 1 */
	struct log_cursor cur;	/* where the last read ended */
	uint64_t off;		/* the file offset that is at */
};

static struct feed *feed_of(struct fuse_file_info *fi)
{
	return (struct feed *)(uintptr_t)fi->fh;
}

/* The size of feed/N at head: the bytes of the events N + 1 … head. */
static int feed_size(es_read *rd, uint64_t first, uint64_t head, uint64_t *size)
{
	uint64_t from, to;
	int err;

	*size = 0;
	if (first > head)
		return 0;
	if ((err = es_log_bytes(rd, first, &from)) || (err = es_log_bytes(rd, head + 1, &to)))
		return err;
	*size = to - from;
	return 0;
}

/* Its size now, and the head's time; never cached by the kernel. */
static int feed_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
		     double *et, double *at)
{
	uint64_t head, size;
	int64_t us;
	int err = es_head(rd, &head, &us);

	(void)et;
	*at = 0;
	if (!err)
		err = feed_size(rd, ino_id(ino) + 1, head, &size);
	if (!err) {
		set_attr(fs, st, ino, S_IFREG | 0444, 1, (off_t)size, us);
		st->st_blksize = FEED_BLKSIZE;
	}
	return err;
}

static int feed_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent, const char *name,
		       struct stat *st, double *et, double *at)
{
	uint64_t n;

	(void)parent;
	if (parse_position(name, &n))
		return ENOENT;
	return node_attr(fs, rd, ino_make(K_FEED, n), st, et, at);
}

const struct node_ops feed_dir_ops = {
	.mode = S_IFDIR | 0555,
	.nlink = 2,
	.lookup = feed_lookup,
};

static int feed_open(struct esfs *fs, es_read *rd, fuse_ino_t ino,
		     struct fuse_file_info *fi, struct opening *o)
{
	struct feed *f;

	(void)fs, (void)rd;
	if (wants_write(fi) || (fi->flags & O_TRUNC)) {
		o->why = "feed files are read-only";
		return EACCES;
	}
	if (!(f = calloc(1, sizeof *f)))
		return ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->first = f->cur.next = ino_id(ino) + 1;
	fi->direct_io = 1;	/* see the top of this file */
	fi->noflush = 1;
	fi->fh = (uintptr_t)f;
	return 0;
}

/* Puts f at file offset off of the log up to head: the event that holds
 * that byte is the last position p of first … head + 1 with
 * es_log_bytes(p) <= es_log_bytes(first) + off, found by binary search
 * (head + 1 at the end). *past is set, and f left as it was, when off is
 * past the end. */
static int feed_seek(es_read *rd, struct feed *f, uint64_t head, uint64_t off, int *past)
{
	uint64_t lo = f->first, hi = head + 1, at, b, base, size;
	int err;

	*past = 0;
	if ((err = feed_size(rd, f->first, head, &size)))
		return err;
	if (off > size) {
		*past = 1;
		return 0;
	}
	if (f->first > head) {	/* empty: off is 0 */
		f->cur = (struct log_cursor){f->first, 0};
		f->off = 0;
		return 0;
	}
	if ((err = es_log_bytes(rd, f->first, &base)))
		return err;
	at = base;	/* es_log_bytes(lo) */
	while (lo < hi) {	/* es_log_bytes(lo) <= base + off < es_log_bytes(hi + 1) */
		uint64_t mid = lo + (hi - lo + 1) / 2;
		if ((err = es_log_bytes(rd, mid, &b)))
			return err;
		if (b <= base + off)
			lo = mid, at = b;
		else
			hi = mid - 1;
	}
	f->cur = (struct log_cursor){lo, base + off - at};
	f->off = off;
	return 0;
}

static void feed_read(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		      size_t size, off_t off)
{
	struct esfs *fs = fs_of(req);
	struct feed *f = feed_of(fi);
	char *buf = malloc(size);
	size_t used = 0;
	uint64_t head;
	int64_t at;
	es_read *rd;
	int past = 0, err = buf ? 0 : ENOMEM;

	(void)ino;
	pthread_mutex_lock(&f->lock);
	if (!err && !(err = es_read_begin(fs->store, &rd))) {
		err = es_head(rd, &head, &at);
		if (!err && (uint64_t)off != f->off)
			err = feed_seek(rd, f, head, (uint64_t)off, &past);
		if (!err && !past && !(err = cursor_fill(rd, &f->cur, head, CUT_BYTES, buf,
							 size, &used)))
			f->off += used;
		es_read_end(rd);
	}
	pthread_mutex_unlock(&f->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void feed_release(struct esfs *fs, struct fuse_file_info *fi)
{
	struct feed *f = feed_of(fi);

	(void)fs;
	pthread_mutex_destroy(&f->lock);
	free(f);
}

const struct node_ops feed_ops = {
	.attr = feed_attr,
	.open = feed_open,
	.read = feed_read,
	.release = feed_release,
};

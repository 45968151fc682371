/* feed.c — feed/N: one file holding every event after global position N,
 * up to the head as it was at open, streamed from the store as it is read
 * (a log cursor, cursor.c). feed/ lists nothing: feed/N is found by name,
 * so that cp -a copies feed/ empty.
 *
 * Reads in order continue where the last one ended; a seek forward skips,
 * a seek back starts again. Its length is not known before it is read: it
 * shows size 0 and is read with direct_io to its end.
 */
#include "node.h"
#include "cursor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>

/* An open feed/N. */
struct feed {
	pthread_mutex_t lock;
	uint64_t first;		/* N + 1 */
	uint64_t end;		/* the head when it was opened */
	struct log_cursor cur;	/* where it is in the log */
	uint64_t off;		/* the file offset that is at */
};

static struct feed *feed_of(struct fuse_file_info *fi)
{
	return (struct feed *)(uintptr_t)fi->fh;
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
	int64_t at;
	int err;

	(void)fs;
	if (wants_write(fi) || (fi->flags & O_TRUNC)) {
		o->why = "feed files are read-only";
		return EACCES;
	}
	if (!(f = calloc(1, sizeof *f)))
		return ENOMEM;
	if ((err = es_head(rd, &f->end, &at))) {
		free(f);
		return err;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->first = f->cur.next = ino_id(ino) + 1;
	fi->direct_io = 1;
	fi->noflush = 1;
	fi->fh = (uintptr_t)f;
	return 0;
}

/* Walks on from where f is, into buf (NULL: skipping size bytes); *used
 * tells how far it got. */
static int feed_walk(struct esfs *fs, struct feed *f, char *buf, size_t size, size_t *used)
{
	es_read *rd;
	int err = 0;

	*used = 0;
	if (f->cur.next <= f->end && !(err = es_read_begin(fs->store, &rd))) {
		err = cursor_fill(rd, &f->cur, f->end, CUT_BYTES, buf, size, used);
		es_read_end(rd);
	}
	f->off += *used;
	return err;
}

static void feed_read(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		      size_t size, off_t off)
{
	struct esfs *fs = fs_of(req);
	struct feed *f = feed_of(fi);
	char *buf = malloc(size);
	size_t used = 0, skipped;
	int err = buf ? 0 : ENOMEM;

	(void)ino;
	pthread_mutex_lock(&f->lock);
	if (!err && (uint64_t)off < f->off) {
		f->cur = (struct log_cursor){f->first, 0};
		f->off = 0;
	}
	while (!err && (uint64_t)off > f->off) {
		err = feed_walk(fs, f, NULL, (uint64_t)off - f->off, &skipped);
		if (skipped == 0)
			break;	/* past the end */
	}
	if (!err && (uint64_t)off == f->off)
		err = feed_walk(fs, f, buf, size, &used);
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
	.mode = S_IFREG | 0444,	/* size 0: read to its end */
	.nlink = 1,
	.open = feed_open,
	.read = feed_read,
	.release = feed_release,
};

/* append.c — appends: a stream's new file, whose writes are messages
 * committed as they complete (message.c reads them), and the machinery of
 * files written as messages, which snapshots share (values.c). Opened
 * read-write, new leaves a read-back line per committed message.
 *
 * A writer of new or a snapshot gets a struct handle as fi->fh; new
 * opened read-only needs none and reads as empty.
 */
#include "append.h"
#include "message.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

struct handle {
	enum handle_kind kind;
	pthread_mutex_t lock;
	char name[256];		/* the stream */
	size_t name_len;
	msg_reader msg;		/* the message being written */
	int failed;		/* errno of the failed message being skipped */
	char *resend;		/* bytes the writer may send again, see below */
	size_t resend_len;
	int resend_err;
	int readback;		/* new opened read-write */
	char *out;		/* bytes to read: read-back lines, or content */
	size_t out_len, out_cap, out_off;
};

struct handle *handle_new(struct esfs *fs, enum handle_kind kind,
			  const char *name, size_t len)
{
	struct handle *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->kind = kind;
	pthread_mutex_init(&h->lock, NULL);
	memcpy(h->name, name, len);
	h->name_len = len;
	h->msg.limit = fs->max_message;
	return h;
}

void handle_free(struct handle *h)
{
	if (!h)
		return;
	msg_free(&h->msg);
	free(h->resend);
	free(h->out);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int handle_put(struct handle *h, const char *p, size_t n)
{
	if (h->out_len + n > h->out_cap) {
		size_t cap = h->out_cap ? h->out_cap : 256;
		while (cap < h->out_len + n)
			cap *= 2;
		char *b = realloc(h->out, cap);
		if (!b)
			return ENOMEM;
		h->out = b;
		h->out_cap = cap;
	}
	memcpy(h->out + h->out_len, p, n);
	h->out_len += n;
	return 0;
}

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* ---- Writes. --------------------------------------------------------- */

/* Commits the whole message in h->msg. */
static int commit_message(struct esfs *fs, struct handle *h, char *why, size_t size)
{
	int err;

	if (h->kind == H_SNAPSHOT) {
		uint64_t version;
		const char *data;
		size_t len;
		err = msg_parse_snapshot(&h->msg, &version, &data, &len, why, size);
		if (!err && (err = es_snapshot_put(fs->store, h->name, h->name_len,
						   version, data, len)))
			snprintf(why, size, "%s", es_why());
		return err;
	}

	msg_append a;
	es_appended r;
	if ((err = msg_parse_append(&h->msg, &a, why, size)))
		return err;
	err = es_append(fs->store, h->name, h->name_len, a.expected, a.ev, a.n, &r);
	msg_append_free(&a);
	if (err) {
		snprintf(why, size, "%s", es_why());
		return err;
	}
	if (h->readback) {
		/* The stream's version and the global position after it. */
		char line[64];
		int n = snprintf(line, sizeof line, "%llu %llu\n",
				 (unsigned long long)r.last_version,
				 (unsigned long long)r.last_position);
		if (h->out_len < 64 * 1024)
			err = handle_put(h, line, (size_t)n);
	}
	return err;
}

/* Remembers the bytes of a failed write that its writer may send again.
 *
 * The kernel cuts a large write() into requests of at most max_write bytes
 * and, when a later one fails, returns a short count instead of the error;
 * the writer then sends the rest again, and its write loop may send the
 * same rest again after that (libuv's does, then Node's own). Those bytes
 * were consumed already, so every resend is answered with the error it
 * should have had, until the writer sends something else. Any failed
 * write is remembered: a piece may start at a message, and a writer's
 * identical retry is a resend all the same. */
static void remember_resend(struct handle *h, const char *p, size_t n, int err)
{
	free(h->resend);
	h->resend = malloc(n);
	h->resend_len = h->resend ? n : 0;
	h->resend_err = err;
	if (h->resend)
		memcpy(h->resend, p, n);
}

/* Whether a write of n bytes is a request the kernel cut off a larger
 * write(): one of max_write bytes, or less by the part of a page the
 * writer's buffer starts into. The rest of such a write() comes only if
 * this request succeeds. */
static int is_piece(const struct esfs *fs, size_t n)
{
	return fs->max_write > 0 && n + 4096 > fs->max_write;
}

/* Whether a write is a resend of the remembered bytes: it starts with
 * them, or is a piece the kernel cut of where they start (a shorter write
 * of the same first bytes is a new message written in parts). Other bytes
 * make them forgotten. A resend also ends the skipping of the failed
 * message's rest: the writer went back, so that rest will not come. */
static int is_resend(const struct esfs *fs, struct handle *h, const char *p,
		     size_t n, int *err)
{
	if (!h->resend)
		return 0;
	if ((n >= h->resend_len || is_piece(fs, n)) &&
	    memcmp(p, h->resend, n < h->resend_len ? n : h->resend_len) == 0) {
		*err = h->resend_err;
		if (h->msg.skip) {
			msg_reset(&h->msg);
			h->failed = 0;
		}
		return 1;
	}
	free(h->resend);
	h->resend = NULL;
	h->resend_len = 0;
	return 0;
}

/* Leaves the line "ENAME why" for a read-write opener of new to read,
 * after a failed message, where a committed one leaves its version and
 * position. */
static void readback_failure(struct handle *h, int err, const char *why)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "%s ", errno_name(err));

	if (n < 0 || !h->readback || h->out_len >= 64 * 1024)
		return;
	n += (int)log_escape(why, strlen(why), line + n, sizeof line - (size_t)n - 1);
	line[n++] = '\n';
	if (handle_put(h, line, (size_t)n) != 0)
		log_line(LOG_WARNING, "no memory for the read-back line of a failed message");
}

/* Feeds a write to new or a snapshot: every message it completes is
 * committed before the write returns.
 *
 * A bad message fails the write that shows it is bad; the reader then
 * skips the rest of that message, and the writes that carry it fail with
 * the same error, quietly. When a message fails after others in the same
 * write were committed, the write returns the bytes up to the last
 * committed message, so that the writer sends the rest again and sees the
 * error. */
static void write_messages(fuse_req_t req, struct esfs *fs, struct handle *h,
			   const char *buf, size_t size)
{
	char why[512] = "";
	size_t pos = 0, committed = 0;
	int err = 0, fresh = 0, appended = 0;

	pthread_mutex_lock(&h->lock);
	if (is_resend(fs, h, buf, size, &err)) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_err(req, err);
		return;
	}
	err = 0;
	while (pos < size) {
		size_t used;
		int rc = msg_feed(&h->msg, buf + pos, size - pos, &used, why, sizeof why);
		pos += used;
		if (rc == MSG_MORE)
			break;
		if (rc == MSG_SKIPPED) {
			err = err ? err : h->failed;
			h->failed = 0;
			break;
		}
		if (rc == MSG_DONE) {
			rc = commit_message(fs, h, why, sizeof why);
			msg_reset(&h->msg);
			if (rc == 0) {
				committed = pos;
				appended |= h->kind == H_NEW;
				continue;
			}
			err = rc;	/* the message was whole: nothing to skip */
			fresh = 1;
			break;
		}
		err = h->failed = rc;	/* the reader skips the rest */
		fresh = 1;
	}
	if (!err && h->msg.skip)
		err = h->failed;	/* all of it belongs to a failed message */
	if (err)
		remember_resend(h, buf + committed, size - committed, err);
	/* A piece the kernel cut that failed ends its write(): the rest of a
	 * message it leaves the reader skipping will not come. */
	if (err && h->msg.skip && is_piece(fs, size)) {
		msg_reset(&h->msg);
		h->failed = 0;
	}
	if (fresh)
		readback_failure(h, err, why);
	pthread_mutex_unlock(&h->lock);

	if (fresh)
		log_line(LOG_NOTICE, "%s %.*s: %s (%s)",
			 h->kind == H_NEW ? "append to stream" : "snapshot of",
			 (int)h->name_len, h->name, why, errno_name(err));
	if (!err)
		fuse_reply_write(req, size);
	else if (committed > 0)
		fuse_reply_write(req, committed);
	else
		fuse_reply_err(req, err);
	/* The writer has its answer; now the subscribers waiting for it. */
	if (appended)
		sub_appended(fs);
}

void handle_write(fuse_req_t req, struct fuse_file_info *fi, const char *buf, size_t size)
{
	struct esfs *fs = fs_of(req);
	struct handle *h = handle_of(fi);

	if (!h) {
		refuse(req, EBADF, "write: not open for writing");
		return;
	}
	write_messages(req, fs, h, buf, size);
}

/* ---- Reads, and closing. --------------------------------------------- */

void handle_read(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, size_t size,
		 off_t off)
{
	struct handle *h = handle_of(fi);
	size_t from, n = 0;
	char *copy = NULL;

	(void)ino;
	if (!h) {
		fuse_reply_buf(req, NULL, 0);	/* new reads as empty */
		return;
	}
	pthread_mutex_lock(&h->lock);
	/* Read-back lines are consumed as they are read; content is read
	 * at off. */
	from = h->kind == H_NEW ? h->out_off : (size_t)off;
	if (from < h->out_len)
		n = h->out_len - from < size ? h->out_len - from : size;
	if (n && (copy = malloc(n))) {
		memcpy(copy, h->out + from, n);
		if (h->kind == H_NEW && (h->out_off += n) == h->out_len)
			h->out_off = h->out_len = 0;
	}
	pthread_mutex_unlock(&h->lock);
	/* From a copy, and h untouched after: once the reader has its reply
	 * it may close the file, and the release free h, at once. */
	if (n && !copy)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, copy, n);
	free(copy);
}

/* A message still incomplete at close is discarded, and the close fails.
 * The kernel sends FLUSH at every close() of every duplicate of the
 * descriptor (a shell's '>&3', a child's inherited copy), and RELEASE only
 * after the last: so FLUSH fails while a message is pending but keeps it,
 * and RELEASE discards it. */
int handle_flush(struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int pending = 0;

	if (h) {
		pthread_mutex_lock(&h->lock);
		pending = msg_pending(&h->msg);
		pthread_mutex_unlock(&h->lock);
	}
	return pending ? EINVAL : 0;
}

void handle_release(struct esfs *fs, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	(void)fs;
	if (h && msg_pending(&h->msg))
		log_line(LOG_NOTICE, "%s %.*s: an incomplete message was discarded at close (EINVAL)",
			 h->kind == H_NEW ? "append to stream" : "snapshot of",
			 (int)h->name_len, h->name);
	handle_free(h);
}

/* ---- streams/S/new. -------------------------------------------------- */

static int new_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
		    double *et, double *at)
{
	es_stream s;
	int err = es_stream_get_id(rd, ino_id(ino), &s);

	(void)et;
	if (err)
		return err;
	set_attr(fs, st, ino, S_IFREG | 0644, 1, 0, s.created_us);
	*at = FOREVER;
	return 0;
}

/* Writers of new get two flags libfuse 3.14 has no field for:
 * FOPEN_PARALLEL_DIRECT_WRITES, or the kernel runs the writes to one
 * inode one at a time (and appends from many writers to one stream could
 * not share a commit); FOPEN_STREAM, so every write is at offset 0 and,
 * once one write of its size has been seen, within the file's size (the
 * kernel takes its exclusive lock for a write past the end). */
static int new_open(struct esfs *fs, es_read *rd, fuse_ino_t ino,
		    struct fuse_file_info *fi, struct opening *o)
{
	struct handle *h;
	es_stream s;
	int err = es_stream_get_id(rd, ino_id(ino), &s);

	if (err)
		return err;
	fi->direct_io = 1;
	fi->nonseekable = 1;
	if (!wants_write(fi))
		return 0;	/* reads as empty */
	h = handle_new(fs, H_NEW, s.name, s.name_len);
	if (!h)
		return ENOMEM;
	h->readback = (fi->flags & O_ACCMODE) == O_RDWR;
	fi->fh = (uintptr_t)h;
	o->flags = FOPEN_DIRECT_IO | FOPEN_STREAM | FOPEN_PARALLEL_DIRECT_WRITES;
	return 0;
}

const struct node_ops new_ops = {
	.attr = new_attr,
	.open = new_open,
	.read = handle_read,
	.write = handle_write,
	.flush = handle_flush,
	.release = handle_release,
	.truncatable = 1,
};

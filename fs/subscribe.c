/* subscribe.c — live subscriptions: subscriptions/NAME reads the events
 * after a position, in global order, the same bytes as all/N, and at the
 * head waits for the next ones, for ever.
 *
 * A read at the head is parked: its request goes on the list here and the
 * op returns without replying, so no worker thread waits and no read view
 * is held. (libfuse's max_threads, 10 by default, bounds the requests being
 * processed at once, not those unanswered: a worker is free again as soon
 * as the op returns, so any number of reads can wait.) sub_wake runs after
 * every append, and on a read-only mount whenever the store's directory
 * says a commit happened (see watch): in one read view it serves each
 * parked read that now has data, at most that reader's size, and keeps the
 * others; it is O(parked).
 *
 * The state lives in the mount's struct subs (esfs.h). One mutex, lock,
 * guards all of it: the list of waiters (parked reads and polls) and the
 * position of every open subscription. A parked request is answered
 * exactly once, by whoever takes it off the list while holding lock: the
 * wake (data), the interrupt callback (EINTR), the release of its file or
 * the unmount (EINTR). Read views are opened with lock held, so lock is
 * never taken inside one; open_lock, for the list of open subscriptions
 * (which open makes inside a read view), is taken last.
 */
#include "node.h"
#include "cursor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* An open subscription: the consumer's own position, nothing shared. */
struct sub {
	struct log_cursor cur;	/* where in the log */
	struct fuse_pollhandle *ph;	/* a poll waiting for data, or NULL */
	struct sub *prev, *succ;	/* in subs */
};

/* A parked read (req) or a waiting poll (req NULL, sub->ph set). */
struct waiter {
	struct waiter *next;
	fuse_req_t req;
	struct sub *sub;
	size_t size;
};

void sub_init(struct esfs *fs)
{
	struct subs *m = &fs->subs;

	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->open_lock, NULL);
	m->waiters = NULL;
	m->open = NULL;
	m->watching = 0;
	m->watch_fd = m->stop_fd = -1;
}

static struct sub *sub_new(struct esfs *fs, uint64_t position)
{
	struct subs *m = &fs->subs;
	struct sub *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->cur.next = position + 1;
	pthread_mutex_lock(&m->open_lock);
	s->succ = m->open;
	if (m->open)
		m->open->prev = s;
	m->open = s;
	pthread_mutex_unlock(&m->open_lock);
	return s;
}

/* ---- Reading. -------------------------------------------------------- */

/* Fills buf with whole events while they fit (an event larger than the
 * room left in an empty buffer goes in part, and the next read continues
 * it); on failure nothing is taken. */
static int fill(es_read *rd, struct sub *s, char *buf, size_t size, size_t *used)
{
	return cursor_fill(rd, &s->cur, UINT64_MAX, CUT_EVENTS, buf, size, used);
}

/* Unlinks *wp and frees it; its request must have been answered. */
static void drop(struct waiter **wp)
{
	struct waiter *w = *wp;

	*wp = w->next;
	free(w);
}

/* Called by libfuse when the kernel interrupts a request (Ctrl-C, kill):
 * the kernel waits for the answer of a request it has sent, even for
 * SIGKILL, so a parked read must be answered now. It may run inside
 * fuse_req_interrupt_func, before the read is parked (then it finds
 * nothing, and sub_read sees fuse_req_interrupted), or race with a wake
 * (then whoever takes the request off the list answers it). req is alive
 * here, so comparing it with the parked requests is safe. */
static void interrupted(fuse_req_t req, void *data)
{
	struct subs *m = data;

	pthread_mutex_lock(&m->lock);
	for (struct waiter **wp = &m->waiters; *wp; wp = &(*wp)->next)
		if ((*wp)->req == req) {
			fuse_reply_err(req, EINTR);
			drop(wp);
			break;
		}
	pthread_mutex_unlock(&m->lock);
}

/* Reads the events after s's position. A read with off > 0 is the rest
 * of a read() that the kernel cut into pieces and that has data already:
 * it never waits. At the head a blocking read is parked, a nonblocking
 * one gets EAGAIN. */
static void sub_read(fuse_req_t req, struct esfs *fs, struct sub *s, size_t size,
		     off_t off, int nonblock)
{
	struct subs *m = &fs->subs;
	char *buf = malloc(size ? size : 1);
	size_t used = 0;
	struct waiter *w = NULL;
	es_read *rd;
	int err;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off == 0 && !nonblock)
		fuse_req_interrupt_func(req, interrupted, m);
	pthread_mutex_lock(&m->lock);
	if (!(err = es_read_begin(fs->store, &rd))) {
		err = fill(rd, s, buf, size, &used);
		es_read_end(rd);
	}
	if (err)
		fuse_reply_err(req, err);
	else if (used > 0 || off > 0 || size == 0)
		fuse_reply_buf(req, buf, used);
	else if (nonblock)
		fuse_reply_err(req, EAGAIN);
	else if (fuse_req_interrupted(req))
		fuse_reply_err(req, EINTR);
	else if (!(w = malloc(sizeof *w)))
		fuse_reply_err(req, ENOMEM);
	else {
		*w = (struct waiter){m->waiters, req, s, size};
		m->waiters = w;
	}
	pthread_mutex_unlock(&m->lock);
	free(buf);
}

static void sub_poll(fuse_req_t req, struct esfs *fs, struct sub *s,
		     struct fuse_pollhandle *ph)
{
	struct subs *m = &fs->subs;
	struct waiter *w = NULL;
	uint64_t head = 0;
	int64_t at;
	es_read *rd;
	int err, ready;

	pthread_mutex_lock(&m->lock);
	if (!(err = es_read_begin(fs->store, &rd))) {
		err = es_head(rd, &head, &at);
		es_read_end(rd);
	}
	ready = !err && head >= s->cur.next;
	if (err || ready || !ph) {
		fuse_pollhandle_destroy(ph);
	} else if (s->ph) {
		fuse_pollhandle_destroy(s->ph);	/* it has a waiter already */
		s->ph = ph;
	} else if (!(w = malloc(sizeof *w))) {
		fuse_pollhandle_destroy(ph);
		err = ENOMEM;
	} else {
		*w = (struct waiter){m->waiters, NULL, s, 0};
		m->waiters = w;
		s->ph = ph;
	}
	pthread_mutex_unlock(&m->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_poll(req, ready ? POLLIN | POLLRDNORM : 0);
}

static void sub_wake(struct esfs *fs)
{
	struct subs *m = &fs->subs;
	uint64_t head;
	int64_t at;
	es_read *rd;
	int err;

	pthread_mutex_lock(&m->lock);
	if (!m->waiters) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	if (!(err = es_read_begin(fs->store, &rd)) && (err = es_head(rd, &head, &at)))
		es_read_end(rd);
	if (err) {	/* they stay parked until the next wake */
		log_line(LOG_ERR, "waking subscribers: %s", es_why());
		pthread_mutex_unlock(&m->lock);
		return;
	}
	for (struct waiter **wp = &m->waiters; *wp;) {
		struct waiter *w = *wp;
		if (head < w->sub->cur.next) {	/* nothing new for it */
			wp = &w->next;
			continue;
		}
		if (!w->req) {
			fuse_lowlevel_notify_poll(w->sub->ph);
			fuse_pollhandle_destroy(w->sub->ph);
			w->sub->ph = NULL;
			drop(wp);
			continue;
		}
		char *buf = malloc(w->size);
		size_t used;
		err = buf ? fill(rd, w->sub, buf, w->size, &used) : ENOMEM;
		if (err)
			fuse_reply_err(w->req, err);
		else
			fuse_reply_buf(w->req, buf, used);
		free(buf);
		drop(wp);
	}
	es_read_end(rd);
	pthread_mutex_unlock(&m->lock);
}

/* The store tells read-only mounts of the commit itself (es_watch_open);
 * here the subscribers of this mount are served. */
void sub_appended(struct esfs *fs)
{
	sub_wake(fs);
}

/* Answers and drops the waiters of s, or all of them when s is NULL. */
static void drop_waiters(struct subs *m, const struct sub *s)
{
	for (struct waiter **wp = &m->waiters; *wp;) {
		struct waiter *w = *wp;
		if (s && w->sub != s) {
			wp = &w->next;
			continue;
		}
		if (w->req) {
			fuse_reply_err(w->req, EINTR);
		} else {
			fuse_pollhandle_destroy(w->sub->ph);
			w->sub->ph = NULL;
		}
		drop(wp);
	}
}

static void unlink_sub(struct subs *m, struct sub *s)
{
	pthread_mutex_lock(&m->open_lock);
	if (s->prev)
		s->prev->succ = s->succ;
	else
		m->open = s->succ;
	if (s->succ)
		s->succ->prev = s->prev;
	pthread_mutex_unlock(&m->open_lock);
}

/* The kernel releases a file only when no read of it is under way, so no
 * read should be parked here; one that is gets EINTR, a poll is dropped. */
static void sub_release(struct esfs *fs, struct sub *s)
{
	struct subs *m = &fs->subs;

	if (!s)
		return;
	pthread_mutex_lock(&m->lock);
	drop_waiters(m, s);
	unlink_sub(m, s);
	pthread_mutex_unlock(&m->lock);
	free(s);
}

/* ---- subscriptions/ and its files. ---------------------------------- */

static int subscriptions_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent,
				const char *name, struct stat *st, double *et, double *at)
{
	es_checkpoint cp;
	int err = es_checkpoint_get(rd, name, strlen(name), &cp);

	(void)parent;
	if (err)
		return err;
	return node_attr(fs, rd, ino_make(K_SUB, cp.id), st, et, at);
}

/* subscriptions/NAME is found for any checkpoint name: a name that has no
 * checkpoint yet is given an id (es_checkpoint_reserve), which is not a
 * checkpoint for readers of checkpoints/. Only the mounting user makes
 * one (others, with allow_other, could grow the store by looking names
 * up); a read-only mount cannot. */
static void lookup_subscription(fuse_req_t req, const char *name)
{
	struct esfs *fs = fs_of(req);
	uint64_t id;
	int err = fuse_req_ctx(req)->uid == fs->uid
		  ? es_checkpoint_reserve(fs->store, name, strlen(name), &id) : EPERM;

	if (err == EPERM)
		refuse(req, ENOENT, ES_DIR_SUBSCRIPTIONS "/%s: no checkpoint of that name, and "
		       "only the mounting user may start one", name);
	else if (err == EROFS)
		refuse(req, ENOENT, ES_DIR_SUBSCRIPTIONS "/%s: no checkpoint of that name, and a "
		       "read-only mount cannot make one; write " ES_DIR_CHECKPOINTS "/%s through "
		       "the read-write mount first", name, name);
	else if (err)
		refuse(req, err, ES_DIR_SUBSCRIPTIONS "/%s: %s", name, es_why());
	else
		reply_node(req, ino_make(K_SUB, id));
}

const struct node_ops subscriptions_ops = {
	.mode = S_IFDIR | 0555,
	.nlink = 2,
	.lookup = subscriptions_lookup,
	.lookup_missing = lookup_subscription,
};

static struct sub *sub_of(struct fuse_file_info *fi)
{
	return (struct sub *)(uintptr_t)fi->fh;
}

/* Size 0 and the time of the head; the checkpoint's id may have no position. */
static int sub_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
		    double *et, double *at)
{
	es_checkpoint cp;
	int err = es_checkpoint_get_id(rd, ino_id(ino), &cp);

	(void)et, (void)at;
	return err ? err : head_attr(fs, rd, ino, S_IFREG | 0444, 1, st);
}

/* Subscriptions are opened with FOPEN_STREAM, which libfuse 3.14 has no
 * field for: no position at all, so that every read() starts at offset 0
 * and the kernel's later pieces of a large read() are told apart by
 * their offset (see sub_read). */
static int sub_open(struct esfs *fs, es_read *rd, fuse_ino_t ino,
		    struct fuse_file_info *fi, struct opening *o)
{
	es_checkpoint cp;
	struct sub *s;
	int err;

	if (wants_write(fi) || (fi->flags & O_TRUNC)) {
		o->why = "subscriptions are read-only; a consumer acknowledges "
			 "by writing " ES_DIR_CHECKPOINTS "/NAME";
		return EACCES;
	}
	if (fi->flags & O_DIRECT) {
		o->why = "subscriptions cannot be read with O_DIRECT (the pieces of an "
			 "asynchronous read could take events out of order)";
		return EINVAL;
	}
	if ((err = es_checkpoint_get_id(rd, ino_id(ino), &cp)))
		return err;
	if (!(s = sub_new(fs, cp.has_position ? cp.position : 0)))
		return ENOMEM;
	fi->fh = (uintptr_t)s;
	o->flags = FOPEN_DIRECT_IO | FOPEN_NONSEEKABLE | FOPEN_STREAM | FOPEN_NOFLUSH;
	return 0;
}

static void sub_file_read(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
			  size_t size, off_t off)
{
	(void)ino;
	/* The file's flags as they are now: fcntl may set O_NONBLOCK. */
	sub_read(req, fs_of(req), sub_of(fi), size, off, (fi->flags & O_NONBLOCK) != 0);
}

static void sub_file_release(struct esfs *fs, struct fuse_file_info *fi)
{
	sub_release(fs, sub_of(fi));
}

static void sub_file_poll(fuse_req_t req, struct fuse_file_info *fi,
			  struct fuse_pollhandle *ph)
{
	sub_poll(req, fs_of(req), sub_of(fi), ph);
}

const struct node_ops sub_ops = {
	.attr = sub_attr,
	.open = sub_open,
	.read = sub_file_read,
	.release = sub_file_release,
	.poll = sub_file_poll,
};

/* ---- A read-only mount: another daemon appends. ---------------------- *
 * The thread waits on the store's commit notification (es_watch_open) and
 * wakes the subscribers. A wake can only be early, never wrong: a wake
 * that finds nothing new leaves the waiters parked, and the store's next
 * word wakes them again. Notifications that queue up while a wake runs are
 * drained at once by the next one. */
static void *watch(void *arg)
{
	struct esfs *fs = arg;
	struct pollfd p[2] = {{.fd = fs->subs.watch_fd, .events = POLLIN},
			      {.fd = fs->subs.stop_fd, .events = POLLIN}};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_line(LOG_ERR, "watching the store for appends: %s; "
				 "subscribers of this read-only mount wake no more",
				 strerror(errno));
			return NULL;
		}
		if (p[1].revents)
			return NULL;
		es_watch_drain(fs->store);
		sub_wake(fs);
	}
}

int sub_watch(struct esfs *fs)
{
	struct subs *m = &fs->subs;
	sigset_t all, old;

	if (es_watch_open(fs->store, &m->watch_fd) != 0) {
		fprintf(stderr, "esfs: %s\n", es_why());
		return -1;
	}
	if ((m->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0) {
		fprintf(stderr, "esfs: cannot watch the store for appends: %s\n", strerror(errno));
		return -1;
	}
	/* Signals go to the threads libfuse waits in. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int err = pthread_create(&m->watcher, NULL, watch, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		fprintf(stderr, "esfs: cannot start the watcher of the store: %s\n", strerror(err));
		sub_stop(fs);
		return -1;
	}
	m->watching = 1;
	return 0;
}

/* Called once the session loop has ended (no op runs any more) and before
 * the session is unmounted and destroyed. Idempotent. */
void sub_stop(struct esfs *fs)
{
	struct subs *m = &fs->subs;

	if (m->watching) {
		uint64_t one = 1;
		if (write(m->stop_fd, &one, sizeof one) != sizeof one) {
			/* An eventfd counter at 2^64 - 2: cannot happen. */
			log_line(LOG_ERR, "stopping the watcher: %s", strerror(errno));
			return;
		}
		pthread_join(m->watcher, NULL);
		m->watching = 0;
	}
	if (m->stop_fd >= 0)
		close(m->stop_fd);	/* watch_fd is the store's */
	m->watch_fd = m->stop_fd = -1;
	pthread_mutex_lock(&m->lock);
	drop_waiters(m, NULL);
	while (m->open) {
		struct sub *s = m->open;
		unlink_sub(m, s);
		free(s);
	}
	pthread_mutex_unlock(&m->lock);
}

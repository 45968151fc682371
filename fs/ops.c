/* ops.c — the filesystem: libfuse low-level operations mapping the tree of
 * INTERFACE.md onto the store.
 *
 *   /                    streams/ all/ snapshots/ checkpoints/ feed/
 *                        subscriptions/ categories/ types/
 *   streams/S/           00000000000000000001 … and new
 *   all/                 00000000000000000001 …
 *   snapshots/S          checkpoints/NAME
 *   feed/N               every event after position N, in one file
 *   subscriptions/NAME   the events after checkpoint NAME, live (subscribe.c)
 *   categories/C/        the events of the streams C-…, by position, the
 *   types/T/             events of type T: the same inodes as in all/
 *
 * Nothing is cached here: every request reads the store in a read view,
 * and the kernel caches what never changes (event files: long entry and
 * attribute timeouts, keep_cache). What changes on append (directory
 * attributes, listings, snapshot and checkpoint files) is never cached by
 * the kernel: attribute timeout 0, no cached readdir, direct_io.
 *
 * Directory offsets come from the store: an entry's offset is its id (a
 * position, version, stream id or checkpoint id) plus a constant, so a
 * listing resumes with one cursor seek and nothing is held between calls.
 */
#include "esfs.h"
#include "cursor.h"
#include "message.h"
#include "../store/names.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>

#define FOREVER 86400.0		/* seconds; immutable nodes */

static const struct {
	const char *name;
	fuse_ino_t ino;
} top[] = {
	{ES_DIR_STREAMS, INO_STREAMS},
	{ES_DIR_ALL, INO_ALL},
	{ES_DIR_SNAPSHOTS, INO_SNAPSHOTS},
	{ES_DIR_CHECKPOINTS, INO_CHECKPOINTS},
	{ES_DIR_FEED, INO_FEED},
	{ES_DIR_SUBSCRIPTIONS, INO_SUBSCRIPTIONS},
	{ES_DIR_CATEGORIES, INO_CATEGORIES},
	{ES_DIR_TYPES, INO_TYPES},
};
#define NTOP (sizeof top / sizeof top[0])

static struct esfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Replies err after logging why a change was refused. */
static void refuse(fuse_req_t req, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse(fuse_req_t req, int err, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_line(LOG_NOTICE, "%s (%s)", line, strerrorname_np(err));
	fuse_reply_err(req, err);
}

/* ---- Attributes. ----------------------------------------------------- */

static void set_times(struct stat *st, int64_t us)
{
	st->st_mtim.tv_sec = (time_t)(us / 1000000);
	st->st_mtim.tv_nsec = (long)(us % 1000000) * 1000;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static void set_attr(const struct esfs *fs, struct stat *st, fuse_ino_t ino,
		     mode_t mode, nlink_t nlink, off_t size, int64_t us)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = nlink;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = size;
	st->st_blksize = 4096;
	st->st_blocks = (size + 511) / 512;
	set_times(st, us);
}

static void event_attr(const struct esfs *fs, const es_event *ev, struct stat *st)
{
	set_attr(fs, st, ino_make(K_EVENT, ev->position), S_IFREG | 0444, 2,
		 (off_t)ev->json_len, ev->created_us);
}

static void stream_attr(const struct esfs *fs, const es_stream *s, struct stat *st)
{
	set_attr(fs, st, ino_make(K_STREAM, s->id), S_IFDIR | 0755, 2,
		 (off_t)s->version, s->updated_us);
}

static void snapshot_attr(const struct esfs *fs, const es_snapshot *sn, struct stat *st)
{
	set_attr(fs, st, ino_make(K_SNAPSHOT, sn->stream_id), S_IFREG | 0644, 1,
		 (off_t)sn->json_len, sn->created_us);
}

/* categories/C/ and types/T/: mtime is the time of the view's newest
 * event. */
static void view_attr(const struct esfs *fs, const es_view *v, struct stat *st)
{
	set_attr(fs, st, ino_make(v->kind == ES_CATEGORY ? K_CATEGORY : K_TYPE, v->id),
		 S_IFDIR | 0555, 2, 0, v->updated_us);
}

/* "42\n" */
static size_t position_text(uint64_t pos, char *buf)
{
	return (size_t)sprintf(buf, "%llu\n", (unsigned long long)pos);
}

static void checkpoint_attr(const struct esfs *fs, const es_checkpoint *cp, struct stat *st)
{
	char text[32];
	size_t size = cp->has_position ? position_text(cp->position, text) : 0;

	set_attr(fs, st, ino_make(K_CHECKPOINT, cp->id), S_IFREG | 0644, 1,
		 (off_t)size, cp->updated_us);
}

/* Attributes of any node, and how long the kernel may keep its entry and
 * attributes. */
static int node_attr(const struct esfs *fs, es_read *rd, fuse_ino_t ino,
		     struct stat *st, double *entry_timeout, double *attr_timeout)
{
	uint64_t id = ino_id(ino), head, n;
	int64_t at;
	es_stream s;
	es_event ev;
	es_snapshot sn;
	es_checkpoint cp;
	es_view v;
	int err;

	*entry_timeout = FOREVER;
	*attr_timeout = 0;
	switch (ino_kind(ino)) {
	case K_FIXED:
		if (id < INO_ROOT || id > INO_LAST)
			return ENOENT;
		if ((err = es_head(rd, &head, &at)) || (err = es_stream_count(rd, &n)))
			return err;
		if (id == INO_ROOT)
			set_attr(fs, st, ino, S_IFDIR | 0755, 2 + NTOP, 0, at);
		else if (id == INO_STREAMS)
			set_attr(fs, st, ino, S_IFDIR | 0755, 2 + n, (off_t)n, at);
		else if (id == INO_ALL || id == INO_FEED || id == INO_SUBSCRIPTIONS)
			set_attr(fs, st, ino, S_IFDIR | 0555, 2, id == INO_ALL ? (off_t)head : 0, at);
		else if (id == INO_CATEGORIES || id == INO_TYPES)
			/* nlink 1: the number of subdirectories is not kept */
			set_attr(fs, st, ino, S_IFDIR | 0555, 1, 0, at);
		else
			set_attr(fs, st, ino, S_IFDIR | 0755, 2, 0, at);
		return 0;
	case K_EVENT:
		if ((err = es_event_get(rd, id, &ev)))
			return err;
		event_attr(fs, &ev, st);
		*attr_timeout = FOREVER;
		return 0;
	case K_STREAM:
		if ((err = es_stream_get_id(rd, id, &s)))
			return err;
		stream_attr(fs, &s, st);
		return 0;
	case K_NEW:
		if ((err = es_stream_get_id(rd, id, &s)))
			return err;
		set_attr(fs, st, ino, S_IFREG | 0644, 1, 0, s.created_us);
		*attr_timeout = FOREVER;
		return 0;
	case K_SNAPSHOT:
		*entry_timeout = 0;
		if ((err = es_stream_get_id(rd, id, &s)))
			return err;
		err = es_snapshot_get(rd, id, &sn);
		if (err == ENOENT)	/* created, not yet written */
			set_attr(fs, st, ino, S_IFREG | 0644, 1, 0, s.created_us);
		else if (err)
			return err;
		else
			snapshot_attr(fs, &sn, st);
		return 0;
	case K_CHECKPOINT:
		*entry_timeout = 0;
		if ((err = es_checkpoint_get_id(rd, id, &cp)))
			return err;
		checkpoint_attr(fs, &cp, st);
		return 0;
	case K_FEED:
		/* Its length is not known before it is read: size 0, read
		 * with direct_io to its end. */
		if ((err = es_head(rd, &head, &at)))
			return err;
		set_attr(fs, st, ino, S_IFREG | 0444, 1, 0, at);
		return 0;
	case K_SUB:
		/* Like feed/N; the checkpoint's id may have no position. */
		if ((err = es_checkpoint_get_id(rd, id, &cp)) || (err = es_head(rd, &head, &at)))
			return err;
		set_attr(fs, st, ino, S_IFREG | 0444, 1, 0, at);
		return 0;
	case K_CATEGORY:
	case K_TYPE:
		if ((err = es_view_get_id(rd, id, &v)))
			return err;
		if (v.kind != (ino_kind(ino) == K_CATEGORY ? ES_CATEGORY : ES_TYPE))
			return ENOENT;
		view_attr(fs, &v, st);
		return 0;
	}
	return ENOENT;
}

static void reply_entry(fuse_req_t req, const struct stat *st, double entry_timeout,
			double attr_timeout)
{
	struct fuse_entry_param e = {
		.ino = st->st_ino,
		.attr = *st,
		.entry_timeout = entry_timeout,
		.attr_timeout = attr_timeout,
	};
	fuse_reply_entry(req, &e);
}

/* Replies with the entry of ino, read in a fresh view. */
static void reply_node(fuse_req_t req, fuse_ino_t ino)
{
	struct esfs *fs = fs_of(req);
	struct stat st;
	double et, at;
	es_read *rd;
	int err = es_read_begin(fs->store, &rd);

	if (!err) {
		err = node_attr(fs, rd, ino, &st, &et, &at);
		es_read_end(rd);
	}
	if (err)
		fuse_reply_err(req, err);
	else
		reply_entry(req, &st, et, at);
}

/* ---- Names. ---------------------------------------------------------- */

/* An event's name is its number, 1 … ES_ID_MAX, zero-padded to 20 digits;
 * the plain number finds it too. */
static int parse_event_name(const char *name, uint64_t *n)
{
	uint64_t v = 0;
	size_t len = strlen(name);

	if (len == 0 || len > ES_EVENT_NAME_LEN)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		if (v > ES_ID_MAX / 10)
			return -1;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (v == 0 || v > ES_ID_MAX)
		return -1;
	*n = v;
	return 0;
}

/* A position in feed/N: 0 … ES_ID_MAX, decimal. */
static int parse_position(const char *name, uint64_t *n)
{
	if (strcmp(name, "0") == 0) {
		*n = 0;
		return 0;
	}
	return parse_event_name(name, n);
}

static void event_name(uint64_t n, char *buf)
{
	snprintf(buf, ES_EVENT_NAME_LEN + 1, ES_EVENT_NAME_FMT, n);
}

/* ---- Lookup and attributes. ------------------------------------------ */

static int lookup_in(struct esfs *fs, es_read *rd, fuse_ino_t parent,
		     const char *name, struct stat *st, double *et, double *at)
{
	size_t len = strlen(name);
	uint64_t n;
	es_stream s;
	es_event ev;
	es_snapshot sn;
	es_checkpoint cp;
	es_view v;
	int err;

	switch (ino_kind(parent) == K_FIXED ? parent : 0) {
	case INO_ROOT:
		for (size_t i = 0; i < NTOP; i++)
			if (strcmp(name, top[i].name) == 0)
				return node_attr(fs, rd, top[i].ino, st, et, at);
		return ENOENT;
	case INO_STREAMS:
		if ((err = es_stream_get(rd, name, len, &s)))
			return err;
		return node_attr(fs, rd, ino_make(K_STREAM, s.id), st, et, at);
	case INO_ALL:
		if (parse_event_name(name, &n) || (err = es_event_get(rd, n, &ev)))
			return ENOENT;
		event_attr(fs, &ev, st);
		*et = *at = FOREVER;
		return 0;
	case INO_SNAPSHOTS:
		if ((err = es_stream_get(rd, name, len, &s)) ||
		    (err = es_snapshot_get(rd, s.id, &sn)))
			return err;
		snapshot_attr(fs, &sn, st);
		*et = *at = 0;
		return 0;
	case INO_CHECKPOINTS:
		if ((err = es_checkpoint_get(rd, name, len, &cp)))
			return err;
		if (!cp.has_position)
			return ENOENT;
		checkpoint_attr(fs, &cp, st);
		*et = *at = 0;
		return 0;
	case INO_FEED:
		if (parse_position(name, &n))
			return ENOENT;
		return node_attr(fs, rd, ino_make(K_FEED, n), st, et, at);
	case INO_SUBSCRIPTIONS:
		if ((err = es_checkpoint_get(rd, name, len, &cp)))
			return err;
		return node_attr(fs, rd, ino_make(K_SUB, cp.id), st, et, at);
	case INO_CATEGORIES:
	case INO_TYPES:
		if ((err = es_view_get(rd, parent == INO_CATEGORIES ? ES_CATEGORY : ES_TYPE,
				       name, len, &v)))
			return err;
		view_attr(fs, &v, st);
		*et = FOREVER;	/* a view's name keeps its id */
		*at = 0;
		return 0;
	}
	if (ino_kind(parent) == K_CATEGORY || ino_kind(parent) == K_TYPE) {
		/* The event's own inode, as in all/. */
		if (parse_event_name(name, &n) || es_view_has(rd, ino_id(parent), n) ||
		    es_event_get(rd, n, &ev))
			return ENOENT;
		event_attr(fs, &ev, st);
		*et = *at = FOREVER;
		return 0;
	}
	if (ino_kind(parent) != K_STREAM)
		return ENOTDIR;
	if (strcmp(name, ES_NEW) == 0)
		return node_attr(fs, rd, ino_make(K_NEW, ino_id(parent)), st, et, at);
	if (parse_event_name(name, &n) ||
	    es_stream_event(rd, ino_id(parent), n, &ev))
		return ENOENT;
	event_attr(fs, &ev, st);
	*et = *at = FOREVER;
	return 0;
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
		refuse(req, ENOENT, "subscriptions/%s: no checkpoint of that name, and only "
		       "the mounting user may start one", name);
	else if (err == EROFS)
		refuse(req, ENOENT, "subscriptions/%s: no checkpoint of that name, and a "
		       "read-only mount cannot make one; write checkpoints/%s through the "
		       "read-write mount first", name, name);
	else if (err)
		refuse(req, err, "subscriptions/%s: %s", name, es_why());
	else
		reply_node(req, ino_make(K_SUB, id));
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct esfs *fs = fs_of(req);
	struct stat st;
	double et, at;
	es_read *rd;
	int err = es_read_begin(fs->store, &rd);

	if (!err) {
		err = lookup_in(fs, rd, parent, name, &st, &et, &at);
		es_read_end(rd);
	}
	if (err == ENOENT && parent == INO_SUBSCRIPTIONS) {
		lookup_subscription(req, name);
		return;
	}
	/* A failed lookup is never cached by the kernel: an event that
	 * does not exist yet may exist after the next append. */
	if (err)
		fuse_reply_err(req, err);
	else
		reply_entry(req, &st, et, at);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct esfs *fs = fs_of(req);
	struct stat st;
	double et, at;
	es_read *rd;
	int err = es_read_begin(fs->store, &rd);

	(void)fi;
	if (!err) {
		err = node_attr(fs, rd, ino, &st, &et, &at);
		es_read_end(rd);
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, at);
}

/* ---- Listing. -------------------------------------------------------- */

struct listing {
	fuse_req_t req;
	struct esfs *fs;
	int plus;
	char *buf;
	size_t size, used;
	off_t base;		/* entry offset = id + base */
	int by_version;		/* events named by version (streams/S/), else position */
};

/* Adds one entry whose next offset is off; returns 1 when full. */
static int list_add(struct listing *l, const char *name, const struct stat *st,
		    double et, double at, off_t off)
{
	size_t need;

	if (l->plus) {
		struct fuse_entry_param e = {
			.ino = st->st_ino, .attr = *st,
			.entry_timeout = et, .attr_timeout = at,
		};
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			e.ino = 0;	/* the kernel takes no reference */
		need = fuse_add_direntry_plus(l->req, l->buf + l->used, l->size - l->used,
					      name, &e, off);
	} else {
		need = fuse_add_direntry(l->req, l->buf + l->used, l->size - l->used,
					 name, st, off);
	}
	if (need > l->size - l->used)
		return 1;
	l->used += need;
	return 0;
}

static int list_event(void *arg, const es_event *ev)
{
	struct listing *l = arg;
	struct stat st;
	char name[ES_EVENT_NAME_LEN + 1];
	uint64_t n = l->by_version ? ev->version : ev->position;

	event_name(n, name);
	event_attr(l->fs, ev, &st);
	return list_add(l, name, &st, FOREVER, FOREVER, (off_t)n + l->base);
}

/* Adds an entry named by stored bytes (not NUL-terminated). */
static int list_named(struct listing *l, const char *name, size_t len,
		      const struct stat *st, double et, double at, uint64_t id)
{
	char z[256];

	memcpy(z, name, len);
	z[len] = '\0';
	return list_add(l, z, st, et, at, (off_t)id + l->base);
}

static int list_stream(void *arg, const es_stream *s)
{
	struct listing *l = arg;
	struct stat st;

	stream_attr(l->fs, s, &st);
	return list_named(l, s->name, s->name_len, &st, FOREVER, 0, s->id);
}

static int list_snapshot(void *arg, const es_snapshot *sn, const es_stream *s)
{
	struct listing *l = arg;
	struct stat st;

	snapshot_attr(l->fs, sn, &st);
	return list_named(l, s->name, s->name_len, &st, 0, 0, sn->stream_id);
}

static int list_view(void *arg, const es_view *v)
{
	struct listing *l = arg;
	struct stat st;

	view_attr(l->fs, v, &st);
	return list_named(l, v->name, v->name_len, &st, FOREVER, 0, v->id);
}

static int list_checkpoint(void *arg, const es_checkpoint *cp)
{
	struct listing *l = arg;
	struct stat st;

	checkpoint_attr(l->fs, cp, &st);
	return list_named(l, cp->name, cp->name_len, &st, 0, 0, cp->id);
}

/* Fills l from offset off: ".", "..", then fixed entries, then ids. */
static int list_dir(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	struct stat st;
	double et, at;
	int err = node_attr(l->fs, rd, ino, &st, &et, &at);

	if (err)
		return err;
	if (!S_ISDIR(st.st_mode))
		return ENOTDIR;
	if (off < 1 && list_add(l, ".", &st, 0, 0, 1))
		return 0;
	if (off < 2) {
		struct stat up;
		fuse_ino_t parent = ino_kind(ino) == K_STREAM ? INO_STREAMS
				  : ino_kind(ino) == K_CATEGORY ? INO_CATEGORIES
				  : ino_kind(ino) == K_TYPE ? INO_TYPES : INO_ROOT;
		if ((err = node_attr(l->fs, rd, parent, &up, &et, &at)))
			return err;
		if (list_add(l, "..", &up, 0, 0, 2))
			return 0;
	}
	if (ino_kind(ino) == K_STREAM) {
		/* "new", then version v at offset v + 3. */
		if (off < 3) {
			if ((err = node_attr(l->fs, rd, ino_make(K_NEW, ino_id(ino)), &st, &et, &at)))
				return err;
			if (list_add(l, ES_NEW, &st, et, at, 3))
				return 0;
		}
		l->base = 3;
		l->by_version = 1;
		return es_stream_walk(rd, ino_id(ino), off < 3 ? 1 : (uint64_t)off - 2,
				      list_event, l);
	}
	/* Everything else: id n at offset n + 2. */
	l->base = 2;
	uint64_t from = off < 2 ? 1 : (uint64_t)off - 1;
	if (ino_kind(ino) == K_CATEGORY || ino_kind(ino) == K_TYPE)
		return es_view_walk(rd, ino_id(ino), from, list_event, l);
	switch (ino) {
	case INO_ROOT:
		for (uint64_t i = from; i <= NTOP; i++) {
			if ((err = node_attr(l->fs, rd, top[i - 1].ino, &st, &et, &at)))
				return err;
			if (list_add(l, top[i - 1].name, &st, et, at, (off_t)i + 2))
				break;
		}
		return 0;
	case INO_STREAMS:
		return es_streams_walk(rd, from, list_stream, l);
	case INO_ALL:
		return es_log_walk(rd, from, list_event, l);
	case INO_SNAPSHOTS:
		return es_snapshots_walk(rd, from, list_snapshot, l);
	case INO_CHECKPOINTS:
		return es_checkpoints_walk(rd, from, list_checkpoint, l);
	case INO_FEED:
	case INO_SUBSCRIPTIONS:
		return 0;	/* found by name, never listed: cp -a copies them empty */
	case INO_CATEGORIES:
		return es_views_walk(rd, ES_CATEGORY, from, list_view, l);
	case INO_TYPES:
		return es_views_walk(rd, ES_TYPE, from, list_view, l);
	}
	return ENOTDIR;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   int plus)
{
	struct listing l = {.req = req, .fs = fs_of(req), .plus = plus,
			    .buf = malloc(size), .size = size};
	es_read *rd;
	int err;

	if (!l.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = es_read_begin(l.fs->store, &rd);
	if (!err) {
		err = list_dir(&l, rd, ino, off);
		es_read_end(rd);
	}
	if (err && l.used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, l.buf, l.used);
	free(l.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 1);
}

/* ---- Open files. ----------------------------------------------------- *
 * Event files and new opened read-only need no handle. Writers of new,
 * snapshots and checkpoints get one; so do readers of snapshots and
 * checkpoints, which read the bytes as they were at open. An open
 * subscription's fh is a struct sub (subscribe.c), not a handle. */

enum handle_kind { H_NEW, H_SNAPSHOT, H_CHECKPOINT, H_FEED };

struct handle {
	enum handle_kind kind;
	pthread_mutex_t lock;
	char name[256];		/* the stream or checkpoint */
	size_t name_len;
	msg_reader msg;		/* the message being written */
	int failed;		/* errno of the failed message being skipped */
	char *resend;		/* bytes the writer may send again, see below */
	size_t resend_len;
	int resend_err;
	int readback;		/* new opened read-write */
	char *out;		/* bytes to read: read-back lines, or content */
	size_t out_len, out_cap, out_off;
	uint64_t feed_first;	/* feed/N: N + 1 */
	struct log_cursor feed_cur;	/* ... where it is in the log */
	uint64_t feed_end;	/* ... the head when it was opened */
	uint64_t feed_off;	/* ... the file offset that is at */
};

static struct handle *handle_new(struct esfs *fs, enum handle_kind kind,
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

static void handle_free(struct handle *h)
{
	if (!h)
		return;
	msg_free(&h->msg);
	free(h->resend);
	free(h->out);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int handle_put(struct handle *h, const char *p, size_t n)
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

static int wants_write(const struct fuse_file_info *fi)
{
	return (fi->flags & O_ACCMODE) != O_RDONLY;
}

/* Opens node ino; on success sets fi (and fi->fh for a handle). */
static int open_node(struct esfs *fs, es_read *rd, fuse_ino_t ino,
		     struct fuse_file_info *fi, const char **what)
{
	uint64_t id = ino_id(ino);
	struct handle *h = NULL;
	es_stream s;
	es_event ev;
	es_snapshot sn;
	es_checkpoint cp;
	char text[32];
	int err;

	switch (ino_kind(ino)) {
	case K_EVENT:
		if ((err = es_event_get(rd, id, &ev)))
			return err;
		if (wants_write(fi) || (fi->flags & O_TRUNC)) {
			*what = "event files are read-only";
			return EACCES;
		}
		fi->keep_cache = 1;	/* its bytes never change */
		fi->noflush = 1;
		return 0;
	case K_NEW:
		if ((err = es_stream_get_id(rd, id, &s)))
			return err;
		fi->direct_io = 1;
		fi->nonseekable = 1;
		if (!wants_write(fi))
			return 0;	/* reads as empty */
		h = handle_new(fs, H_NEW, s.name, s.name_len);
		if (!h)
			return ENOMEM;
		h->readback = (fi->flags & O_ACCMODE) == O_RDWR;
		break;
	case K_SNAPSHOT:
		if ((err = es_stream_get_id(rd, id, &s)))
			return err;
		if (!(h = handle_new(fs, H_SNAPSHOT, s.name, s.name_len)))
			return ENOMEM;
		fi->direct_io = 1;
		err = es_snapshot_get(rd, id, &sn);
		if (err == ENOENT && wants_write(fi))
			err = 0;
		else if (!err && (fi->flags & O_ACCMODE) != O_WRONLY)
			err = handle_put(h, sn.json, sn.json_len);
		break;
	case K_CHECKPOINT:
		if ((err = es_checkpoint_get_id(rd, id, &cp)))
			return err;
		if (!(h = handle_new(fs, H_CHECKPOINT, cp.name, cp.name_len)))
			return ENOMEM;
		fi->direct_io = 1;
		if (!cp.has_position && !wants_write(fi))
			err = ENOENT;
		else if (cp.has_position && (fi->flags & O_ACCMODE) != O_WRONLY)
			err = handle_put(h, text, position_text(cp.position, text));
		break;
	case K_SUB:
		if (wants_write(fi) || (fi->flags & O_TRUNC)) {
			*what = "subscriptions are read-only; a consumer acknowledges "
				"by writing checkpoints/NAME";
			return EACCES;
		}
		if (fi->flags & O_DIRECT) {
			*what = "subscriptions cannot be read with O_DIRECT (the pieces of an "
				"asynchronous read could take events out of order)";
			return EINVAL;
		}
		if ((err = es_checkpoint_get_id(rd, id, &cp)))
			return err;
		struct sub *sub = sub_new(fs, cp.has_position ? cp.position : 0);
		if (!sub)
			return ENOMEM;
		fi->fh = (uintptr_t)sub;	/* opened as reply_open says */
		return 0;
	case K_FEED:
		if (wants_write(fi) || (fi->flags & O_TRUNC)) {
			*what = "feed files are read-only";
			return EACCES;
		}
		if (!(h = handle_new(fs, H_FEED, "feed", 4)))
			return ENOMEM;
		int64_t at;
		err = es_head(rd, &h->feed_end, &at);
		h->feed_first = h->feed_cur.next = id + 1;
		fi->direct_io = 1;
		fi->noflush = 1;
		break;
	default:
		return EISDIR;
	}
	if (err) {
		handle_free(h);
		return err;
	}
	fi->fh = (uintptr_t)h;
	return 0;
}

/* Releases what open_node made for fi. */
static void close_node(struct esfs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino_kind(ino) == K_SUB)
		sub_release(fs, (struct sub *)(uintptr_t)fi->fh);
	else
		handle_free(handle_of(fi));
}

/* Replies to an open. Writers of new get two flags libfuse 3.14 has no
 * field for, so their reply is built from the kernel's own struct:
 * FOPEN_PARALLEL_DIRECT_WRITES, or the kernel runs the writes to one
 * inode one at a time (and appends from many writers to one stream could
 * not share a commit); FOPEN_STREAM, so every write is at offset 0 and,
 * once one write of its size has been seen, within the file's size (the
 * kernel takes its exclusive lock for a write past the end).
 * Subscriptions get FOPEN_STREAM too: no position at all, so that every
 * read() starts at offset 0 and the kernel's later pieces of a large
 * read() are told apart by their offset (see sub_read). */
static int reply_open(fuse_req_t req, fuse_ino_t ino, const struct fuse_file_info *fi)
{
	struct fuse_open_out out = {.fh = fi->fh};

	if (ino_kind(ino) == K_SUB)
		out.open_flags = FOPEN_DIRECT_IO | FOPEN_NONSEEKABLE | FOPEN_STREAM | FOPEN_NOFLUSH;
	else if (ino_kind(ino) == K_NEW && wants_write(fi))
		out.open_flags = FOPEN_DIRECT_IO | FOPEN_STREAM | FOPEN_PARALLEL_DIRECT_WRITES;
	else
		return fuse_reply_open(req, fi);
	return fuse_reply_buf(req, (const char *)&out, sizeof out);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct esfs *fs = fs_of(req);
	const char *what = NULL;
	es_read *rd;
	int err = es_read_begin(fs->store, &rd);

	if (!err) {
		err = open_node(fs, rd, ino, fi, &what);
		es_read_end(rd);
	}
	if (err && what)
		refuse(req, err, "open: %s", what);
	else if (err)
		fuse_reply_err(req, err);
	else if (reply_open(req, ino, fi) != 0)
		close_node(fs_of(req), ino, fi);	/* no release will come */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct esfs *fs = fs_of(req);
	size_t len = strlen(name);
	fuse_ino_t ino;
	uint64_t id;
	es_read *rd;
	es_stream s;
	const char *what = NULL;
	int err;

	(void)mode;
	if (parent == INO_CHECKPOINTS) {
		if ((err = es_checkpoint_reserve(fs->store, name, len, &id))) {
			refuse(req, err, "create checkpoints/%s: %s", name, es_why());
			return;
		}
		ino = ino_make(K_CHECKPOINT, id);
	} else if (parent == INO_SNAPSHOTS) {
		if ((err = es_read_begin(fs->store, &rd)))
			goto fail;
		err = es_stream_get(rd, name, len, &s);
		es_read_end(rd);
		if (err) {
			refuse(req, err, "create snapshots/%s: no stream of that name", name);
			return;
		}
		ino = ino_make(K_SNAPSHOT, s.id);
	} else {
		refuse(req, EPERM, "create %s: only checkpoints and snapshots can be created; "
		       "streams are made with mkdir", name);
		return;
	}

	struct fuse_entry_param e = {.ino = ino};
	if ((err = es_read_begin(fs->store, &rd)))
		goto fail;
	err = node_attr(fs, rd, ino, &e.attr, &e.entry_timeout, &e.attr_timeout);
	if (!err)
		err = open_node(fs, rd, ino, fi, &what);
	es_read_end(rd);
	if (err)
		goto fail;
	if (fuse_reply_create(req, &e, fi) != 0)
		handle_free(handle_of(fi));	/* no release will come */
	return;
fail:
	fuse_reply_err(req, err);
}

/* A message still incomplete at close is discarded, and the close fails.
 * The kernel sends FLUSH at every close() of every duplicate of the
 * descriptor (a shell's '>&3', a child's inherited copy), and RELEASE only
 * after the last: so FLUSH fails while a message is pending but keeps it,
 * and RELEASE discards it. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = ino_kind(ino) == K_SUB ? NULL : handle_of(fi);
	int pending = 0;

	if (h) {
		pthread_mutex_lock(&h->lock);
		pending = msg_pending(&h->msg);
		pthread_mutex_unlock(&h->lock);
	}
	fuse_reply_err(req, pending ? EINVAL : 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	if (ino_kind(ino) == K_SUB) {
		close_node(fs_of(req), ino, fi);
		fuse_reply_err(req, 0);
		return;
	}
	if (h && msg_pending(&h->msg))
		log_line(LOG_NOTICE, "%s %.*s: an incomplete message was discarded at close (EINVAL)",
			 h->kind == H_NEW ? "append to stream" : "snapshot of",
			 (int)h->name_len, h->name);
	handle_free(h);
	fuse_reply_err(req, 0);
}

/* feed/N: the bytes of the events after N, up to the head as it was at
 * open, from one cursor walk per read. Reads in order continue where the
 * last one ended; a seek forward skips, a seek back starts again. */

/* Walks on from where h is, into buf (NULL: skipping size bytes); *used
 * tells how far it got. */
static int feed_walk(struct esfs *fs, struct handle *h, char *buf, size_t size,
		     size_t *used)
{
	es_read *rd;
	int err = 0;

	*used = 0;
	if (h->feed_cur.next <= h->feed_end && !(err = es_read_begin(fs->store, &rd))) {
		err = cursor_fill(rd, &h->feed_cur, h->feed_end, CUT_BYTES, buf, size, used);
		es_read_end(rd);
	}
	h->feed_off += *used;
	return err;
}

static void read_feed(fuse_req_t req, struct esfs *fs, struct handle *h,
		      size_t size, off_t off)
{
	char *buf = malloc(size);
	size_t used = 0, skipped;
	int err = buf ? 0 : ENOMEM;

	pthread_mutex_lock(&h->lock);
	if (!err && (uint64_t)off < h->feed_off) {
		h->feed_cur = (struct log_cursor){h->feed_first, 0};
		h->feed_off = 0;
	}
	while (!err && (uint64_t)off > h->feed_off) {
		err = feed_walk(fs, h, NULL, (uint64_t)off - h->feed_off, &skipped);
		if (skipped == 0)
			break;	/* past the end */
	}
	if (!err && (uint64_t)off == h->feed_off)
		err = feed_walk(fs, h, buf, size, &used);
	pthread_mutex_unlock(&h->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct esfs *fs = fs_of(req);
	struct handle *h = handle_of(fi);
	es_read *rd;
	es_event ev;
	int err;

	if (ino_kind(ino) == K_EVENT) {
		if ((err = es_read_begin(fs->store, &rd))) {
			fuse_reply_err(req, err);
			return;
		}
		err = es_event_get(rd, ino_id(ino), &ev);
		if (err)
			fuse_reply_err(req, err);
		else if ((size_t)off >= ev.json_len)
			fuse_reply_buf(req, NULL, 0);
		else	/* straight from the map to the kernel */
			fuse_reply_buf(req, ev.json + off,
				       size < ev.json_len - (size_t)off ? size : ev.json_len - (size_t)off);
		es_read_end(rd);
		return;
	}
	if (ino_kind(ino) == K_SUB) {
		/* The file's flags as they are now: fcntl may set O_NONBLOCK. */
		sub_read(req, fs, (struct sub *)(uintptr_t)fi->fh, size, off,
			 (fi->flags & O_NONBLOCK) != 0);
		return;
	}
	if (!h) {
		fuse_reply_buf(req, NULL, 0);	/* new reads as empty */
		return;
	}
	if (h->kind == H_FEED) {
		read_feed(req, fs, h, size, off);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (h->kind == H_NEW) {
		/* Read-back lines are consumed as they are read. */
		size_t n = h->out_len - h->out_off;
		n = n < size ? n : size;
		fuse_reply_buf(req, h->out + h->out_off, n);
		h->out_off += n;
		if (h->out_off == h->out_len)
			h->out_off = h->out_len = 0;
	} else if ((size_t)off >= h->out_len) {
		fuse_reply_buf(req, NULL, 0);
	} else {
		size_t n = h->out_len - (size_t)off;
		fuse_reply_buf(req, h->out + off, n < size ? n : size);
	}
	pthread_mutex_unlock(&h->lock);
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
 * the writer then sends the rest again. Those bytes were consumed already,
 * so the resend is answered with the error it should have had. */
static void remember_resend(struct handle *h, const char *p, size_t n, int err)
{
	free(h->resend);
	h->resend = malloc(n);
	h->resend_len = h->resend ? n : 0;
	h->resend_err = err;
	if (h->resend)
		memcpy(h->resend, p, n);
}

/* Whether a write is the resend of remembered bytes; forgets them. */
static int is_resend(struct handle *h, const char *p, size_t n, int *err)
{
	int again;

	if (!h->resend)
		return 0;
	again = memcmp(p, h->resend, n < h->resend_len ? n : h->resend_len) == 0;
	*err = h->resend_err;
	free(h->resend);
	h->resend = NULL;
	h->resend_len = 0;
	return again;
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
	int err = 0, fresh = 0, began_before, appended = 0;

	pthread_mutex_lock(&h->lock);
	if (is_resend(h, buf, size, &err)) {
		pthread_mutex_unlock(&h->lock);
		fuse_reply_err(req, err);
		return;
	}
	err = 0;
	began_before = msg_pending(&h->msg) || h->msg.skip;
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
	if (err && (committed > 0 || began_before))
		remember_resend(h, buf + committed, size - committed, err);
	pthread_mutex_unlock(&h->lock);

	if (fresh)
		log_line(LOG_NOTICE, "%s %.*s: %s (%s)",
			 h->kind == H_NEW ? "append to stream" : "snapshot of",
			 (int)h->name_len, h->name, why, strerrorname_np(err));
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

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct esfs *fs = fs_of(req);
	struct handle *h = handle_of(fi);
	char why[256] = "";
	uint64_t pos;
	int err;

	(void)off;
	if (!h || ino_kind(ino) == K_EVENT || ino_kind(ino) == K_SUB) {
		refuse(req, EBADF, "write: not open for writing");
		return;
	}
	if (h->kind != H_CHECKPOINT) {
		write_messages(req, fs, h, buf, size);
		return;
	}
	/* A checkpoint: each write is a whole position. */
	if ((err = msg_parse_position(buf, size, &pos, why, sizeof why)) ||
	    (err = es_checkpoint_put(fs->store, h->name, h->name_len, pos))) {
		refuse(req, err, "checkpoint %.*s: %s", (int)h->name_len, h->name,
		       err == EINVAL && why[0] ? why : es_why());
		return;
	}
	fuse_reply_write(req, size);
}

/* ---- Changes to the tree. -------------------------------------------- */

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct esfs *fs = fs_of(req);
	es_read *rd;
	es_stream s;
	int err;

	(void)mode;
	if (parent != INO_STREAMS) {
		refuse(req, EPERM, "mkdir %s: streams are made in streams/", name);
		return;
	}
	if ((err = es_stream_create(fs->store, name, strlen(name)))) {
		refuse(req, err, "mkdir streams/%s: %s", name, es_why());
		return;
	}
	if ((err = es_read_begin(fs->store, &rd))) {
		fuse_reply_err(req, err);
		return;
	}
	err = es_stream_get(rd, name, strlen(name), &s);
	es_read_end(rd);
	if (err)
		fuse_reply_err(req, err);
	else
		reply_node(req, ino_make(K_STREAM, s.id));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct esfs *fs = fs_of(req);
	int err;

	if (parent != INO_STREAMS) {
		refuse(req, EPERM, "rmdir %s: only empty streams can be removed", name);
		return;
	}
	if ((err = es_stream_remove(fs->store, name, strlen(name))))
		refuse(req, err, "rmdir streams/%s: %s", name, es_why());
	else
		fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct esfs *fs = fs_of(req);
	size_t len = strlen(name);
	int err;

	if (parent == INO_SNAPSHOTS)
		err = es_snapshot_delete(fs->store, name, len);
	else if (parent == INO_CHECKPOINTS)
		err = es_checkpoint_delete(fs->store, name, len);
	else {
		refuse(req, EPERM, "unlink %s: events and streams' new files cannot be removed", name);
		return;
	}
	if (err)
		refuse(req, err, "unlink %s/%s: %s",
		       parent == INO_SNAPSHOTS ? ES_DIR_SNAPSHOTS : ES_DIR_CHECKPOINTS, name, es_why());
	else
		fuse_reply_err(req, 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent, (void)newparent, (void)newname, (void)flags;
	refuse(req, EPERM, "rename %s: nothing in esfs can be renamed", name);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino, (void)newparent;
	refuse(req, EPERM, "link %s: links cannot be made", newname);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent;
	refuse(req, EPERM, "symlink %s: links cannot be made", name);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent, (void)mode, (void)rdev;
	refuse(req, EPERM, "mknod %s: only checkpoints and snapshots can be created", name);
}

/* Only truncation to 0 of the files written as messages (as the shell's
 * '>' asks) is accepted, and changes nothing. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	enum node_kind k = ino_kind(ino);

	(void)fi;
	if (to_set == FUSE_SET_ATTR_SIZE && attr->st_size == 0 &&
	    (k == K_NEW || k == K_SNAPSHOT || k == K_CHECKPOINT)) {
		op_getattr(req, ino, NULL);
		return;
	}
	refuse(req, EPERM, "setattr of inode %#llx: %s", (unsigned long long)ino,
	       k == K_EVENT ? "events are immutable"
			    : "modes, owners, times and sizes are fixed");
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct esfs *fs = fs_of(req);
	struct statvfs st;

	(void)ino;
	int err = es_statfs(fs->store, &st);

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

/* Only subscriptions can wait for data; anything else is always ready,
 * as the kernel takes a file without poll to be (ENOSYS here would turn
 * poll off for the whole mount). */
static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	if (ino_kind(ino) == K_SUB && fi->fh) {
		sub_poll(req, fs_of(req), (struct sub *)(uintptr_t)fi->fh, ph);
		return;
	}
	fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* O_TRUNC reaches open, so that '>' on new needs no setattr. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Writes must reach the daemon in the write() that makes them. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

const struct fuse_lowlevel_ops esfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.rename = op_rename,
	.link = op_link,
	.symlink = op_symlink,
	.mknod = op_mknod,
	.statfs = op_statfs,
	.poll = op_poll,
};

/* tree.c — the tree and its directories, and the event files: the root,
 * streams/ and each stream's directory, all/, categories/ and types/ and
 * each view, and the events they list (one inode each, the same in all of
 * them). The tables of their nodes (node.h).
 *
 * Nothing is cached here: every request reads the store in a read view,
 * and the kernel caches what never changes (event files: long entry and
 * attribute timeouts, keep_cache). What changes on append (directory
 * attributes, listings) is never cached by the kernel: attribute timeout
 * 0, no cached readdir.
 *
 * Directory offsets come from the store: an entry's offset is its id (a
 * position, version, stream id or view id) plus a constant, so a listing
 * resumes with one cursor seek and nothing is held between calls.
 */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <syslog.h>

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

/* ---- Event files. ---------------------------------------------------- */

static void event_attr(const struct esfs *fs, const es_event *ev, struct stat *st)
{
	set_attr(fs, st, ino_make(K_EVENT, ev->position), S_IFREG | 0444, es_event_names(ev),
		 (off_t)ev->json_len, ev->created_us);
}

/* The attributes of an event found by name: kept for ever. */
static int found_event(const struct esfs *fs, const es_event *ev, struct stat *st,
		       double *et, double *at)
{
	event_attr(fs, ev, st);
	*et = *at = FOREVER;
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

static int event_node_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
			   double *et, double *at)
{
	es_event ev;
	int err = es_event_get(rd, ino_id(ino), &ev);

	(void)et;
	if (err)
		return err;
	event_attr(fs, &ev, st);
	*at = FOREVER;
	return 0;
}

/* An event file's inode came from a lookup, and an event is never
 * removed: nothing to look up (open_bare). */
static int event_open(struct esfs *fs, es_read *rd, fuse_ino_t ino,
		      struct fuse_file_info *fi, struct opening *o)
{
	(void)fs;
	(void)rd;
	(void)ino;
	if (wants_write(fi) || (fi->flags & O_TRUNC)) {
		o->why = "event files are read-only";
		return EACCES;
	}
	fi->keep_cache = 1;	/* its bytes never change */
	fi->noflush = 1;
	return 0;
}

static void event_read(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		       size_t size, off_t off)
{
	struct esfs *fs = fs_of(req);
	es_read *rd;
	es_event ev;
	int err;

	(void)fi;
	if ((err = es_read_begin(fs->store, &rd))) {
		fuse_reply_err(req, err);
		return;
	}
	err = es_event_get(rd, ino_id(ino), &ev);
	if (err)
		fuse_reply_err(req, err);
	else	/* straight from the map to the kernel */
		reply_part(req, ev.json, ev.json_len, size, off);
	es_read_end(rd);
}

const struct node_ops event_ops = {
	.attr = event_node_attr,
	.open = event_open,
	.open_bare = 1,
	.read = event_read,
	.fixed = "events are immutable",
	.immutable = 1,
};

/* ---- The root. ------------------------------------------------------- */

static int root_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent, const char *name,
		       struct stat *st, double *et, double *at)
{
	(void)parent;
	for (size_t i = 0; i < NTOP; i++)
		if (strcmp(name, top[i].name) == 0)
			return node_attr(fs, rd, top[i].ino, st, et, at);
	return ENOENT;
}

static int root_list(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	struct stat st;
	double et, at;
	int err;

	(void)ino;
	for (uint64_t i = list_from(off); i <= NTOP; i++) {
		if ((err = node_attr(l->fs, rd, top[i - 1].ino, &st, &et, &at)))
			return err;
		if (list_add(l, top[i - 1].name, &st, et, at, (off_t)i + 2))
			break;
	}
	return 0;
}

const struct node_ops root_ops = {
	.mode = S_IFDIR | 0755,
	.nlink = 2 + NTOP,
	.lookup = root_lookup,
	.list = root_list,
};

/* ---- streams/ and streams/S/. ---------------------------------------- */

static void stream_attr(const struct esfs *fs, const es_stream *s, struct stat *st)
{
	set_attr(fs, st, ino_make(K_STREAM, s->id), S_IFDIR | 0755, 2,
		 (off_t)s->version, s->updated_us);
}

static int streams_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
			double *et, double *at)
{
	uint64_t head, n;
	int64_t time;
	int err;

	(void)et, (void)at;
	if ((err = es_head(rd, &head, &time)) || (err = es_stream_count(rd, &n)))
		return err;
	set_attr(fs, st, ino, S_IFDIR | 0755, 2 + n, (off_t)n, time);
	return 0;
}

static int streams_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent, const char *name,
			  struct stat *st, double *et, double *at)
{
	es_stream s;
	int err = es_stream_get(rd, name, strlen(name), &s);

	(void)parent;
	if (err)
		return err;
	return node_attr(fs, rd, ino_make(K_STREAM, s.id), st, et, at);
}

static int list_stream(void *arg, const es_stream *s)
{
	struct listing *l = arg;
	struct stat st;

	stream_attr(l->fs, s, &st);
	return list_named(l, s->name, s->name_len, &st, FOREVER, 0, s->id);
}

static int streams_list(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	(void)ino;
	return es_streams_walk(rd, list_from(off), list_stream, l);
}

static void streams_mkdir(fuse_req_t req, const char *name)
{
	struct esfs *fs = fs_of(req);
	es_read *rd;
	es_stream s;
	int err;

	if ((err = es_stream_create(fs->store, name, strlen(name)))) {
		refuse(req, err, "mkdir " ES_DIR_STREAMS "/%s: %s", name, es_why());
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

static void streams_rmdir(fuse_req_t req, const char *name)
{
	reply_change(req, es_stream_remove(fs_of(req)->store, name, strlen(name)),
		     "rmdir " ES_DIR_STREAMS, name);
}

const struct node_ops streams_ops = {
	.attr = streams_attr,
	.lookup = streams_lookup,
	.list = streams_list,
	.mkdir = streams_mkdir,
	.rmdir = streams_rmdir,
};

static int stream_node_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
			    double *et, double *at)
{
	es_stream s;
	int err = es_stream_get_id(rd, ino_id(ino), &s);

	(void)et, (void)at;
	if (err)
		return err;
	stream_attr(fs, &s, st);
	return 0;
}

/* new, or an event by version. */
static int stream_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent, const char *name,
			 struct stat *st, double *et, double *at)
{
	uint64_t n;
	es_event ev;

	if (strcmp(name, ES_NEW) == 0)
		return node_attr(fs, rd, ino_make(K_NEW, ino_id(parent)), st, et, at);
	if (parse_event_name(name, &n) || es_stream_event(rd, ino_id(parent), n, &ev))
		return ENOENT;
	return found_event(fs, &ev, st, et, at);
}

/* new at offset 3, then version v at offset v + 3. */
static int stream_list(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	struct stat st;
	double et, at;
	int err;

	if (off < 3) {
		if ((err = node_attr(l->fs, rd, ino_make(K_NEW, ino_id(ino)), &st, &et, &at)))
			return err;
		if (list_add(l, ES_NEW, &st, et, at, 3))
			return 0;
	}
	l->base = 3;
	l->by_version = 1;
	return es_stream_walk(rd, ino_id(ino), off < 3 ? 1 : (uint64_t)off - 2, list_event, l);
}

const struct node_ops stream_ops = {
	.attr = stream_node_attr,
	.parent = INO_STREAMS,
	.lookup = stream_lookup,
	.list = stream_list,
};

/* ---- all/. ----------------------------------------------------------- */

static int all_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
		    double *et, double *at)
{
	uint64_t head;
	int64_t time;
	int err = es_head(rd, &head, &time);

	(void)et, (void)at;
	if (!err)
		set_attr(fs, st, ino, S_IFDIR | 0555, 2, (off_t)head, time);
	return err;
}

static int all_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent, const char *name,
		      struct stat *st, double *et, double *at)
{
	uint64_t n;
	es_event ev;

	(void)parent;
	if (parse_event_name(name, &n) || es_event_get(rd, n, &ev))
		return ENOENT;
	return found_event(fs, &ev, st, et, at);
}

static int all_list(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	(void)ino;
	return es_log_walk(rd, list_from(off), 0, list_event, l);
}

const struct node_ops all_ops = {
	.attr = all_attr,
	.lookup = all_lookup,
	.list = all_list,
};

/* ---- categories/, types/, and their views. ---------------------------- */

/* categories/C/ and types/T/: mtime is the time of the view's newest
 * event. */
static void view_attr(const struct esfs *fs, const es_view *v, struct stat *st)
{
	set_attr(fs, st, ino_make(v->kind == ES_CATEGORY ? K_CATEGORY : K_TYPE, v->id),
		 S_IFDIR | 0555, 2, 0, v->updated_us);
}

static int view_kind(fuse_ino_t ino)
{
	return ino == INO_CATEGORIES || ino_kind(ino) == K_CATEGORY ? ES_CATEGORY : ES_TYPE;
}

static int views_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent, const char *name,
			struct stat *st, double *et, double *at)
{
	es_view v;
	int err = es_view_get(rd, view_kind(parent), name, strlen(name), &v);

	if (err)
		return err;
	view_attr(fs, &v, st);
	*et = FOREVER;	/* a view's name keeps its id */
	*at = 0;
	return 0;
}

static int list_view(void *arg, const es_view *v)
{
	struct listing *l = arg;
	struct stat st;

	view_attr(l->fs, v, &st);
	return list_named(l, v->name, v->name_len, &st, FOREVER, 0, v->id);
}

static int views_list(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	return es_views_walk(rd, view_kind(ino), list_from(off), list_view, l);
}

/* categories/ and types/ */
const struct node_ops views_ops = {
	.mode = S_IFDIR | 0555,
	.nlink = 1,	/* the number of subdirectories is not kept */
	.lookup = views_lookup,
	.list = views_list,
};

static int view_node_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
			  double *et, double *at)
{
	es_view v;
	int err = es_view_get_id(rd, ino_id(ino), &v);

	(void)et, (void)at;
	if (err)
		return err;
	if (v.kind != view_kind(ino))
		return ENOENT;
	view_attr(fs, &v, st);
	return 0;
}

/* The event's own inode, as in all/. */
static int view_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent, const char *name,
		       struct stat *st, double *et, double *at)
{
	uint64_t n;
	es_event ev;

	if (parse_event_name(name, &n) || es_view_has(rd, ino_id(parent), n) ||
	    es_event_get(rd, n, &ev))
		return ENOENT;
	return found_event(fs, &ev, st, et, at);
}

static int view_list(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	return es_view_walk(rd, ino_id(ino), list_from(off), list_event, l);
}

const struct node_ops category_ops = {
	.attr = view_node_attr,
	.parent = INO_CATEGORIES,
	.lookup = view_lookup,
	.list = view_list,
};

const struct node_ops type_ops = {
	.attr = view_node_attr,
	.parent = INO_TYPES,
	.lookup = view_lookup,
	.list = view_list,
};

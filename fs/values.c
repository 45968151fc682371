/* values.c — snapshots and checkpoints: the directories snapshots/ and
 * checkpoints/, and their files, each one value that a write replaces
 * whole and rm deletes.
 *
 *   snapshots/S        one line; written as a message (Version: N and a
 *                      JSON object, see append.c), committed by the write
 *   checkpoints/NAME   a position and a newline; each write() is a whole
 *                      new position, made durable by that write
 *
 * They change under the kernel's feet, so nothing of them is cached:
 * entry and attribute timeouts 0, direct_io. A reader reads the value as
 * it was at open.
 */
#include "append.h"
#include "message.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- snapshots/. ----------------------------------------------------- */

static void snapshot_attr(const struct esfs *fs, const es_snapshot *sn, struct stat *st)
{
	set_attr(fs, st, ino_make(K_SNAPSHOT, sn->stream_id), S_IFREG | 0644, 1,
		 (off_t)sn->json_len, sn->created_us);
}

static int snapshots_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent,
			    const char *name, struct stat *st, double *et, double *at)
{
	es_stream s;
	es_snapshot sn;
	int err;

	(void)parent;
	if ((err = es_stream_get(rd, name, strlen(name), &s)) ||
	    (err = es_snapshot_get(rd, s.id, &sn)))
		return err;
	snapshot_attr(fs, &sn, st);
	*et = *at = 0;
	return 0;
}

static int list_snapshot(void *arg, const es_snapshot *sn, const es_stream *s)
{
	struct listing *l = arg;
	struct stat st;

	snapshot_attr(l->fs, sn, &st);
	return list_named(l, s->name, s->name_len, &st, 0, 0, sn->stream_id);
}

static int snapshots_list(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	(void)ino;
	return es_snapshots_walk(rd, list_from(off), list_snapshot, l);
}

/* A snapshot of an existing stream; written, it becomes one. */
static int snapshots_create(fuse_req_t req, const char *name, fuse_ino_t *ino)
{
	struct esfs *fs = fs_of(req);
	es_read *rd;
	es_stream s;
	int err;

	if ((err = es_read_begin(fs->store, &rd))) {
		fuse_reply_err(req, err);
		return -1;
	}
	err = es_stream_get(rd, name, strlen(name), &s);
	es_read_end(rd);
	if (err) {
		refuse(req, err, "create " ES_DIR_SNAPSHOTS "/%s: no stream of that name", name);
		return -1;
	}
	*ino = ino_make(K_SNAPSHOT, s.id);
	return 0;
}

static void snapshots_unlink(fuse_req_t req, const char *name)
{
	reply_change(req, es_snapshot_delete(fs_of(req)->store, name, strlen(name)),
		     "unlink " ES_DIR_SNAPSHOTS, name);
}

const struct node_ops snapshots_ops = {
	.mode = S_IFDIR | 0755,
	.nlink = 2,
	.lookup = snapshots_lookup,
	.list = snapshots_list,
	.create = snapshots_create,
	.unlink = snapshots_unlink,
};

static int snapshot_node_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
			      double *et, double *at)
{
	uint64_t id = ino_id(ino);
	es_stream s;
	es_snapshot sn;
	int err;

	(void)at;
	*et = 0;
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
}

/* A reader gets the snapshot's line as it is now; a writer writes a
 * message (append.c). */
static int snapshot_open(struct esfs *fs, es_read *rd, fuse_ino_t ino,
			 struct fuse_file_info *fi, struct opening *o)
{
	uint64_t id = ino_id(ino);
	struct handle *h;
	es_stream s;
	es_snapshot sn;
	int err;

	(void)o;
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
	if (err) {
		handle_free(h);
		return err;
	}
	fi->fh = (uintptr_t)h;
	return 0;
}

const struct node_ops snapshot_ops = {
	.attr = snapshot_node_attr,
	.open = snapshot_open,
	.read = handle_read,
	.write = handle_write,
	.flush = handle_flush,
	.release = handle_release,
	.truncatable = 1,
};

/* ---- checkpoints/. --------------------------------------------------- */

/* An open checkpoints/NAME: its name, and its text as it was at open. */
struct checkpoint_file {
	char name[256];
	size_t name_len;
	char text[32];
	size_t len;
};

static struct checkpoint_file *checkpoint_of(struct fuse_file_info *fi)
{
	return (struct checkpoint_file *)(uintptr_t)fi->fh;
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

static int checkpoints_lookup(struct esfs *fs, es_read *rd, fuse_ino_t parent,
			      const char *name, struct stat *st, double *et, double *at)
{
	es_checkpoint cp;
	int err = es_checkpoint_get(rd, name, strlen(name), &cp);

	(void)parent;
	if (err)
		return err;
	if (!cp.has_position)
		return ENOENT;
	checkpoint_attr(fs, &cp, st);
	*et = *at = 0;
	return 0;
}

static int list_checkpoint(void *arg, const es_checkpoint *cp)
{
	struct listing *l = arg;
	struct stat st;

	checkpoint_attr(l->fs, cp, &st);
	return list_named(l, cp->name, cp->name_len, &st, 0, 0, cp->id);
}

static int checkpoints_list(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	(void)ino;
	return es_checkpoints_walk(rd, list_from(off), list_checkpoint, l);
}

/* The name is given an id; written, it becomes a checkpoint. */
static int checkpoints_create(fuse_req_t req, const char *name, fuse_ino_t *ino)
{
	struct esfs *fs = fs_of(req);
	uint64_t id;
	int err = es_checkpoint_reserve(fs->store, name, strlen(name), &id);

	if (err) {
		refuse(req, err, "create " ES_DIR_CHECKPOINTS "/%s: %s", name, es_why());
		return -1;
	}
	*ino = ino_make(K_CHECKPOINT, id);
	return 0;
}

static void checkpoints_unlink(fuse_req_t req, const char *name)
{
	reply_change(req, es_checkpoint_delete(fs_of(req)->store, name, strlen(name)),
		     "unlink " ES_DIR_CHECKPOINTS, name);
}

const struct node_ops checkpoints_ops = {
	.mode = S_IFDIR | 0755,
	.nlink = 2,
	.lookup = checkpoints_lookup,
	.list = checkpoints_list,
	.create = checkpoints_create,
	.unlink = checkpoints_unlink,
};

static int checkpoint_node_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino,
				struct stat *st, double *et, double *at)
{
	es_checkpoint cp;
	int err;

	(void)at;
	*et = 0;
	if ((err = es_checkpoint_get_id(rd, ino_id(ino), &cp)))
		return err;
	checkpoint_attr(fs, &cp, st);
	return 0;
}

static int checkpoint_open(struct esfs *fs, es_read *rd, fuse_ino_t ino,
			   struct fuse_file_info *fi, struct opening *o)
{
	struct checkpoint_file *c;
	es_checkpoint cp;
	int err;

	(void)fs, (void)o;
	if ((err = es_checkpoint_get_id(rd, ino_id(ino), &cp)))
		return err;
	if (!cp.has_position && !wants_write(fi))
		return ENOENT;
	if (!(c = calloc(1, sizeof *c)))
		return ENOMEM;
	memcpy(c->name, cp.name, cp.name_len);
	c->name_len = cp.name_len;
	if (cp.has_position && (fi->flags & O_ACCMODE) != O_WRONLY)
		c->len = position_text(cp.position, c->text);
	fi->direct_io = 1;
	fi->fh = (uintptr_t)c;
	return 0;
}

static void checkpoint_read(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
			    size_t size, off_t off)
{
	struct checkpoint_file *c = checkpoint_of(fi);
	char text[sizeof c->text];
	size_t len = c->len;

	(void)ino;
	/* From a copy: once the reader has its reply it may close the file,
	 * and the release free c, at once. */
	memcpy(text, c->text, len);
	reply_part(req, text, len, size, off);
}

/* Each write is a whole position. */
static void checkpoint_write(fuse_req_t req, struct fuse_file_info *fi, const char *buf,
			     size_t size)
{
	struct esfs *fs = fs_of(req);
	struct checkpoint_file *c = checkpoint_of(fi);
	char why[256] = "";
	uint64_t pos;
	int err;

	if ((err = msg_parse_position(buf, size, &pos, why, sizeof why)) ||
	    (err = es_checkpoint_put(fs->store, c->name, c->name_len, pos))) {
		refuse(req, err, "checkpoint %.*s: %s", (int)c->name_len, c->name,
		       err == EINVAL && why[0] ? why : es_why());
		return;
	}
	fuse_reply_write(req, size);
}

static void checkpoint_release(struct esfs *fs, struct fuse_file_info *fi)
{
	(void)fs;
	free(checkpoint_of(fi));
}

const struct node_ops checkpoint_ops = {
	.attr = checkpoint_node_attr,
	.open = checkpoint_open,
	.read = checkpoint_read,
	.write = checkpoint_write,
	.release = checkpoint_release,
	.truncatable = 1,
};

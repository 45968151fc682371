/* ops.c — the filesystem's libfuse low-level operations: each finds the
 * table of the node it is about (node.h) and calls it. The tree:
 *
 *   /                    streams/ all/ snapshots/ checkpoints/ feed/
 *                        subscriptions/ categories/ types/      (tree.c)
 *   streams/S/           00000000000000000001 … (tree.c) and new (append.c)
 *   all/                 00000000000000000001 …                 (tree.c)
 *   snapshots/S          checkpoints/NAME                       (values.c)
 *   feed/N               every event after position N, in one file (feed.c)
 *   subscriptions/NAME   the events after checkpoint NAME, live (subscribe.c)
 *   categories/C/        the events of the streams C-…, by position, the
 *   types/T/             events of type T: the same inodes as in all/ (tree.c)
 *
 * A node's inode number says its kind (esfs.h); a directory's entries are
 * looked up, listed, made and removed by the parent's table. What is
 * common to all kinds lives here: the read view a request reads in, ".",
 * "..", the reply to an open, and the defaults of NULL members.
 */
#include "node.h"

#include <errno.h>
#include <linux/fuse.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>

static const struct node_ops none;	/* no such node */

static const struct node_ops *const fixed_ops[] = {
	[INO_ROOT] = &root_ops,
	[INO_STREAMS] = &streams_ops,
	[INO_ALL] = &all_ops,
	[INO_SNAPSHOTS] = &snapshots_ops,
	[INO_CHECKPOINTS] = &checkpoints_ops,
	[INO_FEED] = &feed_dir_ops,
	[INO_SUBSCRIPTIONS] = &subscriptions_ops,
	[INO_CATEGORIES] = &views_ops,
	[INO_TYPES] = &views_ops,
};

static const struct node_ops *const kind_ops[] = {
	[K_EVENT] = &event_ops,
	[K_STREAM] = &stream_ops,
	[K_NEW] = &new_ops,
	[K_SNAPSHOT] = &snapshot_ops,
	[K_CHECKPOINT] = &checkpoint_ops,
	[K_FEED] = &feed_ops,
	[K_SUB] = &sub_ops,
	[K_CATEGORY] = &category_ops,
	[K_TYPE] = &type_ops,
};

#define COUNT(a) (sizeof a / sizeof a[0])

/* The table of node ino: each directory of the top has its own. */
static const struct node_ops *ops_of(fuse_ino_t ino)
{
	enum node_kind k = ino_kind(ino);
	const struct node_ops *ops = NULL;

	if (k == K_FIXED && ino < COUNT(fixed_ops))
		ops = fixed_ops[ino];
	else if (k != K_FIXED && (size_t)k < COUNT(kind_ops))
		ops = kind_ops[k];
	return ops ? ops : &none;
}

/* ---- Attributes and lookup. ------------------------------------------ */

int node_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
	      double *et, double *at)
{
	const struct node_ops *ops = ops_of(ino);

	*et = FOREVER;
	*at = 0;
	if (ops->attr)
		return ops->attr(fs, rd, ino, st, et, at);
	return ops->mode ? head_attr(fs, rd, ino, ops->mode, ops->nlink, st) : ENOENT;
}

void reply_node(fuse_req_t req, fuse_ino_t ino)
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
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (ops_of(st.st_ino)->immutable)
		attrs_put(&st);
	reply_entry(req, &st, et, at);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct esfs *fs = fs_of(req);
	const struct node_ops *ops = ops_of(parent);
	struct stat st;
	double et = FOREVER, at = 0;
	es_read *rd;
	int err = ops->lookup ? es_read_begin(fs->store, &rd) : ENOTDIR;

	if (!err) {
		err = ops->lookup(fs, rd, parent, name, &st, &et, &at);
		es_read_end(rd);
	}
	if (err == ENOENT && ops->lookup_missing) {
		ops->lookup_missing(req, name);
		return;
	}
	/* A failed lookup is never cached by the kernel: an event that
	 * does not exist yet may exist after the next append. */
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (ops_of(st.st_ino)->immutable)
		attrs_put(&st);
	reply_entry(req, &st, et, at);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct esfs *fs = fs_of(req);
	struct stat st;
	double et, at = FOREVER;
	es_read *rd;
	int immutable = ops_of(ino)->immutable, err;

	(void)fi;
	if (immutable && attrs_get(ino, &st)) {
		fuse_reply_attr(req, &st, at);
		return;
	}
	if (!(err = es_read_begin(fs->store, &rd))) {
		err = node_attr(fs, rd, ino, &st, &et, &at);
		es_read_end(rd);
	}
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (immutable)
		attrs_put(&st);
	fuse_reply_attr(req, &st, at);
}

/* ---- Listing. -------------------------------------------------------- */

/* Fills l from offset off: "." at 1, ".." at 2, then the table's. */
static int list_dir(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off)
{
	const struct node_ops *ops = ops_of(ino);
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
		if ((err = node_attr(l->fs, rd, ops->parent ? ops->parent : INO_ROOT,
				     &up, &et, &at)))
			return err;
		if (list_add(l, "..", &up, 0, 0, 2))
			return 0;
	}
	l->base = 2;
	return ops->list ? ops->list(l, rd, ino, off) : 0;
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

/* ---- Open files. ----------------------------------------------------- */

static int open_node(struct esfs *fs, es_read *rd, fuse_ino_t ino,
		     struct fuse_file_info *fi, struct opening *o)
{
	const struct node_ops *ops = ops_of(ino);

	return ops->open ? ops->open(fs, rd, ino, fi, o) : EISDIR;
}

/* Releases what open_node made for fi. */
static void close_node(struct esfs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct node_ops *ops = ops_of(ino);

	if (ops->release)
		ops->release(fs, fi);
}

/* Replies to an open. Flags that libfuse 3.14 has no field for (see the
 * tables that ask for them) need a reply built from the kernel's own
 * struct. */
static int reply_open(fuse_req_t req, const struct fuse_file_info *fi,
		      const struct opening *o)
{
	struct fuse_open_out out = {.fh = fi->fh, .open_flags = o->flags};

	if (!o->flags)
		return fuse_reply_open(req, fi);
	return fuse_reply_buf(req, (const char *)&out, sizeof out);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct esfs *fs = fs_of(req);
	struct opening o = {0};
	es_read *rd = NULL;
	int err = ops_of(ino)->open_bare ? 0 : es_read_begin(fs->store, &rd);

	char why[512] = "";

	if (!err)
		err = open_node(fs, rd, ino, fi, &o);
	/* EIO: the store failed (its server gone, say): the store says why. */
	if (err == EIO && !o.why)
		snprintf(why, sizeof why, "%s", es_why());
	es_read_end(rd);
	if (err && o.why)
		refuse(req, err, "open: %s", o.why);
	else if (why[0])
		refuse(req, err, "open: %s", why);
	else if (err)
		fuse_reply_err(req, err);
	else if (reply_open(req, fi, &o) != 0)
		close_node(fs, ino, fi);	/* no release will come */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct esfs *fs = fs_of(req);
	const struct node_ops *ops = ops_of(parent);
	struct opening o = {0};
	fuse_ino_t ino;
	es_read *rd;
	int err;

	(void)mode;
	if (!ops->create) {
		refuse(req, EPERM, "create %s: only checkpoints and snapshots can be created; "
		       "streams are made with mkdir", name);
		return;
	}
	if (ops->create(req, name, &ino) != 0)
		return;

	struct fuse_entry_param e = {.ino = ino};
	if ((err = es_read_begin(fs->store, &rd)))
		goto fail;
	err = node_attr(fs, rd, ino, &e.attr, &e.entry_timeout, &e.attr_timeout);
	if (!err)
		err = open_node(fs, rd, ino, fi, &o);
	es_read_end(rd);
	if (err)
		goto fail;
	if (fuse_reply_create(req, &e, fi) != 0)
		close_node(fs, ino, fi);	/* no release will come */
	return;
fail:
	fuse_reply_err(req, err);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct node_ops *ops = ops_of(ino);

	fuse_reply_err(req, ops->flush ? ops->flush(fi) : 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	close_node(fs_of(req), ino, fi);
	fuse_reply_err(req, 0);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	const struct node_ops *ops = ops_of(ino);

	if (ops->read)
		ops->read(req, ino, fi, size, off);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	const struct node_ops *ops = ops_of(ino);

	(void)off;
	if (ops->write)
		ops->write(req, fi, buf, size);
	else
		refuse(req, EBADF, "write: not open for writing");
}

/* Only subscriptions can wait for data; anything else is always ready,
 * as the kernel takes a file without poll to be (ENOSYS here would turn
 * poll off for the whole mount). */
static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	const struct node_ops *ops = ops_of(ino);

	if (ops->poll && fi->fh) {
		ops->poll(req, fi, ph);
		return;
	}
	fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
}

/* ---- Changes to the tree. -------------------------------------------- */

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	const struct node_ops *ops = ops_of(parent);

	(void)mode;
	if (ops->mkdir)
		ops->mkdir(req, name);
	else
		refuse(req, EPERM, "mkdir %s: streams are made in " ES_DIR_STREAMS "/", name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct node_ops *ops = ops_of(parent);

	if (ops->rmdir)
		ops->rmdir(req, name);
	else
		refuse(req, EPERM, "rmdir %s: only empty streams can be removed", name);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct node_ops *ops = ops_of(parent);

	if (ops->unlink)
		ops->unlink(req, name);
	else
		refuse(req, EPERM, "unlink %s: events and streams' new files cannot be removed",
		       name);
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

/* Only truncation to 0 of the files written as messages or values (as
 * the shell's '>' asks) is accepted, and changes nothing. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	const struct node_ops *ops = ops_of(ino);

	(void)fi;
	if (to_set == FUSE_SET_ATTR_SIZE && attr->st_size == 0 && ops->truncatable) {
		op_getattr(req, ino, NULL);
		return;
	}
	refuse(req, EPERM, "setattr of inode %#llx: %s", (unsigned long long)ino,
	       ops->fixed ? ops->fixed : "modes, owners, times and sizes are fixed");
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct esfs *fs = fs_of(req);
	struct statvfs st;
	int err = es_statfs(fs->store, &st);

	(void)ino;
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct esfs *fs = userdata;

	fs->max_write = conn->max_write;
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

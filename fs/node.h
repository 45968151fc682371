/* node.h — what the files of the tree share: the table of operations that
 * each kind of node has (one table per kind, in the file of its family:
 * tree.c, append.c, values.c, feed.c, subscribe.c), and the helpers they
 * all answer with (attributes, entries, listings, names, refusals).
 * ops.c finds a node's table and calls it. */
#ifndef ESFS_NODE_H
#define ESFS_NODE_H

#include "esfs.h"
#include "../store/names.h"

#include <sys/stat.h>

#define FOREVER 86400.0		/* seconds; immutable nodes */

/* A directory listing being filled (readdir, readdirplus). */
struct listing {
	fuse_req_t req;
	struct esfs *fs;
	int plus;
	char *buf;
	size_t size, used;
	off_t base;		/* entry offset = id + base; 2 unless set */
	int by_version;		/* events named by version (streams/S/), else position */
};

/* How an open is answered. */
struct opening {
	const char *why;	/* a refusal's reason, for the log line */
	uint32_t flags;		/* FOPEN_* flags libfuse has no field for: the
				 * reply is then the kernel's struct (0: none) */
};

/* What a kind of node does. A NULL member gives the default answer, which
 * each says. Members given a read view rd run inside one that ops.c
 * opened, and make no change to the store; the others reply. */
struct node_ops {
	/* Attributes of node ino, and how long the kernel may keep its
	 * entry (*et, FOREVER unless set) and attributes (*at, 0 unless
	 * set). NULL: those of head_attr with mode and nlink, or ENOENT
	 * without a mode. */
	int (*attr)(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
		    double *et, double *at);
	mode_t mode;
	nlink_t nlink;

	/* Directories. */
	fuse_ino_t parent;	/* what ".." is; 0: the root */
	/* The entry name in directory parent, as attr gives it. NULL:
	 * ENOTDIR. */
	int (*lookup)(struct esfs *fs, es_read *rd, fuse_ino_t parent, const char *name,
		      struct stat *st, double *et, double *at);
	/* When lookup found no such name: called outside any read view,
	 * replies. NULL: ENOENT. */
	void (*lookup_missing)(fuse_req_t req, const char *name);
	/* Adds the entries after "." and ".." to l, from offset off on. NULL:
	 * none. */
	int (*list)(struct listing *l, es_read *rd, fuse_ino_t ino, off_t off);
	/* create: 0 and the node to open in *ino, or -1 after replying.
	 * mkdir, rmdir, unlink reply. NULL: EPERM, with a line saying what
	 * can be made or removed. */
	int (*create)(fuse_req_t req, const char *name, fuse_ino_t *ino);
	void (*mkdir)(fuse_req_t req, const char *name);
	void (*rmdir)(fuse_req_t req, const char *name);
	void (*unlink)(fuse_req_t req, const char *name);

	/* Files. fi->fh is the kind's own state of the open file, made by
	 * open and seen only by the members of the same table. */
	/* Sets fi (and o when needed). NULL: EISDIR. */
	int (*open)(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct opening *o);
	/* open needs no read view (rd is NULL): it looks nothing up, so a
	 * file whose bytes the kernel has cached opens even while the store
	 * cannot be read (a PostgreSQL server gone for a while). */
	int open_bare;
	/* NULL: reads as empty. */
	void (*read)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, size_t size,
		     off_t off);
	/* NULL: EBADF. */
	void (*write)(fuse_req_t req, struct fuse_file_info *fi, const char *buf, size_t size);
	/* The error of a close(): NULL: 0. */
	int (*flush)(struct fuse_file_info *fi);
	/* Frees what open made; the last close, or an open whose reply
	 * failed. NULL: nothing to free. */
	void (*release)(struct esfs *fs, struct fuse_file_info *fi);
	/* Replies. NULL: always ready. */
	void (*poll)(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph);

	/* setattr: truncation to size 0 is accepted and changes nothing when
	 * truncatable; anything else is refused with EPERM, saying fixed
	 * (NULL: modes, owners, times and sizes are fixed). */
	int truncatable;
	const char *fixed;
	/* Its attributes never change: once known they are kept (attrs.c),
	 * and a getattr is answered from there without the store. */
	int immutable;
};

/* The attributes of immutable nodes (attrs.c): attrs_put keeps st (by
 * st->st_ino); attrs_get fills st and returns 1 when ino's are kept. */
void attrs_put(const struct stat *st);
int attrs_get(fuse_ino_t ino, struct stat *st);

/* The tables (ops.c maps inode numbers to them). */
extern const struct node_ops root_ops, streams_ops, all_ops, views_ops,
	stream_ops, category_ops, type_ops, event_ops;	/* tree.c */
extern const struct node_ops new_ops;			/* append.c */
extern const struct node_ops snapshots_ops, snapshot_ops,
	checkpoints_ops, checkpoint_ops;		/* values.c */
extern const struct node_ops feed_dir_ops, feed_ops;	/* feed.c */
extern const struct node_ops subscriptions_ops, sub_ops;	/* subscribe.c */

/* ---- Dispatch (ops.c). ---- */

/* Attributes of any node, through its table. */
int node_attr(struct esfs *fs, es_read *rd, fuse_ino_t ino, struct stat *st,
	      double *et, double *at);
/* Replies with the entry of ino, read in a fresh view. */
void reply_node(fuse_req_t req, fuse_ino_t ino);

/* ---- Helpers (node.c). ---- */

static inline struct esfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Replies err after logging why a request was refused. */
void refuse(fuse_req_t req, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fills st: the mounting user's, mtime (and atime, ctime) us. */
void set_attr(const struct esfs *fs, struct stat *st, fuse_ino_t ino, mode_t mode,
	      nlink_t nlink, off_t size, int64_t us);
/* A node of size 0 whose mtime is the time of the last event (a top
 * directory, subscriptions/NAME). */
int head_attr(const struct esfs *fs, es_read *rd, fuse_ino_t ino, mode_t mode,
	     nlink_t nlink, struct stat *st);

/* Replies to a change of the store: 0, or a refusal of err saying
 * "what/name: " and the store's reason. */
void reply_change(fuse_req_t req, int err, const char *what, const char *name);

void reply_entry(fuse_req_t req, const struct stat *st, double entry_timeout,
		 double attr_timeout);
/* Replies with the bytes of p[0, len) from off on, at most size. */
void reply_part(fuse_req_t req, const char *p, size_t len, size_t size, off_t off);

/* Adds one entry to l whose next offset is off; returns 1 when full. */
int list_add(struct listing *l, const char *name, const struct stat *st,
	     double et, double at, off_t off);
/* Adds an entry named by stored bytes (not NUL-terminated), at id. */
int list_named(struct listing *l, const char *name, size_t len,
	       const struct stat *st, double et, double at, uint64_t id);
/* The first id to list from offset off, for entries at id + 2. */
static inline uint64_t list_from(off_t off)
{
	return off < 2 ? 1 : (uint64_t)off - 1;
}

/* An event's name is its number, 1 … ES_ID_MAX, zero-padded to 20
 * digits; the plain number finds it too. 0, or -1. */
int parse_event_name(const char *name, uint64_t *n);
/* A position in feed/N: 0 … ES_ID_MAX, decimal. */
int parse_position(const char *name, uint64_t *n);
/* buf: ES_EVENT_NAME_LEN + 1 bytes. */
void event_name(uint64_t n, char *buf);

/* Whether a file is opened for writing. */
int wants_write(const struct fuse_file_info *fi);

#endif

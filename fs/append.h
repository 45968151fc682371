/* append.h — files written as messages (append.c): a stream's new, whose
 * messages are appends, and a snapshot, whose writes are messages too
 * (values.c opens those). fi->fh of such a file is a struct handle. */
#ifndef ESFS_APPEND_H
#define ESFS_APPEND_H

#include "node.h"

enum handle_kind { H_NEW, H_SNAPSHOT };

struct handle;

/* A handle for writing messages to the stream or snapshot name; NULL when
 * out of memory. */
struct handle *handle_new(struct esfs *fs, enum handle_kind kind,
			  const char *name, size_t len);
void handle_free(struct handle *h);
/* Adds bytes for the file's reader: a snapshot's content at open. */
int handle_put(struct handle *h, const char *p, size_t n);

/* The members of a table of such a file (node.h). */
void handle_read(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, size_t size,
		 off_t off);
void handle_write(fuse_req_t req, struct fuse_file_info *fi, const char *buf, size_t size);
int handle_flush(struct fuse_file_info *fi);
void handle_release(struct esfs *fs, struct fuse_file_info *fi);

#endif

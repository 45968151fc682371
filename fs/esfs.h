/* esfs.h — what the parts of the esfs daemon share: the mounted
 * filesystem's state, its inode numbers, and logging. */
#ifndef ESFS_H
#define ESFS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdint.h>
#include <sys/types.h>

#include "../store/store.h"

struct esfs {
	es_store *store;
	const char *store_dir;	/* absolute */
	uid_t uid;		/* owner of every file: the mounting user */
	gid_t gid;
	size_t max_message;	/* largest message written to new or a snapshot */
};

extern const struct fuse_lowlevel_ops esfs_ops;

/* Inode numbers are derived from stored ids, so they are the same across
 * remounts: the top 8 bits say what a node is, the low 56 bits its id
 * (ES_ID_MAX). An event has one inode, in streams/S/ and in all/ alike. */
enum {
	INO_ROOT = 1, INO_STREAMS, INO_ALL, INO_SNAPSHOTS, INO_CHECKPOINTS,
	INO_FEED, INO_LAST = INO_FEED
};

enum node_kind {
	K_FIXED = 0,		/* the directories above */
	K_EVENT = 1,		/* id: global position */
	K_STREAM = 2,		/* id: stream id; streams/S/ */
	K_NEW = 3,		/* id: stream id; streams/S/new */
	K_SNAPSHOT = 4,		/* id: stream id; snapshots/S */
	K_CHECKPOINT = 5,	/* id: checkpoint id; checkpoints/NAME */
	K_FEED = 6,		/* id: a global position N; feed/N */
};

static inline fuse_ino_t ino_make(enum node_kind k, uint64_t id)
{
	return ((fuse_ino_t)k << 56) | id;
}

static inline enum node_kind ino_kind(fuse_ino_t ino)
{
	return (enum node_kind)(ino >> 56);
}

static inline uint64_t ino_id(fuse_ino_t ino)
{
	return ino & ES_ID_MAX;
}

/* Logging: to stderr in the foreground, to syslog otherwise. libfuse's
 * own messages go the same way. */
void log_init(int foreground);
void log_line(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

/* esfs.h — what the parts of the esfs daemon share: the mounted
 * filesystem's state, its inode numbers, and logging. */
#ifndef ESFS_H
#define ESFS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "../store/store.h"

/* The live subscriptions of a mount (subscribe.c, which says how they are
 * locked). */
struct subs {
	pthread_mutex_t lock;		/* the waiters, every sub's position */
	struct waiter *waiters;		/* parked reads and waiting polls */
	pthread_mutex_t open_lock;	/* taken last: the list open */
	struct sub *open;		/* every open one, to free them at unmount */
	pthread_t watcher;		/* a read-only mount's: see sub_watch */
	int watching, watch_fd, stop_fd;
};

struct esfs {
	es_store *store;
	uid_t uid;		/* owner of every file: the mounting user */
	gid_t gid;
	size_t max_message;	/* largest message written to new or a snapshot */
	size_t max_write;	/* the largest write request the kernel sends */
	struct subs subs;
};

extern const struct fuse_lowlevel_ops esfs_ops;

/* Inode numbers are derived from stored ids, so they are the same across
 * remounts: the top 8 bits say what a node is, the low 56 bits its id
 * (ES_ID_MAX). An event has one inode, in streams/S/ and in all/ alike. */
enum {
	INO_ROOT = 1, INO_STREAMS, INO_ALL, INO_SNAPSHOTS, INO_CHECKPOINTS,
	INO_FEED, INO_SUBSCRIPTIONS, INO_CATEGORIES, INO_TYPES,
	INO_LAST = INO_TYPES
};

/* What a node is. Each kind, and each directory of the top, has its table
 * of operations (node.h; ops.c maps inodes to them). */
enum node_kind {
	K_FIXED = 0,		/* the directories above */
	K_EVENT = 1,		/* id: global position */
	K_STREAM = 2,		/* id: stream id; streams/S/ */
	K_NEW = 3,		/* id: stream id; streams/S/new */
	K_SNAPSHOT = 4,		/* id: stream id; snapshots/S */
	K_CHECKPOINT = 5,	/* id: checkpoint id; checkpoints/NAME */
	K_FEED = 6,		/* id: a global position N; feed/N */
	K_SUB = 7,		/* id: checkpoint id; subscriptions/NAME */
	K_CATEGORY = 8,		/* id: view id; categories/C/ */
	K_TYPE = 9,		/* id: view id; types/T/ */
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

/* Live subscriptions (subscribe.c): subscriptions/NAME. A read at the
 * head is parked until events commit. */
void sub_init(struct esfs *fs);		/* before anything else here */
/* After an append: serves the parked reads and polls that now have data.
 * (Read-only mounts of the store hear of the commit from the store.) */
void sub_appended(struct esfs *fs);
/* On a read-only mount another process appends: sub_watch starts a thread
 * that wakes the subscribers on its commits. 0, or -1 after printing why. */
int sub_watch(struct esfs *fs);
/* At unmount: stops the thread, answers what is parked, frees it all. */
void sub_stop(struct esfs *fs);

/* Logging: to stderr in the foreground, to syslog otherwise, or to
 * ~/.local/state/esfs/esfs.log when there is no syslog (see log.c).
 * libfuse's own messages go the same way. */
void log_init(int foreground);
/* Copies n bytes of in to out as one line of text, control characters
 * shown as \xHH; out (size bytes) is NUL-terminated. Returns its length. */
size_t log_escape(const char *in, size_t n, char *out, size_t size);
/* The errno's name (EEXIST), or "EUNKNOWN". */
const char *errno_name(int err);
void log_line(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

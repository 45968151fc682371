/* attrs.c — a small cache of the attributes of nodes that never change
 * (event files: node_ops.immutable). The kernel asks for a file's
 * attributes again after every read (its atime changed), so a second cat
 * of an event would need the store; from here it needs nothing, which is
 * quicker, and keeps events whose bytes the kernel holds readable while
 * the store cannot be read (a PostgreSQL server gone for a while).
 *
 * Direct-mapped by inode number, a fixed size whatever the store's: an
 * entry holds an inode's attributes as the store gave them, and an
 * immutable node's never go stale. One mount per daemon, so one cache. */
#include "node.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 4096	/* ~600 KiB */

static struct stat slot[SLOTS];		/* st_ino 0: empty */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct stat *slot_of(fuse_ino_t ino)
{
	return &slot[(ino ^ (ino >> 12) ^ (ino >> 56)) % SLOTS];
}

void attrs_put(const struct stat *st)
{
	pthread_mutex_lock(&lock);
	*slot_of(st->st_ino) = *st;
	pthread_mutex_unlock(&lock);
}

int attrs_get(fuse_ino_t ino, struct stat *st)
{
	int found;

	pthread_mutex_lock(&lock);
	struct stat *s = slot_of(ino);
	found = s->st_ino == ino;
	if (found)
		*st = *s;
	pthread_mutex_unlock(&lock);
	return found;
}

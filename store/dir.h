/* dir.h — inside the store (not part of its API): the files the store
 * keeps in its directory beside LMDB's own, and writing such files
 * durably (for open.c, commit.c, recover.c, backup.c and log.c).
 *
 *   esfs.lock   the single-writer lock: held (flock) by the one process
 *               that has the store open read-write, and holding its pid;
 *               there only while it is held. Read after every commit
 *               (dir_published), which is what a watch (below) waits for.
 *
 * A function that can fail returns 0 or an errno, and then writes the
 * reason into why (size bytes). */
#ifndef ES_DIR_H
#define ES_DIR_H

#include <stddef.h>

/* Takes the lock of store directory dir (absolute): *fd is the locked
 * descriptor. EBUSY when another process holds it; why then names its
 * pid. On any failure *fd is -1 and nothing of the holder's is touched. */
int dir_lock(const char *dir, int *fd, char *why, size_t size);

/* Lets go of the lock taken by dir_lock, removing the file. */
void dir_unlock(const char *dir, int fd);

/* Tells the watches of other processes that a commit is visible: fd is
 * the lock's. */
void dir_published(int fd);

/* A nonblocking descriptor that becomes readable when a file of dir
 * changes or is read: a commit written (data.mdb) or published
 * (esfs.lock). */
int dir_watch(const char *dir, int *fd, char *why, size_t size);

/* Reads what a watch has to tell, so that it waits again. */
void dir_drain(int fd);

/* fsync of the file or directory at path: 0 or an errno. */
int dir_sync(const char *path);

/* Makes path hold exactly the n bytes at data, durably and at once: they
 * go to path.new, flushed, renamed over path, and the directory flushed;
 * a crash leaves path as it was or as asked, never in part. 0 or an
 * errno (path.new removed). */
int dir_replace(const char *path, const void *data, size_t n);

#endif

/* cursor.h — a reader's place in the global log, for the files that read
 * the log as one stream of bytes: feed/N (feed.c) and subscriptions/NAME
 * (subscribe.c). */
#ifndef ESFS_CURSOR_H
#define ESFS_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

struct log_cursor {
	uint64_t next;		/* the next position to read */
	size_t sent;		/* bytes of that event read already */
};

/* How cursor_fill cuts the log into a buffer. */
enum cursor_cut {
	CUT_BYTES,	/* fill the buffer to its last byte */
	CUT_EVENTS,	/* whole events while they fit; part of one only
			 * into an empty buffer, the next read the rest */
};

/* Copies the events from c's place on, up to position last, into buf
 * (size bytes; NULL skips them instead), in read view rd, and moves c on.
 * Returns 0 and the bytes taken in *used; on failure an errno, and c has
 * not moved. */
int cursor_fill(es_read *rd, struct log_cursor *c, uint64_t last, enum cursor_cut cut,
		char *buf, size_t size, size_t *used);

#endif

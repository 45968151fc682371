/* common.h — inside the store (not part of its API): what every backend
 * shares, with no LMDB and no PostgreSQL in it: the reason of the last
 * failure, an event to append once validated (event.c), and the clock. */
#ifndef ES_COMMON_H
#define ES_COMMON_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* The reason of the last failure, es_why's (errors.c). */
extern _Thread_local char why_buf[512];

/* Sets es_why's reason from fmt; returns err. */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One event to append, validated and compacted before the transaction. */
struct prepared {
	const char *type;
	size_t type_len;
	unsigned char id[16];
	int given_id;
	uint32_t schema_version;
	char *data, *meta;	/* malloc'd, the caller frees them */
	size_t data_len, meta_len;
};

/* Fixed bytes of an envelope, its numbers at their widest included. */
#define ENVELOPE_FIXED 256

/* Validates the n events in and fills ev (n, zeroed by the caller): EINVAL
 * with the reason for a bad type, data or metadata, or an id given twice;
 * an event without an id gets a new one. */
int prepare_events(const es_event_in *in, size_t n, struct prepared *ev);

/* The category of a stream: the length of its name's part before the
 * first '-'; 0 when there is none. */
size_t category_len(const char *name, size_t len);

/* Now, in microseconds since the epoch. */
int64_t now_us(void);

#endif

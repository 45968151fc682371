/* log.h — the store's append-only log file (STORE_DIR/log), the durable
 * record under the index (doc/log.md): records framed and checksummed,
 * written a group at a time with one fdatasync, scanned back to the last
 * whole record, and mapped for reading. Internal to store/; knows nothing
 * of events, streams or LMDB.
 *
 * The file starts with a header block (LOG_HEADER bytes: magic, format,
 * a random salt). Then records, each 8-byte aligned:
 *
 *   offset  size  field
 *   0       4     magic "ESLR"
 *   4       4     payload length
 *   8       8     seq: 1, 2, 3, ... with no gap
 *   16      4     type (the caller's)
 *   20      4     CRC-32 of bytes 0-19 and the payload, chained: it starts
 *                 from the previous record's CRC (the salt for the first)
 *   24      ...   payload, then zeros to a multiple of 8
 *
 * The chain makes a stale record left past the end (a group whose flush
 * failed, or a torn group cut off at recovery) unacceptable after any new
 * record: its CRC was chained from something else. Space past the write
 * point is preallocated with zeros by a background thread, so an append
 * overwrites allocated blocks and its fdatasync flushes no metadata.
 */
#ifndef ES_LOG_H
#define ES_LOG_H

#include <stddef.h>
#include <stdint.h>

#define LOG_HEADER 4096		/* bytes before the first record */
#define LOG_RECORD_HEADER 24

typedef struct es_log es_log;

/* Where the log ends: the offset past the last record, the next seq, and
 * the CRC the next record chains from. */
typedef struct log_end {
	uint64_t offset;
	uint64_t seq;
	uint32_t crc;
} log_end;

/* Opens path (creating it, with its header, when read-write and missing)
 * and maps it for reading. A read-write log starts its preallocation
 * thread and takes no writes until log_set_end. 0 or an errno, with the
 * reason in why. */
int log_open(const char *path, int read_only, es_log **out, char *why,
	     size_t why_size);
void log_close(es_log *l);

/* The end of an empty log. */
log_end log_start(const es_log *l);

/* A group of records being built in memory, to be written at end. */
typedef struct log_group {
	char *buf;
	size_t len, cap;
	log_end start;		/* where the group goes */
	log_end end;		/* after its last record */
} log_group;

void log_group_init(log_group *g, log_end at);
void log_group_free(log_group *g);

/* Adds a record of type whose payload is the concatenation of the n
 * pieces. Sets *payload to the log offset its payload will have. 0 or
 * ENOMEM. */
struct iovec;
int log_group_add(log_group *g, uint32_t type, const struct iovec *pieces,
		  int n, uint64_t *payload);

/* Takes back every record added since the group's end was at mark. */
void log_group_undo(log_group *g, const log_end *mark);

/* Writes the group at its start and makes it durable: pwrite, then one
 * fdatasync. One caller at a time (the store's commit leader). 0, or an
 * errno with the reason in why, the group's bytes zeroed again; after a
 * failed flush
 * the log refuses every later write (EIO) until it is opened again, since
 * what the disk holds is then unknown. */
int log_group_write(es_log *l, log_group *g, char *why, size_t why_size);

/* Takes a group written by log_group_write back out: zeros over it, one
 * flush, and the end back at its start (when the index could not commit
 * it). After a failure (EIO) the log refuses writes, as above. */
int log_group_unwrite(es_log *l, log_group *g, char *why, size_t why_size);

/* fdatasync of the log: 0 or an errno. */
int log_sync(es_log *l);

/* Sets where the next group goes: the end recovery's scan found. Bytes
 * past it (a torn group, a group whose flush failed, zeros) are simply
 * overwritten; the chained CRC keeps any of them from following a new
 * record. */
void log_set_end(es_log *l, log_end end);

/* The bytes at [offset, offset + len) of the mapped log, or NULL when they
 * are past the file's end as it was last seen, or past the address space
 * mapped (up to 1 TiB; growing the map past it is left to the store's use
 * of the log, doc/log.md). */
const char *log_at(es_log *l, uint64_t offset, size_t len);

/* Calls fn for every whole record from `from` on, in order, stopping at
 * the first that is not (bad magic, length, seq or CRC, or the end of the
 * file), or when fn returns non-zero (which log_scan returns). *end is
 * where the whole records end. */
typedef int (*log_record_fn)(void *arg, uint64_t seq, uint32_t type,
			     uint64_t payload, const char *p, size_t len);
int log_scan(es_log *l, log_end from, log_record_fn fn, void *arg,
	     log_end *end);

/* Lets go of the map's pages read so far (they stay in the page cache):
 * so that they do not count in the process's RSS. */
void log_trim(es_log *l);

/* The file's size and the bytes of it written so far (records), for
 * stats. */
void log_sizes(es_log *l, uint64_t *file_bytes, uint64_t *used_bytes);

#endif

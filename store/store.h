/* store.h — the esfs event store: streams of immutable events in a log,
 * indexed with LMDB.
 *
 * A store is a directory holding its log (every change, in commit order)
 * and an LMDB environment that indexes it (doc/log.md). It keeps:
 *
 *   - streams, each a gapless sequence of events numbered from version 1;
 *   - one global log of every event, numbered by global position from 1 in
 *     commit order, with no gaps;
 *   - at most one snapshot per stream, and named checkpoints (a consumer's
 *     last processed global position);
 *   - two views of the log, kept in the append's own transaction: by
 *     category (the events of the streams named CATEGORY-…, CATEGORY being
 *     the part before the first '-') and by event type.
 *
 * Each event is stored once, as the exact bytes of its envelope, one line of
 * JSON ending in '\n', ready to be served:
 *
 *   {"event_id":…,"stream_id":…,"event_type":…,"version":…,
 *    "schema_version":…,"data":{…},"metadata":{…},"global_position":…,
 *    "created_at":"2026-11-23T10:30:00.123456Z"}
 *
 * Durability: every call that changes the store is one record of the log,
 * written with the changes of the calls other threads make at the same
 * time and flushed once (fdatasync) before any of them returns; the index
 * is then committed without a sync, and rebuilt from the log when a power
 * cut may have torn it. A call that returned 0 survives a crash of the
 * process and a power cut, and is visible to every read view begun after
 * it returned; a call that failed changed nothing.
 *
 * Errors: every function returns 0 on success or a positive errno value:
 *
 *   EINVAL     bad argument (a bad name, bad JSON, a version out of range)
 *   ENOENT     no such stream, event, snapshot or checkpoint
 *   EEXIST     a conflict: the stream already exists, a wrong expected
 *              version, or an event id already stored elsewhere
 *   ENOTEMPTY  removing a stream that has events
 *   EFBIG      an event envelope larger than the store's limit
 *   ENOSPC     the disk is full
 *   EROFS      a change to a store opened read-only
 *   EBUSY      opening read-write a store that another process has open so
 *              (es_open)
 *   ENOMEM, EIO  out of memory; an unexpected LMDB or system error
 *
 * After a failure es_why() tells the reason in one line of text.
 *
 * Threads: an es_store may be used from many threads at once. Reads happen
 * inside a read view (es_read_begin/es_read_end): a consistent snapshot of
 * the store in which pointers handed out stay valid until the view ends. A
 * thread holds at most one read view at a time and makes no change to the
 * store while it holds one.
 */
#ifndef ES_STORE_H
#define ES_STORE_H

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

/* Expected version that disables the check. */
#define ES_ANY (-1)

/* Default largest event envelope, in bytes. */
#define ES_MAX_EVENT_DEFAULT (1024 * 1024)

/* Largest version, global position and id: ids must fit in 56 bits so
 * that a filesystem can derive inode numbers from them. */
#define ES_ID_MAX ((UINT64_C(1) << 56) - 1)

typedef struct es_store es_store;
typedef struct es_read es_read;

typedef struct es_options {
	size_t max_event;	/* largest envelope; 0 means ES_MAX_EVENT_DEFAULT */
	int read_only;		/* open for reading only; the store must exist */
	size_t map_initial;	/* first size of the map; 0 means 1 GiB. It
				 * grows by doubling; tests set it small. */
} es_options;

/* A stream as stored. name is not NUL-terminated. */
typedef struct es_stream {
	uint64_t id;		/* never reused, even after removal */
	uint64_t version;	/* number of events; 0 for an empty stream */
	int64_t created_us;	/* microseconds since the epoch, UTC */
	int64_t updated_us;	/* time of the last append, or created_us */
	const char *name;
	size_t name_len;
} es_stream;

/* An event as stored. json is the envelope line, '\n' included. */
typedef struct es_event {
	uint64_t position;
	uint64_t stream_id;
	uint64_t version;
	int64_t created_us;
	unsigned char id[16];
	const char *json;
	size_t json_len;
} es_event;

/* A snapshot as stored. json is the line
 * {"stream_id":…,"version":N,"created_at":…,"data":{…}} and '\n'. */
typedef struct es_snapshot {
	uint64_t stream_id;
	uint64_t version;
	int64_t created_us;
	const char *json;
	size_t json_len;
} es_snapshot;

/* A checkpoint as stored. has_position is 0 for a name that was reserved
 * (es_checkpoint_reserve) but never written: such a checkpoint does not
 * exist for readers. */
typedef struct es_checkpoint {
	uint64_t id;		/* stable for the name, never reused */
	uint64_t position;
	int has_position;
	int64_t updated_us;
	const char *name;
	size_t name_len;
} es_checkpoint;

/* An event to append. */
typedef struct es_event_in {
	const char *type;	/* event type, a name (see es_name_check) */
	size_t type_len;
	const unsigned char *id;	/* 16-byte UUID, or NULL to generate one */
	uint32_t schema_version;	/* 0 means 1 */
	const char *data;	/* a JSON object; whitespace is removed */
	size_t data_len;
	const char *metadata;	/* a JSON object, or NULL for {} */
	size_t metadata_len;
} es_event_in;

/* What an append did. For a retry (an idempotent repeat of events already
 * stored) nothing was written and the numbers are those of the stored
 * events. */
typedef struct es_appended {
	uint64_t first_version, last_version;
	uint64_t first_position, last_position;
	int retry;
} es_appended;

/* The reason for the last failure in the calling thread, one line. */
const char *es_why(void);

/* Creates directory path and its missing parents, like mkdir -p: those
 * it creates get mode (less the umask). 0, or an errno with es_why(). */
int es_mkdirs(const char *path, mode_t mode);

/* Opens the store in directory dir, creating the directory (and its
 * missing parents, mode 0700) and the store when missing (unless
 * opts->read_only). opts may be NULL. The memory map
 * grows on demand, and a process reading the store follows when another
 * grows it; there is no size to tune. Reader slots left by processes that
 * died are freed here and, while the store is open, every minute.
 *
 * One process at a time opens a store read-write: a read-write open takes
 * the store's lock, held until es_close (or the process's death), and
 * fails with EBUSY while another process holds it, es_why() saying "DIR is
 * served already by another esfs (pid N); ...". Read-only opens take no
 * lock and may run beside the writer.
 *
 * A read-write open after the writer died (kill -9) replays the log's
 * tail into the index; after a power cut or a reboot it rebuilds the
 * index from the whole log; it cuts off a torn or garbage log tail. A
 * store of an older format (1 or 2: events in LMDB, no log) is converted
 * at its first read-write open and checked. A read-only open of either
 * fails with EROFS, es_why() saying to open it read-write once. */
int es_open(const char *dir, const es_options *opts, es_store **out);

/* Whether es_open takes name as a PostgreSQL store's URI (postgresql://
 * or postgres://) rather than a directory. */
int es_is_uri(const char *name);

/* Where the store is, for people to read: its directory, absolute, or
 * its PostgreSQL URI (which never holds a password: es_open refuses one,
 * since ps and /proc/mounts would show it). Valid until es_close. */
const char *es_location(es_store *s);

/* Closes the store, and lets go of its lock. No read view may be open. */
void es_close(es_store *s);

/* ---- Commit notification: waking on another process's commits. ------ *
 * A store open read-write tells other processes of every commit once it
 * is visible to their new read views. A process that has the store open
 * (read-only, beside the writer) waits for that on a descriptor:
 *
 *   es_watch_open gives *fd, nonblocking and owned by the store (closed by
 *   es_close; a second call gives the same one). It becomes readable
 *   (poll POLLIN) when another process may have committed since the last
 *   es_watch_drain. A wake can come early (a read view opened then may
 *   find nothing new yet) but never late: the publication after a commit
 *   always wakes it again. So wake, drain, then look in a new read view.
 *
 *   es_watch_drain reads what the descriptor has to tell, so that it
 *   waits again. */
int es_watch_open(es_store *s, int *fd);
void es_watch_drain(es_store *s);

/* Whether other processes may commit to the store while s is open, so
 * that a process waiting on appends should watch (es_watch_open): for a
 * directory, when s is open read-only (beside the one writer); for a
 * PostgreSQL store, always (other hosts write it too). */
int es_shared(es_store *s);

/* ---- Changes: each is one durable transaction. ---------------------- */

/* Creates the empty stream name (version 0). EEXIST if it exists. */
int es_stream_create(es_store *s, const char *name, size_t len);

/* Removes stream name, which must have no events (else ENOTEMPTY). */
int es_stream_remove(es_store *s, const char *name, size_t len);

/* Appends n >= 1 events to stream name, atomically, with consecutive
 * versions and global positions.
 *
 * Idempotency comes first: when every event carries an id and all of those
 * ids are already stored in this stream in this order, at consecutive
 * versions (as the batch was stored), the call is a retry:
 * it returns 0 with out->retry set and writes nothing, whatever expected
 * says. An id stored in another stream, or a batch of which only some ids
 * are stored, is a conflict (EEXIST). Ids repeated within the batch are
 * EINVAL.
 *
 * Then expected is checked: ES_ANY, or the stream's current version
 * (EEXIST when it differs). out may be NULL. */
int es_append(es_store *s, const char *name, size_t len, int64_t expected,
	      const es_event_in *ev, size_t n, es_appended *out);

/* Replaces the snapshot of stream name: version in 1 … the stream's
 * version (else EINVAL), data a JSON object. ENOENT without the stream. */
int es_snapshot_put(es_store *s, const char *name, size_t len,
		    uint64_t version, const char *data, size_t data_len);

/* Deletes the snapshot of stream name; ENOENT when there is none. */
int es_snapshot_delete(es_store *s, const char *name, size_t len);

/* Gives checkpoint name an id without giving it a position, so that a
 * file can stand for it before its first write. Idempotent. */
int es_checkpoint_reserve(es_store *s, const char *name, size_t len,
			  uint64_t *id);

/* Sets checkpoint name to position, 0 … the last global position (else
 * EINVAL), creating it when missing. */
int es_checkpoint_put(es_store *s, const char *name, size_t len,
		      uint64_t position);

/* Deletes checkpoint name; ENOENT when it has no position. */
int es_checkpoint_delete(es_store *s, const char *name, size_t len);

/* ---- Reads: inside a read view. ------------------------------------- */

int es_read_begin(es_store *s, es_read **out);
void es_read_end(es_read *r);

/* The last global position (0 for an empty store), and the time of that
 * event (0 when empty). */
int es_head(es_read *r, uint64_t *position, int64_t *created_us);

/* Number of streams. */
int es_stream_count(es_read *r, uint64_t *count);

/* A stream by name, or by id. */
int es_stream_get(es_read *r, const char *name, size_t len, es_stream *out);
int es_stream_get_id(es_read *r, uint64_t id, es_stream *out);

/* The event at a global position, or at a version of a stream. */
int es_event_get(es_read *r, uint64_t position, es_event *out);
/* How many directories list the event: all/, streams/S/ and types/T/, and
 * categories/C/ when its stream's name has a category (3 or 4). Read from
 * the event's own bytes, so the same for every read of it. */
unsigned es_event_names(const es_event *ev);
int es_stream_event(es_read *r, uint64_t stream_id, uint64_t version,
		    es_event *out);

/* The bytes of the envelopes of the events before global position
 * position (positions 1 … position - 1): 0 for position 1; for the head
 * + 1 the bytes of the whole log. ENOENT past the head + 1. So feed/N
 * holds es_log_bytes(head + 1) - es_log_bytes(N + 1) bytes. O(1). */
int es_log_bytes(es_read *r, uint64_t position, uint64_t *bytes);

/* The snapshot of a stream; ENOENT when it has none. */
int es_snapshot_get(es_read *r, uint64_t stream_id, es_snapshot *out);

/* A checkpoint by name, or by id; ENOENT for an unknown name. A reserved
 * name that was never written is returned with has_position 0. */
int es_checkpoint_get(es_read *r, const char *name, size_t len,
		      es_checkpoint *out);
int es_checkpoint_get_id(es_read *r, uint64_t id, es_checkpoint *out);

/* ---- Walks: cursor walks in key order, from a key on. ---------------- *
 * The callback returns 0 to go on, anything else to stop; the walk then
 * returns 0. Nothing is loaded beyond the item at hand. */

typedef int (*es_event_fn)(void *arg, const es_event *ev);
typedef int (*es_stream_fn)(void *arg, const es_stream *st);
typedef int (*es_snapshot_fn)(void *arg, const es_snapshot *sn,
			      const es_stream *st);
typedef int (*es_checkpoint_fn)(void *arg, const es_checkpoint *cp);

/* Events of the global log from position from. want: about how many
 * bytes of their envelopes the caller means to take (a read of feed/, say),
 * or 0 when it cannot tell; a hint only, by which a backend that reads in
 * pages (PostgreSQL) reads that much at once. The callback still decides
 * where the walk stops. */
int es_log_walk(es_read *r, uint64_t from, size_t want, es_event_fn fn, void *arg);

/* Events of a stream from version from. */
int es_stream_walk(es_read *r, uint64_t stream_id, uint64_t from,
		   es_event_fn fn, void *arg);

/* Streams in order of id, from id from. */
int es_streams_walk(es_read *r, uint64_t from, es_stream_fn fn, void *arg);

/* Snapshots in order of stream id, from stream id from. */
int es_snapshots_walk(es_read *r, uint64_t from, es_snapshot_fn fn,
		      void *arg);

/* Checkpoints that have a position, in order of id, from id from. */
int es_checkpoints_walk(es_read *r, uint64_t from, es_checkpoint_fn fn,
			void *arg);

/* ---- Views: the events of a category or of an event type. ------------ *
 * A category is the part of a stream's name before its first '-' (a stream
 * with no '-', or one starting with '-', is in no category). Each category
 * and each event type that has events is a view with an id, never reused;
 * its events are listed by global position. */

enum es_view_kind { ES_CATEGORY = 1, ES_TYPE = 2 };

typedef struct es_view {
	uint64_t id;
	int kind;		/* ES_CATEGORY or ES_TYPE */
	uint64_t last_position;	/* its newest event */
	int64_t updated_us;	/* that event's time */
	const char *name;
	size_t name_len;
} es_view;

typedef int (*es_view_fn)(void *arg, const es_view *v);

/* A view by kind and name, or by id; ENOENT when it has no events. */
int es_view_get(es_read *r, int kind, const char *name, size_t len,
		es_view *out);
int es_view_get_id(es_read *r, uint64_t id, es_view *out);

/* Whether the event at position is in view id: 0, or ENOENT. */
int es_view_has(es_read *r, uint64_t id, uint64_t position);

/* Views of one kind in order of id, from id from. */
int es_views_walk(es_read *r, int kind, uint64_t from, es_view_fn fn,
		  void *arg);

/* Events of view id in order of position, from position from. */
int es_view_walk(es_read *r, uint64_t id, uint64_t from, es_event_fn fn,
		 void *arg);

/* ---- Administration. ------------------------------------------------ */

/* Counts, for esfsctl stats. The sizes of a store in a directory are of
 * its files; a PostgreSQL store has only log_bytes (the bytes of all its
 * envelopes) and database_bytes, and the others are 0. */
typedef struct es_stats {
	uint64_t streams, events, snapshots, checkpoints;
	uint64_t categories, types;
	uint64_t head;			/* last global position */
	uint64_t used_bytes;		/* index pages in use times page size */
	uint64_t map_bytes;		/* the index's map's current size */
	uint64_t log_bytes;		/* the log's records, to the view's end */
	uint64_t log_file_bytes;	/* the log's file: records, then zeros
					 * preallocated for the next ones */
	uint64_t database_bytes;	/* a PostgreSQL store's database, as
					 * pg_database_size says; 0 for a
					 * directory */
} es_stats;

int es_stats_get(es_read *r, es_stats *out);

/* The size on disk of the store's files (index and log) in directory
 * dir: of a store, or of the copy es_backup is writing there (for a
 * progress line). */
int es_file_bytes(const char *dir, uint64_t *bytes);

/* The space of the filesystem that holds the store, as statvfs(3) tells
 * it (for a mount's statfs). */
struct statvfs;
int es_statfs(es_store *s, struct statvfs *out);

/* Writes a compacted, consistent copy of the store, taken in one read
 * view while writers go on, into directory dir, which must not exist or be
 * empty. The copy is a store that es_open opens. */
int es_backup(es_store *s, const char *dir);

/* Restoring a copy of a mount (esfsctl restore) puts records back as they
 * were: the same ids, versions, positions and times. Items are applied in
 * order, all of a call in one transaction, all or nothing:
 *
 *   ES_IMPORT_STREAM      name; time_us is its creation time. A stream
 *                         with events needs no such item (it is created
 *                         by its first event, at that event's time).
 *   ES_IMPORT_EVENT       json: an envelope line as an event file holds it
 *                         ('\n' included). It must be exactly the line esfs
 *                         writes for its fields, its global_position the
 *                         store's head + 1 and its version its stream's
 *                         version + 1, and its event_id new.
 *   ES_IMPORT_SNAPSHOT    json: a snapshot line as snapshots/S holds it,
 *                         exactly as esfs writes it, of an existing stream
 *                         and version.
 *   ES_IMPORT_CHECKPOINT  name, position (at most the head), and time_us.
 *
 * An item that breaks a rule fails the call with EINVAL (EEXIST for a
 * stream or event id that exists) and es_why() names the rule. */
enum es_import_kind {
	ES_IMPORT_STREAM = 1, ES_IMPORT_EVENT, ES_IMPORT_SNAPSHOT,
	ES_IMPORT_CHECKPOINT
};

typedef struct es_import {
	int kind;
	const char *name;	/* STREAM, CHECKPOINT */
	size_t name_len;
	const char *json;	/* EVENT, SNAPSHOT */
	size_t json_len;
	uint64_t position;	/* CHECKPOINT */
	int64_t time_us;	/* STREAM, CHECKPOINT */
} es_import;

int es_import_batch(es_store *s, const es_import *items, size_t n);

/* Empties again a store that was empty before es_import_batch filled
 * some of it, for a restore that fails part way where the store cannot
 * be removed (a PostgreSQL database). made says what the importer's
 * successful calls put there: events (the head they reached), streams,
 * snapshots and checkpoints. In one transaction under the head's lock:
 * when the store holds exactly that much, all of it is deleted (ids are
 * not reused); when it holds anything else (another writer's), nothing
 * is, and the call fails with EEXIST. A store in a directory returns
 * ENOTSUP: remove its files instead. */
int es_import_undo(es_store *s, const es_stats *made);

/* Checks every invariant of the store in one read view: positions
 * 1 … head without gaps, each event's record matching its envelope, the
 * envelope canonical JSON, versions of each stream 1 … its version without
 * gaps, and every index (event ids, stream names and versions, views,
 * checkpoint names) agreeing with the events, both ways; snapshots of
 * existing streams and versions, checkpoints at most the head. Each
 * problem goes to problem() as one line; progress(), which may be NULL,
 * is told the events checked of the total now and then. Returns 0 when
 * the check ran (*problems says what it found), or an errno. */
typedef void (*es_problem_fn)(void *arg, const char *line);
typedef void (*es_progress_fn)(void *arg, uint64_t done, uint64_t total);

int es_verify(es_store *s, es_problem_fn problem, es_progress_fn progress,
	      void *arg, uint64_t *problems);

/* ---- Helpers. ------------------------------------------------------- */

/* Formats microseconds since the epoch as 2026-11-23T10:30:00.123456Z into
 * buf (at least 28 bytes); returns the length, 27. */
size_t es_time_format(int64_t us, char *buf);

/* Parses a time as es_time_format writes it (exactly that text) into
 * microseconds since the epoch: 0, or EINVAL. */
int es_time_parse(const char *text, int64_t *us);

#endif

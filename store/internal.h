/* internal.h — inside the store (not part of its API): what the store's
 * files share. The private struct es_store and es_read, the databases and
 * their records' layout, and the functions one file of the store defines
 * for the others (see each file's first lines):
 *
 *   errors.c   es_why, fail, lmdb_fail
 *   records.c  decoding the records, u64 and meta records, the times
 *   open.c     es_open/es_close, the LMDB environment and its map
 *   recover.c  what es_open finds: the state file, replay
 *              of the log's tail, rebuilding the index, format 2 to 3
 *   change.c   a change's ops: recorded in the log and applied to the
 *              index, the one code path of a commit and of a replay
 *   commit.c   the group commit: write_txn
 *   read.c     read views, lookups and walks, es_stats_get
 *   views.c    the categories and types views: reading, indexing, building
 *   append.c   streams, appends and their envelopes
 *   values.c   snapshots and checkpoints
 *   backup.c   es_backup
 *   import.c   es_import_batch (the lines it reads: envelope.c, common.h)
 *   verify.c   es_verify
 *
 * Layout, one LMDB database each (u64 keys are native MDB_INTEGERKEY,
 * pairs are two big-endian u64 so that memcmp orders them):
 *
 *   meta            name -> u64        format, counters, the log's end
 *   events          position -> event record (fixed: where in the log)
 *   event_ids       uuid[16] -> position
 *   streams         stream id -> stream record (header + name)
 *   stream_names    name -> stream id
 *   stream_events   (stream id, version) -> position
 *   snapshots       stream id -> snapshot record (header + line)
 *   checkpoints     checkpoint id -> checkpoint record (header + name)
 *   checkpoint_names name -> checkpoint id
 *   views           view id (big-endian) -> name
 *   view_names      kind byte + name -> view id
 *   view_events     (view id, position) -> nothing
 *
 * A view id carries its kind in its top bits (kind << VIEW_KIND_SHIFT), so
 * the views of one kind are one range of keys. view_events is filled in the
 * append's own transaction.
 *
 * Every lookup is one B-tree search and every listing a cursor walk.
 *
 * The durable record is the log (log.h, doc/log.md): every change is one
 * record there, and LMDB, opened with MDB_NOSYNC, is its index. An event's
 * envelope lives only in the log; its record here says where.
 *
 * The memory map grows on demand: transactions hold map_lock shared; a
 * writer that meets MDB_MAP_FULL aborts, takes it exclusively, doubles the
 * map and retries. Another process that grew the map makes our next
 * transaction fail with MDB_MAP_RESIZED, and we adopt the new size.
 */
#ifndef ES_INTERNAL_H
#define ES_INTERNAL_H

#include "store.h"
#include "common.h"
#include "encode.h"
#include "json.h"
#include "log.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FORMAT 3		/* 2 added the views, 3 the log; older stores are
				 * converted at their first read-write open */
#define RETRY_MAP (-1)		/* internal: the map is full, grow and retry */
#define NO_CHANGE (-3)		/* internal: succeed without committing */

enum {
	DB_META, DB_EVENTS, DB_EVENT_IDS, DB_STREAMS, DB_STREAM_NAMES,
	DB_STREAM_EVENTS, DB_SNAPSHOTS, DB_CHECKPOINTS, DB_CHECKPOINT_NAMES,
	DB_VIEWS, DB_VIEW_NAMES, DB_VIEW_EVENTS, DB_COUNT
};

struct db_spec {
	const char *name;
	unsigned flags;
};

extern const struct db_spec db_spec[DB_COUNT];	/* open.c */

#define VIEW_KIND_SHIFT 48	/* view id = kind << 48 | a number from 1 */

/* Records: fixed fields, then variable bytes. An event's record is
 * fixed: stream id, version, created, uuid[16], then where its envelope is
 * in the log (offset, length) and the bytes of the envelopes before it. */
#define EVENT_REC 64
#define EV_OFFSET 40
#define EV_LEN 48
#define EV_BEFORE 56
#define OLD_EVENT_HDR 40	/* format 2: the envelope followed the uuid */
#define STREAM_HDR 24		/* version, created, updated; then name */
#define SNAPSHOT_HDR 16		/* version, created; then line */
#define CHECKPOINT_HDR 24	/* position, updated, has_position; then name */

struct es_store {
	const struct es_backend *be;	/* &es_local_backend (backend.h) */
	MDB_env *env;
	char *dir;		/* absolute */
	int lock_fd;		/* dir/esfs.lock (dir.h) when read-write, else -1 */
	int watch_fd;		/* es_watch_open's, or -1 */
	MDB_dbi dbi[DB_COUNT];
	pthread_rwlock_t map_lock;
	size_t max_event;
	int read_only;
	_Atomic int64_t readers_checked;	/* when, in microseconds */
	_Atomic unsigned uses;			/* read views and commits, for trim_map */
	_Atomic size_t walked;			/* bytes walked since, for trim_map */
	void *map_addr;				/* where LMDB mapped the file */
	size_t map_len;
	/* The log, and the change being built (change.c). */
	es_log *log;
	log_group group;	/* the leader's */
	char *change;		/* the ops of the change being run */
	size_t change_len, change_cap;
	uint64_t change_base;	/* the log offset its payload will have */
	log_end indexed;	/* the log's end as the index has it */
	int broken;		/* EIO: a failure left log and index apart */
	/* Group commit (see write_txn). */
	pthread_mutex_t queue_lock;
	struct write_req *queue;	/* changes waiting, oldest first */
	struct write_req **queue_tail;
	int queued;			/* how many */
	int leading;			/* a group is being committed */
	int expect;			/* writers active when the last group ended */
	int64_t commit_us;		/* how long the last group took */
};

struct es_read {
	const struct es_backend *be;	/* &es_local_backend (backend.h) */
	es_store *s;
	MDB_txn *txn;
	size_t walked;		/* bytes its walks went through */
};

/* A change, which write_txn (commit.c) runs in a write transaction: it
 * returns 0 to commit, NO_CHANGE to succeed without writing, or an error. */
typedef int (*write_fn)(es_store *s, MDB_txn *txn, void *arg);

/* The key of a view's name: its kind, then the name. */
static inline void view_key(unsigned char *key, int kind, const char *name, size_t len)
{
	key[0] = (unsigned char)kind;
	memcpy(key + 1, name, len);
}

static inline MDB_val val(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

#define STOP (-2)		/* a walk's step: stop here, without an error */

/* Walks dbi from key on; each (key, value) goes to step, which returns 0
 * to go on, STOP to stop, or an error. */
typedef int (*step_fn)(es_read *r, const MDB_val *k, const MDB_val *v,
		       void *ctx);

/* A walk's callback, its argument, and the stream walked (read.c, views.c). */
struct walk_ctx {
	void *fn;
	void *arg;
	uint64_t stream_id;
};

/* The argument of a change to one name (a stream's, a snapshot's). */
struct name_arg {
	const char *name;
	size_t len;
};


/* The argument of a change to a checkpoint (values.c, import.c). */
struct checkpoint_arg {
	const char *name;
	size_t len;
	uint64_t position;
	int has_position;
	uint64_t id;
};

/* errors.c (fail is in common.h) */
int lmdb_fail(int rc, const char *what);

/* records.c */
int decode_event(es_store *s, uint64_t pos, const MDB_val *v, es_event *ev);
/* The record's fields only, json NULL: for a write transaction, where the
 * envelopes of its own group are not in the log yet. */
int decode_event_head(uint64_t pos, const MDB_val *v, es_event *ev);
void decode_stream(uint64_t id, const MDB_val *v, es_stream *st);
void decode_snapshot(uint64_t sid, const MDB_val *v, es_snapshot *sn);
void decode_checkpoint(uint64_t id, const MDB_val *v, es_checkpoint *cp);
int get_u64(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
	    uint64_t *out);
int put_raw(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
	    const void *data, size_t dlen, unsigned flags);
int meta_get(es_store *s, MDB_txn *txn, const char *key, uint64_t *out);
int meta_put(es_store *s, MDB_txn *txn, const char *key, uint64_t v);

/* open.c */
void adopt_map(es_store *s);
int grow_map(es_store *s, size_t seen);
size_t map_size(es_store *s);
int txn_begin(es_store *s, unsigned flags, MDB_txn **txn);
void check_readers(es_store *s);
void trim_map(es_store *s, size_t walked);

/* commit.c */
int write_txn(es_store *s, write_fn fn, void *arg);

/* read.c */
int find_stream(es_store *s, MDB_txn *txn, const char *name, size_t len,
		es_stream *out);
int event_at(es_store *s, MDB_txn *txn, uint64_t pos, es_event *out);
int event_head_at(es_store *s, MDB_txn *txn, uint64_t pos, es_event *out);
int last_event(es_store *s, MDB_txn *txn, uint64_t *pos, int64_t *created);
int log_bytes(es_store *s, MDB_txn *txn, uint64_t *head, uint64_t *bytes);
int walk(es_read *r, int db, const void *from, size_t flen,
	 step_fn step, void *ctx);
int stop_or(int cb);
uint64_t entries(es_read *r, int db);

/* views.c */
int index_event(es_store *s, MDB_txn *txn, uint64_t pos,
		const char *stream, size_t slen, const char *type,
		size_t tlen);
int envelope_type(const char *json, size_t len, char *buf, size_t *tlen);

/* change.c: the ops of a change. Each is recorded in the change's log
 * record and applied to the index at once, so that the rest of the change
 * sees it; replay applies them again from the log. */
enum {
	OP_STREAM = 1,		/* id, created, name */
	OP_STREAM_REMOVE,	/* id */
	OP_EVENTS,		/* stream id, first version, first position,
				 * created, n; n times: uuid, type length,
				 * envelope length, type, envelope */
	OP_SNAPSHOT,		/* stream id, snapshot record */
	OP_SNAPSHOT_DELETE,	/* stream id */
	OP_CHECKPOINT,		/* id, position, updated, has_position, name */
	OP_IDS,			/* next stream id, next checkpoint id */
};
#define REC_CHANGE 1		/* the log record type of a change */
#define OP_HDR 8		/* op, length */
#define EVENTS_HDR 40
#define EVENT_OP_HDR 24		/* uuid, type length, envelope length */

/* Room for an op of up to need bytes at the change's end: a pointer to its
 * payload, or NULL (ENOMEM, with the reason set). */
char *op_begin(es_store *s, size_t need);
/* Ends the op begun with op_begin, of len bytes, and applies it (unless
 * txn is NULL: converting an old store only records). */
int op_end(es_store *s, MDB_txn *txn, uint32_t op, size_t len);
/* An op of fixed u64 fields, then bytes. */
int op_put(es_store *s, MDB_txn *txn, uint32_t op, const uint64_t *fields,
	   int n, const void *bytes, size_t len);
/* Applies the ops of a record at log offset payload. */
int apply_record(es_store *s, MDB_txn *txn, const char *p, size_t len,
		 uint64_t payload);
/* Calls fn for each event of the record's OP_EVENTS ops: its position,
 * and where its envelope is. 0, EIO for a record cut short, or fn's. */
int record_events(const char *p, size_t len, uint64_t payload,
		  int (*fn)(void *arg, uint64_t pos, uint64_t offset, size_t len),
		  void *arg);
int put_log_end(es_store *s, MDB_txn *txn, const log_end *end);
int get_log_end(es_store *s, MDB_txn *txn, log_end *end);

/* recover.c */
int recover_begin(es_store *s, int *rebuild);
int recover_replay(es_store *s);
int recover_end(es_store *s);
int drop_index(es_store *s);
void recover_close(es_store *s);
int state_readable(es_store *s);
int convert_old(es_store *s);
int convert_check(es_store *s);

/* append.c */
int put_stream(es_store *s, MDB_txn *txn, uint64_t id, uint64_t version,
	       int64_t created, int64_t updated, const char *name, size_t len);
int create_stream(es_store *s, MDB_txn *txn, const char *name, size_t len,
		  int64_t created, es_stream *out);
int store_event(es_store *s, MDB_txn *txn, const es_stream *st,
		uint64_t version, uint64_t pos, int64_t created,
		const unsigned char *id, uint64_t offset, size_t len,
		uint64_t before, const char *type, size_t type_len);
int append_events(es_store *s, MDB_txn *txn, const es_stream *st,
		  uint64_t head, int64_t created, const struct prepared *ev,
		  size_t n);

/* values.c */
char *snapshot_record(const char *name, size_t len, uint64_t version,
		      int64_t created, const char *data, size_t data_len,
		      size_t *rec_len);
int put_checkpoint(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
		   int64_t updated);
int store_checkpoint(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
		     int64_t updated);
int checkpoint_id(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
		  int *created);

/* The local backend's operations, tabled in local.c: each does what
 * store.h says of the public function es_NAME. */
void local_close(es_store *s);
int local_watch_open(es_store *s, int *fd);
void local_watch_drain(es_store *s);
int local_shared(es_store *s);
const char *local_location(es_store *s);
int local_stream_create(es_store *s, const char *name, size_t len);
int local_stream_remove(es_store *s, const char *name, size_t len);
int local_append(es_store *s, const char *name, size_t len, int64_t expected,
	      const es_event_in *ev, size_t n, es_appended *out);
int local_snapshot_put(es_store *s, const char *name, size_t len,
		    uint64_t version, const char *data, size_t data_len);
int local_snapshot_delete(es_store *s, const char *name, size_t len);
int local_checkpoint_reserve(es_store *s, const char *name, size_t len,
			  uint64_t *id);
int local_checkpoint_put(es_store *s, const char *name, size_t len,
		      uint64_t position);
int local_checkpoint_delete(es_store *s, const char *name, size_t len);
int local_read_begin(es_store *s, es_read **out);
void local_read_end(es_read *r);
int local_head(es_read *r, uint64_t *position, int64_t *created_us);
int local_stream_count(es_read *r, uint64_t *count);
int local_stream_get(es_read *r, const char *name, size_t len, es_stream *out);
int local_stream_get_id(es_read *r, uint64_t id, es_stream *out);
int local_event_get(es_read *r, uint64_t position, es_event *out);
int local_stream_event(es_read *r, uint64_t stream_id, uint64_t version,
		    es_event *out);
int local_log_bytes(es_read *r, uint64_t position, uint64_t *bytes);
int local_snapshot_get(es_read *r, uint64_t stream_id, es_snapshot *out);
int local_checkpoint_get(es_read *r, const char *name, size_t len,
		      es_checkpoint *out);
int local_checkpoint_get_id(es_read *r, uint64_t id, es_checkpoint *out);
int local_log_walk(es_read *r, uint64_t from, size_t want, es_event_fn fn, void *arg);
int local_stream_walk(es_read *r, uint64_t stream_id, uint64_t from,
		   es_event_fn fn, void *arg);
int local_streams_walk(es_read *r, uint64_t from, es_stream_fn fn, void *arg);
int local_snapshots_walk(es_read *r, uint64_t from, es_snapshot_fn fn,
		      void *arg);
int local_checkpoints_walk(es_read *r, uint64_t from, es_checkpoint_fn fn,
			void *arg);
int local_view_get(es_read *r, int kind, const char *name, size_t len,
		es_view *out);
int local_view_get_id(es_read *r, uint64_t id, es_view *out);
int local_view_has(es_read *r, uint64_t id, uint64_t position);
int local_views_walk(es_read *r, int kind, uint64_t from, es_view_fn fn,
		  void *arg);
int local_view_walk(es_read *r, uint64_t id, uint64_t from, es_event_fn fn,
		 void *arg);
int local_stats_get(es_read *r, es_stats *out);
int local_statfs(es_store *s, struct statvfs *out);
int local_backup(es_store *s, const char *dir);
int local_import_batch(es_store *s, const es_import *items, size_t n);
int local_verify(es_store *s, es_problem_fn problem, es_progress_fn progress,
	      void *arg, uint64_t *problems);

#endif

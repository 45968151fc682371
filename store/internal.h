/* internal.h — inside the store (not part of its API): what the store's
 * files share. The private struct es_store and es_read, the databases and
 * their records' layout, and the functions one file of the store defines
 * for the others (see each file's first lines):
 *
 *   errors.c   es_why, fail, lmdb_fail
 *   records.c  decoding the records, u64 and meta records, the times
 *   open.c     es_open/es_close, the LMDB environment and its map
 *   commit.c   the group commit: write_txn
 *   read.c     read views, lookups and walks, es_stats_get
 *   views.c    the categories and types views: reading, indexing, building
 *   append.c   streams, appends and their envelopes
 *   values.c   snapshots and checkpoints
 *   backup.c   es_backup
 *   import.c   es_import_batch
 *   verify.c   es_verify
 *
 * Layout, one LMDB database each (u64 keys are native MDB_INTEGERKEY,
 * pairs are two big-endian u64 so that memcmp orders them):
 *
 *   meta            name -> u64        format, counters
 *   events          position -> event record (header + envelope)
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
 * The memory map grows on demand: transactions hold map_lock shared; a
 * writer that meets MDB_MAP_FULL aborts, takes it exclusively, doubles the
 * map and retries. Another process that grew the map makes our next
 * transaction fail with MDB_MAP_RESIZED, and we adopt the new size.
 */
#ifndef ES_INTERNAL_H
#define ES_INTERNAL_H

#include "store.h"
#include "encode.h"
#include "json.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FORMAT 2		/* 2 added the views; a format 1 store is upgraded */
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

/* Record headers: fixed fields, then variable bytes. */
#define EVENT_HDR 40		/* stream id, version, created, uuid[16] */
#define STREAM_HDR 24		/* version, created, updated; then name */
#define SNAPSHOT_HDR 16		/* version, created; then line */
#define CHECKPOINT_HDR 24	/* position, updated, has_position; then name */

struct es_store {
	MDB_env *env;
	char *dir;		/* absolute */
	int lock_fd;		/* dir/esfs.lock (dir.h) when read-write, else -1 */
	int watch_fd;		/* es_watch_open's, or -1 */
	MDB_dbi dbi[DB_COUNT];
	pthread_rwlock_t map_lock;
	size_t max_event;
	int read_only;
	int upgrade;				/* format 1: build the views at open */
	_Atomic int64_t readers_checked;	/* when, in microseconds */
	_Atomic unsigned uses;			/* read views and commits, for trim_map */
	_Atomic size_t walked;			/* bytes walked since, for trim_map */
	void *map_addr;				/* where LMDB mapped the file */
	size_t map_len;
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
	es_store *s;
	MDB_txn *txn;
	size_t walked;		/* bytes its walks went through */
};

/* The reason of the last failure, es_why's (errors.c). */
extern _Thread_local char why_buf[512];

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

/* One event to append, validated and compacted before the transaction. */
struct prepared {
	const char *type;
	size_t type_len;
	unsigned char id[16];
	int given_id;
	uint32_t schema_version;
	char *data, *meta;
	size_t data_len, meta_len;
};

/* Fixed bytes of an envelope, its numbers at their widest included. */
#define ENVELOPE_FIXED 256

/* The argument of a change to a checkpoint (values.c, import.c). */
struct checkpoint_arg {
	const char *name;
	size_t len;
	uint64_t position;
	int has_position;
	uint64_t id;
};

/* An envelope line read back: its fields, checked to be exactly the line
 * esfs writes for them. */
struct envelope_fields {
	json_t *o;		/* owns name and type */
	unsigned char id[16];
	const char *name, *type;
	size_t name_len, type_len;
	uint64_t version, position;
	int64_t created;
	char *rec;		/* EVENT_HDR free bytes, then the line: malloc'd */
	size_t len;
};

/* errors.c */
int fail(int err, const char *fmt, ...);
int lmdb_fail(int rc, const char *what);

/* records.c */
void decode_event(uint64_t pos, const MDB_val *v, es_event *ev);
void decode_stream(uint64_t id, const MDB_val *v, es_stream *st);
void decode_snapshot(uint64_t sid, const MDB_val *v, es_snapshot *sn);
void decode_checkpoint(uint64_t id, const MDB_val *v, es_checkpoint *cp);
int64_t now_us(void);
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
int last_event(es_store *s, MDB_txn *txn, uint64_t *pos, int64_t *created);
int walk(es_read *r, int db, const void *from, size_t flen,
	 step_fn step, void *ctx);
int stop_or(int cb);
uint64_t entries(es_read *r, int db);

/* views.c */
size_t category_len(const char *name, size_t len);
int index_event(es_store *s, MDB_txn *txn, uint64_t pos,
		const char *stream, size_t slen, const char *type,
		size_t tlen);
int build_views(es_store *s, MDB_txn *txn, void *arg);

/* append.c */
int put_stream(es_store *s, MDB_txn *txn, uint64_t id, uint64_t version,
	       int64_t created, int64_t updated, const char *name, size_t len);
int create_stream(es_store *s, MDB_txn *txn, const char *name, size_t len,
		  int64_t created, es_stream *out);
size_t envelope(char *b, const struct prepared *ev,
		const char *qstream, size_t qstream_len, uint64_t version,
		uint64_t pos, int64_t created);
int store_event(es_store *s, MDB_txn *txn, const es_stream *st,
		uint64_t version, uint64_t pos, int64_t created,
		const unsigned char *id, char *rec, size_t len,
		const char *type, size_t type_len);

/* values.c */
char *snapshot_record(const char *name, size_t len, uint64_t version,
		      int64_t created, const char *data, size_t data_len,
		      size_t *rec_len);
int put_checkpoint(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
		   int64_t updated);
int checkpoint_id(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
		  int *created);

/* import.c */
void envelope_free(struct envelope_fields *f);
int read_envelope(const char *line, size_t n, struct envelope_fields *f);

#endif

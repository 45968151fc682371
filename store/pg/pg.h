/* pg.h — inside the PostgreSQL backend (not part of the store's API): a
 * store in a PostgreSQL database, named by a postgresql:// URI, that many
 * processes on many hosts open at once (doc/pg.md). Its schema is
 * schema.sql (tables) and functions.sql; every change is one statement,
 * a call of one of those functions, so one round trip (appends made at
 * once share one, and one transaction); a read view is a REPEATABLE READ
 * transaction on a connection of its own.
 *
 * Files: conn.c (connections, the schema, the watch), write.c (the
 * changes), group.c (the appends' group commit), query.c (read views,
 * reads and walks), load.c (es_import_batch), audit.c (es_verify),
 * backend.c (the table); their names differ from the local backend's,
 * since libstore.a holds
 * both and an archive knows its members by their base names. */
#ifndef ES_PG_H
#define ES_PG_H

#include "../backend.h"
#include "../common.h"

#include <libpq-fe.h>
#include <pthread.h>

#define PG_POOL 16	/* idle connections kept */

/* The appends waiting for a group commit (group.c). */
struct pg_group {
	pthread_mutex_t lock;
	pthread_cond_t done;		/* a group ended */
	pthread_cond_t arrived;		/* an append queued */
	struct pg_job *queue, *tail;	/* waiting, in order of arrival */
	int queued;			/* how many */
	int last;			/* appends in the last group */
	int leading;			/* a group is being run */
};

typedef struct pg_store {
	const struct es_backend *be;	/* &es_pg_backend */
	char *uri;
	size_t max_event;
	int read_only;
	pthread_mutex_t lock;		/* guards idle and nidle */
	PGconn *idle[PG_POOL];
	char pending[PG_POOL];		/* its ROLLBACK's answer is still to come */
	int nidle;
	struct pg_watch *watch;		/* es_watch_open's (conn.c) */
	struct pg_group group;		/* group.c */
} pg_store;

typedef struct pg_read {
	const struct es_backend *be;	/* &es_pg_backend */
	pg_store *s;
	PGconn *c;
	PGresult **kept;		/* results handed out: freed at the end */
	size_t nkept, cap;
	int begun;			/* its transaction is open (query.c) */
} pg_read;

extern const struct es_backend es_pg_backend;

/* Whether name is a PostgreSQL URI (postgresql:// or postgres://). */
int pg_is_uri(const char *name);

/* conn.c */
int pg_open(const char *uri, const es_options *opts, es_store **out);
void pg_close(es_store *s);
int pg_watch_open(es_store *s, int *fd);
void pg_watch_drain(es_store *s);
int pg_statfs(es_store *s, struct statvfs *out);

/* A connection: an idle one of the pool, or a new one. EIO with the
 * server's reason when it cannot connect. */
int pg_get(pg_store *s, PGconn **out);
/* Gives a connection back: to the pool when it is good and idle, else
 * closed. */
void pg_put(pg_store *s, PGconn *c);
/* Gives back a connection in a read-only transaction: its ROLLBACK is
 * sent, and its answer read when the connection is next taken, so that
 * ending a read view costs no round trip. */
void pg_put_rollback(pg_store *s, PGconn *c);

/* Runs sql with n text parameters (NULL for SQL NULL). The result, or
 * NULL with es_why set and *err an errno: EIO for a lost or refused
 * connection or any other failure of the server. */
PGresult *pg_run(PGconn *c, const char *sql, int n, const char *const *vals,
		 int *err);

/* A name as a text parameter: NUL-terminated in buf (PG_NAME bytes). 0,
 * or es_name_check's EINVAL with es_why set when it can be no stored
 * name (such a name is found nowhere, and PostgreSQL would refuse text
 * that is not UTF-8). */
#define PG_NAME 256
int pg_name(const char *name, size_t len, char *buf);

/* The appends: a statement prepared on every connection of a store open
 * for writing (pg_get), a call of esfs_append (functions.sql) with
 * PG_APPEND_PARAMS text parameters: PG_APPEND_ARRAYS arrays, then the
 * largest event (write.c makes them for one append; group.c joins the
 * arrays of many). One row per append, in order. */
#define PG_APPEND "esfs_append"
#define PG_APPEND_PARAMS 13
#define PG_APPEND_ARRAYS 12
#define PG_APPEND_SQL "SELECT o_err, o_why, o_first_version, o_first_position, o_retry " \
	"FROM esfs_append($1::text[], $2::bigint[], $3::integer[], $4::text[], $5::text[], " \
	"$6::uuid[], $7::boolean[], $8::text[], $9::text[], $10::integer[], $11::text[], " \
	"$12::text[], $13::bigint)"

/* Runs the prepared append with its parameters vals, as pg_run. */
PGresult *pg_run_append(PGconn *c, const char *const *vals, int *err);

/* As pg_run, but the result is in binary format: bigint as 8 bytes in
 * network order, smallint as 2, uuid as its 16 bytes, text as its bytes
 * (libpq ends every value with a NUL all the same), so that a row costs
 * no parsing; and first, when not NULL, a statement with no parameters,
 * is sent before sql in the same round trip (libpq's pipeline mode) and
 * its result dropped. The read views' queries (query.c). */
PGresult *pg_run_binary(PGconn *c, const char *first, const char *sql, int n,
			const char *const *vals, int *err);

/* An append's row of esfs_append's answer. */
struct pg_outcome {
	char err[16];		/* o_err: "" (stored), an errno's name */
	char why[640];		/* o_why: the reason */
	uint64_t version;	/* the first event's version and position */
	uint64_t position;
	int retry;		/* o_retry: all of it was stored already */
};

/* group.c: runs the append of parameters vals (PG_APPEND) with the
 * other appends that wait, in one transaction: 0 with its row in out, or
 * an errno as pg_run's, with *lost set when the connection was lost, so
 * that whether it was committed is not known. */
int pg_group_run(pg_store *s, const char *const *vals, struct pg_outcome *out, int *lost);
void pg_group_init(struct pg_group *g);
void pg_group_destroy(struct pg_group *g);

/* write.c */
int pg_stream_create(es_store *s, const char *name, size_t len);
int pg_stream_remove(es_store *s, const char *name, size_t len);
int pg_append(es_store *s, const char *name, size_t len, int64_t expected,
	      const es_event_in *ev, size_t n, es_appended *out);
int pg_snapshot_put(es_store *s, const char *name, size_t len,
		    uint64_t version, const char *data, size_t data_len);
int pg_snapshot_delete(es_store *s, const char *name, size_t len);
int pg_checkpoint_reserve(es_store *s, const char *name, size_t len,
			  uint64_t *id);
int pg_checkpoint_put(es_store *s, const char *name, size_t len,
		      uint64_t position);
int pg_checkpoint_delete(es_store *s, const char *name, size_t len);

/* query.c */
int pg_read_begin(es_store *s, es_read **out);
void pg_read_end(es_read *r);
int pg_head(es_read *r, uint64_t *position, int64_t *created_us);
int pg_stream_count(es_read *r, uint64_t *count);
int pg_stream_get(es_read *r, const char *name, size_t len, es_stream *out);
int pg_stream_get_id(es_read *r, uint64_t id, es_stream *out);
int pg_event_get(es_read *r, uint64_t position, es_event *out);
int pg_stream_event(es_read *r, uint64_t stream_id, uint64_t version,
		    es_event *out);
int pg_log_bytes(es_read *r, uint64_t position, uint64_t *bytes);
int pg_snapshot_get(es_read *r, uint64_t stream_id, es_snapshot *out);
int pg_checkpoint_get(es_read *r, const char *name, size_t len,
		      es_checkpoint *out);
int pg_checkpoint_get_id(es_read *r, uint64_t id, es_checkpoint *out);
int pg_log_walk(es_read *r, uint64_t from, size_t want, es_event_fn fn, void *arg);
int pg_stream_walk(es_read *r, uint64_t stream_id, uint64_t from,
		   es_event_fn fn, void *arg);
int pg_streams_walk(es_read *r, uint64_t from, es_stream_fn fn, void *arg);
int pg_snapshots_walk(es_read *r, uint64_t from, es_snapshot_fn fn,
		      void *arg);
int pg_checkpoints_walk(es_read *r, uint64_t from, es_checkpoint_fn fn,
			void *arg);
int pg_view_get(es_read *r, int kind, const char *name, size_t len,
		es_view *out);
int pg_view_get_id(es_read *r, uint64_t id, es_view *out);
int pg_view_has(es_read *r, uint64_t id, uint64_t position);
int pg_views_walk(es_read *r, int kind, uint64_t from, es_view_fn fn,
		  void *arg);
int pg_view_walk(es_read *r, uint64_t id, uint64_t from, es_event_fn fn,
		 void *arg);
int pg_stats_get(es_read *r, es_stats *out);

/* load.c */
int pg_import_batch(es_store *s, const es_import *items, size_t n);
int pg_import_undo(es_store *s, const es_stats *made);
/* Rolls back the transaction open on c, if any, keeping es_why's reason. */
void pg_rollback(PGconn *c);

/* audit.c */
int pg_verify(es_store *s, es_problem_fn problem, es_progress_fn progress,
	      void *arg, uint64_t *problems);

/* The schema's text: its tables (schema.sql) and its functions
 * (functions.sql), made into schema.c and functions.c by the Makefile. */
extern const char pg_schema_sql[];
extern const char pg_functions_sql[];

#endif

/* store.c — the store's public functions (store.h): each calls the
 * operation of the backend that opened the store (backend.h). es_open
 * chooses the backend: a postgresql:// or postgres:// URI is a
 * PostgreSQL store (pg/), anything else a directory (local.c). */
#include "backend.h"
#include "pg/pg.h"

#include <errno.h>
#include <string.h>

/* The backend's table: the first member of every es_store and es_read. */
#define BE(p) (*(const struct es_backend *const *)(const void *)(p))

int es_is_uri(const char *name)
{
	return pg_is_uri(name);
}

int es_open(const char *dir, const es_options *opts, es_store **out)
{
	return pg_is_uri(dir) ? pg_open(dir, opts, out) : local_open(dir, opts, out);
}

void es_close(es_store *s)
{
	if (s)
		BE(s)->close(s);
}

int es_watch_open(es_store *s, int *fd)
{
	return BE(s)->watch_open(s, fd);
}

void es_watch_drain(es_store *s)
{
	BE(s)->watch_drain(s);
}

const char *es_location(es_store *s)
{
	return BE(s)->location(s);
}

int es_shared(es_store *s)
{
	return BE(s)->shared(s);
}

int es_stream_create(es_store *s, const char *name, size_t len)
{
	return BE(s)->stream_create(s, name, len);
}

int es_stream_remove(es_store *s, const char *name, size_t len)
{
	return BE(s)->stream_remove(s, name, len);
}

int es_append(es_store *s, const char *name, size_t len, int64_t expected,
	      const es_event_in *ev, size_t n, es_appended *out)
{
	return BE(s)->append(s, name, len, expected, ev, n, out);
}

int es_snapshot_put(es_store *s, const char *name, size_t len,
		    uint64_t version, const char *data, size_t data_len)
{
	return BE(s)->snapshot_put(s, name, len, version, data, data_len);
}

int es_snapshot_delete(es_store *s, const char *name, size_t len)
{
	return BE(s)->snapshot_delete(s, name, len);
}

int es_checkpoint_reserve(es_store *s, const char *name, size_t len,
			  uint64_t *id)
{
	return BE(s)->checkpoint_reserve(s, name, len, id);
}

int es_checkpoint_put(es_store *s, const char *name, size_t len,
		      uint64_t position)
{
	return BE(s)->checkpoint_put(s, name, len, position);
}

int es_checkpoint_delete(es_store *s, const char *name, size_t len)
{
	return BE(s)->checkpoint_delete(s, name, len);
}

int es_read_begin(es_store *s, es_read **out)
{
	return BE(s)->read_begin(s, out);
}

void es_read_end(es_read *r)
{
	if (r)
		BE(r)->read_end(r);
}

int es_head(es_read *r, uint64_t *position, int64_t *created_us)
{
	return BE(r)->head(r, position, created_us);
}

int es_stream_count(es_read *r, uint64_t *count)
{
	return BE(r)->stream_count(r, count);
}

int es_stream_get(es_read *r, const char *name, size_t len, es_stream *out)
{
	return BE(r)->stream_get(r, name, len, out);
}

int es_stream_get_id(es_read *r, uint64_t id, es_stream *out)
{
	return BE(r)->stream_get_id(r, id, out);
}

int es_event_get(es_read *r, uint64_t position, es_event *out)
{
	return BE(r)->event_get(r, position, out);
}

int es_stream_event(es_read *r, uint64_t stream_id, uint64_t version,
		    es_event *out)
{
	return BE(r)->stream_event(r, stream_id, version, out);
}

int es_log_bytes(es_read *r, uint64_t position, uint64_t *bytes)
{
	return BE(r)->log_bytes(r, position, bytes);
}

int es_snapshot_get(es_read *r, uint64_t stream_id, es_snapshot *out)
{
	return BE(r)->snapshot_get(r, stream_id, out);
}

int es_checkpoint_get(es_read *r, const char *name, size_t len,
		      es_checkpoint *out)
{
	return BE(r)->checkpoint_get(r, name, len, out);
}

int es_checkpoint_get_id(es_read *r, uint64_t id, es_checkpoint *out)
{
	return BE(r)->checkpoint_get_id(r, id, out);
}

int es_log_walk(es_read *r, uint64_t from, size_t want, es_event_fn fn, void *arg)
{
	return BE(r)->log_walk(r, from, want, fn, arg);
}

int es_stream_walk(es_read *r, uint64_t stream_id, uint64_t from,
		   es_event_fn fn, void *arg)
{
	return BE(r)->stream_walk(r, stream_id, from, fn, arg);
}

int es_streams_walk(es_read *r, uint64_t from, es_stream_fn fn, void *arg)
{
	return BE(r)->streams_walk(r, from, fn, arg);
}

int es_snapshots_walk(es_read *r, uint64_t from, es_snapshot_fn fn,
		      void *arg)
{
	return BE(r)->snapshots_walk(r, from, fn, arg);
}

int es_checkpoints_walk(es_read *r, uint64_t from, es_checkpoint_fn fn,
			void *arg)
{
	return BE(r)->checkpoints_walk(r, from, fn, arg);
}

int es_view_get(es_read *r, int kind, const char *name, size_t len,
		es_view *out)
{
	return BE(r)->view_get(r, kind, name, len, out);
}

int es_view_get_id(es_read *r, uint64_t id, es_view *out)
{
	return BE(r)->view_get_id(r, id, out);
}

int es_view_has(es_read *r, uint64_t id, uint64_t position)
{
	return BE(r)->view_has(r, id, position);
}

int es_views_walk(es_read *r, int kind, uint64_t from, es_view_fn fn,
		  void *arg)
{
	return BE(r)->views_walk(r, kind, from, fn, arg);
}

int es_view_walk(es_read *r, uint64_t id, uint64_t from, es_event_fn fn,
		 void *arg)
{
	return BE(r)->view_walk(r, id, from, fn, arg);
}

int es_stats_get(es_read *r, es_stats *out)
{
	return BE(r)->stats_get(r, out);
}

int es_statfs(es_store *s, struct statvfs *out)
{
	return BE(s)->statfs(s, out);
}

int es_backup(es_store *s, const char *dir)
{
	return BE(s)->backup(s, dir);
}

int es_import_batch(es_store *s, const es_import *items, size_t n)
{
	return BE(s)->import_batch(s, items, n);
}

int es_import_undo(es_store *s, const es_stats *made)
{
	if (!BE(s)->import_undo)
		return fail(ENOTSUP, "a %s store is not emptied in place; remove its files",
			    BE(s)->name);
	return BE(s)->import_undo(s, made);
}

int es_verify(es_store *s, es_problem_fn problem, es_progress_fn progress,
	      void *arg, uint64_t *problems)
{
	return BE(s)->verify(s, problem, progress, arg, problems);
}

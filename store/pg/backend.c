/* backend.c — the PostgreSQL backend's table of operations (backend.h).
 * A hot backup of a PostgreSQL store is pg_dump's (doc/pg.md), and
 * es_backup says so; es_import_batch is load.c's, es_verify audit.c's. */
#include "pg.h"

#include <errno.h>

static int pg_backup(es_store *s, const char *dir)
{
	(void)s;
	(void)dir;
	return fail(ENOTSUP, "a PostgreSQL store is backed up with pg_dump (see doc/pg.md)");
}

static const char *pg_location(es_store *s)
{
	return ((pg_store *)s)->uri;
}

static int pg_shared(es_store *s)
{
	(void)s;
	return 1;
}

const struct es_backend es_pg_backend = {
	.name = "postgresql",
	.close = pg_close,
	.watch_open = pg_watch_open,
	.location = pg_location,
	.watch_drain = pg_watch_drain,
	.shared = pg_shared,
	.stream_create = pg_stream_create,
	.stream_remove = pg_stream_remove,
	.append = pg_append,
	.snapshot_put = pg_snapshot_put,
	.snapshot_delete = pg_snapshot_delete,
	.checkpoint_reserve = pg_checkpoint_reserve,
	.checkpoint_put = pg_checkpoint_put,
	.checkpoint_delete = pg_checkpoint_delete,
	.read_begin = pg_read_begin,
	.read_end = pg_read_end,
	.head = pg_head,
	.stream_count = pg_stream_count,
	.stream_get = pg_stream_get,
	.stream_get_id = pg_stream_get_id,
	.event_get = pg_event_get,
	.stream_event = pg_stream_event,
	.log_bytes = pg_log_bytes,
	.snapshot_get = pg_snapshot_get,
	.checkpoint_get = pg_checkpoint_get,
	.checkpoint_get_id = pg_checkpoint_get_id,
	.log_walk = pg_log_walk,
	.stream_walk = pg_stream_walk,
	.streams_walk = pg_streams_walk,
	.snapshots_walk = pg_snapshots_walk,
	.checkpoints_walk = pg_checkpoints_walk,
	.view_get = pg_view_get,
	.view_get_id = pg_view_get_id,
	.view_has = pg_view_has,
	.views_walk = pg_views_walk,
	.view_walk = pg_view_walk,
	.stats_get = pg_stats_get,
	.statfs = pg_statfs,
	.backup = pg_backup,
	.import_batch = pg_import_batch,
	.import_undo = pg_import_undo,
	.verify = pg_verify,
};

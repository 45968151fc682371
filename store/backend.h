/* backend.h — inside the store (not part of its API): the table of
 * operations each backend gives, which store.c's public functions call.
 *
 * A backend's es_store and es_read are its own structs, each with a
 * pointer to its table as the first member, so that store.c finds the
 * table from either without knowing the rest (C17 6.7.2.1: a pointer to a
 * struct, converted, points to its first member). Each operation has the
 * meaning store.h gives the public function of the same name; a backend
 * that cannot do one returns ENOTSUP with a reason.
 *
 * The backends: local (local.c: the log and its LMDB index in a
 * directory) and PostgreSQL (pg/, for a postgresql:// URI). */
#ifndef ES_BACKEND_H
#define ES_BACKEND_H

#include "store.h"

struct statvfs;

struct es_backend {
	const char *name;

	void (*close)(es_store *s);
	const char *(*location)(es_store *s);
	int (*watch_open)(es_store *s, int *fd);
	void (*watch_drain)(es_store *s);
	int (*shared)(es_store *s);

	int (*stream_create)(es_store *s, const char *name, size_t len);
	int (*stream_remove)(es_store *s, const char *name, size_t len);
	int (*append)(es_store *s, const char *name, size_t len, int64_t expected,
		      const es_event_in *ev, size_t n, es_appended *out);
	int (*snapshot_put)(es_store *s, const char *name, size_t len,
			    uint64_t version, const char *data, size_t data_len);
	int (*snapshot_delete)(es_store *s, const char *name, size_t len);
	int (*checkpoint_reserve)(es_store *s, const char *name, size_t len,
				  uint64_t *id);
	int (*checkpoint_put)(es_store *s, const char *name, size_t len,
			      uint64_t position);
	int (*checkpoint_delete)(es_store *s, const char *name, size_t len);

	int (*read_begin)(es_store *s, es_read **out);
	void (*read_end)(es_read *r);
	int (*head)(es_read *r, uint64_t *position, int64_t *created_us);
	int (*stream_count)(es_read *r, uint64_t *count);
	int (*stream_get)(es_read *r, const char *name, size_t len, es_stream *out);
	int (*stream_get_id)(es_read *r, uint64_t id, es_stream *out);
	int (*event_get)(es_read *r, uint64_t position, es_event *out);
	int (*stream_event)(es_read *r, uint64_t stream_id, uint64_t version,
			    es_event *out);
	int (*log_bytes)(es_read *r, uint64_t position, uint64_t *bytes);
	int (*snapshot_get)(es_read *r, uint64_t stream_id, es_snapshot *out);
	int (*checkpoint_get)(es_read *r, const char *name, size_t len,
			      es_checkpoint *out);
	int (*checkpoint_get_id)(es_read *r, uint64_t id, es_checkpoint *out);
	int (*log_walk)(es_read *r, uint64_t from, size_t want, es_event_fn fn, void *arg);
	int (*stream_walk)(es_read *r, uint64_t stream_id, uint64_t from,
			   es_event_fn fn, void *arg);
	int (*streams_walk)(es_read *r, uint64_t from, es_stream_fn fn, void *arg);
	int (*snapshots_walk)(es_read *r, uint64_t from, es_snapshot_fn fn,
			      void *arg);
	int (*checkpoints_walk)(es_read *r, uint64_t from, es_checkpoint_fn fn,
				void *arg);
	int (*view_get)(es_read *r, int kind, const char *name, size_t len,
			es_view *out);
	int (*view_get_id)(es_read *r, uint64_t id, es_view *out);
	int (*view_has)(es_read *r, uint64_t id, uint64_t position);
	int (*views_walk)(es_read *r, int kind, uint64_t from, es_view_fn fn,
			  void *arg);
	int (*view_walk)(es_read *r, uint64_t id, uint64_t from, es_event_fn fn,
			 void *arg);
	int (*stats_get)(es_read *r, es_stats *out);

	int (*statfs)(es_store *s, struct statvfs *out);
	int (*backup)(es_store *s, const char *dir);
	int (*import_batch)(es_store *s, const es_import *items, size_t n);
	int (*import_undo)(es_store *s, const es_stats *made);	/* NULL: ENOTSUP */
	int (*verify)(es_store *s, es_problem_fn problem, es_progress_fn progress,
		      void *arg, uint64_t *problems);
};

/* The local backend (local.c), and its open (open.c). */
extern const struct es_backend es_local_backend;
int local_open(const char *dir, const es_options *opts, es_store **out);

#endif

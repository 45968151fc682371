/* query.c — the PostgreSQL backend's read views: a REPEATABLE READ, READ
 * ONLY transaction on a connection of the pool, so that every read of a
 * view sees one snapshot of the store. What a get hands out points into
 * a result kept until the view ends; a walk reads pages by key (16 rows,
 * then 4 times as many, to 2,048: a small read needs few rows, a long
 * one few queries; or, for a log walk told how many bytes its caller
 * wants, as many rows as those come to at the sizes of the rows so far,
 * up to 16 times those) and frees each page once its items have been
 * handed out. */
#include "pg.h"
#include "../json.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_FIRST 16
#define PAGE_MAX 2048
#define PAGE_GROWTH 4
#define PAGE_HINTED_GROWTH 16	/* a page sized by a hint: 16 rows, 256, 4,352 */
#define PAGE_HINTED_MAX 16384

#define EVENT_COLS "global_position, stream, version, created_us, event_id, envelope"
#define STREAM_COLS "id, version, created_us, updated_us, name"
#define SNAPSHOT_COLS "sn.stream, sn.version, sn.created_us, sn.line, " \
	"st.id, st.version, st.created_us, st.updated_us, st.name"
#define CHECKPOINT_COLS "id, position, updated_us, name"
#define VIEW_COLS "id, kind, last_position, updated_us, name"

/* The columns of a row (the results are binary, pg_run_binary): a bigint,
 * a smallint, a uuid. A value of another length (NULL's is 0) reads as 0. */
static uint64_t u64(const PGresult *r, int row, int col)
{
	uint64_t v = 0;

	if (PQgetlength(r, row, col) == sizeof v)
		memcpy(&v, PQgetvalue(r, row, col), sizeof v);
	return be64toh(v);
}

static int i16(const PGresult *r, int row, int col)
{
	uint16_t v = 0;

	if (PQgetlength(r, row, col) == sizeof v)
		memcpy(&v, PQgetvalue(r, row, col), sizeof v);
	return (int16_t)be16toh(v);
}

static void uuid(const PGresult *r, int row, int col, unsigned char *id)
{
	memset(id, 0, 16);
	if (PQgetlength(r, row, col) == 16)
		memcpy(id, PQgetvalue(r, row, col), 16);
}

static void row_event(const PGresult *r, int i, es_event *ev)
{
	ev->position = u64(r, i, 0);
	ev->stream_id = u64(r, i, 1);
	ev->version = u64(r, i, 2);
	ev->created_us = (int64_t)u64(r, i, 3);
	uuid(r, i, 4, ev->id);
	ev->json = PQgetvalue(r, i, 5);
	ev->json_len = (size_t)PQgetlength(r, i, 5);
}

static void row_stream(const PGresult *r, int i, int c, es_stream *st)
{
	st->id = u64(r, i, c);
	st->version = u64(r, i, c + 1);
	st->created_us = (int64_t)u64(r, i, c + 2);
	st->updated_us = (int64_t)u64(r, i, c + 3);
	st->name = PQgetvalue(r, i, c + 4);
	st->name_len = (size_t)PQgetlength(r, i, c + 4);
}

static void row_snapshot(const PGresult *r, int i, es_snapshot *sn)
{
	sn->stream_id = u64(r, i, 0);
	sn->version = u64(r, i, 1);
	sn->created_us = (int64_t)u64(r, i, 2);
	sn->json = PQgetvalue(r, i, 3);
	sn->json_len = (size_t)PQgetlength(r, i, 3);
}

static void row_checkpoint(const PGresult *r, int i, es_checkpoint *cp)
{
	cp->id = u64(r, i, 0);
	cp->has_position = !PQgetisnull(r, i, 1);
	cp->position = cp->has_position ? u64(r, i, 1) : 0;
	cp->updated_us = (int64_t)u64(r, i, 2);
	cp->name = PQgetvalue(r, i, 3);
	cp->name_len = (size_t)PQgetlength(r, i, 3);
}

static void row_view(const PGresult *r, int i, es_view *v)
{
	v->id = u64(r, i, 0);
	v->kind = i16(r, i, 1);
	v->last_position = u64(r, i, 2);
	v->updated_us = (int64_t)u64(r, i, 3);
	v->name = PQgetvalue(r, i, 4);
	v->name_len = (size_t)PQgetlength(r, i, 4);
}

#define BEGIN_VIEW "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"

/* The view's transaction begins with its first query, in the same round
 * trip (pg_run_binary), and a view that asks nothing costs nothing. */
int pg_read_begin(es_store *st, es_read **out)
{
	pg_store *s = (pg_store *)st;
	pg_read *r = calloc(1, sizeof *r);
	int err;

	*out = NULL;
	if (!r)
		return fail(ENOMEM, "out of memory");
	r->be = &es_pg_backend;
	r->s = s;
	if ((err = pg_get(s, &r->c))) {
		free(r);
		return err;
	}
	*out = (es_read *)r;
	return 0;
}

void pg_read_end(es_read *rd)
{
	pg_read *r = (pg_read *)rd;

	if (r->begun)
		pg_put_rollback(r->s, r->c);
	else
		pg_put(r->s, r->c);
	for (size_t i = 0; i < r->nkept; i++)
		PQclear(r->kept[i]);
	free(r->kept);
	free(r);
}

/* Runs a query of the view; with keep, the result lives until the view
 * ends. NULL with *err set on failure. */
static PGresult *query(pg_read *r, const char *sql, int n, const char *const *vals,
		       int keep, int *err)
{
	PGresult *res = pg_run_binary(r->c, r->begun ? NULL : BEGIN_VIEW, sql, n, vals, err);

	/* A pooled connection that turns out gone before the view began
	 * costs it nothing: once more, on a new one. */
	if (!res && !r->begun && PQstatus(r->c) == CONNECTION_BAD) {
		PQfinish(r->c);
		r->c = NULL;
		if (!(*err = pg_get(r->s, &r->c)))
			res = pg_run_binary(r->c, BEGIN_VIEW, sql, n, vals, err);
	}

	if (res)
		r->begun = 1;
	if (!res || !keep)
		return res;
	if (r->nkept == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		PGresult **k = realloc(r->kept, cap * sizeof *k);
		if (!k) {
			PQclear(res);
			*err = fail(ENOMEM, "out of memory");
			return NULL;
		}
		r->kept = k;
		r->cap = cap;
	}
	r->kept[r->nkept++] = res;
	return res;
}

/* A get: one row kept, or ENOENT with what. */
static PGresult *get_row(pg_read *r, const char *sql, int n, const char *const *vals,
			 int *err, const char *what)
{
	PGresult *res = query(r, sql, n, vals, 1, err);

	if (res && PQntuples(res) == 0) {
		*err = fail(ENOENT, "%s", what);
		return NULL;
	}
	return res;
}

#define NUM(buf, v) (snprintf(buf, sizeof buf, "%" PRIu64, (uint64_t)(v)), buf)

int pg_head(es_read *rd, uint64_t *position, int64_t *created_us)
{
	int err = 0;
	PGresult *r = get_row((pg_read *)rd, "SELECT global_position, created_us FROM esfs_head",
			      0, NULL, &err, "no head");

	if (!r)
		return err;
	*position = u64(r, 0, 0);
	*created_us = (int64_t)u64(r, 0, 1);
	return 0;
}

int pg_stream_count(es_read *rd, uint64_t *count)
{
	int err = 0;
	PGresult *r = query((pg_read *)rd, "SELECT count(*) FROM streams", 0, NULL, 0, &err);

	if (!r)
		return err;
	*count = u64(r, 0, 0);
	PQclear(r);
	return 0;
}

int pg_stream_get(es_read *rd, const char *name, size_t len, es_stream *out)
{
	char n[PG_NAME];
	int err = 0;

	if (pg_name(name, len, n))
		return fail(ENOENT, "no stream of that name");
	const char *v[] = {n};
	PGresult *r = get_row((pg_read *)rd, "SELECT " STREAM_COLS " FROM streams WHERE name = $1",
			      1, v, &err, "no such stream");
	if (!r)
		return err == ENOENT ? fail(ENOENT, "no stream %.*s", (int)len, name) : err;
	row_stream(r, 0, 0, out);
	return 0;
}

int pg_stream_get_id(es_read *rd, uint64_t id, es_stream *out)
{
	char a[24];
	int err = 0;
	const char *v[] = {NUM(a, id)};
	PGresult *r = get_row((pg_read *)rd, "SELECT " STREAM_COLS " FROM streams WHERE id = $1::bigint",
			      1, v, &err, "no stream of that id");

	if (!r)
		return err;
	row_stream(r, 0, 0, out);
	return 0;
}

int pg_event_get(es_read *rd, uint64_t position, es_event *out)
{
	char a[24];
	int err = 0;
	const char *v[] = {NUM(a, position)};
	PGresult *r = get_row((pg_read *)rd, "SELECT " EVENT_COLS " FROM events "
			      "WHERE global_position = $1::bigint", 1, v, &err,
			      "no event at that position");

	if (!r)
		return err;
	row_event(r, 0, out);
	return 0;
}

int pg_stream_event(es_read *rd, uint64_t stream_id, uint64_t version, es_event *out)
{
	char a[24], b[24];
	int err = 0;
	const char *v[] = {NUM(a, stream_id), NUM(b, version)};
	PGresult *r = get_row((pg_read *)rd, "SELECT " EVENT_COLS " FROM events "
			      "WHERE stream = $1::bigint AND version = $2::bigint", 2, v, &err,
			      "no event at that version");

	if (!r)
		return err;
	row_event(r, 0, out);
	return 0;
}

int pg_log_bytes(es_read *rd, uint64_t position, uint64_t *bytes)
{
	char a[24];
	int err = 0;
	const char *v[] = {NUM(a, position)};
	PGresult *r = query((pg_read *)rd, "SELECT CASE WHEN $1::bigint = h.global_position + 1 "
			    "THEN h.log_bytes ELSE (SELECT bytes_before FROM events WHERE "
			    "global_position = $1::bigint) END FROM esfs_head h", 1, v, 0, &err);

	if (!r)
		return err;
	if (position == 0 || PQgetisnull(r, 0, 0))
		err = fail(ENOENT, "no event at position %" PRIu64, position);
	else
		*bytes = u64(r, 0, 0);
	PQclear(r);
	return err;
}

int pg_snapshot_get(es_read *rd, uint64_t stream_id, es_snapshot *out)
{
	char a[24];
	int err = 0;
	const char *v[] = {NUM(a, stream_id)};
	PGresult *r = get_row((pg_read *)rd, "SELECT " SNAPSHOT_COLS " FROM snapshots sn "
			      "JOIN streams st ON st.id = sn.stream WHERE sn.stream = $1::bigint",
			      1, v, &err, "the stream has no snapshot");

	if (!r)
		return err;
	row_snapshot(r, 0, out);
	return 0;
}

int pg_checkpoint_get(es_read *rd, const char *name, size_t len, es_checkpoint *out)
{
	char n[PG_NAME];
	int err = 0;

	if (pg_name(name, len, n))
		return fail(ENOENT, "no checkpoint of that name");
	const char *v[] = {n};
	PGresult *r = get_row((pg_read *)rd, "SELECT " CHECKPOINT_COLS " FROM "
			      "subscription_checkpoints WHERE name = $1", 1, v, &err, "no such checkpoint");
	if (!r)
		return err == ENOENT ? fail(ENOENT, "no checkpoint %.*s", (int)len, name) : err;
	row_checkpoint(r, 0, out);
	return 0;
}

int pg_checkpoint_get_id(es_read *rd, uint64_t id, es_checkpoint *out)
{
	char a[24];
	int err = 0;
	const char *v[] = {NUM(a, id)};
	PGresult *r = get_row((pg_read *)rd, "SELECT " CHECKPOINT_COLS " FROM "
			      "subscription_checkpoints WHERE id = $1::bigint", 1, v, &err,
			      "no checkpoint of that id");

	if (!r)
		return err;
	row_checkpoint(r, 0, out);
	return 0;
}

/* ---- Walks. ---------------------------------------------------------- */

/* Hands out one row of a page; nonzero stops the walk. */
typedef int (*row_fn)(const PGresult *res, int row, void *fn, void *arg);

/* The next page's size: without a hint (want 0), or past it,
 * PAGE_GROWTH times the last, to PAGE_MAX; with one, the rows that the
 * bytes still wanted come to, at the size of the rows so far, and an
 * eighth more, but never more than PAGE_HINTED_GROWTH times the rows so
 * far (the next rows may be far bigger than those: a page's bytes grow
 * by that much at most), nor PAGE_HINTED_MAX. */
static uint64_t next_page(uint64_t page, size_t want, uint64_t rows, uint64_t bytes)
{
	if (want <= bytes || rows == 0) {
		page *= PAGE_GROWTH;
		return page > PAGE_MAX ? PAGE_MAX : page;
	}
	page = (want - bytes) / (bytes / rows + 1) * 9 / 8 + 1;
	if (page > rows * PAGE_HINTED_GROWTH)
		page = rows * PAGE_HINTED_GROWTH;
	return page < PAGE_FIRST ? PAGE_FIRST : page > PAGE_HINTED_MAX ? PAGE_HINTED_MAX : page;
}

/* Walks the rows of sql, whose $1 is the key to start from and $2 the
 * page's size, and whose first column is the key (ascending); $3 … are
 * the params. want is es_log_walk's: the bytes of the last column (an
 * event's envelope) that the caller means to take. */
static int walk(pg_read *r, const char *sql, uint64_t from, size_t want, int n,
		const char *const *params, row_fn each, void *fn, void *arg)
{
	char key[24], lim[24];
	const char *v[4] = {key, lim, n > 0 ? params[0] : NULL, n > 1 ? params[1] : NULL};
	uint64_t page = PAGE_FIRST, rows = 0, bytes = 0;
	int err = 0;

	for (;;) {
		NUM(key, from);
		NUM(lim, page);
		PGresult *res = query(r, sql, 2 + n, v, 0, &err);
		if (!res)
			return err;
		int got = PQntuples(res), cols = PQnfields(res), stop = 0;
		for (int i = 0; i < got && !stop; i++) {
			uint64_t key = u64(res, i, 0);
			if (key < from) {	/* (not a bigint key: it would never end) */
				PQclear(res);
				return fail(EIO, "PostgreSQL: a walk's key went back, from %" PRIu64
					    " to %" PRIu64, from, key);
			}
			from = key + 1;
			bytes += (uint64_t)PQgetlength(res, i, cols - 1);
			rows++;
			stop = each(res, i, fn, arg);
		}
		PQclear(res);
		if (stop || (uint64_t)got < page)
			return 0;
		page = next_page(page, want, rows, bytes);
	}
}

static int each_event(const PGresult *res, int i, void *fn, void *arg)
{
	es_event ev;

	row_event(res, i, &ev);
	return ((es_event_fn)fn)(arg, &ev);
}

int pg_log_walk(es_read *rd, uint64_t from, size_t want, es_event_fn fn, void *arg)
{
	return walk((pg_read *)rd, "SELECT " EVENT_COLS " FROM events WHERE global_position >= "
		    "$1::bigint ORDER BY global_position LIMIT $2::bigint", from, want, 0, NULL,
		    each_event, (void *)fn, arg);
}

/* Stream walks are keyed by version: the query gives it first. */
static int each_stream_event(const PGresult *res, int i, void *fn, void *arg)
{
	es_event ev;

	ev.version = u64(res, i, 0);
	ev.position = u64(res, i, 1);
	ev.stream_id = u64(res, i, 2);
	ev.created_us = (int64_t)u64(res, i, 3);
	uuid(res, i, 4, ev.id);
	ev.json = PQgetvalue(res, i, 5);
	ev.json_len = (size_t)PQgetlength(res, i, 5);
	return ((es_event_fn)fn)(arg, &ev);
}

int pg_stream_walk(es_read *rd, uint64_t stream_id, uint64_t from, es_event_fn fn, void *arg)
{
	char a[24];
	const char *p[] = {NUM(a, stream_id)};

	return walk((pg_read *)rd, "SELECT version, global_position, stream, created_us, event_id, "
		    "envelope FROM events WHERE stream = $3::bigint AND version >= $1::bigint "
		    "ORDER BY version LIMIT $2::bigint", from, 0, 1, p, each_stream_event,
		    (void *)fn, arg);
}

static int each_stream(const PGresult *res, int i, void *fn, void *arg)
{
	es_stream st;

	row_stream(res, i, 0, &st);
	return ((es_stream_fn)fn)(arg, &st);
}

int pg_streams_walk(es_read *rd, uint64_t from, es_stream_fn fn, void *arg)
{
	return walk((pg_read *)rd, "SELECT " STREAM_COLS " FROM streams WHERE id >= $1::bigint "
		    "ORDER BY id LIMIT $2::bigint", from, 0, 0, NULL, each_stream, (void *)fn, arg);
}

static int each_snapshot(const PGresult *res, int i, void *fn, void *arg)
{
	es_snapshot sn;
	es_stream st;

	row_snapshot(res, i, &sn);
	row_stream(res, i, 4, &st);
	return ((es_snapshot_fn)fn)(arg, &sn, &st);
}

int pg_snapshots_walk(es_read *rd, uint64_t from, es_snapshot_fn fn, void *arg)
{
	return walk((pg_read *)rd, "SELECT " SNAPSHOT_COLS " FROM snapshots sn JOIN streams st "
		    "ON st.id = sn.stream WHERE sn.stream >= $1::bigint ORDER BY sn.stream "
		    "LIMIT $2::bigint", from, 0, 0, NULL, each_snapshot, (void *)fn, arg);
}

static int each_checkpoint(const PGresult *res, int i, void *fn, void *arg)
{
	es_checkpoint cp;

	row_checkpoint(res, i, &cp);
	return ((es_checkpoint_fn)fn)(arg, &cp);
}

int pg_checkpoints_walk(es_read *rd, uint64_t from, es_checkpoint_fn fn, void *arg)
{
	return walk((pg_read *)rd, "SELECT " CHECKPOINT_COLS " FROM subscription_checkpoints "
		    "WHERE id >= $1::bigint AND position IS NOT NULL ORDER BY id LIMIT $2::bigint",
		    from, 0, 0, NULL, each_checkpoint, (void *)fn, arg);
}

/* ---- Views. ---------------------------------------------------------- */

int pg_view_get(es_read *rd, int kind, const char *name, size_t len, es_view *out)
{
	char n[PG_NAME], k[24];
	int err = 0;

	if (pg_name(name, len, n))
		return fail(ENOENT, "no view of that name");
	const char *v[] = {NUM(k, kind), n};
	PGresult *r = get_row((pg_read *)rd, "SELECT " VIEW_COLS " FROM views WHERE "
			      "kind = $1::smallint AND name = $2", 2, v, &err, "no such view");
	if (!r)
		return err == ENOENT ? fail(ENOENT, "no %s %.*s", kind == ES_CATEGORY ?
					    "category" : "event type", (int)len, name) : err;
	row_view(r, 0, out);
	return 0;
}

int pg_view_get_id(es_read *rd, uint64_t id, es_view *out)
{
	char a[24];
	int err = 0;
	const char *v[] = {NUM(a, id)};
	PGresult *r = get_row((pg_read *)rd, "SELECT " VIEW_COLS " FROM views WHERE id = $1::bigint",
			      1, v, &err, "no view of that id");

	if (!r)
		return err;
	row_view(r, 0, out);
	return 0;
}

int pg_view_has(es_read *rd, uint64_t id, uint64_t position)
{
	char a[24], b[24];
	int err = 0;
	const char *v[] = {NUM(a, id), NUM(b, position)};
	PGresult *r = query((pg_read *)rd, "SELECT 1 FROM events WHERE global_position = $2::bigint "
			    "AND (category_view = $1::bigint OR type_view = $1::bigint)", 2, v, 0, &err);

	if (!r)
		return err;
	err = PQntuples(r) ? 0 : fail(ENOENT, "the event is not in that view");
	PQclear(r);
	return err;
}

static int each_view(const PGresult *res, int i, void *fn, void *arg)
{
	es_view v;

	row_view(res, i, &v);
	return ((es_view_fn)fn)(arg, &v);
}

int pg_views_walk(es_read *rd, int kind, uint64_t from, es_view_fn fn, void *arg)
{
	char k[24];
	const char *p[] = {NUM(k, kind)};

	return walk((pg_read *)rd, "SELECT " VIEW_COLS " FROM views WHERE id >= $1::bigint AND "
		    "kind = $3::smallint ORDER BY id LIMIT $2::bigint", from, 0, 1, p, each_view,
		    (void *)fn, arg);
}

int pg_view_walk(es_read *rd, uint64_t id, uint64_t from, es_event_fn fn, void *arg)
{
	pg_read *r = (pg_read *)rd;
	char a[24];
	const char *p[] = {NUM(a, id)};
	es_view v;
	int err = pg_view_get_id(rd, id, &v);

	if (err)
		return err;
	return walk(r, v.kind == ES_CATEGORY ?
		    "SELECT " EVENT_COLS " FROM events WHERE category_view = $3::bigint AND "
		    "global_position >= $1::bigint ORDER BY global_position LIMIT $2::bigint" :
		    "SELECT " EVENT_COLS " FROM events WHERE type_view = $3::bigint AND "
		    "global_position >= $1::bigint ORDER BY global_position LIMIT $2::bigint",
		    from, 0, 1, p, each_event, (void *)fn, arg);
}

int pg_stats_get(es_read *rd, es_stats *out)
{
	int err = 0;
	PGresult *r = query((pg_read *)rd, "SELECT (SELECT count(*) FROM streams), "
			    "h.global_position, (SELECT count(*) FROM snapshots), "
			    "(SELECT count(*) FROM subscription_checkpoints WHERE position IS NOT NULL), "
			    "(SELECT count(*) FROM views WHERE kind = 1), "
			    "(SELECT count(*) FROM views WHERE kind = 2), h.log_bytes, "
			    "pg_database_size(current_database()) FROM esfs_head h", 0, NULL, 0, &err);

	if (!r)
		return err;
	memset(out, 0, sizeof *out);
	out->streams = u64(r, 0, 0);
	out->events = out->head = u64(r, 0, 1);
	out->snapshots = u64(r, 0, 2);
	out->checkpoints = u64(r, 0, 3);
	out->categories = u64(r, 0, 4);
	out->types = u64(r, 0, 5);
	out->log_bytes = u64(r, 0, 6);
	out->database_bytes = u64(r, 0, 7);
	PQclear(r);
	return 0;
}

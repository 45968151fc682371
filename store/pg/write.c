/* write.c — the PostgreSQL backend's changes: each one statement, its
 * own transaction, but appends, which share one with those made at the
 * same time (group.c). An append is its row of a call of esfs_append
 * (functions.sql), which takes the head's lock, checks, builds the
 * envelopes and writes them; when the connection is lost before its answer, the append's
 * event ids (generated here when the writer gave none) tell whether it
 * was committed, so the writer learns the truth. */
#include "pg.h"
#include "../json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

/* A growing text buffer, for PostgreSQL array literals. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* One element of an array literal, quoted: '"', '\' escaped. */
static void put_elem(struct buf *b, const char *s, size_t n)
{
	put(b, b->len > 1 ? ",\"" : "\"", b->len > 1 ? 2 : 1);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			put(b, "\\", 1);
		put(b, s + i, 1);
	}
	put(b, "\"", 1);
}

/* The errno of an esfs_* function's o_err. */
static int errno_of(const char *name)
{
	static const struct { const char *name; int err; } map[] = {
		{"ENOENT", ENOENT}, {"EEXIST", EEXIST}, {"EINVAL", EINVAL},
		{"EFBIG", EFBIG}, {"ENOSPC", ENOSPC}, {"ENOTEMPTY", ENOTEMPTY},
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (strcmp(name, map[i].name) == 0)
			return map[i].err;
	return EIO;
}

/* Runs one statement on a connection of the pool. With fn_result, the
 * statement is a call of a function whose first two columns are o_err
 * and o_why: a failure there is returned as its errno. *out, when not
 * NULL, receives the result (the caller clears it). */
static int change(pg_store *s, const char *sql, int n, const char *const *vals,
		  int fn_result, PGresult **out)
{
	PGconn *c;
	int err;

	if (out)
		*out = NULL;
	if (s->read_only)
		return fail(EROFS, "the store is open read-only");
	if ((err = pg_get(s, &c)))
		return err;
	PGresult *r = pg_run(c, sql, n, vals, &err);
	pg_put(s, c);
	if (!r)
		return err;
	if (fn_result && !PQgetisnull(r, 0, 0)) {
		err = fail(errno_of(PQgetvalue(r, 0, 0)), "%s", PQgetvalue(r, 0, 1));
		PQclear(r);
		return err;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

int pg_stream_create(es_store *st, const char *name, size_t len)
{
	char n[PG_NAME];
	PGresult *r;
	int err = pg_name(name, len, n);

	if (err)
		return err;
	const char *v[] = {n};
	err = change((pg_store *)st, "INSERT INTO streams SELECT nextval('esfs_ids'), $1, 0, t, t "
		     "FROM esfs_now() t ON CONFLICT (name) DO NOTHING RETURNING id", 1, v, 0, &r);
	if (!err) {
		if (PQntuples(r) == 0)
			err = fail(EEXIST, "stream %.*s exists", (int)len, name);
		PQclear(r);
	}
	return err;
}

int pg_stream_remove(es_store *st, const char *name, size_t len)
{
	char n[PG_NAME];
	PGresult *r;
	int err;

	if (pg_name(name, len, n))
		return fail(ENOENT, "no stream of that name");
	const char *v[] = {n};
	err = change((pg_store *)st, "WITH gone AS (DELETE FROM streams WHERE name = $1 AND "
		     "version = 0 RETURNING id) SELECT (SELECT count(*) FROM gone), "
		     "(SELECT version FROM streams WHERE name = $1)", 1, v, 0, &r);
	if (!err) {
		if (PQgetvalue(r, 0, 0)[0] == '0')
			err = PQgetisnull(r, 0, 1) ?
				fail(ENOENT, "no stream %.*s", (int)len, name) :
				fail(ENOTEMPTY, "stream %.*s has %s events", (int)len, name,
				     PQgetvalue(r, 0, 1));
		PQclear(r);
	}
	return err;
}

/* ---- Appends. -------------------------------------------------------- */

/* esfs_append's arrays (PG_APPEND_SQL's order): per append, then per
 * event. */
enum { STREAMS, EXPECTED, COUNTS, STREAM, CATEGORY, IDS, GIVEN, TYPES, PREFIX, SCHEMA,
       DATA, META };

struct arrays {
	struct buf b[PG_APPEND_ARRAYS];
};

static void arrays_free(struct arrays *a)
{
	for (int k = 0; k < PG_APPEND_ARRAYS; k++)
		free(a->b[k].p);
}

/* The arrays of esfs_append's parameters for the append of the n events
 * ev to stream name (category cat, or NULL) with version expected. */
static int make_arrays(const char *name, size_t len, const char *cat, int64_t expected,
		       const struct prepared *ev, size_t n, struct arrays *a)
{
	char qstream[2 * 255 + 2], qtype[2 * 255 + 2], uuid[37], num[24];
	size_t qlen = es_json_quote(name, len, qstream);
	struct buf *b = a->b;

	for (int k = 0; k < PG_APPEND_ARRAYS; k++)
		put(&b[k], "{", 1);
	put_elem(&b[STREAMS], name, len);
	put_elem(&b[EXPECTED], num, (size_t)snprintf(num, sizeof num, "%lld", (long long)expected));
	put_elem(&b[COUNTS], num, (size_t)snprintf(num, sizeof num, "%zu", n));
	for (size_t i = 0; i < n; i++) {
		put_elem(&b[STREAM], name, len);
		if (cat)
			put_elem(&b[CATEGORY], cat, strlen(cat));
		else
			put(&b[CATEGORY], i ? ",NULL" : "NULL", i ? 5 : 4);
		uuid_unparse_lower(ev[i].id, uuid);
		put_elem(&b[IDS], uuid, 36);
		put_elem(&b[GIVEN], ev[i].given_id ? "t" : "f", 1);
		put_elem(&b[TYPES], ev[i].type, ev[i].type_len);
		struct buf pre = {0};
		put(&pre, "{\"event_id\":\"", 13);
		put(&pre, uuid, 36);
		put(&pre, "\",\"stream_id\":", 14);
		put(&pre, qstream, qlen);
		put(&pre, ",\"event_type\":", 14);
		put(&pre, qtype, es_json_quote(ev[i].type, ev[i].type_len, qtype));
		put(&pre, ",\"version\":", 11);
		if (pre.oom)
			b[PREFIX].oom = 1;
		else
			put_elem(&b[PREFIX], pre.p, pre.len);
		free(pre.p);
		put_elem(&b[SCHEMA], num, (size_t)snprintf(num, sizeof num, "%u", ev[i].schema_version));
		put_elem(&b[DATA], ev[i].data, ev[i].data_len);
		put_elem(&b[META], ev[i].meta, ev[i].meta_len);
	}
	for (int k = 0; k < PG_APPEND_ARRAYS; k++) {
		put(&b[k], "}", 1);
		if (b[k].oom)
			return fail(ENOMEM, "out of memory");
	}
	return 0;
}

/* After the connection was lost during an append: whether its events are
 * stored (1, out filled), none of them (0), or some (EIO). */
static int resolve(pg_store *s, const char *stream, const struct arrays *a, size_t n,
		   es_appended *out)
{
	PGconn *c;
	int err = pg_get(s, &c);

	if (err)
		return err;
	const char *v[] = {a->b[IDS].p, stream};
	PGresult *r = pg_run(c, "SELECT count(*), min(version), min(global_position), "
			     "bool_and(stream_id = $2) FROM events WHERE event_id = ANY($1::uuid[])",
			     2, v, &err);
	pg_put(s, c);
	if (!r)
		return err;
	uint64_t found = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	if (found == n && PQgetvalue(r, 0, 3)[0] == 't') {
		uint64_t v0 = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
		uint64_t p0 = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
		*out = (es_appended){v0, v0 + n - 1, p0, p0 + n - 1, 0};
		err = 1;
	} else if (found) {
		err = fail(EIO, "PostgreSQL: the connection was lost during an append, and only %" PRIu64
			   " of its %zu events are stored", found, n);
	}
	PQclear(r);
	return err;
}

int pg_append(es_store *st, const char *name, size_t len, int64_t expected,
	      const es_event_in *ev, size_t n, es_appended *out)
{
	pg_store *s = (pg_store *)st;
	struct prepared *p;
	struct arrays a = {0};
	struct pg_outcome o;
	es_appended done;
	char stream[PG_NAME], category[PG_NAME], *cat = NULL, max[24];
	const char *v[PG_APPEND_PARAMS];
	int err;

	if (n == 0)
		return fail(EINVAL, "no events to append");
	if (expected < ES_ANY)
		return fail(EINVAL, "bad expected version %lld", (long long)expected);
	if (s->read_only)
		return fail(EROFS, "the store is open read-only");
	if (pg_name(name, len, stream))
		return fail(ENOENT, "no stream of that name");
	if (!(p = calloc(n, sizeof *p)))
		return fail(ENOMEM, "out of memory");
	size_t clen = category_len(name, len);
	if (clen) {
		memcpy(category, name, clen);
		category[clen] = '\0';
		cat = category;
	}
	err = prepare_events(ev, n, p);
	if (!err)
		err = make_arrays(name, len, cat, expected, p, n, &a);
	snprintf(max, sizeof max, "%zu", s->max_event);
	for (int k = 0; k < PG_APPEND_ARRAYS; k++)
		v[k] = a.b[k].p;
	v[PG_APPEND_ARRAYS] = max;
	for (int tries = 0; !err; tries++) {
		int lost;
		err = pg_group_run(s, v, &o, &lost);
		if (lost) {	/* committed or not? The ids tell. */
			err = resolve(s, stream, &a, n, &done);
			if (err == 1) {
				if (out)
					*out = done;
				err = 0;
				break;
			}
			if (err)
				break;
			if (tries == 1) {
				err = fail(EIO, "PostgreSQL: the connection was lost during an append, "
					   "twice; none of its events are stored");
				break;
			}
			/* None stored: once more, every id now counted as given,
			 * so that should the first attempt commit after all (its
			 * server still running it), this one is its retry. */
			for (size_t i = 0; i < n; i++)
				p[i].given_id = 1;
			arrays_free(&a);
			a = (struct arrays){0};
			if ((err = make_arrays(name, len, cat, expected, p, n, &a)))
				break;
			for (int k = 0; k < PG_APPEND_ARRAYS; k++)
				v[k] = a.b[k].p;
			continue;
		}
		if (err)
			break;
		if (o.err[0])
			err = fail(errno_of(o.err), "%s", o.why);
		else if (out)
			*out = (es_appended){o.version, o.version + n - 1, o.position,
					     o.position + n - 1, o.retry};
		break;
	}
	for (size_t i = 0; i < n; i++) {
		free(p[i].data);
		free(p[i].meta);
	}
	free(p);
	arrays_free(&a);
	return err;
}

/* ---- Snapshots and checkpoints. -------------------------------------- */

int pg_snapshot_put(es_store *st, const char *name, size_t len,
		    uint64_t version, const char *data, size_t data_len)
{
	pg_store *s = (pg_store *)st;
	char why[256], *compact = NULL, n[PG_NAME], ver[24], q[2 * 255 + 3];
	size_t clen;
	int err;

	if (pg_name(name, len, n))
		return fail(ENOENT, "no stream of that name");
	if ((err = es_json_check(data, data_len, 0, why, sizeof why, &compact, &clen, NULL)))
		return fail(err, "snapshot data: %s", why);
	if (clen > s->max_event) {
		free(compact);
		return fail(EFBIG, "snapshot data is %zu bytes, over the limit of %zu", clen,
			    s->max_event);
	}
	q[es_json_quote(name, len, q)] = '\0';
	snprintf(ver, sizeof ver, "%" PRIu64, version);
	const char *v[] = {n, q, ver, compact};
	err = change(s, "SELECT * FROM esfs_snapshot_put($1, $2, $3::bigint, $4)", 4, v, 1, NULL);
	free(compact);
	return err;
}

int pg_snapshot_delete(es_store *st, const char *name, size_t len)
{
	char n[PG_NAME];
	PGresult *r;
	int err;

	if (pg_name(name, len, n))
		return fail(ENOENT, "no stream of that name");
	const char *v[] = {n};
	err = change((pg_store *)st, "WITH gone AS (DELETE FROM snapshots WHERE stream_id = $1 "
		     "RETURNING 1) SELECT (SELECT count(*) FROM gone), "
		     "EXISTS (SELECT 1 FROM streams WHERE name = $1)", 1, v, 0, &r);
	if (!err) {
		if (PQgetvalue(r, 0, 0)[0] == '0')
			err = PQgetvalue(r, 0, 1)[0] == 't' ?
				fail(ENOENT, "stream %.*s has no snapshot", (int)len, name) :
				fail(ENOENT, "no stream %.*s", (int)len, name);
		PQclear(r);
	}
	return err;
}

int pg_checkpoint_reserve(es_store *st, const char *name, size_t len, uint64_t *id)
{
	char n[PG_NAME];
	PGresult *r;
	int err = pg_name(name, len, n);

	if (err)
		return err;
	const char *v[] = {n};
	/* An id is taken only for a name that has none. */
	err = change((pg_store *)st, "WITH made AS (INSERT INTO subscription_checkpoints (id, name) "
		     "SELECT nextval('esfs_ids'), $1 WHERE NOT EXISTS (SELECT 1 FROM "
		     "subscription_checkpoints WHERE name = $1) ON CONFLICT (name) DO NOTHING "
		     "RETURNING id) SELECT id FROM made UNION ALL "
		     "SELECT id FROM subscription_checkpoints WHERE name = $1", 1, v, 0, &r);
	if (!err) {
		if (PQntuples(r) > 0)
			*id = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		else
			err = fail(EIO, "PostgreSQL: checkpoint %.*s was neither found nor made",
				   (int)len, name);
		PQclear(r);
	}
	return err;
}

int pg_checkpoint_put(es_store *st, const char *name, size_t len, uint64_t position)
{
	char n[PG_NAME], pos[24];
	int err = pg_name(name, len, n);

	if (err)
		return err;
	snprintf(pos, sizeof pos, "%" PRIu64, position);
	const char *v[] = {n, pos};
	err = change((pg_store *)st, "SELECT * FROM esfs_checkpoint_put($1, $2::bigint)", 2, v, 1,
		     NULL);
	return err;
}

int pg_checkpoint_delete(es_store *st, const char *name, size_t len)
{
	char n[PG_NAME];
	PGresult *r;
	int err;

	if (pg_name(name, len, n))
		return fail(ENOENT, "no checkpoint of that name");
	const char *v[] = {n};
	/* The name keeps its id, so that its inode stays the same. */
	err = change((pg_store *)st, "UPDATE subscription_checkpoints SET position = NULL, "
		     "updated_at = NULL, updated_us = esfs_now() WHERE name = $1 AND "
		     "position IS NOT NULL RETURNING id", 1, v, 0, &r);
	if (!err) {
		if (PQntuples(r) == 0)
			err = fail(ENOENT, "no checkpoint %.*s", (int)len, name);
		PQclear(r);
	}
	return err;
}

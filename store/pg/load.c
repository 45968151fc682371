/* load.c — es_import_batch for a PostgreSQL store (esfsctl restore and
 * migrate): the items of a call in one transaction that holds esfs_head's
 * lock (FOR UPDATE) from its start, each line checked by the code the
 * local backend checks it with (read_envelope, read_snapshot:
 * envelope.c), the rows written as esfs_append writes them (the
 * envelope, bytes_before, views, the stream's version and times, the
 * head); and es_import_undo, which empties again a store such a restore
 * filled and then failed. Plain statements only, no function of its own
 * in the schema, so that it works on a store made by any esfs. */
#include "pg.h"
#include "../json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

struct load {
	pg_store *s;
	PGconn *c;
	uint64_t head, bytes;	/* esfs_head's position and log_bytes, as the batch goes */
	int64_t last;		/* and its created_us */
	uint64_t events;	/* events the batch added */
	char *tmp;		/* NUL-terminated copies of texts for parameters */
	size_t tmp_cap;
};

#define NUM(buf, v) (snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(v)), buf)

static PGresult *run(struct load *l, const char *sql, int n, const char *const *v, int *err)
{
	return pg_run(l->c, sql, n, v, err);
}

/* Copies the n texts p[i] (len[i] bytes) into l->tmp, each NUL-terminated;
 * out[i] points to each. */
static int texts(struct load *l, int n, const char *const *p, const size_t *len,
		 const char **out)
{
	size_t need = 0, at = 0;

	for (int i = 0; i < n; i++)
		need += len[i] + 1;
	if (need > l->tmp_cap) {
		char *t = realloc(l->tmp, need);
		if (!t)
			return fail(ENOMEM, "out of memory");
		l->tmp = t;
		l->tmp_cap = need;
	}
	for (int i = 0; i < n; i++) {
		out[i] = l->tmp + at;
		memcpy(l->tmp + at, p[i], len[i]);
		l->tmp[at + len[i]] = '\0';
		at += len[i] + 1;
	}
	return 0;
}

/* Creates the empty stream name (NUL-terminated), made at time created:
 * its id in *id; EEXIST when it exists. */
static int create_stream(struct load *l, const char *name, int64_t created, uint64_t *id)
{
	char us[24];
	int err = 0;
	const char *v[] = {name, NUM(us, created)};
	PGresult *r = run(l, "INSERT INTO streams VALUES (nextval('esfs_ids'), $1, 0, $2::bigint, "
			  "$2::bigint) ON CONFLICT (name) DO NOTHING RETURNING id", 2, v, &err);

	if (!r)
		return err;
	if (PQntuples(r) == 0)
		err = fail(EEXIST, "stream %s exists", name);
	else
		*id = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return err;
}

#define INSERT_EVENT \
	"WITH t AS (SELECT esfs_view(2::smallint, $5, $1::bigint, $10::bigint) AS id), " \
	"c AS (SELECT CASE WHEN $4::text IS NULL THEN NULL " \
	"ELSE esfs_view(1::smallint, $4, $1::bigint, $10::bigint) END AS id), " \
	"u AS (UPDATE streams SET version = $9::bigint, updated_us = $10::bigint " \
	"WHERE id = $11::bigint) " \
	"INSERT INTO events SELECT $1::bigint, $2::uuid, $3, coalesce($4, ''), $5, " \
	"$6::integer, $7::json, $8::json, $9::bigint, " \
	"timestamp with time zone 'epoch' + $10::bigint * interval '1 microsecond', " \
	"$11::bigint, c.id, t.id, $10::bigint, $12::bigint, $13 FROM t, c"

static int load_event(struct load *l, const es_import *it)
{
	struct envelope_fields f;
	char uuid[37], pos[24], ver[24], us[24], sid[24], before[24], schema[16];
	uint64_t stream = 0, version = 0;
	PGresult *r = NULL;
	int err = read_envelope(it->json, it->json_len, &f);

	if (err)
		goto out;
	uuid_unparse_lower(f.id, uuid);
	if (f.position != l->head + 1)
		err = fail(EINVAL, "event at global position %" PRIu64 " where %" PRIu64 " comes next",
			   f.position, l->head + 1);
	else if (f.created < l->last)
		err = fail(EINVAL, "event %" PRIu64 ": created_at is before the previous event's",
			   f.position);
	else if (f.len > l->s->max_event)
		err = fail(EFBIG, "event %" PRIu64 " is %zu bytes, over the limit of %zu",
			   f.position, f.len, l->s->max_event);
	if (err)
		goto out;
	const char *look[] = {uuid, f.name};
	if (!(r = run(l, "SELECT (SELECT global_position FROM events WHERE event_id = $1::uuid), "
		      "s.id, s.version FROM (SELECT 1) one LEFT JOIN streams s ON s.name = $2",
		      2, look, &err)))
		goto out;
	if (!PQgetisnull(r, 0, 0)) {
		err = fail(EEXIST, "event %" PRIu64 ": event id %s is stored already at position %s",
			   f.position, uuid, PQgetvalue(r, 0, 0));
		goto out;
	}
	if (!PQgetisnull(r, 0, 1)) {
		stream = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
		version = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
	} else if (f.version == 1) {
		if ((err = create_stream(l, f.name, f.created, &stream)))
			goto out;
	} else {
		err = fail(EINVAL, "event %" PRIu64 " is version %" PRIu64 " of stream %s, which does not exist",
			   f.position, f.version, f.name);
		goto out;
	}
	if (f.version != version + 1) {
		err = fail(EINVAL, "event %" PRIu64 " is version %" PRIu64 " of stream %s, which is at version %" PRIu64,
			   f.position, f.version, f.name, version);
		goto out;
	}
	size_t clen = category_len(f.name, f.name_len);
	const char *src[] = {f.ev.data, f.ev.meta, f.rec, f.name};
	size_t len[] = {f.ev.data_len, f.ev.meta_len, f.len, clen};
	const char *t[4];
	if ((err = texts(l, clen ? 4 : 3, src, len, t)))
		goto out;
	snprintf(schema, sizeof schema, "%u", f.ev.schema_version);
	const char *v[] = {NUM(pos, f.position), uuid, f.name, clen ? t[3] : NULL, f.type, schema,
			   t[0], t[1], NUM(ver, f.version), NUM(us, f.created), NUM(sid, stream),
			   NUM(before, l->bytes), t[2]};
	PQclear(r);
	if (!(r = run(l, INSERT_EVENT, 13, v, &err)))
		goto out;
	l->head = f.position;
	l->bytes += f.len;
	l->last = f.created;
	l->events++;
out:
	PQclear(r);
	envelope_free(&f);
	return err;
}

static int load_snapshot(struct load *l, const es_import *it)
{
	struct snapshot_fields f;
	char ver[24], us[24];
	PGresult *r = NULL;
	const char *t[2];
	int err = read_snapshot(it->json, it->json_len, &f);

	if (err)
		goto out;
	const char *look[] = {f.name};
	if (!(r = run(l, "SELECT id, version FROM streams WHERE name = $1", 1, look, &err)))
		goto out;
	if (PQntuples(r) == 0) {
		err = fail(ENOENT, "no stream %s", f.name);
		goto out;
	}
	if (f.version > strtoull(PQgetvalue(r, 0, 1), NULL, 10)) {
		err = fail(EINVAL, "snapshot of %s at version %" PRIu64 ", past the stream's %s",
			   f.name, f.version, PQgetvalue(r, 0, 1));
		goto out;
	}
	const char *src[] = {f.data, it->json};
	size_t len[] = {f.data_len, it->json_len};
	if ((err = texts(l, 2, src, len, t)))
		goto out;
	const char *v[] = {PQgetvalue(r, 0, 0), f.name, NUM(ver, f.version), t[0],
			   NUM(us, f.created), t[1]};
	PGresult *w = run(l, "INSERT INTO snapshots VALUES ($1::bigint, $2, $3::bigint, $4::json, "
			  "timestamp with time zone 'epoch' + $5::bigint * interval '1 microsecond', "
			  "$5::bigint, $6) ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, "
			  "data = EXCLUDED.data, created_at = EXCLUDED.created_at, "
			  "created_us = EXCLUDED.created_us, line = EXCLUDED.line", 6, v, &err);
	PQclear(w);
out:
	PQclear(r);
	snapshot_fields_free(&f);
	return err;
}

static int load_checkpoint(struct load *l, const es_import *it)
{
	char why[256], pos[24], us[24];
	const char *t[1];
	int err;

	if (es_name_check(it->name, it->name_len, why, sizeof why))
		return fail(EINVAL, "checkpoint name: %s", why);
	if (it->position > l->head)
		return fail(EINVAL, "checkpoint %.*s at %" PRIu64 ", past the last position %" PRIu64,
			    (int)it->name_len, it->name, it->position, l->head);
	if ((err = texts(l, 1, &it->name, &it->name_len, t)))
		return err;
	const char *v[] = {t[0], NUM(pos, it->position), NUM(us, it->time_us)};
	/* (A reserved name keeps its id.) */
	PQclear(run(l, "INSERT INTO subscription_checkpoints VALUES (nextval('esfs_ids'), $1, "
		    "$2::bigint, timestamp with time zone 'epoch' + $3::bigint * interval '1 microsecond', "
		    "$3::bigint) ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, "
		    "updated_at = EXCLUDED.updated_at, updated_us = EXCLUDED.updated_us", 3, v, &err));
	return err;
}

static int load_one(struct load *l, const es_import *it)
{
	char why[256];
	const char *t[1];
	uint64_t id;
	int err;

	switch (it->kind) {
	case ES_IMPORT_STREAM:
		if (es_name_check(it->name, it->name_len, why, sizeof why))
			return fail(EINVAL, "stream name: %s", why);
		if ((err = texts(l, 1, &it->name, &it->name_len, t)))
			return err;
		return create_stream(l, t[0], it->time_us, &id);
	case ES_IMPORT_EVENT:
		return load_event(l, it);
	case ES_IMPORT_SNAPSHOT:
		return load_snapshot(l, it);
	case ES_IMPORT_CHECKPOINT:
		return load_checkpoint(l, it);
	default:
		return fail(EINVAL, "unknown import kind %d", it->kind);
	}
}

/* Runs a statement of no interest but its success. */
static int exec(struct load *l, const char *sql, int n, const char *const *v)
{
	int err = 0;

	PQclear(run(l, sql, n, v, &err));
	return err;
}

/* Begins the transaction and takes esfs_head's lock. */
static int begin(struct load *l)
{
	int err = exec(l, "BEGIN", 0, NULL);
	PGresult *r;

	if (err || !(r = run(l, "SELECT global_position, log_bytes, created_us FROM esfs_head "
			     "FOR UPDATE", 0, NULL, &err)))
		return err;
	if (PQntuples(r) != 1)
		err = fail(EIO, "PostgreSQL: esfs_head has %d rows, not one", PQntuples(r));
	else {
		l->head = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		l->bytes = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
		l->last = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	}
	PQclear(r);
	return err;
}

void pg_rollback(PGconn *c)
{
	char why[sizeof why_buf];

	if (PQtransactionStatus(c) == PQTRANS_IDLE)
		return;
	memcpy(why, why_buf, sizeof why);
	PQclear(pg_run(c, "ROLLBACK", 0, NULL, &(int){0}));
	memcpy(why_buf, why, sizeof why);
}

/* Ends it: the head moved on (and others told) and COMMIT, or ROLLBACK. */
static int end(struct load *l, int err)
{
	char pos[24], bytes[24], us[24];

	if (!err && l->events) {
		const char *v[] = {NUM(pos, l->head), NUM(bytes, l->bytes), NUM(us, l->last)};
		err = exec(l, "UPDATE esfs_head SET global_position = $1::bigint, "
			   "log_bytes = $2::bigint, created_us = $3::bigint", 3, v);
		if (!err)
			err = exec(l, "SELECT pg_notify('esfs', $1)", 1, v);
	}
	if (!err)
		return exec(l, "COMMIT", 0, NULL);
	pg_rollback(l->c);
	return err;
}

int pg_import_batch(es_store *st, const es_import *items, size_t n)
{
	struct load l = {.s = (pg_store *)st};
	int err;

	if (l.s->read_only)
		return fail(EROFS, "the store is open read-only");
	if (n == 0)
		return 0;
	if ((err = pg_get(l.s, &l.c)))
		return err;
	err = begin(&l);
	for (size_t i = 0; i < n && !err; i++)
		if ((err = load_one(&l, &items[i]))) {
			char why[sizeof why_buf];
			memcpy(why, why_buf, sizeof why);
			err = fail(err, "item %zu: %s", i + 1, why);
		}
	err = end(&l, err);
	pg_put(l.s, l.c);
	free(l.tmp);
	return err;
}

/* ---- Undoing a restore. ---------------------------------------------- */

int pg_import_undo(es_store *st, const es_stats *made)
{
	struct load l = {.s = (pg_store *)st};
	char ev[24], sts[24], sns[24], cps[24];
	int err;

	if (l.s->read_only)
		return fail(EROFS, "the store is open read-only");
	if ((err = pg_get(l.s, &l.c)))
		return err;
	const char *v[] = {NUM(ev, made->events), NUM(sts, made->streams),
			   NUM(sns, made->snapshots), NUM(cps, made->checkpoints)};
	PGresult *r = NULL;
	if (!(err = begin(&l)) &&
	    (r = run(&l, "SELECT (SELECT count(*) FROM events) = $1::bigint AND "
		     "(SELECT count(*) FROM streams) = $2::bigint AND "
		     "(SELECT count(*) FROM snapshots) = $3::bigint AND "
		     "(SELECT count(*) FROM subscription_checkpoints) = $4::bigint",
		     4, v, &err))) {
		static const char *const empty[] = {
			"DELETE FROM snapshots", "DELETE FROM events", "DELETE FROM streams",
			"DELETE FROM views", "DELETE FROM subscription_checkpoints",
			"UPDATE esfs_head SET global_position = 0, log_bytes = 0, created_us = 0",
		};
		if (l.head != made->events || PQgetvalue(r, 0, 0)[0] != 't')
			err = fail(EEXIST, "the store holds other things than those imported "
				   "(%" PRIu64 " events, %" PRIu64 " streams, %" PRIu64 " snapshots, %"
				   PRIu64 " checkpoints); nothing was removed", made->events,
				   made->streams, made->snapshots, made->checkpoints);
		for (size_t i = 0; i < sizeof empty / sizeof *empty && !err; i++)
			err = exec(&l, empty[i], 0, NULL);
	}
	PQclear(r);
	l.events = 0;
	err = end(&l, err);
	pg_put(l.s, l.c);
	return err;
}

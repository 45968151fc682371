/* load.c — es_import_batch for a PostgreSQL store (esfsctl restore and
 * migrate): the items of a call in one transaction that holds esfs_head's
 * lock (FOR UPDATE) from its start, each line checked by the code the
 * local backend checks it with (read_envelope, read_snapshot:
 * envelope.c), the rows written as esfs_append writes them (the
 * envelope, bytes_before, views, the stream's version and times, the
 * head); and es_import_undo, which empties again a store such a restore
 * filled and then failed. Plain statements only, no function of its own
 * in the schema, so that it works on a store made by any esfs.
 *
 * An event is one statement, its INSERT: the streams and views a batch
 * touches are looked up (or made) once and kept here, in a small hash
 * table, and their versions and last positions written once at its end,
 * all under the head's lock, so that nobody sees them in between. */
#include "pg.h"
#include "../json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

/* A stream (kind 0) or a view (ES_CATEGORY, ES_TYPE) the batch met. */
struct known {
	char *name;		/* NULL: a free slot */
	int kind;
	int exists;		/* a stream: found or made (else there is none) */
	int dirty;		/* its row is to be written at the end */
	uint64_t id;
	uint64_t at;		/* a stream's version; a view's last position */
	int64_t us;		/* its updated_us */
};

#define KNOWN 4096	/* slots: a batch of restore's or migrate's 1,000
			 * items meets at most 3,000 (a power of two) */

struct load {
	pg_store *s;
	PGconn *c;
	uint64_t head, bytes;	/* esfs_head's position and log_bytes, as the batch goes */
	int64_t last;		/* and its created_us */
	uint64_t events;	/* events the batch added */
	char *tmp;		/* NUL-terminated copies of texts for parameters */
	size_t tmp_cap;
	struct known *known;	/* KNOWN slots, or NULL until one is needed */
	size_t nknown;
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

/* The slot of (kind, name), found or claimed; NULL when memory is out or
 * the table is full (a batch of more distinct names than KNOWN / 2 is
 * refused with ENOMEM: restore and migrate send 1,000 items). */
static struct known *known(struct load *l, int kind, const char *name)
{
	size_t h = 2166136261u ^ (size_t)kind;

	if (!l->known && !(l->known = calloc(KNOWN, sizeof *l->known))) {
		fail(ENOMEM, "out of memory");
		return NULL;
	}
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (size_t i = h & (KNOWN - 1);; i = (i + 1) & (KNOWN - 1)) {
		struct known *k = &l->known[i];
		if (k->name && k->kind == kind && strcmp(k->name, name) == 0)
			return k;
		if (k->name)
			continue;
		if (l->nknown >= KNOWN / 2 || !(k->name = strdup(name))) {
			fail(ENOMEM, "too many streams and views in one import batch");
			return NULL;
		}
		k->kind = kind;
		l->nknown++;
		return k;
	}
}

/* Stream name (NUL-terminated) as the batch has it: *out, whose exists
 * says whether there is one. */
static int stream_of(struct load *l, const char *name, struct known **out)
{
	struct known *k = known(l, 0, name);
	PGresult *r;
	int err = 0;

	if (!(*out = k))
		return ENOMEM;
	if (k->id || k->exists)
		return 0;
	const char *v[] = {name};
	if (!(r = run(l, "SELECT id, version, updated_us FROM streams WHERE name = $1", 1, v, &err)))
		return err;
	if (PQntuples(r) == 1) {
		k->exists = 1;
		k->id = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		k->at = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
		k->us = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	} else {
		k->id = UINT64_MAX;	/* looked up: none */
	}
	PQclear(r);
	return 0;
}

/* Creates the empty stream name (NUL-terminated), made at time created;
 * EEXIST when it exists. */
static int create_stream(struct load *l, const char *name, int64_t created,
			 struct known **out)
{
	char us[24];
	int err = stream_of(l, name, out);
	const char *v[] = {name, NUM(us, created)};
	PGresult *r;

	if (err)
		return err;
	if ((*out)->exists)
		return fail(EEXIST, "stream %s exists", name);
	/* (es_stream_create takes no head lock: another may make it now.) */
	if (!(r = run(l, "INSERT INTO streams VALUES (nextval('esfs_ids'), $1, 0, $2::bigint, "
		      "$2::bigint) ON CONFLICT (name) DO NOTHING RETURNING id", 2, v, &err)))
		return err;
	if (PQntuples(r) == 0)
		err = fail(EEXIST, "stream %s exists", name);
	else
		**out = (struct known){(*out)->name, 0, 1, 0,
				       strtoull(PQgetvalue(r, 0, 0), NULL, 10), 0, created};
	PQclear(r);
	return err;
}

/* View (kind, name) with its newest event at pos, made at us: its id in
 * *id; made when missing. */
static int view_of(struct load *l, int kind, const char *name, uint64_t pos, int64_t us,
		   uint64_t *id)
{
	struct known *k = known(l, kind, name);
	char kd[24], p[24], u[24];
	PGresult *r;
	int err = 0;

	if (!k)
		return ENOMEM;
	if (!k->id) {
		const char *v[] = {NUM(kd, kind), name, NUM(p, pos), NUM(u, us)};
		if (!(r = run(l, "INSERT INTO views VALUES (nextval('esfs_ids'), $1::smallint, $2, "
			      "$3::bigint, $4::bigint) ON CONFLICT (kind, name) DO UPDATE SET "
			      "last_position = EXCLUDED.last_position, updated_us = EXCLUDED.updated_us "
			      "RETURNING id", 4, v, &err)))
			return err;
		k->id = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	k->at = pos;
	k->us = us;
	k->dirty = 1;
	*id = k->id;
	return 0;
}

/* Writes the versions and last positions the batch moved on. */
static int write_known(struct load *l)
{
	char id[24], at[24], us[24];
	int err = 0;

	for (size_t i = 0; l->known && i < KNOWN && !err; i++) {
		struct known *k = &l->known[i];
		if (!k->name || !k->dirty)
			continue;
		const char *v[] = {NUM(id, k->id), NUM(at, k->at), NUM(us, k->us)};
		PQclear(run(l, k->kind ? "UPDATE views SET last_position = $2::bigint, "
			    "updated_us = $3::bigint WHERE id = $1::bigint" :
			    "UPDATE streams SET version = $2::bigint, updated_us = $3::bigint "
			    "WHERE id = $1::bigint", 3, v, &err));
	}
	return err;
}

static void known_free(struct load *l)
{
	for (size_t i = 0; l->known && i < KNOWN; i++)
		free(l->known[i].name);
	free(l->known);
}

#define INSERT_EVENT "INSERT INTO events VALUES ($1::bigint, $2::uuid, $3, coalesce($4, ''), " \
	"$5, $6::integer, $7::json, $8::json, $9::bigint, " \
	"timestamp with time zone 'epoch' + $10::bigint * interval '1 microsecond', " \
	"$11::bigint, $14::bigint, $15::bigint, $10::bigint, $12::bigint, $13) " \
	"ON CONFLICT (event_id) DO NOTHING RETURNING 1"

static int load_event(struct load *l, const es_import *it)
{
	struct envelope_fields f;
	char uuid[37], pos[24], ver[24], us[24], sid[24], before[24], schema[16], tv[24], cv[24];
	struct known *st;
	uint64_t type_view, cat_view = 0;
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
	if (err || (err = stream_of(l, f.name, &st)))
		goto out;
	if (!st->exists && f.version == 1)
		err = create_stream(l, f.name, f.created, &st);
	else if (!st->exists)
		err = fail(EINVAL, "event %" PRIu64 " is version %" PRIu64 " of stream %s, which does not exist",
			   f.position, f.version, f.name);
	else if (f.version != st->at + 1)
		err = fail(EINVAL, "event %" PRIu64 " is version %" PRIu64 " of stream %s, which is at version %" PRIu64,
			   f.position, f.version, f.name, st->at);
	if (err)
		goto out;
	size_t clen = category_len(f.name, f.name_len);
	const char *src[] = {f.ev.data, f.ev.meta, f.rec, f.name};
	size_t len[] = {f.ev.data_len, f.ev.meta_len, f.len, clen};
	const char *t[4];
	if ((err = texts(l, clen ? 4 : 3, src, len, t)) ||
	    (err = view_of(l, ES_TYPE, f.type, f.position, f.created, &type_view)) ||
	    (clen && (err = view_of(l, ES_CATEGORY, t[3], f.position, f.created, &cat_view))))
		goto out;
	snprintf(schema, sizeof schema, "%u", f.ev.schema_version);
	const char *v[] = {NUM(pos, f.position), uuid, f.name, clen ? t[3] : NULL, f.type, schema,
			   t[0], t[1], NUM(ver, f.version), NUM(us, f.created), NUM(sid, st->id),
			   NUM(before, l->bytes), t[2], clen ? NUM(cv, cat_view) : NULL,
			   NUM(tv, type_view)};
	if (!(r = run(l, INSERT_EVENT, 15, v, &err)))
		goto out;
	if (PQntuples(r) == 0) {	/* its id is there already */
		PQclear(r);
		const char *look[] = {uuid};
		if ((r = run(l, "SELECT global_position FROM events WHERE event_id = $1::uuid", 1,
			     look, &err)))
			err = fail(EEXIST, "event %" PRIu64 ": event id %s is stored already at position %s",
				   f.position, uuid, PQntuples(r) ? PQgetvalue(r, 0, 0) : "?");
		goto out;
	}
	st->at = f.version;
	st->us = f.created;
	st->dirty = 1;
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
	char id[24], ver[24], us[24];
	struct known *st;
	const char *t[2];
	int err = read_snapshot(it->json, it->json_len, &f);

	if (err)
		goto out;
	if ((err = stream_of(l, f.name, &st)))
		goto out;
	if (!st->exists) {
		err = fail(ENOENT, "no stream %s", f.name);
		goto out;
	}
	if (f.version > st->at) {
		err = fail(EINVAL, "snapshot of %s at version %" PRIu64 ", past the stream's %" PRIu64,
			   f.name, f.version, st->at);
		goto out;
	}
	const char *src[] = {f.data, it->json};
	size_t len[] = {f.data_len, it->json_len};
	if ((err = texts(l, 2, src, len, t)))
		goto out;
	const char *v[] = {NUM(id, st->id), f.name, NUM(ver, f.version), t[0],
			   NUM(us, f.created), t[1]};
	PGresult *w = run(l, "INSERT INTO snapshots VALUES ($1::bigint, $2, $3::bigint, $4::json, "
			  "timestamp with time zone 'epoch' + $5::bigint * interval '1 microsecond', "
			  "$5::bigint, $6) ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, "
			  "data = EXCLUDED.data, created_at = EXCLUDED.created_at, "
			  "created_us = EXCLUDED.created_us, line = EXCLUDED.line", 6, v, &err);
	PQclear(w);
out:
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
	struct known *st;
	int err;

	switch (it->kind) {
	case ES_IMPORT_STREAM:
		if (es_name_check(it->name, it->name_len, why, sizeof why))
			return fail(EINVAL, "stream name: %s", why);
		if ((err = texts(l, 1, &it->name, &it->name_len, t)))
			return err;
		return create_stream(l, t[0], it->time_us, &st);
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

	if (!err)
		err = write_known(l);
	if (!err && l->events) {
		const char *v[] = {NUM(pos, l->head), NUM(bytes, l->bytes), NUM(us, l->last)};
		err = exec(l, "UPDATE esfs_head SET global_position = $1::bigint, "
			   "log_bytes = $2::bigint, created_us = $3::bigint", 3, v);
		if (!err)
			err = exec(l, "SELECT pg_notify('esfs', '')", 0, NULL);
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
	known_free(&l);
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

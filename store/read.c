/* read.c — read views (es_read_begin/es_read_end) and what is read through
 * them: the lookups of streams, events, snapshots and checkpoints, the
 * walks over them, es_head, and es_stats_get. The views' own reads are in
 * views.c. */
#include "internal.h"
#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int local_read_begin(es_store *s, es_read **out)
{
	es_read *r = calloc(1, sizeof *r);
	int err;

	if (!r)
		return fail(ENOMEM, "out of memory");
	r->be = &es_local_backend;
	r->s = s;
	err = txn_begin(s, MDB_RDONLY, &r->txn);
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

void local_read_end(es_read *r)
{
	if (!r)
		return;
	mdb_txn_abort(r->txn);
	trim_map(r->s, r->walked);
	pthread_rwlock_unlock(&r->s->map_lock);
	free(r);
}

int find_stream(es_store *s, MDB_txn *txn, const char *name, size_t len,
		es_stream *out)
{
	uint64_t id;
	int rc;

	if (len == 0 || len > 255)
		return fail(ENOENT, "no stream of that name");
	rc = get_u64(txn, s->dbi[DB_STREAM_NAMES], name, len, &id);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no stream %.*s", (int)len, name);
	if (rc)
		return rc;
	MDB_val k = val(&id, 8), v;
	rc = mdb_get(txn, s->dbi[DB_STREAMS], &k, &v);
	if (rc)
		return lmdb_fail(rc, "reading a stream");
	decode_stream(id, &v, out);
	return 0;
}

int local_stream_get(es_read *r, const char *name, size_t len, es_stream *out)
{
	return find_stream(r->s, r->txn, name, len, out);
}

int local_stream_get_id(es_read *r, uint64_t id, es_stream *out)
{
	MDB_val k = val(&id, 8), v;
	int rc = mdb_get(r->txn, r->s->dbi[DB_STREAMS], &k, &v);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no stream with id %llu", (unsigned long long)id);
	if (rc)
		return lmdb_fail(rc, "reading a stream");
	decode_stream(id, &v, out);
	return 0;
}

static int event_get(es_store *s, MDB_txn *txn, uint64_t pos, es_event *out,
		     int head_only)
{
	MDB_val k = val(&pos, 8), v;
	int rc = mdb_get(txn, s->dbi[DB_EVENTS], &k, &v);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no event at position %llu", (unsigned long long)pos);
	if (rc)
		return lmdb_fail(rc, "reading an event");
	return head_only ? decode_event_head(pos, &v, out) : decode_event(s, pos, &v, out);
}

int event_at(es_store *s, MDB_txn *txn, uint64_t pos, es_event *out)
{
	return event_get(s, txn, pos, out, 0);
}

int event_head_at(es_store *s, MDB_txn *txn, uint64_t pos, es_event *out)
{
	return event_get(s, txn, pos, out, 1);
}

int local_event_get(es_read *r, uint64_t position, es_event *out)
{
	return event_at(r->s, r->txn, position, out);
}

int local_stream_event(es_read *r, uint64_t stream_id, uint64_t version,
		    es_event *out)
{
	unsigned char key[16];
	uint64_t pos;
	int rc;

	put_be64(key, stream_id);
	put_be64(key + 8, version);
	rc = get_u64(r->txn, r->s->dbi[DB_STREAM_EVENTS], key, 16, &pos);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no version %llu in that stream", (unsigned long long)version);
	if (rc)
		return rc;
	return event_at(r->s, r->txn, pos, out);
}

int last_event(es_store *s, MDB_txn *txn, uint64_t *pos, int64_t *created)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &c);

	if (rc)
		return lmdb_fail(rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	*pos = 0;
	*created = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return lmdb_fail(rc, "reading the head");
	*pos = get64(k.mv_data);
	*created = (int64_t)get64((char *)v.mv_data + 16);
	return 0;
}

int local_head(es_read *r, uint64_t *position, int64_t *created_us)
{
	return last_event(r->s, r->txn, position, created_us);
}

int local_stream_count(es_read *r, uint64_t *count)
{
	return meta_get(r->s, r->txn, "stream_count", count);
}

int local_snapshot_get(es_read *r, uint64_t stream_id, es_snapshot *out)
{
	MDB_val k = val(&stream_id, 8), v;
	int rc = mdb_get(r->txn, r->s->dbi[DB_SNAPSHOTS], &k, &v);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no snapshot");
	if (rc)
		return lmdb_fail(rc, "reading a snapshot");
	decode_snapshot(stream_id, &v, out);
	return 0;
}

int local_checkpoint_get_id(es_read *r, uint64_t id, es_checkpoint *out)
{
	MDB_val k = val(&id, 8), v;
	int rc = mdb_get(r->txn, r->s->dbi[DB_CHECKPOINTS], &k, &v);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no checkpoint with id %llu", (unsigned long long)id);
	if (rc)
		return lmdb_fail(rc, "reading a checkpoint");
	decode_checkpoint(id, &v, out);
	return 0;
}

int local_checkpoint_get(es_read *r, const char *name, size_t len,
		      es_checkpoint *out)
{
	uint64_t id;
	int rc;

	if (len == 0 || len > 255)
		return fail(ENOENT, "no checkpoint of that name");
	rc = get_u64(r->txn, r->s->dbi[DB_CHECKPOINT_NAMES], name, len, &id);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no checkpoint %.*s", (int)len, name);
	if (rc)
		return rc;
	return local_checkpoint_get_id(r, id, out);
}

/* ---- Walks. ---------------------------------------------------------- */

int walk(es_read *r, int db, const void *from, size_t flen,
	 step_fn step, void *ctx)
{
	MDB_cursor *c;
	MDB_val k = val(from, flen), v;
	int rc = mdb_cursor_open(r->txn, r->s->dbi[db], &c);
	int err = 0;

	if (rc)
		return lmdb_fail(rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		r->walked += k.mv_size + v.mv_size;
		err = step(r, &k, &v, ctx);
		if (err)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (err && err != STOP)
		return err;
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_fail(rc, "walking");
	return 0;
}

int stop_or(int cb)
{
	return cb ? STOP : 0;
}

static int log_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_event ev;

	int err = decode_event(r->s, get64(k->mv_data), v, &ev);

	if (err)
		return err;
	r->walked += ev.json_len;
	return stop_or(((es_event_fn)w->fn)(w->arg, &ev));
}

int local_log_walk(es_read *r, uint64_t from, size_t want, es_event_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, 0};

	(void)want;	/* (a cursor reads no more than it hands out) */
	return walk(r, DB_EVENTS, &from, 8, log_step, &w);
}

static int stream_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	unsigned char prefix[8];
	es_event ev;

	put_be64(prefix, w->stream_id);
	if (memcmp(k->mv_data, prefix, 8) != 0)
		return STOP;
	int err = event_at(r->s, r->txn, get64(v->mv_data), &ev);
	if (err)
		return err == ENOENT ? fail(EIO, "stream index points at a missing event") : err;
	r->walked += ev.json_len;
	return stop_or(((es_event_fn)w->fn)(w->arg, &ev));
}

int local_stream_walk(es_read *r, uint64_t stream_id, uint64_t from,
		   es_event_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, stream_id};
	unsigned char key[16];

	put_be64(key, stream_id);
	put_be64(key + 8, from);
	return walk(r, DB_STREAM_EVENTS, key, 16, stream_step, &w);
}

static int streams_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_stream st;

	(void)r;
	decode_stream(get64(k->mv_data), v, &st);
	return stop_or(((es_stream_fn)w->fn)(w->arg, &st));
}

int local_streams_walk(es_read *r, uint64_t from, es_stream_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, 0};

	return walk(r, DB_STREAMS, &from, 8, streams_step, &w);
}

static int snapshots_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_snapshot sn;
	es_stream st;

	decode_snapshot(get64(k->mv_data), v, &sn);
	int err = local_stream_get_id(r, sn.stream_id, &st);
	if (err)
		return err == ENOENT ? fail(EIO, "a snapshot of a missing stream") : err;
	return stop_or(((es_snapshot_fn)w->fn)(w->arg, &sn, &st));
}

int local_snapshots_walk(es_read *r, uint64_t from, es_snapshot_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, 0};

	return walk(r, DB_SNAPSHOTS, &from, 8, snapshots_step, &w);
}

static int checkpoints_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_checkpoint cp;

	(void)r;
	decode_checkpoint(get64(k->mv_data), v, &cp);
	if (!cp.has_position)
		return 0;
	return stop_or(((es_checkpoint_fn)w->fn)(w->arg, &cp));
}

int local_checkpoints_walk(es_read *r, uint64_t from, es_checkpoint_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, 0};

	return walk(r, DB_CHECKPOINTS, &from, 8, checkpoints_step, &w);
}

/* ---- Administration. ------------------------------------------------- */

static int count_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	uint64_t *n = p;

	(void)v;
	if (get_be64(k->mv_data) >> VIEW_KIND_SHIFT != (n[1]))
		return STOP;
	(void)r;
	n[0]++;
	return 0;
}

/* Views of a kind: n[0] counts, n[1] is the kind. */
static int count_views(es_read *r, int kind, uint64_t *count)
{
	uint64_t n[2] = {0, (uint64_t)kind};
	unsigned char key[8];

	put_be64(key, (uint64_t)kind << VIEW_KIND_SHIFT);
	int err = walk(r, DB_VIEWS, key, 8, count_step, n);
	*count = n[0];
	return err;
}

static int count_checkpoint(void *arg, const es_checkpoint *cp)
{
	(void)cp;
	++*(uint64_t *)arg;
	return 0;
}

uint64_t entries(es_read *r, int db)
{
	MDB_stat st;

	return mdb_stat(r->txn, r->s->dbi[db], &st) == 0 ? st.ms_entries : 0;
}

/* The head, and the bytes of the envelopes up to it (the last event's
 * before and its own): one cursor step for a whole OP_EVENTS. */
int log_bytes(es_store *s, MDB_txn *txn, uint64_t *head, uint64_t *bytes)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &c);

	if (rc)
		return lmdb_fail(rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	*head = *bytes = 0;
	if (rc == 0 && v.mv_size == EVENT_REC) {
		*head = get64(k.mv_data);
		*bytes = get64((char *)v.mv_data + EV_BEFORE) + get64((char *)v.mv_data + EV_LEN);
	} else if (rc == 0) {
		rc = MDB_CORRUPTED;
	}
	mdb_cursor_close(c);
	return rc && rc != MDB_NOTFOUND ? lmdb_fail(rc, "reading the head") : 0;
}

int local_log_bytes(es_read *r, uint64_t position, uint64_t *bytes)
{
	uint64_t head;
	int err = log_bytes(r->s, r->txn, &head, bytes);

	if (err)
		return err;
	if (position == 0 || position > head + 1)
		return fail(ENOENT, "no global position %llu", (unsigned long long)position);
	if (position <= head) {
		MDB_val k = val(&position, 8), v;
		int rc = mdb_get(r->txn, r->s->dbi[DB_EVENTS], &k, &v);
		if (rc)
			return lmdb_fail(rc, "reading an event");
		*bytes = get64((char *)v.mv_data + EV_BEFORE);
	}
	return 0;
}

int local_stats_get(es_read *r, es_stats *out)
{
	MDB_envinfo info;
	MDB_stat st;
	int64_t created;
	int err;

	memset(out, 0, sizeof *out);
	out->streams = entries(r, DB_STREAMS);
	out->events = entries(r, DB_EVENTS);
	out->snapshots = entries(r, DB_SNAPSHOTS);
	if ((err = local_checkpoints_walk(r, 0, count_checkpoint, &out->checkpoints)) ||
	    (err = count_views(r, ES_CATEGORY, &out->categories)) ||
	    (err = count_views(r, ES_TYPE, &out->types)) ||
	    (err = last_event(r->s, r->txn, &out->head, &created)))
		return err;
	if (mdb_env_info(r->s->env, &info) != 0 || mdb_env_stat(r->s->env, &st) != 0)
		return fail(EIO, "cannot read the store's size");
	out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	out->map_bytes = info.me_mapsize;
	log_end end;
	uint64_t used;
	if ((err = get_log_end(r->s, r->txn, &end)))
		return err;
	out->log_bytes = end.offset;
	log_sizes(r->s->log, &out->log_file_bytes, &used);
	return 0;
}

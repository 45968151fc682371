/* views.c — the categories and types views: looking them up and walking
 * them, and indexing an event into them in its append's transaction. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* Fills out from the record of view id (value v). */
static int view_at(es_read *r, uint64_t id, const MDB_val *v, es_view *out)
{
	unsigned char key[16];
	MDB_cursor *c;
	MDB_val k = val(key, 16), kv;
	es_event ev;
	int rc, err;

	out->id = id;
	out->kind = (int)(id >> VIEW_KIND_SHIFT);
	out->name = v->mv_data;
	out->name_len = v->mv_size;
	/* Its newest event: the last key before (id + 1, 0). */
	put_be64(key, id + 1);
	put_be64(key + 8, 0);
	if ((rc = mdb_cursor_open(r->txn, r->s->dbi[DB_VIEW_EVENTS], &c)))
		return lmdb_fail(rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &kv, MDB_SET_RANGE);
	rc = mdb_cursor_get(c, &k, &kv, rc == 0 ? MDB_PREV : MDB_LAST);
	if (rc == 0 && (k.mv_size != 16 || get_be64(k.mv_data) != id))
		rc = MDB_NOTFOUND;
	if (rc == 0)
		out->last_position = get_be64((char *)k.mv_data + 8);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "view %.*s has no events", (int)v->mv_size,
			    (const char *)v->mv_data);
	if (rc)
		return lmdb_fail(rc, "reading a view");
	if ((err = event_head_at(r->s, r->txn, out->last_position, &ev)))
		return err;
	out->updated_us = ev.created_us;
	return 0;
}

int local_view_get_id(es_read *r, uint64_t id, es_view *out)
{
	unsigned char key[8];
	MDB_val k = val(key, 8), v;

	put_be64(key, id);
	int rc = mdb_get(r->txn, r->s->dbi[DB_VIEWS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no view %llu", (unsigned long long)id);
	if (rc)
		return lmdb_fail(rc, "reading a view");
	return view_at(r, id, &v, out);
}

int local_view_get(es_read *r, int kind, const char *name, size_t len, es_view *out)
{
	unsigned char key[1 + 255];
	uint64_t id;

	if (len == 0 || len > 255)
		return fail(ENOENT, "no view of that name");
	view_key(key, kind, name, len);
	int rc = get_u64(r->txn, r->s->dbi[DB_VIEW_NAMES], key, 1 + len, &id);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no %s %.*s", kind == ES_CATEGORY ? "category" : "event type",
			    (int)len, name);
	return rc ? rc : local_view_get_id(r, id, out);
}

int local_view_has(es_read *r, uint64_t id, uint64_t position)
{
	unsigned char key[16];
	MDB_val k = val(key, 16), v;

	put_be64(key, id);
	put_be64(key + 8, position);
	int rc = mdb_get(r->txn, r->s->dbi[DB_VIEW_EVENTS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "event %llu is not in view %llu",
			    (unsigned long long)position, (unsigned long long)id);
	return rc ? lmdb_fail(rc, "reading a view") : 0;
}

static int views_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	uint64_t id = get_be64(k->mv_data);
	es_view view;

	if (id >> VIEW_KIND_SHIFT != w->stream_id)	/* the kind, here */
		return STOP;
	int err = view_at(r, id, v, &view);
	if (err == ENOENT)
		return 0;
	return err ? err : stop_or(((es_view_fn)w->fn)(w->arg, &view));
}

int local_views_walk(es_read *r, int kind, uint64_t from, es_view_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, (uint64_t)kind};
	uint64_t first = (uint64_t)kind << VIEW_KIND_SHIFT;
	unsigned char key[8];

	put_be64(key, from > first ? from : first);
	return walk(r, DB_VIEWS, key, 8, views_step, &w);
}

static int view_step(es_read *r, const MDB_val *k, const MDB_val *v, void *p)
{
	struct walk_ctx *w = p;
	es_event ev;

	(void)v;
	if (get_be64(k->mv_data) != w->stream_id)	/* the view id, here */
		return STOP;
	int err = event_at(r->s, r->txn, get_be64((char *)k->mv_data + 8), &ev);
	if (err)
		return err == ENOENT ? fail(EIO, "a view points at a missing event") : err;
	r->walked += ev.json_len;
	return stop_or(((es_event_fn)w->fn)(w->arg, &ev));
}

int local_view_walk(es_read *r, uint64_t id, uint64_t from, es_event_fn fn, void *arg)
{
	struct walk_ctx w = {(void *)fn, arg, id};
	unsigned char key[16];

	put_be64(key, id);
	put_be64(key + 8, from);
	return walk(r, DB_VIEW_EVENTS, key, 16, view_step, &w);
}

/* ---- Views. ---------------------------------------------------------- */

/* Finds the view of kind and name, or makes it. */
static int view_id(es_store *s, MDB_txn *txn, int kind, const char *name,
		   size_t len, uint64_t *id)
{
	unsigned char key[1 + 255], be[8];
	const char *counter = kind == ES_CATEGORY ? "next_category" : "next_type";
	uint64_t next;
	int err;

	view_key(key, kind, name, len);
	int rc = get_u64(txn, s->dbi[DB_VIEW_NAMES], key, 1 + len, id);
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((err = meta_get(s, txn, counter, &next)))
		return err;
	next = next ? next : 1;
	if (next >= (UINT64_C(1) << VIEW_KIND_SHIFT))
		return fail(ENOSPC, "no view ids left");
	*id = (uint64_t)kind << VIEW_KIND_SHIFT | next;
	put_be64(be, *id);
	if ((err = meta_put(s, txn, counter, next + 1)) ||
	    (err = put_raw(txn, s->dbi[DB_VIEW_NAMES], key, 1 + len, id, 8,
			   MDB_NOOVERWRITE)))
		return err;
	return put_raw(txn, s->dbi[DB_VIEWS], be, 8, name, len, MDB_NOOVERWRITE);
}

static int view_put(es_store *s, MDB_txn *txn, int kind, const char *name,
		    size_t len, uint64_t pos)
{
	unsigned char key[16];
	uint64_t id;
	int err = view_id(s, txn, kind, name, len, &id);

	if (err)
		return err;
	put_be64(key, id);
	put_be64(key + 8, pos);
	return put_raw(txn, s->dbi[DB_VIEW_EVENTS], key, 16, "", 0, 0);
}

/* Puts the event at pos, of stream and type, in its views. */
int index_event(es_store *s, MDB_txn *txn, uint64_t pos,
		const char *stream, size_t slen, const char *type,
		size_t tlen)
{
	size_t clen = category_len(stream, slen);
	int err = 0;

	if (clen > 0)
		err = view_put(s, txn, ES_CATEGORY, stream, clen, pos);
	return err ? err : view_put(s, txn, ES_TYPE, type, tlen, pos);
}

/* The event type of an envelope line of len bytes, unquoted into buf (256
 * bytes): for converting a format 2 store, whose records lack it. */
int envelope_type(const char *json, size_t len, char *buf, size_t *tlen)
{
	es_json_member m;
	size_t at = 0;

	while (es_json_next_member(json, len - 1, &at, &m))
		if (m.key_len == 12 && memcmp(m.key, "\"event_type\"", 12) == 0) {
			*tlen = 0;
			for (size_t i = 1; i + 1 < m.value_len && *tlen < 255; i++) {
				if (m.value[i] == '\\')
					i++;	/* names escape only '"' and '\\' */
				buf[(*tlen)++] = m.value[i];
			}
			return 0;
		}
	return fail(EIO, "an event with no event_type");
}

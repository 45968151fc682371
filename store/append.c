/* append.c — the changes of streams and events: es_stream_create,
 * es_stream_remove and es_append (validating and preparing events, the
 * idempotency checks of their ids, writing their envelopes). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

int put_stream(es_store *s, MDB_txn *txn, uint64_t id, uint64_t version,
	       int64_t created, int64_t updated, const char *name, size_t len)
{
	char rec[STREAM_HDR + 255];

	put64(rec, version);
	put64(rec + 8, (uint64_t)created);
	put64(rec + 16, (uint64_t)updated);
	memcpy(rec + STREAM_HDR, name, len);
	return put_raw(txn, s->dbi[DB_STREAMS], &id, 8, rec, STREAM_HDR + len, 0);
}

/* Creates the empty stream name, made at time created; fills out. */
int create_stream(es_store *s, MDB_txn *txn, const char *name, size_t len,
		  int64_t created, es_stream *out)
{
	uint64_t id;
	MDB_val k = val(name, len), v;
	int err;

	if (mdb_get(txn, s->dbi[DB_STREAM_NAMES], &k, &v) == 0)
		return fail(EEXIST, "stream %.*s exists", (int)len, name);
	if ((err = meta_get(s, txn, "next_stream", &id)))
		return err;
	id = id ? id : 1;
	if (id > ES_ID_MAX)
		return fail(ENOSPC, "no stream ids left");
	if ((err = op_put(s, txn, OP_STREAM, (uint64_t[]){id, (uint64_t)created}, 2,
			  name, len)))
		return err;
	*out = (es_stream){id, 0, created, created, name, len};
	return 0;
}

static int do_stream_create(es_store *s, MDB_txn *txn, void *p)
{
	struct name_arg *a = p;
	es_stream st;

	return create_stream(s, txn, a->name, a->len, now_us(), &st);
}

int local_stream_create(es_store *s, const char *name, size_t len)
{
	struct name_arg a = {name, len};
	int err = es_name_check(name, len, why_buf, sizeof why_buf);

	return err ? err : write_txn(s, do_stream_create, &a);
}

static int do_stream_remove(es_store *s, MDB_txn *txn, void *p)
{
	struct name_arg *a = p;
	es_stream st;
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	if (st.version > 0)
		return fail(ENOTEMPTY, "stream %.*s has %llu events", (int)a->len,
			    a->name, (unsigned long long)st.version);
	return op_put(s, txn, OP_STREAM_REMOVE, &st.id, 1, NULL, 0);
}

int local_stream_remove(es_store *s, const char *name, size_t len)
{
	struct name_arg a = {name, len};

	return write_txn(s, do_stream_remove, &a);
}

/* ---- Appends. -------------------------------------------------------- */

struct append_arg {
	const char *name;
	size_t len;
	int64_t expected;
	struct prepared *ev;
	size_t n;
	es_appended *out;
};

/* Decides whether the batch is a retry, a conflict, or new. Returns 0 for
 * new events, 1 for a retry (out filled), or an error. */
static int check_ids(es_store *s, MDB_txn *txn, struct append_arg *a,
		     const es_stream *st)
{
	size_t found = 0;
	uint64_t prev_version = 0;
	int in_order = 1;
	es_event first = {0}, last = {0};
	char u[37];

	for (size_t i = 0; i < a->n; i++) {
		uint64_t pos;
		es_event ev;
		if (!a->ev[i].given_id)
			continue;
		int rc = get_u64(txn, s->dbi[DB_EVENT_IDS], a->ev[i].id, 16, &pos);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc)
			return rc;
		int err = event_head_at(s, txn, pos, &ev);
		if (err)
			return err;
		if (ev.stream_id != st->id) {
			MDB_val k = val(&ev.stream_id, 8), v;
			es_stream other = {.name = "?", .name_len = 1};
			if (mdb_get(txn, s->dbi[DB_STREAMS], &k, &v) == 0)
				decode_stream(ev.stream_id, &v, &other);
			uuid_unparse_lower(a->ev[i].id, u);
			return fail(EEXIST, "event id %s is already stored in stream %.*s at version %llu",
				    u, (int)other.name_len, other.name,
				    (unsigned long long)ev.version);
		}
		if (found == 0)
			first = ev;
		else if (ev.version != prev_version + 1)
			in_order = 0;	/* a retry is the batch as it was stored */
		prev_version = ev.version;
		last = ev;
		found++;
	}
	if (found == 0)
		return 0;
	if (found < a->n || !in_order) {
		uuid_unparse_lower(first.id, u);
		return fail(EEXIST, "stream %.*s: %zu of the %zu events are already stored (event id %s at version %llu)%s",
			    (int)a->len, a->name, found, a->n, u,
			    (unsigned long long)first.version,
			    in_order ? "" : ", in another order");
	}
	if (a->out) {
		a->out->first_version = first.version;
		a->out->last_version = last.version;
		a->out->first_position = first.position;
		a->out->last_position = last.position;
		a->out->retry = 1;
	}
	return 1;
}

/* Indexes the event at pos, version of stream st, whose envelope is len
 * bytes at offset in the log, with `before` bytes of envelopes before it.
 * The caller updates the stream. */
int store_event(es_store *s, MDB_txn *txn, const es_stream *st,
		uint64_t version, uint64_t pos, int64_t created,
		const unsigned char *id, uint64_t offset, size_t len,
		uint64_t before, const char *type, size_t type_len)
{
	char rec[EVENT_REC];
	unsigned char skey[16];
	int err;

	put64(rec, st->id);
	put64(rec + 8, version);
	put64(rec + 16, (uint64_t)created);
	memcpy(rec + 24, id, 16);
	put64(rec + EV_OFFSET, offset);
	put64(rec + EV_LEN, len);
	put64(rec + EV_BEFORE, before);
	put_be64(skey, st->id);
	put_be64(skey + 8, version);
	if ((err = put_raw(txn, s->dbi[DB_EVENTS], &pos, 8, rec, EVENT_REC, MDB_APPEND)) ||
	    (err = put_raw(txn, s->dbi[DB_EVENT_IDS], id, 16, &pos, 8,
			   MDB_NOOVERWRITE)) ||
	    (err = put_raw(txn, s->dbi[DB_STREAM_EVENTS], skey, 16, &pos, 8,
			   MDB_NOOVERWRITE)))
		return err;
	return index_event(s, txn, pos, st->name, st->name_len, type, type_len);
}

/* Appends the n events ev to stream st, the first at position head + 1,
 * made at time created: one OP_EVENTS op holding their envelopes. */
int append_events(es_store *s, MDB_txn *txn, const es_stream *st,
		  uint64_t head, int64_t created, const struct prepared *ev,
		  size_t n)
{
	char qstream[2 * 255 + 2];
	size_t qlen = es_json_quote(st->name, st->name_len, qstream);
	size_t need = EVENTS_HDR;
	char *p;

	for (size_t i = 0; i < n; i++)
		need += EVENT_OP_HDR + 255 + ENVELOPE_FIXED + qlen + 2 * ev[i].type_len +
			ev[i].data_len + ev[i].meta_len;
	if (!(p = op_begin(s, need)))
		return ENOMEM;
	put64(p, st->id);
	put64(p + 8, st->version + 1);
	put64(p + 16, head + 1);
	put64(p + 24, (uint64_t)created);
	put64(p + 32, n);
	size_t off = EVENTS_HDR;
	for (size_t i = 0; i < n; i++) {
		char *e = p + off;
		memcpy(e, ev[i].id, 16);
		memcpy(e + EVENT_OP_HDR, ev[i].type, ev[i].type_len);
		size_t len = envelope(e + EVENT_OP_HDR + ev[i].type_len, &ev[i], qstream, qlen,
				      st->version + 1 + i, head + 1 + i, created);
		if (len > s->max_event)
			return fail(EFBIG, "event %zu is %zu bytes, over the limit of %zu",
				    i + 1, len, s->max_event);
		put32(e + 16, (uint32_t)ev[i].type_len);
		put32(e + 20, (uint32_t)len);
		off += EVENT_OP_HDR + ev[i].type_len + len;
	}
	return op_end(s, txn, OP_EVENTS, off);
}

static int do_append(es_store *s, MDB_txn *txn, void *p)
{
	struct append_arg *a = p;
	es_stream st;
	uint64_t head;
	int64_t last_created, created = now_us();
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	err = check_ids(s, txn, a, &st);
	if (err == 1)
		return NO_CHANGE;	/* a retry: the events are stored already */
	if (err)
		return err;
	if (a->expected != ES_ANY && (uint64_t)a->expected != st.version)
		return fail(EEXIST, "wrong expected version: stream %.*s, expected %lld, actual %llu",
			    (int)a->len, a->name, (long long)a->expected,
			    (unsigned long long)st.version);
	if ((err = last_event(s, txn, &head, &last_created)))
		return err;
	if (created < last_created)
		created = last_created;	/* created_at never goes backwards */
	if (head + a->n > ES_ID_MAX || st.version + a->n > ES_ID_MAX)
		return fail(ENOSPC, "no positions left");
	if ((err = append_events(s, txn, &st, head, created, a->ev, a->n)))
		return err;
	if (a->out) {
		a->out->first_version = st.version + 1;
		a->out->last_version = st.version + a->n;
		a->out->first_position = head + 1;
		a->out->last_position = head + a->n;
		a->out->retry = 0;
	}
	return 0;
}

int local_append(es_store *s, const char *name, size_t len, int64_t expected,
	      const es_event_in *ev, size_t n, es_appended *out)
{
	struct append_arg a = {name, len, expected, NULL, n, out};
	int err;

	if (n == 0)
		return fail(EINVAL, "no events to append");
	if (expected < ES_ANY)
		return fail(EINVAL, "bad expected version %lld", (long long)expected);
	a.ev = calloc(n, sizeof *a.ev);
	if (!a.ev)
		return fail(ENOMEM, "out of memory");
	err = prepare_events(ev, n, a.ev);
	if (!err)
		err = write_txn(s, do_append, &a);
	for (size_t i = 0; i < n; i++) {
		free(a.ev[i].data);
		free(a.ev[i].meta);
	}
	free(a.ev);
	return err;
}

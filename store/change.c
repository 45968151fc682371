/* change.c — a change's ops: the one code path by which the index changes.
 *
 * A change (a write_fn run by the group commit, commit.c) validates what
 * it is asked against the index, then says what it does as ops: a stream
 * made or removed, events appended, a snapshot or a checkpoint put. Each
 * op is written into the change's log record (s->change) and applied to
 * the index at once, so that the rest of the change sees it. The leader
 * adds the record to the group it writes to the log. Recovery (recover.c)
 * applies the records of the log again with apply_record: the same
 * functions, so the index rebuilt from the log is the index the changes
 * made.
 *
 * An op is OP_HDR bytes (u32 op, u32 length) then its payload: u64 fields
 * in the order internal.h gives, then bytes. The envelopes of OP_EVENTS
 * stay in the log; the index keeps their offsets.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *op_begin(es_store *s, size_t need)
{
	size_t want = s->change_len + OP_HDR + need;

	if (want > s->change_cap) {
		size_t cap = s->change_cap ? s->change_cap : 4096;
		while (cap < want)
			cap *= 2;
		char *b = realloc(s->change, cap);
		if (!b) {
			fail(ENOMEM, "out of memory");
			return NULL;
		}
		s->change = b;
		s->change_cap = cap;
	}
	return s->change + s->change_len + OP_HDR;
}

static int apply_op(es_store *s, MDB_txn *txn, uint32_t op, const char *p,
		    size_t len, uint64_t at);

int op_end(es_store *s, MDB_txn *txn, uint32_t op, size_t len)
{
	char *h = s->change + s->change_len;
	uint64_t at = s->change_base + s->change_len + OP_HDR;

	put32(h, op);
	put32(h + 4, (uint32_t)len);
	s->change_len += OP_HDR + len;
	return txn ? apply_op(s, txn, op, h + OP_HDR, len, at) : 0;
}

int op_put(es_store *s, MDB_txn *txn, uint32_t op, const uint64_t *fields,
	   int n, const void *bytes, size_t len)
{
	char *p = op_begin(s, 8 * (size_t)n + len);

	if (!p)
		return ENOMEM;
	for (int i = 0; i < n; i++)
		put64(p + 8 * i, fields[i]);
	if (len)
		memcpy(p + 8 * n, bytes, len);
	return op_end(s, txn, op, 8 * (size_t)n + len);
}

/* ---- Applying. ------------------------------------------------------- */

static int bad(const char *what, uint64_t at)
{
	return fail(EIO, "the log disagrees with the index at offset %llu: %s",
		    (unsigned long long)at, what);
}

/* Raises meta counter key to at least v. */
static int raise_meta(es_store *s, MDB_txn *txn, const char *key, uint64_t v)
{
	uint64_t have;
	int err = meta_get(s, txn, key, &have);

	return err ? err : have >= v ? 0 : meta_put(s, txn, key, v);
}

static int get_stream(es_store *s, MDB_txn *txn, uint64_t id, es_stream *st)
{
	MDB_val k = val(&id, 8), v;
	int rc = mdb_get(txn, s->dbi[DB_STREAMS], &k, &v);

	if (rc)
		return rc == MDB_NOTFOUND ? ENOENT : lmdb_fail(rc, "reading a stream");
	decode_stream(id, &v, st);
	return 0;
}

static int apply_stream(es_store *s, MDB_txn *txn, const char *p, size_t len,
			uint64_t at)
{
	uint64_t id = get64(p), count;
	int64_t created = (int64_t)get64(p + 8);
	const char *name = p + 16;
	size_t nlen = len - 16;
	int err;

	es_stream had;
	if (len <= 16 || len > 16 + 255)
		return bad("a stream op of a bad length", at);
	if ((err = get_stream(s, txn, id, &had)) != ENOENT)
		return err ? err : bad("a stream id made twice", at);
	if ((err = put_stream(s, txn, id, 0, created, created, name, nlen)))
		return err;
	MDB_val k = val(name, nlen), v = val(&id, 8);
	int rc = mdb_put(txn, s->dbi[DB_STREAM_NAMES], &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return bad("a stream made twice", at);
	if (rc)
		return lmdb_fail(rc, "writing");
	if ((err = raise_meta(s, txn, "next_stream", id + 1)) ||
	    (err = meta_get(s, txn, "stream_count", &count)))
		return err;
	return meta_put(s, txn, "stream_count", count + 1);
}

static int apply_stream_remove(es_store *s, MDB_txn *txn, const char *p,
			       size_t len, uint64_t at)
{
	es_stream st;
	uint64_t id = len == 8 ? get64(p) : 0, count;
	int err = get_stream(s, txn, id, &st);

	if (err)
		return err == ENOENT ? bad("a missing stream removed", at) : err;
	MDB_val k = val(&id, 8), n = val(st.name, st.name_len);
	int rc = mdb_del(txn, s->dbi[DB_STREAM_NAMES], &n, NULL);
	if (rc == 0)
		rc = mdb_del(txn, s->dbi[DB_STREAMS], &k, NULL);
	if (rc)
		return lmdb_fail(rc, "removing a stream");
	if ((err = meta_get(s, txn, "stream_count", &count)))
		return err;
	return meta_put(s, txn, "stream_count", count ? count - 1 : 0);
}

static int apply_events(es_store *s, MDB_txn *txn, const char *p, size_t len,
			uint64_t at)
{
	es_stream st;
	uint64_t head, before;
	int err;

	if (len < EVENTS_HDR)
		return bad("an events op of a bad length", at);
	uint64_t sid = get64(p), version = get64(p + 8), pos = get64(p + 16);
	int64_t created = (int64_t)get64(p + 24);
	uint64_t n = get64(p + 32);
	char name[255];
	if ((err = get_stream(s, txn, sid, &st)))
		return err == ENOENT ? bad("events of a missing stream", at) : err;
	memcpy(name, st.name, st.name_len);	/* LMDB's copy may move as we write */
	st.name = name;
	if ((err = log_bytes(s, txn, &head, &before)))
		return err;
	if (version != st.version + 1 || pos != head + 1 || n == 0)
		return bad("events out of order", at);
	size_t off = EVENTS_HDR;
	for (uint64_t i = 0; i < n; i++) {
		if (len - off < EVENT_OP_HDR)
			return bad("an events op cut short", at);
		const char *e = p + off;
		size_t tlen = get32(e + 16), elen = get32(e + 20);
		if (tlen > 255 || len - off - EVENT_OP_HDR < tlen + elen)
			return bad("an events op cut short", at);
		if ((err = store_event(s, txn, &st, version + i, pos + i, created,
				       (const unsigned char *)e,
				       at + off + EVENT_OP_HDR + tlen, elen, before,
				       e + EVENT_OP_HDR, tlen)))
			return err;
		before += elen;
		off += EVENT_OP_HDR + tlen + elen;
	}
	if (off != len)
		return bad("an events op of a bad length", at);
	return put_stream(s, txn, sid, st.version + n, st.created_us, created,
			  st.name, st.name_len);
}

static int apply_snapshot(es_store *s, MDB_txn *txn, uint32_t op, const char *p,
			  size_t len, uint64_t at)
{
	uint64_t sid = len >= 8 ? get64(p) : 0;
	MDB_val k = val(&sid, 8);
	int rc;

	if (op == OP_SNAPSHOT_DELETE) {
		if (len != 8 || (rc = mdb_del(txn, s->dbi[DB_SNAPSHOTS], &k, NULL)) == MDB_NOTFOUND)
			return bad("a missing snapshot deleted", at);
		return rc ? lmdb_fail(rc, "deleting a snapshot") : 0;
	}
	es_stream st;
	if (len < 8 + SNAPSHOT_HDR + 2)
		return bad("a snapshot op of a bad length", at);
	if ((rc = get_stream(s, txn, sid, &st)))
		return rc == ENOENT ? bad("a snapshot of a missing stream", at) : rc;
	return put_raw(txn, s->dbi[DB_SNAPSHOTS], &sid, 8, p + 8, len - 8, 0);
}

static int apply_checkpoint(es_store *s, MDB_txn *txn, const char *p,
			    size_t len, uint64_t at)
{
	if (len <= 32 || len > 32 + 255)
		return bad("a checkpoint op of a bad length", at);
	struct checkpoint_arg a = {p + 32, len - 32, get64(p + 8), get64(p + 24) != 0,
				   get64(p)};
	uint64_t have;
	int err, rc = get_u64(txn, s->dbi[DB_CHECKPOINT_NAMES], a.name, a.len, &have);

	if (rc == MDB_NOTFOUND) {
		if ((err = put_raw(txn, s->dbi[DB_CHECKPOINT_NAMES], a.name, a.len, &a.id, 8, 0)) ||
		    (err = raise_meta(s, txn, "next_checkpoint", a.id + 1)))
			return err;
	} else if (rc) {
		return rc;
	} else if (have != a.id) {
		return bad("a checkpoint's name with two ids", at);
	}
	return put_checkpoint(s, txn, &a, (int64_t)get64(p + 16));
}

static int apply_op(es_store *s, MDB_txn *txn, uint32_t op, const char *p,
		    size_t len, uint64_t at)
{
	switch (op) {
	case OP_STREAM:
		return apply_stream(s, txn, p, len, at);
	case OP_STREAM_REMOVE:
		return apply_stream_remove(s, txn, p, len, at);
	case OP_EVENTS:
		return apply_events(s, txn, p, len, at);
	case OP_SNAPSHOT:
	case OP_SNAPSHOT_DELETE:
		return apply_snapshot(s, txn, op, p, len, at);
	case OP_CHECKPOINT:
		return apply_checkpoint(s, txn, p, len, at);
	case OP_IDS: {
		int err;
		if (len != 16)
			return bad("an ids op of a bad length", at);
		if ((err = raise_meta(s, txn, "next_stream", get64(p))))
			return err;
		return raise_meta(s, txn, "next_checkpoint", get64(p + 8));
	}
	default:
		return bad("an unknown op", at);
	}
}

int apply_record(es_store *s, MDB_txn *txn, const char *p, size_t len,
		 uint64_t payload)
{
	size_t off = 0;

	while (off < len) {
		if (len - off < OP_HDR)
			return bad("an op cut short", payload + off);
		uint32_t op = get32(p + off);
		size_t n = get32(p + off + 4);
		if (n > len - off - OP_HDR)
			return bad("an op cut short", payload + off);
		int err = apply_op(s, txn, op, p + off + OP_HDR, n, payload + off + OP_HDR);
		if (err)
			return err;
		off += OP_HDR + n;
	}
	return 0;
}

int record_events(const char *p, size_t len, uint64_t payload,
		  int (*fn)(void *arg, uint64_t pos, uint64_t offset, size_t len),
		  void *arg)
{
	for (size_t off = 0; off + OP_HDR <= len;) {
		uint32_t op = get32(p + off);
		size_t n = get32(p + off + 4), e = off + OP_HDR + EVENTS_HDR;
		if (n > len - off - OP_HDR)
			return EIO;
		if (op == OP_EVENTS && n >= EVENTS_HDR) {
			uint64_t pos = get64(p + off + OP_HDR + 16);
			uint64_t count = get64(p + off + OP_HDR + 32);
			for (uint64_t i = 0; i < count; i++) {
				if (e + EVENT_OP_HDR > off + OP_HDR + n)
					return EIO;
				size_t tlen = get32(p + e + 16), elen = get32(p + e + 20);
				if (tlen + elen > off + OP_HDR + n - e - EVENT_OP_HDR)
					return EIO;
				int rc = fn(arg, pos + i, payload + e + EVENT_OP_HDR + tlen, elen);
				if (rc)
					return rc;
				e += EVENT_OP_HDR + tlen + elen;
			}
		}
		off += OP_HDR + n;
	}
	return 0;
}

/* ---- The log's end, as the index has it. ----------------------------- */

int put_log_end(es_store *s, MDB_txn *txn, const log_end *end)
{
	int err;

	if ((err = meta_put(s, txn, "log_offset", end->offset)) ||
	    (err = meta_put(s, txn, "log_seq", end->seq)))
		return err;
	return meta_put(s, txn, "log_crc", end->crc);
}

int get_log_end(es_store *s, MDB_txn *txn, log_end *end)
{
	uint64_t off, seq, crc;
	int err;

	if ((err = meta_get(s, txn, "log_offset", &off)) ||
	    (err = meta_get(s, txn, "log_seq", &seq)) ||
	    (err = meta_get(s, txn, "log_crc", &crc)))
		return err;
	*end = off ? (log_end){off, seq, (uint32_t)crc} : log_start(s->log);
	return 0;
}

/* records.c — the records of the store's databases (internal.h has their
 * layout): decoding events, streams, snapshots and checkpoints, reading and
 * writing u64 and meta records; and the times they hold, es_time_format
 * and es_time_parse. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int decode_event(es_store *s, uint64_t pos, const MDB_val *v, es_event *ev)
{
	int err = decode_event_head(pos, v, ev);

	if (err)
		return err;
	ev->json = log_at(s->log, get64((char *)v->mv_data + EV_OFFSET), ev->json_len);
	if (!ev->json)
		return fail(EIO, "event %llu: its envelope is past the log's end",
			    (unsigned long long)pos);
	return 0;
}

int decode_event_head(uint64_t pos, const MDB_val *v, es_event *ev)
{
	const char *p = v->mv_data;

	if (v->mv_size != EVENT_REC)
		return fail(EIO, "event %llu: a record of %zu bytes", (unsigned long long)pos,
			    v->mv_size);
	ev->position = pos;
	ev->stream_id = get64(p);
	ev->version = get64(p + 8);
	ev->created_us = (int64_t)get64(p + 16);
	memcpy(ev->id, p + 24, 16);
	ev->json_len = get64(p + EV_LEN);
	ev->json = NULL;
	return 0;
}

unsigned es_event_names(const es_event *ev)
{
	/* The envelope starts {"event_id":"<36>","stream_id":"<name>" */
	const size_t at = sizeof "{\"event_id\":\"" - 1 + 36 + sizeof "\",\"stream_id\":\"" - 1;

	for (size_t i = at; i < ev->json_len && ev->json[i] != '"'; i++) {
		if (ev->json[i] == '\\')
			i++;	/* an escaped '"' or '\\' */
		else if (ev->json[i] == '-')
			return i > at ? 4 : 3;	/* a category: the text before it */
	}
	return 3;
}

void decode_stream(uint64_t id, const MDB_val *v, es_stream *st)
{
	const char *p = v->mv_data;

	st->id = id;
	st->version = get64(p);
	st->created_us = (int64_t)get64(p + 8);
	st->updated_us = (int64_t)get64(p + 16);
	st->name = p + STREAM_HDR;
	st->name_len = v->mv_size - STREAM_HDR;
}

void decode_snapshot(uint64_t sid, const MDB_val *v, es_snapshot *sn)
{
	const char *p = v->mv_data;

	sn->stream_id = sid;
	sn->version = get64(p);
	sn->created_us = (int64_t)get64(p + 8);
	sn->json = p + SNAPSHOT_HDR;
	sn->json_len = v->mv_size - SNAPSHOT_HDR;
}

void decode_checkpoint(uint64_t id, const MDB_val *v, es_checkpoint *cp)
{
	const char *p = v->mv_data;

	cp->id = id;
	cp->position = get64(p);
	cp->updated_us = (int64_t)get64(p + 8);
	cp->has_position = get64(p + 16) != 0;
	cp->name = p + CHECKPOINT_HDR;
	cp->name_len = v->mv_size - CHECKPOINT_HDR;
}

size_t es_time_format(int64_t us, char *buf)
{
	time_t sec = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	size_t n = strftime(buf, 21, "%Y-%m-%dT%H:%M:%S", &tm);
	return n + (size_t)snprintf(buf + n, 9, ".%06ldZ", frac);
}

int es_time_parse(const char *text, int64_t *us)
{
	struct tm tm = {0};
	int frac = 0, n = 0;
	char back[32];

	if (!text || strlen(text) != 27 ||
	    sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac, &n) != 7 ||
	    n != 27)
		return fail(EINVAL, "%s is not a time as esfs writes it", text ? text : "(none)");
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	es_time_format(*us, back);
	return strcmp(back, text) ? fail(EINVAL, "%s is not a time as esfs writes it", text) : 0;
}

/* Reads a u64 value: 0, MDB_NOTFOUND, or an errno (with the reason). */
int get_u64(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
	    uint64_t *out)
{
	MDB_val k = val(key, klen), v;
	int rc = mdb_get(txn, dbi, &k, &v);

	if (rc == MDB_NOTFOUND)
		return rc;
	if (rc)
		return lmdb_fail(rc, "reading");
	if (v.mv_size != 8)
		return fail(EIO, "a record of %zu bytes where 8 were expected",
			    v.mv_size);
	*out = get64(v.mv_data);
	return 0;
}

int put_raw(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
	    const void *data, size_t dlen, unsigned flags)
{
	MDB_val k = val(key, klen), v = val(data, dlen);
	int rc = mdb_put(txn, dbi, &k, &v, flags);

	return rc ? lmdb_fail(rc, "writing") : 0;
}

int meta_get(es_store *s, MDB_txn *txn, const char *key, uint64_t *out)
{
	int rc = get_u64(txn, s->dbi[DB_META], key, strlen(key), out);

	if (rc == MDB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	return rc;
}

int meta_put(es_store *s, MDB_txn *txn, const char *key, uint64_t v)
{
	return put_raw(txn, s->dbi[DB_META], key, strlen(key), &v, 8, 0);
}

/* verify.c — es_verify: checking that the databases agree with each other
 * and with the log. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verify {
	es_read *r;
	struct problems out;
	uint64_t max_stream, max_checkpoint, max_view[3];	/* the largest ids seen */
	uint64_t bytes;		/* of the envelopes walked */
	uint64_t logged;	/* events found in the log */
	log_end indexed;	/* where the log ends for the index */
};

/* Does db map key to the u64 want? */
static int maps_to(struct verify *v, int db, const void *key, size_t klen, uint64_t want)
{
	uint64_t got;

	return get_u64(v->r->txn, v->r->s->dbi[db], key, klen, &got) == 0 && got == want;
}

static int in_view(struct verify *v, int kind, const char *name, size_t len, uint64_t pos)
{
	unsigned char key[1 + 255];
	uint64_t id;

	view_key(key, kind, name, len);
	return get_u64(v->r->txn, v->r->s->dbi[DB_VIEW_NAMES], key, 1 + len, &id) == 0 &&
	       local_view_has(v->r, id, pos) == 0;
}

/* One event: its record, its envelope, and each index entry for it. */
static void verify_event(struct verify *v, uint64_t pos, const MDB_val *val_,
			 es_stream *st, int64_t *last_created, uint64_t *categorized)
{
	MDB_txn *txn = v->r->txn;
	es_event ev;
	struct envelope_fields f;
	unsigned char skey[16];

	if (decode_event(v->r->s, pos, val_, &ev) != 0) {
		problem(&v->out, "%s", es_why());
		return;
	}
	if (get64((char *)val_->mv_data + EV_BEFORE) != v->bytes)
		problem(&v->out, "event %llu: %llu bytes before it, where the events before hold %llu",
			(unsigned long long)pos,
			(unsigned long long)get64((char *)val_->mv_data + EV_BEFORE),
			(unsigned long long)v->bytes);
	v->bytes += ev.json_len;
	if (ev.stream_id != st->id) {
		MDB_val k = val(&ev.stream_id, 8), sv;
		if (mdb_get(txn, v->r->s->dbi[DB_STREAMS], &k, &sv) != 0) {
			problem(&v->out, "event %llu: its stream %llu does not exist",
				(unsigned long long)pos, (unsigned long long)ev.stream_id);
			st->id = 0;
			return;
		}
		decode_stream(ev.stream_id, &sv, st);
	}
	if (read_envelope(ev.json, ev.json_len, &f) != 0) {
		problem(&v->out, "event %llu: %s", (unsigned long long)pos, es_why());
		envelope_free(&f);
		return;
	}
	if (f.position != pos || f.version != ev.version || f.created != ev.created_us ||
	    memcmp(f.id, ev.id, 16) != 0 || f.name_len != st->name_len ||
	    memcmp(f.name, st->name, st->name_len) != 0)
		problem(&v->out, "event %llu: its envelope and its record disagree", (unsigned long long)pos);
	if (ev.version > st->version)
		problem(&v->out, "event %llu: version %llu, past its stream's %llu", (unsigned long long)pos,
			(unsigned long long)ev.version, (unsigned long long)st->version);
	if (ev.created_us < *last_created)
		problem(&v->out, "event %llu: created before the event before it", (unsigned long long)pos);
	*last_created = ev.created_us;
	if (!maps_to(v, DB_EVENT_IDS, ev.id, 16, pos))
		problem(&v->out, "event %llu: the event id index does not point at it", (unsigned long long)pos);
	put_be64(skey, ev.stream_id);
	put_be64(skey + 8, ev.version);
	if (!maps_to(v, DB_STREAM_EVENTS, skey, 16, pos))
		problem(&v->out, "event %llu: the stream index does not point at it", (unsigned long long)pos);
	if (!in_view(v, ES_TYPE, f.type, f.type_len, pos))
		problem(&v->out, "event %llu: not in the view of its type", (unsigned long long)pos);
	size_t clen = category_len(st->name, st->name_len);
	if (clen > 0) {
		++*categorized;
		if (!in_view(v, ES_CATEGORY, st->name, clen, pos))
			problem(&v->out, "event %llu: not in the view of its category", (unsigned long long)pos);
	}
	envelope_free(&f);
}

static void verify_events(struct verify *v, es_progress_fn progress,
			  uint64_t *events, uint64_t *categorized)
{
	MDB_cursor *c;
	MDB_val k, val_;
	es_stream st = {0};
	int64_t last_created = 0;
	uint64_t next = 1, total = entries(v->r, DB_EVENTS);
	int rc = mdb_cursor_open(v->r->txn, v->r->s->dbi[DB_EVENTS], &c);

	*events = 0;
	if (rc) {
		problem(&v->out, "cannot walk the events: %s", mdb_strerror(rc));
		return;
	}
	for (rc = mdb_cursor_get(c, &k, &val_, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &val_, MDB_NEXT)) {
		uint64_t pos = get64(k.mv_data);
		if (pos != next)
			problem(&v->out, "positions %llu … %llu are missing", (unsigned long long)next,
				(unsigned long long)pos - 1);
		next = pos + 1;
		verify_event(v, pos, &val_, &st, &last_created, categorized);
		if (++*events % 65536 == 0 && progress)
			progress(v->out.arg, *events, total);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		problem(&v->out, "walking the events: %s", mdb_strerror(rc));
	if (progress)
		progress(v->out.arg, *events, total);
}

/* ---- The log against the index. -------------------------------------- */

static int log_event(void *arg, uint64_t pos, uint64_t offset, size_t len)
{
	struct verify *v = arg;
	MDB_val k = val(&pos, 8), rec;

	v->logged++;
	if (mdb_get(v->r->txn, v->r->s->dbi[DB_EVENTS], &k, &rec) != 0 || rec.mv_size != EVENT_REC)
		problem(&v->out, "the log holds event %llu, which the index lacks", (unsigned long long)pos);
	else if (get64((char *)rec.mv_data + EV_OFFSET) != offset ||
		 get64((char *)rec.mv_data + EV_LEN) != len)
		problem(&v->out, "event %llu: the index points elsewhere than the log's record of it",
			(unsigned long long)pos);
	return 0;
}

static int log_record(void *arg, uint64_t seq, uint32_t type, uint64_t payload,
		      const char *p, size_t len)
{
	struct verify *v = arg;

	if (payload - LOG_RECORD_HEADER >= v->indexed.offset)
		return 1;	/* committed after this read view began */
	if (type != REC_CHANGE)
		problem(&v->out, "log record %llu: unknown type %u", (unsigned long long)seq, type);
	else if (record_events(p, len, payload, log_event, v) != 0)
		problem(&v->out, "log record %llu: its ops are cut short", (unsigned long long)seq);
	return 0;
}

/* Scans the log: every record whole (magic, seq, CRC chain) up to the
 * index's end, and every event in it where the index says, both ways. */
static int verify_log(struct verify *v, uint64_t events)
{
	log_end end;
	int err = get_log_end(v->r->s, v->r->txn, &v->indexed);

	if (err)
		return err;
	log_scan(v->r->s->log, log_start(v->r->s->log), log_record, v, &end);
	if (end.offset < v->indexed.offset)
		problem(&v->out, "the log's records end at byte %llu (record %llu), the index has them to %llu",
			(unsigned long long)end.offset, (unsigned long long)end.seq,
			(unsigned long long)v->indexed.offset);
	if (v->logged != events)
		problem(&v->out, "the log holds %llu events, the index %llu",
			(unsigned long long)v->logged, (unsigned long long)events);
	return 0;
}

static int verify_stream(void *arg, const es_stream *st)
{
	struct verify *v = ((void **)arg)[0];
	uint64_t *versions = ((void **)arg)[1];

	*versions += st->version;
	if (st->id > v->max_stream)
		v->max_stream = st->id;
	if (!maps_to(v, DB_STREAM_NAMES, st->name, st->name_len, st->id))
		problem(&v->out, "stream %.*s: the name index does not point at it",
			(int)st->name_len, st->name);
	return 0;
}

static int verify_snapshot(void *arg, const es_snapshot *sn, const es_stream *st)
{
	struct verify *v = arg;
	int err;

	if (sn->version < 1 || sn->version > st->version)
		problem(&v->out, "snapshot of %.*s: version %llu outside 1 … %llu", (int)st->name_len,
			st->name, (unsigned long long)sn->version, (unsigned long long)st->version);
	err = snapshot_line_ok(sn->json, sn->json_len, st->name, st->name_len, sn->version,
			       sn->created_us);
	if (err == ENOMEM)
		return err;
	if (err)
		problem(&v->out, "snapshot of %.*s: its line is not as esfs writes it", (int)st->name_len,
			st->name);
	return 0;
}

/* Every snapshot record, of a missing stream too. */
static int verify_snapshot_record(es_read *r, const MDB_val *k, const MDB_val *val_, void *p)
{
	struct verify *v = p;
	es_snapshot sn;
	es_stream st;
	uint64_t sid = get64(k->mv_data);

	if (val_->mv_size < SNAPSHOT_HDR + 3) {
		problem(&v->out, "snapshot of stream %llu: a record of %zu bytes", (unsigned long long)sid,
			val_->mv_size);
		return 0;
	}
	decode_snapshot(sid, val_, &sn);
	int err = local_stream_get_id(r, sid, &st);
	if (err == ENOENT)
		problem(&v->out, "a snapshot of stream %llu, which does not exist", (unsigned long long)sid);
	return err == ENOENT ? 0 : err ? err : verify_snapshot(v, &sn, &st);
}

/* A counter of ids must be past the largest id given. */
static void counter_past(struct verify *v, const char *counter, uint64_t largest)
{
	uint64_t next;

	if (meta_get(v->r->s, v->r->txn, counter, &next) == 0 && largest > 0 && next <= largest)
		problem(&v->out, "%s is %llu, but id %llu is given already", counter,
			(unsigned long long)next, (unsigned long long)largest);
}

static int verify_checkpoint(void *arg, const es_checkpoint *cp)
{
	struct verify *v = ((void **)arg)[0];
	uint64_t head = *(uint64_t *)((void **)arg)[1];

	if (cp->position > head)
		problem(&v->out, "checkpoint %.*s: position %llu, past the last %llu", (int)cp->name_len,
			cp->name, (unsigned long long)cp->position, (unsigned long long)head);
	return 0;
}

static int verify_view(es_read *r, const MDB_val *k, const MDB_val *val_, void *p)
{
	struct verify *v = p;
	uint64_t id = get_be64(k->mv_data);
	unsigned char key[1 + 255];
	int kind = (int)(id >> VIEW_KIND_SHIFT);

	(void)r;
	if ((kind != ES_CATEGORY && kind != ES_TYPE) || val_->mv_size < 1 || val_->mv_size > 255) {
		problem(&v->out, "view %llu: a bad record", (unsigned long long)id);
		return 0;
	}
	if ((id & ((UINT64_C(1) << VIEW_KIND_SHIFT) - 1)) > v->max_view[kind])
		v->max_view[kind] = id & ((UINT64_C(1) << VIEW_KIND_SHIFT) - 1);
	view_key(key, kind, val_->mv_data, val_->mv_size);
	if (!maps_to(v, DB_VIEW_NAMES, key, 1 + val_->mv_size, id))
		problem(&v->out, "view %.*s: the name index does not point at it", (int)val_->mv_size,
			(const char *)val_->mv_data);
	return 0;
}

/* Checkpoint records, reserved ones too, against their name index. */
static int verify_checkpoint_name(es_read *r, const MDB_val *k, const MDB_val *val_, void *p)
{
	struct verify *v = p;
	es_checkpoint cp;

	(void)r;
	if (val_->mv_size < CHECKPOINT_HDR + 1) {
		problem(&v->out, "checkpoint %llu: a bad record", (unsigned long long)get64(k->mv_data));
		return 0;
	}
	decode_checkpoint(get64(k->mv_data), val_, &cp);
	if (cp.id > v->max_checkpoint)
		v->max_checkpoint = cp.id;
	if (!maps_to(v, DB_CHECKPOINT_NAMES, cp.name, cp.name_len, cp.id))
		problem(&v->out, "checkpoint %.*s: the name index does not point at it", (int)cp.name_len,
			cp.name);
	return 0;
}

/* A name index must have as many entries as what it names. */
static void same_count(struct verify *v, int names, int db)
{
	uint64_t a = entries(v->r, names), b = entries(v->r, db);

	if (a != b)
		problem(&v->out, "%s has %llu entries for %llu in %s", db_spec[names].name,
			(unsigned long long)a, (unsigned long long)b, db_spec[db].name);
}

int local_verify(es_store *s, es_problem_fn problem_fn, es_progress_fn progress,
	      void *arg, uint64_t *problems)
{
	struct verify v = {.out = {problem_fn, arg, 0}};
	uint64_t events = 0, categorized = 0, versions = 0, head, zero = 0, stream_count;
	int64_t created;
	int err = local_read_begin(s, &v.r);

	if (err)
		return err;
	verify_events(&v, progress, &events, &categorized);
	err = verify_log(&v, events);
	/* Each event has its entry in each index (above); equal counts mean
	 * the indexes hold nothing else. */
	if (entries(v.r, DB_EVENT_IDS) != events)
		problem(&v.out, "the event id index has %llu entries for %llu events",
			(unsigned long long)entries(v.r, DB_EVENT_IDS), (unsigned long long)events);
	if (entries(v.r, DB_STREAM_EVENTS) != events)
		problem(&v.out, "the stream index has %llu entries for %llu events",
			(unsigned long long)entries(v.r, DB_STREAM_EVENTS), (unsigned long long)events);
	if (entries(v.r, DB_VIEW_EVENTS) != events + categorized)
		problem(&v.out, "the views have %llu entries for %llu events, %llu of them in a category",
			(unsigned long long)entries(v.r, DB_VIEW_EVENTS), (unsigned long long)events,
			(unsigned long long)categorized);
	/* Versions are distinct per stream and at most its version; that they
	 * add up to the events means each stream has 1 … its version. */
	void *sarg[2] = {&v, &versions};
	if (!err)
		err = local_streams_walk(v.r, 0, verify_stream, sarg);
	if (!err && versions != events)
		problem(&v.out, "the streams' versions add up to %llu, for %llu events",
			(unsigned long long)versions, (unsigned long long)events);
	same_count(&v, DB_STREAM_NAMES, DB_STREAMS);
	if (!err && !(err = meta_get(s, v.r->txn, "stream_count", &stream_count)) &&
	    stream_count != entries(v.r, DB_STREAMS))
		problem(&v.out, "the stream count says %llu, there are %llu",
			(unsigned long long)stream_count, (unsigned long long)entries(v.r, DB_STREAMS));
	if (!err)
		err = walk(v.r, DB_SNAPSHOTS, &zero, 8, verify_snapshot_record, &v);
	if (!err)
		err = last_event(s, v.r->txn, &head, &created);
	void *carg[2] = {&v, &head};
	if (!err)
		err = local_checkpoints_walk(v.r, 0, verify_checkpoint, carg);
	if (!err)
		err = walk(v.r, DB_CHECKPOINTS, &zero, 8, verify_checkpoint_name, &v);
	same_count(&v, DB_CHECKPOINT_NAMES, DB_CHECKPOINTS);
	if (!err)
		err = walk(v.r, DB_VIEWS, &zero, 8, verify_view, &v);
	same_count(&v, DB_VIEW_NAMES, DB_VIEWS);
	if (!err) {
		counter_past(&v, "next_stream", v.max_stream);
		counter_past(&v, "next_checkpoint", v.max_checkpoint);
		counter_past(&v, "next_category", v.max_view[ES_CATEGORY]);
		counter_past(&v, "next_type", v.max_view[ES_TYPE]);
	}
	local_read_end(v.r);
	*problems = v.out.count;
	return err;
}

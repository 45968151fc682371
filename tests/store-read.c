/* tests/store-read.c — TAP tests of reading a store (store/store.h): events
 * by position and by stream and version, read views as snapshots, the
 * walks (log, stream, streams, snapshots, checkpoints) with their order,
 * start and early stop, the bytes of the log before a position
 * (es_log_bytes), many streams past id 255, and created_at order.
 */
#include "store-fixture.h"

#include <pthread.h>

/* ---- Reads. ---------------------------------------------------------- */

/* es_event_get (by position) and es_stream_event (by stream and version)
 * give the same event; what does not exist is ENOENT. */
static void test_reads(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);

	note("reads");
	es_read *r = view(s);
	uint64_t hp = 99;
	int64_t ht = 99;
	es_event ev;
	es_stream st;
	ok(es_head(r, &hp, &ht) == 0 && hp == 0 && ht == 0, "an empty store's head is 0, time 0");
	fails(es_event_get(r, 1, &ev), ENOENT, "es_event_get(1) on an empty store");
	fails(es_stream_get(r, NM("S"), &st), ENOENT, "es_stream_get of a missing stream");
	fails(es_stream_get_id(r, 1, &st), ENOENT, "es_stream_get_id of a missing id");
	es_read_end(r);

	is_int(es_stream_create(s, NM("S")), 0, "create S");
	is_int(es_stream_create(s, NM("T")), 0, "create T");
	for (int i = 0; i < 4; i++) {
		fill(s, "S", 1);
		fill(s, "T", 1);
	}
	uint64_t sid = id_of(s, "S"), tid = id_of(s, "T");
	r = view(s);
	int same = 1;
	for (uint64_t p = 1; p <= 8; p++) {
		es_event a, b;
		if (es_event_get(r, p, &a) || es_stream_event(r, a.stream_id, a.version, &b) ||
		    a.position != p || b.position != p || a.json_len != b.json_len ||
		    memcmp(a.json, b.json, a.json_len) || memcmp(a.id, b.id, 16) ||
		    a.created_us != b.created_us || a.stream_id != (p % 2 ? sid : tid) ||
		    a.version != (p + 1) / 2)
			same = 0;
	}
	ok(same, "by position and by (stream, version): the same events, bytes and fields");
	fails(es_event_get(r, 0, &ev), ENOENT, "es_event_get(0)");
	fails(es_event_get(r, 9, &ev), ENOENT, "es_event_get past the head");
	fails(es_stream_event(r, sid, 0, &ev), ENOENT, "es_stream_event version 0");
	fails(es_stream_event(r, sid, 5, &ev), ENOENT, "es_stream_event past the version");
	fails(es_stream_event(r, 99, 1, &ev), ENOENT, "es_stream_event of an unknown stream");
	ok(es_stream_event(r, tid, 4, &ev) == 0 && ev.position == 8, "T's version 4 is at 8");
	ok(es_head(r, &hp, &ht) == 0 && hp == 8 && ht == ev.created_us,
	   "es_head is 8, with the time of event 8");

	/* A read view is a snapshot: later appends are not seen in it. */
	es_read_end(r);
	r = view(s);
	int64_t t0;
	es_head(r, &hp, &t0);
	uint64_t before = hp;
	es_read_end(r);
	fill(s, "S", 1);
	r = view(s);
	es_head(r, &hp, &t0);
	ok(hp == before + 1, "a new view sees the new event");
	es_read_end(r);
	done_store(s, dir);
}

/* ---- Walks. ---------------------------------------------------------- */

struct stream_list {
	uint64_t id[64];
	uint64_t version[64];
	char name[64][32];
	size_t n, stop_after;
};

static int collect_stream(void *arg, const es_stream *st)
{
	struct stream_list *l = arg;

	if (l->n < 64) {
		l->id[l->n] = st->id;
		l->version[l->n] = st->version;
		snprintf(l->name[l->n], sizeof l->name[0], "%.*s", (int)st->name_len, st->name);
	}
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

struct snapshot_list {
	uint64_t stream_id[16], version[16];
	char name[16][32];
	int consistent;
	size_t n;
};

static int collect_snapshot(void *arg, const es_snapshot *sn, const es_stream *st)
{
	struct snapshot_list *l = arg;

	if (sn->stream_id != st->id || sn->json_len == 0 || sn->json[sn->json_len - 1] != '\n')
		l->consistent = 0;
	if (l->n < 16) {
		l->stream_id[l->n] = sn->stream_id;
		l->version[l->n] = sn->version;
		snprintf(l->name[l->n], sizeof l->name[0], "%.*s", (int)st->name_len, st->name);
	}
	l->n++;
	return 0;
}

/* es_log_walk, es_stream_walk, es_streams_walk, es_snapshots_walk and
 * es_checkpoints_walk: order, starting point, early stop, and that a
 * stream walk sees only its own stream among interleaved appends. */
static void test_walks(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	struct events w = {0};

	note("walks");
	const char *names[] = {"A", "B", "C", "D"};
	for (int i = 0; i < 4; i++)
		is_int(es_stream_create(s, NM(names[i])), 0, "create %s", names[i]);
	/* Interleave: A B A C A B A C … ; D stays empty. */
	const char *order = "ABACABACABAC";
	for (const char *c = order; *c; c++) {
		char n[2] = {*c, 0};
		fill(s, n, 1);
	}
	uint64_t ida = id_of(s, "A"), idb = id_of(s, "B"), idc = id_of(s, "C"),
		 idd = id_of(s, "D");

	is_int(log_walk(s, 1, &w), 0, "es_log_walk from 1");
	ok(w.n == 12 && gapless_positions(&w, 1), "visits positions 1…12 in order");
	int right_streams = w.n == 12;
	for (size_t i = 0; i < w.n && right_streams; i++)
		right_streams = w.v[i].stream_id == id_of(s, (char[]){order[i], 0});
	ok(right_streams, "each position holds the stream appended at that time");
	events_free(&w);
	is_int(log_walk(s, 0, &w), 0, "es_log_walk from 0");
	ok(w.n == 12 && gapless_positions(&w, 1), "visits positions 1…12");
	events_free(&w);
	is_int(log_walk(s, 7, &w), 0, "es_log_walk from 7");
	ok(w.n == 6 && gapless_positions(&w, 7), "visits positions 7…12");
	events_free(&w);
	is_int(log_walk(s, 13, &w), 0, "es_log_walk from past the head");
	is_int(w.n, 0, "visits nothing");
	events_free(&w);
	w.stop_after = 3;
	is_int(log_walk(s, 2, &w), 0, "es_log_walk stopped by its callback returns 0");
	ok(w.n == 3 && gapless_positions(&w, 2), "... after visiting 2, 3, 4 only");
	events_free(&w);

	is_int(stream_walk(s, ida, 1, &w), 0, "es_stream_walk A from 1");
	ok(w.n == 6 && gapless_versions(&w, 1, ida), "visits A's versions 1…6, only A's");
	int increasing = 1;
	for (size_t i = 1; i < w.n; i++)
		if (w.v[i].position <= w.v[i - 1].position)
			increasing = 0;
	ok(increasing, "... at increasing positions");
	int matches_log = 1;
	es_read *r = view(s);
	for (size_t i = 0; i < w.n; i++) {
		es_event ev;
		if (es_event_get(r, w.v[i].position, &ev) || ev.json_len != w.v[i].json_len ||
		    memcmp(ev.json, w.v[i].json, ev.json_len))
			matches_log = 0;
	}
	es_read_end(r);
	ok(matches_log, "... with the same bytes as the log");
	events_free(&w);
	is_int(stream_walk(s, ida, 4, &w), 0, "es_stream_walk A from 4");
	ok(w.n == 3 && gapless_versions(&w, 4, ida), "visits A's versions 4…6");
	events_free(&w);
	is_int(stream_walk(s, idb, 0, &w), 0, "es_stream_walk B from 0");
	ok(w.n == 3 && gapless_versions(&w, 1, idb), "visits B's versions 1…3, not C's");
	events_free(&w);
	is_int(stream_walk(s, idc, 1, &w), 0, "es_stream_walk C from 1");
	ok(w.n == 3 && gapless_versions(&w, 1, idc), "visits C's versions 1…3, not D's");
	events_free(&w);
	is_int(stream_walk(s, idd, 1, &w), 0, "es_stream_walk of the empty stream D");
	is_int(w.n, 0, "visits nothing");
	events_free(&w);
	is_int(stream_walk(s, ida, 7, &w), 0, "es_stream_walk A past its version");
	is_int(w.n, 0, "visits nothing");
	events_free(&w);
	w.stop_after = 2;
	is_int(stream_walk(s, ida, 2, &w), 0, "es_stream_walk stopped by its callback");
	ok(w.n == 2 && gapless_versions(&w, 2, ida), "... after versions 2 and 3");
	events_free(&w);

	/* Streams. */
	struct stream_list sl = {0};
	is_int(es_stream_remove(s, NM("D")), 0, "remove D");
	is_int(es_stream_create(s, NM("E")), 0, "create E");
	r = view(s);
	is_int(es_streams_walk(r, 0, collect_stream, &sl), 0, "es_streams_walk from 0");
	ok(sl.n == 4 && sl.id[0] == ida && sl.id[1] == idb && sl.id[2] == idc &&
	   sl.id[3] > idd && !strcmp(sl.name[0], "A") && !strcmp(sl.name[3], "E") &&
	   sl.version[0] == 6 && sl.version[1] == 3 && sl.version[3] == 0,
	   "visits A, B, C, E in id order with their versions; not the removed D");
	memset(&sl, 0, sizeof sl);
	is_int(es_streams_walk(r, idb, collect_stream, &sl), 0, "es_streams_walk from B's id");
	ok(sl.n == 3 && sl.id[0] == idb && !strcmp(sl.name[1], "C"), "visits B, C, E");
	memset(&sl, 0, sizeof sl);
	sl.stop_after = 1;
	is_int(es_streams_walk(r, 0, collect_stream, &sl), 0, "es_streams_walk stopped early");
	is_int(sl.n, 1, "... after one stream");
	es_read_end(r);

	/* Snapshots. */
	struct snapshot_list snl = {.consistent = 1};
	is_int(es_snapshot_put(s, NM("C"), 2, NM("{\"c\":2}")), 0, "snapshot C at 2");
	is_int(es_snapshot_put(s, NM("A"), 5, NM("{\"a\":5}")), 0, "snapshot A at 5");
	r = view(s);
	is_int(es_snapshots_walk(r, 0, collect_snapshot, &snl), 0, "es_snapshots_walk");
	ok(snl.n == 2 && snl.stream_id[0] == ida && snl.version[0] == 5 &&
	   !strcmp(snl.name[0], "A") && snl.stream_id[1] == idc && snl.version[1] == 2 &&
	   !strcmp(snl.name[1], "C") && snl.consistent,
	   "visits A's then C's snapshot, each with its stream");
	memset(&snl, 0, sizeof snl);
	snl.consistent = 1;
	is_int(es_snapshots_walk(r, idb, collect_snapshot, &snl), 0,
	       "es_snapshots_walk from B's id");
	ok(snl.n == 1 && snl.stream_id[0] == idc, "visits C's snapshot only");
	es_read_end(r);

	/* Checkpoints. */
	uint64_t rid;
	struct checkpoint_list cl = {0};
	is_int(es_checkpoint_put(s, NM("one"), 3), 0, "checkpoint one at 3");
	is_int(es_checkpoint_reserve(s, NM("reserved"), &rid), 0, "reserve a checkpoint");
	is_int(es_checkpoint_put(s, NM("two"), 12), 0, "checkpoint two at 12");
	r = view(s);
	is_int(es_checkpoints_walk(r, 0, collect_checkpoint, &cl), 0, "es_checkpoints_walk");
	ok(cl.n == 2 && !strcmp(cl.name[0], "one") && cl.position[0] == 3 &&
	   !strcmp(cl.name[1], "two") && cl.position[1] == 12 && !cl.reserved_seen,
	   "visits one and two in id order, skipping the reserved name");
	es_read_end(r);
	is_int(es_checkpoint_delete(s, NM("one")), 0, "delete one");
	memset(&cl, 0, sizeof cl);
	r = view(s);
	is_int(es_checkpoints_walk(r, 0, collect_checkpoint, &cl), 0, "es_checkpoints_walk again");
	ok(cl.n == 1 && !strcmp(cl.name[0], "two") && !cl.reserved_seen,
	   "visits two only: a deleted checkpoint is skipped");
	memset(&cl, 0, sizeof cl);
	is_int(es_checkpoints_walk(r, rid + 1, collect_checkpoint, &cl), 0,
	       "es_checkpoints_walk from after the reserved id");
	ok(cl.n == 1 && !strcmp(cl.name[0], "two"), "visits two");
	es_read_end(r);
	done_store(s, dir);
}

/* Another thread's append, while the main thread holds a read view. */
static void *append_one(void *arg)
{
	return (void *)(intptr_t)append1(arg, "S", ES_ANY, "T", "{}", NULL, NULL);
}

/* es_log_bytes: the bytes of the envelopes before a position, up to the
 * head + 1, in the read view's log; ENOENT past it. */
static void test_log_bytes(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	uint64_t b = 99, sum = 0, want[12];
	int right = 1;

	note("log bytes");
	es_read *r = view(s);
	ok(es_log_bytes(r, 1, &b) == 0 && b == 0, "an empty store: 0 bytes before position 1");
	fails(es_log_bytes(r, 2, &b), ENOENT, "es_log_bytes(2) on an empty store");
	es_read_end(r);

	/* Events of different sizes: one at a time, and a batch of three. */
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	fill(s, "S", 8);
	es_event_in batch[3] = {
		mk("Short", "{}", NULL),
		mk("Longer", "{\"text\":\"a longer event than the others\"}", NULL),
		mk("T", "{\"i\":12345678}", NULL),
	};
	is_int(es_append(s, NM("S"), ES_ANY, batch, 3, NULL), 0, "a batch of 3 at 9 … 11");
	for (uint64_t p = 1; p <= 12; p++) {
		size_t len = 0;
		want[p - 1] = sum;
		if (p <= 11)
			free(event_bytes(s, p, &len));
		sum += len;
	}
	struct events from5 = {0};
	uint64_t walked = 0, b5 = 0;
	is_int(log_walk(s, 5, &from5), 0, "es_log_walk from 5");
	for (size_t i = 0; i < from5.n; i++)
		walked += from5.v[i].json_len;
	events_free(&from5);
	r = view(s);
	for (uint64_t p = 1; p <= 12; p++)
		if (es_log_bytes(r, p, &b) != 0 || b != want[p - 1]) {
			diag("es_log_bytes(%llu): %llu, want %llu", (unsigned long long)p,
			     (unsigned long long)b, (unsigned long long)want[p - 1]);
			right = 0;
		}
	ok(right, "es_log_bytes(p) for p = 1 … head + 1 is the sum of json_len of 1 … p - 1");
	ok(es_log_bytes(r, 12, &b) == 0 && es_log_bytes(r, 5, &b5) == 0 && b - b5 == walked,
	   "es_log_bytes(head + 1) - es_log_bytes(5) = the %llu bytes es_log_walk reads from 5 "
	   "(feed/4's size)", (unsigned long long)walked);
	fails(es_log_bytes(r, 13, &b), ENOENT, "es_log_bytes past the head + 1");
	fails(es_log_bytes(r, ES_ID_MAX, &b), ENOENT, "es_log_bytes(ES_ID_MAX)");

	/* In a read view the log ends at the view's head. */
	pthread_t th;
	void *res = (void *)(intptr_t)-1;
	if (pthread_create(&th, NULL, append_one, s) || pthread_join(th, &res))
		bail_out("pthread");
	is_int((int)(intptr_t)res, 0, "another thread appends event 12 while the view is open");
	fails(es_log_bytes(r, 13, &b), ENOENT, "es_log_bytes(13) in the view begun before it");
	es_read_end(r);
	size_t len12;
	free(event_bytes(s, 12, &len12));
	r = view(s);
	ok(es_log_bytes(r, 13, &b) == 0 && b == sum + len12,
	   "a new view: es_log_bytes(13) = the old total + event 12's %zu bytes", len12);
	es_read_end(r);
	done_store(s, dir);
}

/* Many streams: walks and lookups stay in numeric id order past id 255
 * (where a byte-wise order of little-endian ids would go wrong). */
static void test_many_streams(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	enum { N = 300 };
	char name[32];
	int created = 1;

	note("many streams");
	for (int i = 1; i <= N; i++) {
		snprintf(name, sizeof name, "s-%d", i);
		if (es_stream_create(s, NM(name)))
			created = 0;
	}
	ok(created, "create %d streams", N);
	is_int(stream_count(s), N, "es_stream_count is %d", N);
	/* One event in streams 1, 256, 257 and 300, in that order. */
	const int some[] = {300, 1, 257, 256};
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "s-%d", some[i]);
		fill(s, name, 1);
	}
	es_read *r = view(s);
	struct stream_list sl = {0};
	is_int(es_streams_walk(r, 250, collect_stream, &sl), 0, "es_streams_walk from 250");
	int in_order = sl.n == N - 249;
	for (size_t i = 0; i < sl.n && i < 64 && in_order; i++) {
		snprintf(name, sizeof name, "s-%zu", 250 + i);
		in_order = sl.id[i] == 250 + i && !strcmp(sl.name[i], name);
	}
	ok(in_order, "visits ids 250…%d in numeric order", N);
	es_read_end(r);
	for (int i = 0; i < 4; i++) {
		struct events w = {0};
		snprintf(name, sizeof name, "s-%d", some[i]);
		uint64_t id = id_of(s, name);
		stream_walk(s, id, 1, &w);
		ok(w.n == 1 && w.v[0].stream_id == id && w.v[0].position == (uint64_t)i + 1,
		   "es_stream_walk of %s visits its one event only", name);
		events_free(&w);
	}
	done_store(s, dir);
}

/* created_at never decreases along positions, and matches created_us. */
static void test_created_at_order(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	struct events w = {0};

	note("created_at order");
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	is_int(es_stream_create(s, NM("T")), 0, "create T");
	for (int i = 0; i < 25; i++) {
		fill(s, "S", 1);
		fill(s, "T", 1);
	}
	is_int(log_walk(s, 1, &w), 0, "walk the log");
	ok(w.n == 50 && nondecreasing_times(&w), "created_us never decreases along positions");
	int text_ok = 1, text_order = 1;
	char prev[32] = "", when[32];
	for (size_t i = 0; i < w.n; i++) {
		es_time_format(w.v[i].created_us, when);
		char *at = strstr(w.v[i].json, "\"created_at\":\"");
		if (!at || strncmp(at + 14, when, 27) != 0 || strcmp(at + 14 + 27, "\"}\n") != 0)
			text_ok = 0;
		if (strcmp(when, prev) < 0)
			text_order = 0;
		strcpy(prev, when);
	}
	ok(text_ok, "each created_at is es_time_format(created_us)");
	ok(text_order, "the created_at texts never decrease");
	events_free(&w);
	char buf[32];
	es_time_format(0, buf);
	is_str(buf, "1970-01-01T00:00:00.000000Z", "es_time_format(0)");
	es_time_format(INT64_C(1795430400123456), buf);
	is_str(buf, "2026-11-23T10:40:00.123456Z", "es_time_format of a time in 2026");
	done_store(s, dir);
}

int main(void)
{
	test_reads();
	test_walks();
	test_log_bytes();
	test_many_streams();
	test_created_at_order();
	return done_testing();
}

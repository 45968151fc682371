/* tests/store-tools.c — TAP tests of the store's administration calls
 * (store/store.h), what esfsctl is built on: es_stats_get, es_backup,
 * es_import_batch and es_verify, including verify on stores damaged on
 * purpose with raw LMDB.
 */
#include "store-fixture.h"

/* ---- Administration: stats, backup, import, verify. ------------------- */

/* Changes the store under dir with raw LMDB: deletes key (klen bytes, or
 * a u64 when klen is 0) from db, or puts value there when value is set. */
static void tamper(const char *dir, const char *db, const void *key, size_t klen,
		   const char *value)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {klen ? klen : 8, (void *)key}, v = {value ? strlen(value) : 0, (void *)value};
	int rc = raw_begin(dir, &env, &txn);

	if (rc)
		bail_out("opening %s: %s", dir, mdb_strerror(rc));
	if (!(rc = mdb_dbi_open(txn, db, 0, &dbi))) {
		if (value) {
			MDB_val old;
			if (!(rc = mdb_get(txn, dbi, &k, &old))) {
				/* Keep the record's header, replace the rest. */
				char *b = malloc(40 + v.mv_size);
				memcpy(b, old.mv_data, 40);
				memcpy(b + 40, value, v.mv_size);
				v = (MDB_val){40 + v.mv_size, b};
				rc = mdb_put(txn, dbi, &k, &v, 0);
				free(b);
			}
		} else {
			rc = mdb_del(txn, dbi, &k, NULL);
		}
	}
	raw_end(env, txn, rc, dir);
}

/* Puts key -> value into db of the store under dir, with raw LMDB. */
static void raw_put(const char *dir, const char *db, const void *key, size_t klen,
		    const void *value, size_t vlen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)value};
	int rc = raw_begin(dir, &env, &txn);

	if (rc)
		bail_out("opening %s: %s", dir, mdb_strerror(rc));
	if (!(rc = mdb_dbi_open(txn, db, 0, &dbi)))
		rc = mdb_put(txn, dbi, &k, &v, 0);
	raw_end(env, txn, rc, dir);
}

static es_import ev_item(const char *json, size_t len)
{
	return (es_import){.kind = ES_IMPORT_EVENT, .json = json, .json_len = len};
}

static void test_admin(void)
{
	char *dir = tmp_dir(), *dir2 = tmp_dir(), *dir3 = tmp_dir(), path[PATH_MAX];
	es_store *s = open_store(dir, NULL), *t;
	struct problems p;
	struct lines l = {0};
	es_stats st;
	es_read *r;

	note("stats, backup, import, verify");
	is_int(es_stream_create(s, NM("Order-1")), 0, "create Order-1");
	is_int(es_stream_create(s, NM("Order-2")), 0, "create Order-2");
	is_int(es_stream_create(s, NM("Empty")), 0, "create Empty");
	fill(s, "Order-1", 3);
	is_int(append1(s, "Order-2", ES_ANY, "Odd \"t\"", "{\"n\":1.0,\"s\":\"\\u00e9\"}", NULL, NULL), 0,
	       "append an event with a number and an escape jansson would rewrite");
	fill(s, "Order-1", 1);
	is_int(es_snapshot_put(s, NM("Order-1"), 2, NM("{\"total\": 2}")), 0, "snapshot");
	is_int(es_checkpoint_put(s, NM("c1"), 3), 0, "checkpoint c1");
	uint64_t rid;
	is_int(es_checkpoint_reserve(s, NM("reserved"), &rid), 0, "a reserved checkpoint");

	r = view(s);
	is_int(es_stats_get(r, &st), 0, "es_stats_get");
	ok(st.streams == 3 && st.events == 5 && st.head == 5 && st.snapshots == 1 &&
	   st.checkpoints == 1 && st.categories == 1 && st.types == 2,
	   "stats: 3 streams, 5 events, head 5, 1 snapshot, 1 checkpoint, 1 category, 2 types");
	ok(st.used_bytes > 0 && st.used_bytes <= st.map_bytes, "stats: used bytes within the map");
	is_int(es_log_walk(r, 0, 0, collect_line, &l), 0, "read the log");
	es_read_end(r);
	is_int(verify_store(s, &p), 0, "verify: a store made by esfs has no problems");

	/* Backup: a store that opens, with the same events. */
	snprintf(path, sizeof path, "%s/copy", dir2);
	is_int(es_backup(s, path), 0, "es_backup to a new directory");
	fails(es_backup(s, path), EEXIST, "es_backup to a directory that is not empty");
	t = open_store(path, NULL);
	r = view(t);
	es_event e5;
	is_int(es_event_get(r, 5, &e5), 0, "the backup has event 5");
	ok(e5.json_len == l.len[4] && memcmp(e5.json, l.v[4], e5.json_len) == 0, "... the same bytes");
	es_read_end(r);
	is_int(verify_store(t, &p), 0, "verify: the backup has no problems");
	es_close(t);
	rm_store(path);	/* the copy, with the lock.mdb its opening made */

	/* Import: the same records, into a new store. */
	t = open_store(dir3, NULL);
	es_snapshot sn;
	uint64_t order1 = id_of(s, "Order-1");
	r = view(s);
	is_int(es_snapshot_get(r, order1, &sn), 0, "read the snapshot");
	char *snap = strndup(sn.json, sn.json_len);
	size_t snap_len = sn.json_len;
	es_read_end(r);
	es_import bad = ev_item(l.v[1], l.len[1]);
	fails(es_import_batch(t, &bad, 1), EINVAL, "importing event 2 first (a gap)");
	char *spaced;
	if (asprintf(&spaced, "%.*s }\n", (int)l.len[0] - 2, l.v[0]) < 0)
		bail_out("out of memory");
	bad = ev_item(spaced, strlen(spaced));
	fails(es_import_batch(t, &bad, 1), EINVAL, "importing an event with a space added");
	free(spaced);
	char *arr = strdup(l.v[0]), *d = strstr(arr, "\"data\":{\"i\":0}");
	if (!d)
		bail_out("event 1 has no data {\"i\":0}: %s", l.v[0]);
	memcpy(d, "\"data\":[1,2,3]", 14);	/* as long as {"i":0} */
	bad = ev_item(arr, l.len[0]);
	fails(es_import_batch(t, &bad, 1), EINVAL, "importing an event whose data is an array");
	free(arr);
	char *other = strdup(l.v[0]);
	other[strlen(other) - 5] = other[strlen(other) - 5] == '1' ? '2' : '1';	/* a digit of the time */
	bad = ev_item(other, l.len[0]);
	is_int(es_import_batch(t, &bad, 1), 0, "an event with another time is itself canonical");
	es_close(t);
	rm_store(dir3);
	t = open_store(dir3, NULL);
	free(other);
	es_import items[] = {
		{.kind = ES_IMPORT_STREAM, .name = "Empty", .name_len = 5, .time_us = 1000000},
		ev_item(l.v[0], l.len[0]), ev_item(l.v[1], l.len[1]), ev_item(l.v[2], l.len[2]),
		ev_item(l.v[3], l.len[3]), ev_item(l.v[4], l.len[4]),
		{.kind = ES_IMPORT_SNAPSHOT, .json = snap, .json_len = snap_len},
		{.kind = ES_IMPORT_CHECKPOINT, .name = "c1", .name_len = 2, .position = 3,
		 .time_us = 2000000},
	};
	es_import past = {.kind = ES_IMPORT_CHECKPOINT, .name = "c2", .name_len = 2,
			  .position = 6};
	es_import all[9];
	memcpy(all, items, sizeof items);
	all[8] = past;
	fails(es_import_batch(t, all, 9), EINVAL, "a batch whose last item is a checkpoint past the head");
	ok(strstr(es_why(), "item 9") != NULL, "... es_why() names item 9: %s", es_why());
	r = view(t);
	uint64_t h;
	int64_t hc;
	is_int(es_head(r, &h, &hc), 0, "es_head");
	is_int(h, 0, "... nothing of that batch was stored");
	es_read_end(r);
	is_int(es_import_batch(t, items, 4), 0, "import a stream and 3 events");
	is_int(es_import_batch(t, items + 4, 4), 0, "import 2 events, a snapshot, a checkpoint");
	fails(es_import_batch(t, items + 1, 1), EINVAL, "importing event 1 again");
	uint64_t order1_t = id_of(t, "Order-1");
	r = view(t);
	struct lines m = {0};
	is_int(es_log_walk(r, 0, 0, collect_line, &m), 0, "read the imported log");
	int same = m.n == l.n;
	for (size_t i = 0; same && i < l.n; i++)
		same = m.len[i] == l.len[i] && memcmp(m.v[i], l.v[i], l.len[i]) == 0;
	ok(same, "the imported events are byte for byte the same");
	es_stream es1;
	is_int(es_stream_get(r, NM("Empty"), &es1), 0, "the empty stream exists");
	ok(es1.version == 0 && es1.created_us == 1000000, "... version 0, created at the given time");
	is_int(es_snapshot_get(r, order1_t, &sn), 0, "the snapshot");
	ok(sn.json_len == snap_len && memcmp(sn.json, snap, snap_len) == 0, "... the same line");
	es_checkpoint cp;
	is_int(es_checkpoint_get(r, NM("c1"), &cp), 0, "the checkpoint");
	ok(cp.position == 3 && cp.updated_us == 2000000, "... at 3, updated at the given time");
	es_view v;
	is_int(es_view_get(r, ES_TYPE, NM("Odd \"t\""), &v), 0, "the views were filled");
	es_read_end(r);
	is_int(verify_store(t, &p), 0, "verify: the imported store has no problems");
	lines_free(&m);
	es_close(t);

	/* Verify finds damage. */
	es_close(s);
	uint64_t pos3 = 3;
	es_event ev3;
	s = open_store(dir, NULL);
	r = view(s);
	is_int(es_event_get(r, 3, &ev3), 0, "event 3");
	unsigned char id3[16];
	memcpy(id3, ev3.id, 16);
	es_read_end(r);
	es_close(s);
	tamper(dir, "event_ids", id3, 16, NULL);
	s = open_store(dir, NULL);
	ok(verify_store(s, &p) >= 1 && strstr(p.first, "event 3") != NULL,
	   "verify: a missing event id entry is found: %s", p.first);
	es_close(s);
	tamper(dir, "events", &pos3, 0, "{\"not\":\"the envelope\"}\n");
	s = open_store(dir, NULL);
	ok(verify_store(s, &p) >= 2 && strstr(p.first, "event 3") != NULL,
	   "verify: a changed envelope is found: %s", p.first);
	es_close(s);
	tamper(dir, "events", &pos3, 0, NULL);
	s = open_store(dir, NULL);
	ok(verify_store(s, &p) >= 1 && strstr(p.first, "3") != NULL,
	   "verify: a gap in positions is found: %s", p.first);
	es_close(s);
	/* A snapshot whose line is not as esfs writes it (a space in its data). */
	char rec[16 + 512], when[28];
	const char *ca = strstr(snap, "\"created_at\":\""), *data = strstr(snap, "{\"total\":2}");
	uint64_t two = 2;
	int64_t created;
	if (!ca || !data || strlen(snap) > 500)
		bail_out("the snapshot is not as expected: %s", snap);
	memcpy(when, ca + 14, 27);
	when[27] = '\0';
	if (es_time_parse(when, &created))
		bail_out("the snapshot's time %s", when);
	memcpy(rec, &two, 8);
	memcpy(rec + 8, &created, 8);
	int n = snprintf(rec + 16, sizeof rec - 16, "%.*s{\"total\": 2}}\n", (int)(data - snap), snap);
	raw_put(dir, "snapshots", &order1, 8, rec, 16 + (size_t)n);
	s = open_store(dir, NULL);
	verify_store(s, &p);
	ok(strstr(p.all, "snapshot of Order-1: its line is not as esfs writes it") != NULL,
	   "verify: a snapshot line with a space added is a problem");
	es_close(s);
	/* A snapshot whose stream is gone, a counter behind the ids given:
	 * problems, not a failure of verify. */
	uint64_t sid1 = order1, one = 1;
	tamper(dir, "streams", &sid1, 0, NULL);
	raw_put(dir, "meta", "next_stream", 11, &one, 8);
	s = open_store(dir, NULL);
	verify_store(s, &p);
	ok(strstr(p.all, "a snapshot of stream") != NULL, "verify: a snapshot of a missing stream is a problem");
	ok(strstr(p.all, "next_stream is 1") != NULL, "verify: a stream counter behind the ids is a problem");
	es_close(s);

	free(snap);
	lines_free(&l);
	rm_store(dir);
	rm_store(dir3);
	rm_store(dir2);
	free(dir);
	free(dir2);
	free(dir3);
}

int main(void)
{
	test_admin();
	return done_testing();
}

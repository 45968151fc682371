/* tests/store-state.c — TAP tests of what the store keeps beside the log
 * (store/store.h): snapshots of streams (put, replace, delete, version
 * range, the snapshot line's bytes) and consumers' checkpoints (put, get,
 * reserve, delete, ids kept for a name).
 */
#include "store-fixture.h"

/* ---- Snapshots. ------------------------------------------------------ */

/* Put, get, replace, delete; version range, missing stream, bad data; the
 * snapshot line's exact bytes. */
static void test_snapshots(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	char when[32], expect[512];

	note("snapshots");
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	fails(es_snapshot_put(s, NM("S"), 1, NM("{}")), EINVAL,
	      "a snapshot of an empty stream at version 1");
	fill(s, "S", 3);
	uint64_t sid = id_of(s, "S");
	fails(es_snapshot_put(s, NM("S"), 0, NM("{}")), EINVAL, "a snapshot at version 0");
	fails(es_snapshot_put(s, NM("S"), 4, NM("{}")), EINVAL,
	      "a snapshot past the stream's version");
	fails(es_snapshot_put(s, NM("Nope"), 1, NM("{}")), ENOENT, "a snapshot of a missing stream");
	fails(es_snapshot_put(s, NM("S"), 1, NM("[]")), EINVAL, "snapshot data that is an array");
	fails(es_snapshot_put(s, NM("S"), 1, NM("{\"a\":")), EINVAL, "snapshot data that is bad JSON");
	es_read *r = view(s);
	es_snapshot sn;
	fails(es_snapshot_get(r, sid, &sn), ENOENT, "no snapshot yet");
	es_read_end(r);

	int64_t before = now_us();
	is_int(es_snapshot_put(s, NM("S"), 2, NM(" { \"total\" : 0.10 , \"s\" : \"\\u00e9\" } ")),
	       0, "put a snapshot at version 2");
	int64_t after = now_us();
	r = view(s);
	int err = es_snapshot_get(r, sid, &sn);
	is_int(err, 0, "get it");
	if (!err) {
		ok(sn.stream_id == sid && sn.version == 2 && sn.created_us >= before &&
		   sn.created_us <= after, "stream id, version 2 and time");
		es_time_format(sn.created_us, when);
		snprintf(expect, sizeof expect,
			 "{\"stream_id\":\"S\",\"version\":2,\"created_at\":\"%s\","
			 "\"data\":{\"total\":0.10,\"s\":\"\\u00e9\"}}\n", when);
		is_mem(sn.json, sn.json_len, expect, strlen(expect), "the snapshot line");
		ok(matches("^[{]\"stream_id\":\"S\",\"version\":2,\"created_at\":\"" TIME_RE
			   "\",\"data\":[{].*[}][}]\n$", sn.json, sn.json_len),
		   "the snapshot line has the contract's form");
	}
	es_read_end(r);

	is_int(es_snapshot_put(s, NM("S"), 3, NM("{\"total\":3}")), 0, "replace it at version 3");
	r = view(s);
	ok(es_snapshot_get(r, sid, &sn) == 0 && sn.version == 3 &&
	   strstr(sn.json, ",\"data\":{\"total\":3}}\n") != NULL &&
	   strstr(sn.json, "0.10") == NULL, "the new snapshot replaced the old one");
	es_read_end(r);
	is_int(es_snapshot_put(s, NM("S"), 1, NM("{\"total\":1}")), 0,
	       "replace it with an older version");
	r = view(s);
	ok(es_snapshot_get(r, sid, &sn) == 0 && sn.version == 1, "the snapshot is at version 1");
	es_read_end(r);

	/* Escaped stream names. */
	const char *q = "q\"\\";
	is_int(es_stream_create(s, NM(q)), 0, "create a stream named q\"\\");
	fill(s, q, 1);
	is_int(es_snapshot_put(s, NM(q), 1, NM("{}")), 0, "snapshot it");
	uint64_t qid = id_of(s, q);
	r = view(s);
	ok(es_snapshot_get(r, qid, &sn) == 0 &&
	   !strncmp(sn.json, "{\"stream_id\":\"q\\\"\\\\\",\"version\":1,", 33),
	   "its snapshot's stream_id is JSON-escaped");
	es_read_end(r);

	is_int(es_snapshot_delete(s, NM("S")), 0, "delete the snapshot");
	r = view(s);
	fails(es_snapshot_get(r, sid, &sn), ENOENT, "the snapshot is gone");
	es_read_end(r);
	is_int(version_of(s, "S"), 3, "deleting a snapshot loses no event");
	fails(es_snapshot_delete(s, NM("S")), ENOENT, "deleting it again");
	is_int(es_snapshot_put(s, NM("S"), 3, NM("{}")), 0, "a new snapshot after the delete");
	done_store(s, dir);
}

/* ---- Checkpoints. ---------------------------------------------------- */

/* Put (0 … head, else EINVAL), get, replace, delete; reserve gives a
 * stable id without a position; ids are kept for a name and never shared. */
static void test_checkpoints(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_checkpoint cp;
	es_read *r;

	note("checkpoints");
	fails(es_checkpoint_put(s, NM("c"), 1), EINVAL, "a checkpoint at 1 on an empty store");
	int64_t before = now_us();
	is_int(es_checkpoint_put(s, NM("c"), 0), 0, "a checkpoint at 0 on an empty store");
	r = view(s);
	ok(es_checkpoint_get(r, NM("c"), &cp) == 0 && cp.has_position && cp.position == 0 &&
	   cp.id != 0 && cp.name_len == 1 && cp.name[0] == 'c' && cp.updated_us >= before,
	   "it reads back at 0 with its name, an id and a time");
	uint64_t cid = cp.id;
	fails(es_checkpoint_get(r, NM("nope"), &cp), ENOENT, "an unknown checkpoint");
	fails(es_checkpoint_get_id(r, 12345, &cp), ENOENT, "an unknown checkpoint id");
	es_read_end(r);

	is_int(es_stream_create(s, NM("S")), 0, "create S");
	fill(s, "S", 5);
	fails(es_checkpoint_put(s, NM("c"), 6), EINVAL, "a checkpoint past the head");
	fails(es_checkpoint_put(s, NM("c"), UINT64_MAX), EINVAL, "a checkpoint at UINT64_MAX");
	fails(es_checkpoint_put(s, NM("new"), 6), EINVAL, "a new checkpoint past the head");
	r = view(s);
	ok(es_checkpoint_get(r, NM("c"), &cp) == 0 && cp.position == 0,
	   "the failed puts changed nothing");
	fails(es_checkpoint_get(r, NM("new"), &cp), ENOENT, "and created nothing");
	es_read_end(r);
	is_int(es_checkpoint_put(s, NM("c"), 5), 0, "move c to the head, 5");
	is_int(es_checkpoint_put(s, NM("c"), 2), 0, "move c back to 2");
	r = view(s);
	ok(es_checkpoint_get(r, NM("c"), &cp) == 0 && cp.position == 2 && cp.has_position &&
	   cp.id == cid, "c is at 2 with the same id");
	ok(es_checkpoint_get_id(r, cid, &cp) == 0 && cp.position == 2 && cp.name_len == 1,
	   "es_checkpoint_get_id finds it");
	es_read_end(r);

	/* Reserve. */
	uint64_t rid = 0, rid2 = 0;
	is_int(es_checkpoint_reserve(s, NM("r"), &rid), 0, "reserve r");
	ok(rid != 0 && rid != cid, "r gets its own id (%llu)", (unsigned long long)rid);
	is_int(es_checkpoint_reserve(s, NM("r"), &rid2), 0, "reserve r again");
	is_int(rid2, rid, "reserving is idempotent: the same id");
	r = view(s);
	ok(es_checkpoint_get(r, NM("r"), &cp) == 0 && !cp.has_position && cp.id == rid,
	   "r reads back with has_position 0");
	struct checkpoint_list cl = {0};
	es_checkpoints_walk(r, 0, collect_checkpoint, &cl);
	ok(cl.n == 1 && !strcmp(cl.name[0], "c") && !cl.reserved_seen,
	   "es_checkpoints_walk skips r");
	es_read_end(r);
	fails(es_checkpoint_delete(s, NM("r")), ENOENT, "deleting the never-written r");
	is_int(es_checkpoint_put(s, NM("r"), 4), 0, "put r at 4");
	r = view(s);
	ok(es_checkpoint_get(r, NM("r"), &cp) == 0 && cp.has_position && cp.position == 4 &&
	   cp.id == rid, "r is at 4 with the reserved id");
	es_read_end(r);
	is_int(es_checkpoint_reserve(s, NM("c"), &rid2), 0, "reserve the existing c");
	is_int(rid2, cid, "... gives c's id");
	r = view(s);
	ok(es_checkpoint_get(r, NM("c"), &cp) == 0 && cp.has_position && cp.position == 2,
	   "... and leaves c at 2");
	es_read_end(r);

	/* Delete. */
	is_int(es_checkpoint_delete(s, NM("c")), 0, "delete c");
	r = view(s);
	int err = es_checkpoint_get(r, NM("c"), &cp);
	ok(err == ENOENT || (err == 0 && !cp.has_position), "c has no position any more");
	memset(&cl, 0, sizeof cl);
	es_checkpoints_walk(r, 0, collect_checkpoint, &cl);
	ok(cl.n == 1 && !strcmp(cl.name[0], "r"), "es_checkpoints_walk shows r only");
	es_read_end(r);
	fails(es_checkpoint_delete(s, NM("c")), ENOENT, "deleting c again");
	fails(es_checkpoint_delete(s, NM("nope")), ENOENT, "deleting an unknown checkpoint");
	fails(es_checkpoint_delete(s, "", 0), ENOENT, "deleting the empty name");
	is_int(es_checkpoint_reserve(s, NM("c"), &rid2), 0, "reserve c after its delete");
	is_int(rid2, cid, "delete kept c's id");
	is_int(es_checkpoint_put(s, NM("c"), 1), 0, "put c again");
	r = view(s);
	ok(es_checkpoint_get(r, NM("c"), &cp) == 0 && cp.id == cid && cp.position == 1,
	   "c is back at 1 with its old id");
	es_read_end(r);
	uint64_t did = 0;
	is_int(es_checkpoint_reserve(s, NM("d"), &did), 0, "reserve d");
	ok(did != cid && did != rid, "a new name gets a new id");
	done_store(s, dir);
}

int main(void)
{
	test_snapshots();
	test_checkpoints();
	return done_testing();
}

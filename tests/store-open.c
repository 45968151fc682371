/* tests/store-open.c — TAP tests of opening a store (store/store.h): a new
 * store, a reopened one that keeps everything (events, streams, snapshots,
 * checkpoints, counters), what es_open refuses (files that are not a
 * store), read-only stores, and a memory map that grows while another
 * process has the store open.
 */
#include "store-fixture.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <uuid/uuid.h>

/* ---- Opening and reopening. ------------------------------------------ */

struct saved_stream {
	const char *name;
	es_stream st;
};

/* es_open creates a missing directory; a reopened store keeps its events
 * (bytes, versions, positions, ids, times), streams and their ids,
 * snapshots, checkpoints and counters (ids are not reused after reopen). */
static void test_open_reopen(void)
{
	char *root = tmp_dir(), dir[PATH_MAX];
	struct stat sb;
	es_store *s = NULL;
	unsigned char given[16];
	es_appended a1 = {0};

	note("open and reopen");
	snprintf(dir, sizeof dir, "%s/store", root);
	ok(stat(dir, &sb) != 0 && errno == ENOENT, "the store directory is missing");
	is_int(es_open(dir, NULL, &s), 0, "es_open creates a missing directory");
	if (!s)
		bail_out("cannot go on: %s", es_why());
	ok(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "the directory exists");
	is_int(head_of(s), 0, "a new store has no events");
	is_int(stream_count(s), 0, "a new store has no streams");

	uuid_generate(given);
	is_int(es_stream_create(s, NM("A")), 0, "create A");
	is_int(es_stream_create(s, NM("B")), 0, "create B");
	is_int(es_stream_create(s, NM("Empty")), 0, "create Empty");
	is_int(es_stream_create(s, NM("Gone")), 0, "create Gone");
	uint64_t gone_id = id_of(s, "Gone");
	is_int(es_stream_remove(s, NM("Gone")), 0, "remove Gone");
	is_int(append1(s, "A", 0, "Placed", "{\"n\":1}", given, &a1), 0,
	       "append to A with an id");
	es_event_in batch[2] = {mk("X", "{\"b\":1}", NULL), mk("Y", "{\"b\":2}", NULL)};
	is_int(es_append(s, NM("B"), 0, batch, 2, NULL), 0, "append a batch to B");
	fill(s, "A", 2);
	is_int(es_snapshot_put(s, NM("A"), 2, NM("{\"state\":2}")), 0, "snapshot A");
	is_int(es_checkpoint_put(s, NM("c1"), 3), 0, "checkpoint c1");
	uint64_t rid = 0;
	is_int(es_checkpoint_reserve(s, NM("r1"), &rid), 0, "reserve r1");
	is_int(es_checkpoint_put(s, NM("c2"), 5), 0, "checkpoint c2");
	es_checkpoint c1, c2, r1;
	es_read *r = view(s);
	if (es_checkpoint_get(r, NM("c2"), &c2))
		bail_out("checkpoint c2: %s", es_why());
	es_read_end(r);
	is_int(es_checkpoint_delete(s, NM("c2")), 0, "delete c2");

	/* What must survive. */
	uint64_t head = head_of(s);
	is_int(head, 5, "five events before closing");
	char *bytes[6] = {0};
	size_t lens[6] = {0};
	es_event evs[6];
	const char *names[] = {"A", "B", "Empty"};
	struct saved_stream saved[3];
	r = view(s);
	for (uint64_t p = 1; p <= head; p++) {
		if (es_event_get(r, p, &evs[p]) != 0)
			bail_out("event %llu: %s", (unsigned long long)p, es_why());
		bytes[p] = strndup(evs[p].json, evs[p].json_len);
		lens[p] = evs[p].json_len;
		evs[p].json = NULL;
	}
	for (int i = 0; i < 3; i++) {
		saved[i].name = names[i];
		if (es_stream_get(r, NM(names[i]), &saved[i].st))
			bail_out("stream %s: %s", names[i], es_why());
		saved[i].st.name = NULL;
	}
	es_snapshot snap;
	if (es_snapshot_get(r, saved[0].st.id, &snap))
		bail_out("snapshot: %s", es_why());
	char *snap_bytes = strndup(snap.json, snap.json_len);
	size_t snap_len = snap.json_len;
	if (es_checkpoint_get(r, NM("c1"), &c1) || es_checkpoint_get(r, NM("r1"), &r1))
		bail_out("checkpoints: %s", es_why());
	es_read_end(r);
	es_close(s);

	s = open_store(dir, NULL);
	is_int(head_of(s), head, "reopened: same head");
	is_int(stream_count(s), 3, "reopened: same stream count");
	r = view(s);
	for (uint64_t p = 1; p <= head; p++) {
		es_event ev;
		int err = es_event_get(r, p, &ev);
		is_int(err, 0, "reopened: event %llu is there", (unsigned long long)p);
		if (err)
			continue;
		is_mem(ev.json, ev.json_len, bytes[p], lens[p],
		       "reopened: event %llu has the same bytes", (unsigned long long)p);
		ok(ev.stream_id == evs[p].stream_id && ev.version == evs[p].version &&
		   ev.created_us == evs[p].created_us && memcmp(ev.id, evs[p].id, 16) == 0,
		   "reopened: event %llu has the same stream, version, time and id",
		   (unsigned long long)p);
		es_event sev;
		ok(es_stream_event(r, ev.stream_id, ev.version, &sev) == 0 &&
		   sev.position == p, "reopened: event %llu is at the same version",
		   (unsigned long long)p);
	}
	for (int i = 0; i < 3; i++) {
		es_stream st;
		int err = es_stream_get(r, NM(names[i]), &st);
		is_int(err, 0, "reopened: stream %s is there", names[i]);
		if (err)
			continue;
		ok(st.id == saved[i].st.id && st.version == saved[i].st.version &&
		   st.created_us == saved[i].st.created_us &&
		   st.updated_us == saved[i].st.updated_us,
		   "reopened: stream %s has the same id %llu, version %llu and times",
		   names[i], (unsigned long long)saved[i].st.id,
		   (unsigned long long)saved[i].st.version);
		is_mem(st.name, st.name_len, names[i], strlen(names[i]),
		       "reopened: stream %llu is named %s", (unsigned long long)st.id,
		       names[i]);
	}
	es_stream gst;
	is_int(es_stream_get(r, NM("Gone"), &gst), ENOENT, "reopened: Gone stays removed");
	if (es_snapshot_get(r, saved[0].st.id, &snap) == 0)
		is_mem(snap.json, snap.json_len, snap_bytes, snap_len,
		       "reopened: the snapshot has the same bytes");
	else
		ok(0, "reopened: the snapshot is there");
	es_checkpoint cp;
	ok(es_checkpoint_get(r, NM("c1"), &cp) == 0 && cp.id == c1.id &&
	   cp.position == 3 && cp.has_position && cp.updated_us == c1.updated_us,
	   "reopened: checkpoint c1 is at 3 with the same id");
	ok(es_checkpoint_get(r, NM("r1"), &cp) == 0 && cp.id == r1.id && cp.id == rid &&
	   !cp.has_position, "reopened: r1 is still reserved with the same id");
	ok((es_checkpoint_get(r, NM("c2"), &cp) == ENOENT) ||
	   (!cp.has_position && cp.id == c2.id),
	   "reopened: deleted c2 has no position");
	es_read_end(r);

	/* Counters survive: no id is handed out twice. */
	is_int(es_stream_create(s, NM("New")), 0, "reopened: create New");
	ok(id_of(s, "New") > gone_id && gone_id > saved[2].st.id,
	   "reopened: New gets a fresh id (%llu), not a used one",
	   (unsigned long long)id_of(s, "New"));
	uint64_t nid = 0;
	is_int(es_checkpoint_reserve(s, NM("c3"), &nid), 0, "reopened: reserve c3");
	ok(nid != c1.id && nid != c2.id && nid != r1.id,
	   "reopened: checkpoint c3 gets a fresh id (%llu)", (unsigned long long)nid);

	/* Event ids survive: retrying the first append is still a retry. */
	es_appended a = {0};
	is_int(append1(s, "A", 7, "Placed", "{\"n\":1}", given, &a), 0,
	       "reopened: retrying a stored event id succeeds");
	ok(a.retry && a.first_version == a1.first_version &&
	   a.first_position == a1.first_position, "reopened: ... as a retry of v%llu p%llu",
	   (unsigned long long)a1.first_version, (unsigned long long)a1.first_position);
	is_int(head_of(s), head, "reopened: the retry stored nothing");
	es_close(s);

	/* Read-only reopen sees the same store. */
	es_options ro = {.read_only = 1};
	s = NULL;
	is_int(es_open(dir, &ro, &s), 0, "read-only open of an existing store");
	if (s) {
		size_t len;
		char *b = event_bytes(s, 1, &len);
		is_mem(b, len, bytes[1], lens[1], "read-only: event 1 has the same bytes");
		free(b);
		is_int(stream_count(s), 4, "read-only: four streams");
		es_close(s);
	}

	for (int i = 1; i <= 5; i++)
		free(bytes[i]);
	free(snap_bytes);
	rm_store(dir);
	rm_store(root);
	free(root);
}

/* ---- Opening errors and read-only stores. ---------------------------- */

/* Makes a foreign LMDB environment in dir, with one key in its main db. */
static void make_foreign_lmdb(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {5, "hello"}, v = {5, "world"};

	if (mdb_env_create(&env) || mdb_env_open(env, dir, 0, 0644) ||
	    mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi) ||
	    mdb_put(txn, dbi, &k, &v, 0) || mdb_txn_commit(txn))
		bail_out("cannot make a foreign LMDB environment in %s", dir);
	mdb_env_close(env);
}

/* The number of keys in the main database of an LMDB environment. */
static long long lmdb_main_entries(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;
	long long n = -1;

	if (mdb_env_create(&env))
		return -1;
	if (mdb_env_open(env, dir, MDB_RDONLY, 0644) == 0 &&
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
		if (mdb_dbi_open(txn, NULL, 0, &dbi) == 0 && mdb_stat(txn, dbi, &st) == 0)
			n = (long long)st.ms_entries;
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return n;
}

/* es_open refuses what is not a store; a read-only open needs an existing
 * store and refuses every change with EROFS. */
static void test_open_errors(void)
{
	char *dir = tmp_dir(), path[PATH_MAX];
	es_store *s = NULL;
	FILE *f;
	static const char garbage[] =
		"This is not an LMDB file. It is a text file that happens to be "
		"called data.mdb, and opening it as a store must fail rather than "
		"overwrite it.\n";

	note("open errors and read-only stores");

	/* A data.mdb that is not LMDB. */
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	f = fopen(path, "w");
	if (!f)
		bail_out("%s: %s", path, strerror(errno));
	fputs(garbage, f);
	fclose(f);
	int err = es_open(dir, NULL, &s);
	ok(err != 0, "es_open on a directory whose data.mdb is not LMDB fails (%s)",
	   strerror(err));
	ok(es_why()[0] != '\0', "es_why() explains it: %s", es_why());
	if (!err)
		es_close(s);
	char buf[512] = {0};
	f = fopen(path, "r");
	size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
	if (f)
		fclose(f);
	is_mem(buf, got, garbage, strlen(garbage), "the foreign file is left alone");
	rm_store(dir);

	/* An LMDB environment that is not an esfs store. */
	if (mkdir(dir, 0700))
		bail_out("mkdir %s: %s", dir, strerror(errno));
	make_foreign_lmdb(dir);
	s = NULL;
	err = es_open(dir, NULL, &s);
	ok(err != 0, "es_open on a foreign LMDB environment fails (%s)", strerror(err));
	ok(es_why()[0] != '\0', "es_why() explains it: %s", es_why());
	if (!err)
		es_close(s);
	is_int(lmdb_main_entries(dir), 1, "the foreign environment is left alone");
	rm_store(dir);

	/* A path that is a regular file. */
	f = fopen(dir, "w");
	if (!f)
		bail_out("%s: %s", dir, strerror(errno));
	fclose(f);
	s = NULL;
	err = es_open(dir, NULL, &s);
	ok(err != 0, "es_open on a regular file fails (%s)", strerror(err));
	if (!err)
		es_close(s);
	unlink(dir);

	/* Read-only open of a missing directory. */
	es_options ro = {.read_only = 1};
	struct stat sb;
	s = NULL;
	fails(es_open(dir, &ro, &s), ENOENT, "read-only es_open of a missing directory");
	ok(stat(dir, &sb) != 0 && errno == ENOENT, "... and does not create it");

	/* Read-only open of an empty directory: no store there. */
	if (mkdir(dir, 0700))
		bail_out("mkdir %s: %s", dir, strerror(errno));
	s = NULL;
	fails(es_open(dir, &ro, &s), ENOENT, "read-only es_open of an empty directory");
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	ok(stat(path, &sb) != 0 && errno == ENOENT, "... and makes no data.mdb there");
	if (rmdir(dir) != 0)
		diag("rmdir %s: %s", dir, strerror(errno));

	/* Read-only open of a store: reads work, changes give EROFS. */
	s = open_store(dir, NULL);
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	is_int(es_stream_create(s, NM("Empty")), 0, "create Empty");
	fill(s, "S", 2);
	is_int(es_snapshot_put(s, NM("S"), 1, NM("{}")), 0, "snapshot S");
	is_int(es_checkpoint_put(s, NM("c"), 1), 0, "checkpoint c");
	es_close(s);
	s = open_store(dir, &ro);
	is_int(head_of(s), 2, "read-only: the events are readable");
	is_int(version_of(s, "S"), 2, "read-only: the stream is readable");
	uint64_t id = 0;
	es_event_in e = mk("T", "{}", NULL);
	fails(es_stream_create(s, NM("New")), EROFS, "read-only: es_stream_create");
	fails(es_stream_remove(s, NM("Empty")), EROFS, "read-only: es_stream_remove");
	fails(es_append(s, NM("S"), ES_ANY, &e, 1, NULL), EROFS, "read-only: es_append");
	fails(es_snapshot_put(s, NM("S"), 2, NM("{}")), EROFS, "read-only: es_snapshot_put");
	fails(es_snapshot_delete(s, NM("S")), EROFS, "read-only: es_snapshot_delete");
	fails(es_checkpoint_reserve(s, NM("r"), &id), EROFS, "read-only: es_checkpoint_reserve");
	fails(es_checkpoint_put(s, NM("c"), 2), EROFS, "read-only: es_checkpoint_put");
	fails(es_checkpoint_delete(s, NM("c")), EROFS, "read-only: es_checkpoint_delete");
	is_int(head_of(s), 2, "read-only: nothing was appended");
	is_int(version_of(s, "Empty"), 0, "read-only: Empty was not removed");
	is_int(version_of(s, "New"), -1, "read-only: New was not created");
	es_close(s);
	s = open_store(dir, NULL);
	uint64_t sid = id_of(s, "S");
	es_read *r = view(s);
	es_checkpoint cp;
	es_snapshot sn;
	ok(es_checkpoint_get(r, NM("c"), &cp) == 0 && cp.has_position && cp.position == 1,
	   "after the read-only session checkpoint c is still at 1");
	ok(es_snapshot_get(r, sid, &sn) == 0 && sn.version == 1,
	   "after the read-only session the snapshot is still at version 1");
	ok(es_checkpoint_get(r, NM("r"), &cp) == ENOENT, "... and r was not reserved");
	es_read_end(r);
	done_store(s, dir);
}

/* ---- Map growth. ----------------------------------------------------- */

static int count_event(void *arg, const es_event *ev)
{
	(void)ev;
	(*(uint64_t *)arg)++;
	return 0;
}

/* The reader of test_map_growth, run as its own process: opens the store
 * with a 1 MiB map, says so on stdout, reads from stdin how many events to
 * expect once the writer has grown the store, and counts them. */
static int map_reader(const char *dir)
{
	es_options ro = {.read_only = 1, .map_initial = 1 << 20};
	es_store *r;
	es_read *v;
	uint64_t n = 0, want;

	if (es_open(dir, &ro, &r) != 0 || write(1, "r", 1) != 1 ||
	    read(0, &want, sizeof want) != sizeof want)
		return 2;
	if (es_read_begin(r, &v) != 0)
		return 3;
	es_log_walk(v, 1, 0, count_event, &n);
	es_read_end(v);
	es_close(r);
	return n == want ? 0 : 4;
}

/* The map grows on demand past its first size, and another process that
 * has the store open, with its smaller map, follows: it reads every event
 * the writer appended after it opened. */
static void test_map_growth(const char *self)
{
	char *dir = tmp_dir();
	es_options o = {.map_initial = 1 << 20};
	es_store *s = open_store(dir, &o);
	int ready[2], go[2];
	uint64_t want = 0;
	char c = 0;

	if (es_stream_create(s, "S", 1) != 0)
		bail_out("create S: %s", es_why());
	fill(s, "S", 1);
	if (pipe(ready) != 0 || pipe(go) != 0)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(go[0], 0);
		dup2(ready[1], 1);
		execl(self, self, "--map-reader", dir, (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		bail_out("the reader did not start");
	/* The envelopes go to the log; the index holds some 200 bytes an
	 * event, so 20,000 events outgrow a map of 1 MiB. */
	static es_event_in batch[500];
	for (int i = 0; i < 500; i++)
		batch[i] = mk("Small", "{}", NULL);
	int err = 0;
	for (int i = 0; i < 40 && !err; i++)
		err = es_append(s, "S", 1, ES_ANY, batch, 500, NULL);
	is_int(err, 0, "20,000 events append to a store whose map began at 1 MiB");
	struct stat st = {0};
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	int got = stat(path, &st);
	ok(got == 0 && st.st_size > 2 * 1024 * 1024,
	   "the index grew past the first map (%lld bytes)", (long long)st.st_size);
	want = head_of(s);
	if (write(go[1], &want, sizeof want) != sizeof want)
		bail_out("cannot tell the reader");
	int status = 0;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "another process that opened the store with the small map reads all %llu events (status %d)",
	   (unsigned long long)want, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	close(ready[0]);
	close(go[1]);
	done_store(s, dir);
}

int main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "--map-reader") == 0)
		return map_reader(argv[2]);
	test_open_reopen();
	test_open_errors();
	test_map_growth(argv[0]);
	return done_testing();
}

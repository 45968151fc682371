/* tests/store.c — TAP unit tests of the event store (store/store.h) and,
 * through it, of store/json.c.
 *
 * Every topic is one static function working on a fresh store directory,
 * made with mkdtemp under $TMPDIR (or /tmp) and removed at its end. Results
 * are checked in the main thread only (tap.h is not thread-safe): worker
 * threads collect counts, which are checked after pthread_join.
 */
#include "store.h"
#include "tap.h"

#include <errno.h>
#include <jansson.h>
#include <lmdb.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

/* A name literal as the (pointer, length) pair the API takes. */
#define NM(x) (x), strlen(x)

/* ---- Fixtures and helpers. ------------------------------------------- */

/* A new empty directory under $TMPDIR or /tmp (malloc'd path). */
static char *tmp_dir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&path, "%s/esfs-store-test.XXXXXX", base) < 0)
		bail_out("out of memory");
	if (!mkdtemp(path))
		bail_out("mkdtemp %s: %s", path, strerror(errno));
	return path;
}

/* Removes a store directory: data.mdb, lock.mdb, then the directory. */
static void rm_store(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/data.mdb", dir);
	if (unlink(path) != 0 && errno != ENOENT)
		diag("cannot remove %s: %s", path, strerror(errno));
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	if (unlink(path) != 0 && errno != ENOENT)
		diag("cannot remove %s: %s", path, strerror(errno));
	if (rmdir(dir) != 0 && errno != ENOENT)
		diag("cannot remove %s: %s", dir, strerror(errno));
}

/* Opens a store that must open. */
static es_store *open_store(const char *dir, const es_options *o)
{
	es_store *s = NULL;
	int err = es_open(dir, o, &s);

	if (err)
		bail_out("es_open %s: %s (%s)", dir, strerror(err), es_why());
	return s;
}

static es_read *view(es_store *s)
{
	es_read *r = NULL;
	int err = es_read_begin(s, &r);

	if (err)
		bail_out("es_read_begin: %s (%s)", strerror(err), es_why());
	return r;
}

/* Checks that a call failed with want and left a reason in es_why(). */
static void fails(int got, int want, const char *what)
{
	is_int(got, want, "%s fails with %s", what, strerror(want));
	ok(es_why() && es_why()[0] != '\0', "es_why() explains it: %s",
	   es_why() ? es_why() : "(null)");
}

/* An event to append; lengths from strlen. */
static es_event_in mk(const char *type, const char *data,
		      const unsigned char *id)
{
	es_event_in e = {0};

	e.type = type;
	e.type_len = type ? strlen(type) : 0;
	e.id = id;
	e.data = data;
	e.data_len = data ? strlen(data) : 0;
	return e;
}

/* Appends one event. */
static int append1(es_store *s, const char *stream, int64_t expected,
		   const char *type, const char *data, const unsigned char *id,
		   es_appended *out)
{
	es_event_in e = mk(type, data, id);

	return es_append(s, stream, strlen(stream), expected, &e, 1, out);
}

/* Appends n events of type "T" and data {"i":k}, which must succeed. */
static void fill(es_store *s, const char *stream, int n)
{
	for (int i = 0; i < n; i++) {
		char data[32];
		snprintf(data, sizeof data, "{\"i\":%d}", i);
		int err = append1(s, stream, ES_ANY, "T", data, NULL, NULL);
		if (err)
			bail_out("append to %s: %s (%s)", stream, strerror(err),
				 es_why());
	}
}

static uint64_t head_of(es_store *s)
{
	es_read *r = view(s);
	uint64_t pos = 0;
	int64_t t;

	if (es_head(r, &pos, &t))
		bail_out("es_head: %s", es_why());
	es_read_end(r);
	return pos;
}

/* The stream's version, or -1 when it does not exist. */
static long long version_of(es_store *s, const char *name)
{
	es_read *r = view(s);
	es_stream st;
	long long v = es_stream_get(r, name, strlen(name), &st) ? -1
		      : (long long)st.version;

	es_read_end(r);
	return v;
}

/* The stream's id, or 0 when it does not exist. */
static uint64_t id_of(es_store *s, const char *name)
{
	es_read *r = view(s);
	es_stream st;
	uint64_t id = es_stream_get(r, name, strlen(name), &st) ? 0 : st.id;

	es_read_end(r);
	return id;
}

static uint64_t stream_count(es_store *s)
{
	es_read *r = view(s);
	uint64_t n = 0;

	if (es_stream_count(r, &n))
		bail_out("es_stream_count: %s", es_why());
	es_read_end(r);
	return n;
}

/* A malloc'd copy of the envelope at a position, or NULL. */
static char *event_bytes(es_store *s, uint64_t pos, size_t *len)
{
	es_read *r = view(s);
	es_event ev;
	char *copy = NULL;

	*len = 0;
	if (es_event_get(r, pos, &ev) == 0) {
		copy = malloc(ev.json_len + 1);
		memcpy(copy, ev.json, ev.json_len);
		copy[ev.json_len] = '\0';
		*len = ev.json_len;
	}
	es_read_end(r);
	return copy;
}

/* Does the NUL-free text p[0..n) match the extended regex re in full? */
static int matches(const char *re, const char *p, size_t n)
{
	regex_t rx;
	char *text = strndup(p, n);
	int m;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		bail_out("bad regex %s", re);
	m = regexec(&rx, text, 0, NULL, 0) == 0;
	regfree(&rx);
	free(text);
	return m;
}

/* Does text hold the decimal number n, not as part of a longer number? */
static int mentions_number(const char *text, unsigned long long n)
{
	char num[32];
	size_t len = (size_t)snprintf(num, sizeof num, "%llu", n);

	for (const char *p = strstr(text, num); p; p = strstr(p + 1, num))
		if ((p == text || p[-1] < '0' || p[-1] > '9') &&
		    (p[len] < '0' || p[len] > '9'))
			return 1;
	return 0;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Walk collectors: copies of what the callbacks saw. */
struct seen_event {
	uint64_t position, stream_id, version;
	int64_t created_us;
	unsigned char id[16];
	char *json;
	size_t json_len;
};

struct events {
	struct seen_event *v;
	size_t n, cap;
	size_t stop_after;	/* stop the walk after this many; 0 = never */
};

static int collect_event(void *arg, const es_event *ev)
{
	struct events *e = arg;

	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 64;
		e->v = realloc(e->v, e->cap * sizeof *e->v);
		if (!e->v)
			bail_out("out of memory");
	}
	struct seen_event *x = &e->v[e->n++];
	x->position = ev->position;
	x->stream_id = ev->stream_id;
	x->version = ev->version;
	x->created_us = ev->created_us;
	memcpy(x->id, ev->id, 16);
	x->json = strndup(ev->json, ev->json_len);
	x->json_len = ev->json_len;
	return e->stop_after && e->n >= e->stop_after;
}

static void events_free(struct events *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].json);
	free(e->v);
	memset(e, 0, sizeof *e);
}

static int log_walk(es_store *s, uint64_t from, struct events *e)
{
	es_read *r = view(s);
	int err = es_log_walk(r, from, collect_event, e);

	es_read_end(r);
	return err;
}

static int stream_walk(es_store *s, uint64_t sid, uint64_t from,
		       struct events *e)
{
	es_read *r = view(s);
	int err = es_stream_walk(r, sid, from, collect_event, e);

	es_read_end(r);
	return err;
}

/* Are the walked events at positions (or versions) first, first+1, …? */
static int gapless_positions(const struct events *e, uint64_t first)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].position != first + i)
			return 0;
	return 1;
}

static int gapless_versions(const struct events *e, uint64_t first,
			    uint64_t sid)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].version != first + i || e->v[i].stream_id != sid)
			return 0;
	return 1;
}

static int nondecreasing_times(const struct events *e)
{
	for (size_t i = 1; i < e->n; i++)
		if (e->v[i].created_us < e->v[i - 1].created_us)
			return 0;
	return 1;
}

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
	es_close(s);
	rm_store(dir);
	free(dir);
}

/* ---- Streams and names. ---------------------------------------------- */

struct bad_name {
	const char *s;
	size_t len;
	const char *what;
};

static char name255[256], name256[257];

static const struct bad_name bad_names[] = {
	{"", 0, "an empty name"},
	{name256, 256, "a 256-byte name"},
	{".hidden", 7, "a name starting with '.'"},
	{".", 1, "the name '.'"},
	{"..", 2, "the name '..'"},
	{"a/b", 3, "a name containing '/'"},
	{"a\x01" "b", 3, "a name containing \\x01"},
	{"a\nb", 3, "a name containing a newline"},
	{"a\0b", 3, "a name containing NUL"},
	{"a\x7f" "b", 3, "a name containing DEL"},
	{"a\xc2\x85" "b", 4, "a name containing the C1 control U+0085"},
	{"a\xc2\x9f", 3, "a name containing the C1 control U+009F"},
	{"a\xff" "b", 3, "a name with the invalid UTF-8 byte \\xff"},
	{"a\xc3", 2, "a name with truncated UTF-8"},
	{"a\xc0\xaf", 3, "a name with overlong UTF-8"},
	{"a\xed\xa0\x80", 4, "a name with a UTF-16 surrogate in UTF-8"},
};

/* Stream create/remove: duplicate, bad and good names, removal rules,
 * ids never reused, es_stream_count; the same name rules for checkpoints
 * and event types. */
static void test_streams(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	char what[128];

	note("streams and names");
	is_int(es_stream_create(s, NM("Order-1")), 0, "create Order-1");
	is_int(stream_count(s), 1, "one stream");
	is_int(version_of(s, "Order-1"), 0, "a new stream is at version 0");
	fails(es_stream_create(s, NM("Order-1")), EEXIST, "creating Order-1 again");
	is_int(stream_count(s), 1, "still one stream");

	for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
		const struct bad_name *b = &bad_names[i];
		es_event_in e = mk("T", "{}", NULL);
		uint64_t id;
		snprintf(what, sizeof what, "es_stream_create with %s", b->what);
		fails(es_stream_create(s, b->s, b->len), EINVAL, what);
		snprintf(what, sizeof what, "es_checkpoint_put with %s", b->what);
		fails(es_checkpoint_put(s, b->s, b->len, 0), EINVAL, what);
		snprintf(what, sizeof what, "es_checkpoint_reserve with %s", b->what);
		fails(es_checkpoint_reserve(s, b->s, b->len, &id), EINVAL, what);
		e.type = b->s;
		e.type_len = b->len;
		snprintf(what, sizeof what, "es_append with an event type that is %s", b->what);
		fails(es_append(s, NM("Order-1"), ES_ANY, &e, 1, NULL), EINVAL, what);
	}
	is_int(stream_count(s), 1, "no bad name made a stream");
	is_int(head_of(s), 0, "no bad event type made an event");

	/* Good names. */
	const char *good[] = {"Order-é", "q\"uote\\back", "with space", "a.b", "日本語-1",
			      "x\xc2\xa0y" /* U+00A0 is not a control */};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		is_int(es_stream_create(s, NM(good[i])), 0, "create stream %s", good[i]);
		es_read *r = view(s);
		es_stream st;
		int err = es_stream_get(r, NM(good[i]), &st);
		ok(err == 0 && st.name_len == strlen(good[i]) &&
		   memcmp(st.name, good[i], st.name_len) == 0,
		   "es_stream_get finds %s with its name", good[i]);
		es_read_end(r);
		is_int(es_checkpoint_put(s, NM(good[i]), 0), 0, "checkpoint named %s", good[i]);
		is_int(append1(s, good[i], 0, good[i], "{}", NULL, NULL), 0,
		       "event type %s", good[i]);
	}
	is_int(es_stream_create(s, name255, 255), 0, "a 255-byte name works");
	is_int(append1(s, "Order-1", ES_ANY, name255, "{}", NULL, NULL), 0,
	       "a 255-byte event type works");
	is_int(es_checkpoint_put(s, name255, 255, 0), 0, "a 255-byte checkpoint name works");
	is_int(version_of(s, name255), 0, "the 255-byte stream is there");
	uint64_t count = 2 + sizeof good / sizeof *good;
	is_int(stream_count(s), count, "es_stream_count counts every stream");

	/* Removal. */
	fails(es_stream_remove(s, NM("Order-1")), ENOTEMPTY, "removing a stream with events");
	is_int(version_of(s, "Order-1"), 1, "the stream is still there");
	fails(es_stream_remove(s, NM("Nope")), ENOENT, "removing a missing stream");
	is_int(stream_count(s), count, "es_stream_count is unchanged");
	is_int(es_stream_create(s, NM("Tmp")), 0, "create Tmp");
	uint64_t tmp1 = id_of(s, "Tmp");
	is_int(stream_count(s), count + 1, "es_stream_count goes up");
	is_int(es_stream_remove(s, NM("Tmp")), 0, "remove the empty stream Tmp");
	is_int(stream_count(s), count, "es_stream_count goes down");
	is_int(version_of(s, "Tmp"), -1, "Tmp is gone");
	es_read *r = view(s);
	es_stream st;
	is_int(es_stream_get_id(r, tmp1, &st), ENOENT, "Tmp's id finds nothing");
	es_read_end(r);
	fails(es_stream_remove(s, NM("Tmp")), ENOENT, "removing Tmp again");
	is_int(es_stream_create(s, NM("Tmp")), 0, "create Tmp again");
	uint64_t tmp2 = id_of(s, "Tmp");
	ok(tmp2 > tmp1, "the new Tmp has a new id (%llu, was %llu)",
	   (unsigned long long)tmp2, (unsigned long long)tmp1);
	is_int(es_stream_remove(s, NM("Tmp")), 0, "remove Tmp");
	is_int(es_stream_create(s, NM("Other")), 0, "create Other");
	ok(id_of(s, "Other") > tmp2, "ids are never reused after removal");
	is_int(stream_count(s), count + 1, "es_stream_count follows");

	/* Ids are distinct and the names map to them both ways. */
	r = view(s);
	int both_ways = 1;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		es_stream a, b;
		if (es_stream_get(r, NM(good[i]), &a) || es_stream_get_id(r, a.id, &b) ||
		    b.name_len != a.name_len || memcmp(b.name, good[i], a.name_len))
			both_ways = 0;
	}
	ok(both_ways, "es_stream_get_id gives back each stream by its id");
	es_read_end(r);

	es_close(s);
	rm_store(dir);
	free(dir);
}

/* ---- The envelope. --------------------------------------------------- */

#define UUID_RE "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#define TIME_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z"

/* Checks with jansson that an envelope is one JSON object with exactly the
 * contract's keys in the contract's order. */
static void check_envelope_keys(const char *json, size_t len, const char *what)
{
	static const char *keys[] = {"event_id", "stream_id", "event_type", "version",
				     "schema_version", "data", "metadata",
				     "global_position", "created_at"};
	json_error_t jerr;
	json_t *v = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
			       &jerr);
	size_t i = 0;
	int in_order = v && json_is_object(v);

	ok(v != NULL, "%s: the envelope is valid JSON%s%s", what, v ? "" : ": ",
	   v ? "" : jerr.text);
	if (!v)
		return;
	for (void *it = json_object_iter(v); it && in_order;
	     it = json_object_iter_next(v, it), i++)
		if (i >= 9 || strcmp(json_object_iter_key(it), keys[i]) != 0)
			in_order = 0;
	ok(in_order && i == 9, "%s: the envelope has the nine keys in order", what);
	ok(json_is_object(json_object_get(v, "data")) &&
	   json_is_object(json_object_get(v, "metadata")) &&
	   json_is_number(json_object_get(v, "version")) &&
	   json_is_number(json_object_get(v, "schema_version")) &&
	   json_is_number(json_object_get(v, "global_position")) &&
	   json_is_string(json_object_get(v, "event_id")) &&
	   json_is_string(json_object_get(v, "created_at")),
	   "%s: data and metadata are objects, the numbers numbers, the rest strings", what);
	json_decref(v);
}

/* A single append: version 1, position 1, the exact envelope bytes; data
 * and metadata compacted with numbers and escapes kept byte for byte;
 * names JSON-escaped; the caller's event id kept and written lowercase. */
static void test_envelope(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_appended a = {0};
	char uuid[37], when[32], expect[2048];

	note("the envelope");
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	int64_t before = now_us();
	is_int(append1(s, "S", 0, "T", "{ \"a\" : 1 }", NULL, &a), 0, "append one event");
	int64_t after = now_us();
	ok(a.first_version == 1 && a.last_version == 1 && a.first_position == 1 &&
	   a.last_position == 1 && !a.retry, "it is version 1 at position 1, not a retry");

	uint64_t sid = id_of(s, "S");
	es_read *r = view(s);
	es_event ev;
	int err = es_event_get(r, 1, &ev);
	is_int(err, 0, "es_event_get(1)");
	if (!err) {
		ok(matches("^[{]\"event_id\":\"" UUID_RE "\",\"stream_id\":\"S\","
			   "\"event_type\":\"T\",\"version\":1,\"schema_version\":1,"
			   "\"data\":[{]\"a\":1[}],\"metadata\":[{][}],\"global_position\":1,"
			   "\"created_at\":\"" TIME_RE "\"[}]\n$", ev.json, ev.json_len),
		   "the envelope has the contract's form: %.*s", (int)ev.json_len - 1, ev.json);
		uuid_unparse_lower(ev.id, uuid);
		es_time_format(ev.created_us, when);
		snprintf(expect, sizeof expect,
			 "{\"event_id\":\"%s\",\"stream_id\":\"S\",\"event_type\":\"T\","
			 "\"version\":1,\"schema_version\":1,\"data\":{\"a\":1},"
			 "\"metadata\":{},\"global_position\":1,\"created_at\":\"%s\"}\n",
			 uuid, when);
		is_mem(ev.json, ev.json_len, expect, strlen(expect),
		       "the envelope is exactly the expected line, ending in a newline");
		ok(ev.created_us >= before && ev.created_us <= after,
		   "created_at is the commit time");
		is_int(es_time_format(ev.created_us, when), 27, "es_time_format gives 27 bytes");
		ok(ev.stream_id == sid && ev.version == 1 && ev.position == 1,
		   "the event record has the stream id, version and position");
		check_envelope_keys(ev.json, ev.json_len, "single event");
	}
	es_stream st;
	ok(es_stream_get(r, NM("S"), &st) == 0 && st.version == 1 &&
	   st.updated_us == ev.created_us, "the stream is at version 1, updated then");
	uint64_t hp;
	int64_t ht;
	ok(es_head(r, &hp, &ht) == 0 && hp == 1 && ht == ev.created_us,
	   "es_head gives position 1 and its time");
	es_read_end(r);

	/* Data and metadata: whitespace goes, everything else stays. */
	static const char data[] =
		"{\n\t\"n\" : 0.1 ,\r\n \"e\" : 1e5, \"f\" : 1.0, \"E\" : 1E+2, "
		"\"neg\" : -0, \"big\" : 123456789012345678901234567890,\n"
		"  \"s\" : \"\\u00e9\\/x\", \"w\" : \"a b\\tc\\n\", \"k e y\" : \"é\",\n"
		"  \"nested\" : { \"a\" : [ 1 , 2 , { } , [ ] ] , \"t\" : true , \"z\" : null }\n}\n";
	static const char data_c[] =
		"{\"n\":0.1,\"e\":1e5,\"f\":1.0,\"E\":1E+2,\"neg\":-0,"
		"\"big\":123456789012345678901234567890,\"s\":\"\\u00e9\\/x\","
		"\"w\":\"a b\\tc\\n\",\"k e y\":\"é\",\"nested\":{\"a\":[1,2,{},[]],\"t\":true,\"z\":null}}";
	static const char meta[] = " { \"correlation_id\" : \"req 1\" , \"n\" : 2.50 } ";
	static const char meta_c[] = "{\"correlation_id\":\"req 1\",\"n\":2.50}";
	unsigned char id[16];
	uuid_parse("6F1C0B5E-8C1D-4C1B-9D43-0B9F8A7F4A10", id);
	es_event_in e = mk("Order\"Placed\\", data, id);
	e.metadata = meta;
	e.metadata_len = strlen(meta);
	e.schema_version = 7;
	const char *sname = "Q\"uo\\te-é";
	is_int(es_stream_create(s, NM(sname)), 0, "create a stream named with '\"' and '\\'");
	is_int(es_append(s, NM(sname), 0, &e, 1, &a), 0, "append with data, metadata and an id");
	size_t len;
	char *got = event_bytes(s, 2, &len);
	if (got) {
		es_read *r2 = view(s);
		es_event ev2;
		es_event_get(r2, 2, &ev2);
		es_time_format(ev2.created_us, when);
		es_read_end(r2);
		snprintf(expect, sizeof expect,
			 "{\"event_id\":\"6f1c0b5e-8c1d-4c1b-9d43-0b9f8a7f4a10\","
			 "\"stream_id\":\"Q\\\"uo\\\\te-é\",\"event_type\":\"Order\\\"Placed\\\\\","
			 "\"version\":1,\"schema_version\":7,\"data\":%s,\"metadata\":%s,"
			 "\"global_position\":2,\"created_at\":\"%s\"}\n", data_c, meta_c, when);
		is_mem(got, len, expect, strlen(expect),
		       "data and metadata are compacted, numbers and escapes kept; names escaped");
		check_envelope_keys(got, len, "escaped names");
		json_t *v = json_loadb(got, len, JSON_DECODE_INT_AS_REAL, NULL);
		is_str(json_string_value(json_object_get(v, "stream_id")), sname,
		       "the escaped stream_id decodes to the stream's name");
		is_str(json_string_value(json_object_get(v, "event_type")), "Order\"Placed\\",
		       "the escaped event_type decodes to the type");
		json_decref(v);
		free(got);
	} else {
		ok(0, "event 2 is there");
	}
	es_close(s);
	rm_store(dir);
	free(dir);
}

/* ---- Expected versions. ---------------------------------------------- */

/* Exact expected versions succeed, others fail with EEXIST and store
 * nothing (the reason names the stream and both versions); ES_ANY always
 * works; an expected version below -1 is EINVAL. */
static void test_expected_version(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_appended a = {0};

	note("expected versions");
	is_int(es_stream_create(s, NM("Acct-9")), 0, "create Acct-9");
	is_int(es_stream_create(s, NM("Other")), 0, "create Other");
	fill(s, "Other", 2);
	is_int(append1(s, "Acct-9", 0, "T", "{}", NULL, &a), 0, "expected 0 on an empty stream");
	ok(a.first_version == 1 && a.first_position == 3, "... version 1 at position 3");
	is_int(append1(s, "Acct-9", 1, "T", "{}", NULL, NULL), 0, "expected 1");
	is_int(append1(s, "Acct-9", 2, "T", "{}", NULL, &a), 0, "expected 2");
	ok(a.first_version == 3 && a.first_position == 5, "... version 3 at position 5");

	fails(append1(s, "Acct-9", 17, "T", "{}", NULL, NULL), EEXIST, "expected 17 at version 3");
	const char *why = es_why();
	ok(mentions_number(why, 17) && mentions_number(why, 3),
	   "the reason mentions the expected (17) and actual (3) versions: %s", why);
	ok(strstr(why, "Acct-9") != NULL, "the reason names the stream");
	fails(append1(s, "Acct-9", 2, "T", "{}", NULL, NULL), EEXIST, "expected 2 at version 3");
	fails(append1(s, "Acct-9", 0, "T", "{}", NULL, NULL), EEXIST, "expected 0 at version 3");
	fails(append1(s, "Acct-9", 4, "T", "{}", NULL, NULL), EEXIST, "expected 4 at version 3");
	is_int(head_of(s), 5, "the failed appends stored nothing (head)");
	is_int(version_of(s, "Acct-9"), 3, "the failed appends stored nothing (version)");
	size_t len;
	char *b = event_bytes(s, 6, &len);
	ok(b == NULL, "there is no event at position 6");
	free(b);

	is_int(append1(s, "Acct-9", ES_ANY, "T", "{}", NULL, &a), 0, "ES_ANY at version 3");
	ok(a.first_version == 4 && a.first_position == 6, "... version 4 at position 6");
	is_int(es_stream_create(s, NM("Fresh")), 0, "create Fresh");
	is_int(append1(s, "Fresh", ES_ANY, "T", "{}", NULL, &a), 0, "ES_ANY on an empty stream");
	ok(a.first_version == 1, "... version 1");

	fails(append1(s, "Acct-9", -2, "T", "{}", NULL, NULL), EINVAL, "expected -2");
	fails(append1(s, "Acct-9", INT64_MIN, "T", "{}", NULL, NULL), EINVAL,
	      "expected INT64_MIN");
	is_int(version_of(s, "Acct-9"), 4, "nothing stored by bad expected versions");
	is_int(head_of(s), 7, "head is 7");

	/* A batch checks the expected version once, against the start. */
	es_event_in two[2] = {mk("T", "{}", NULL), mk("T", "{}", NULL)};
	is_int(es_append(s, NM("Acct-9"), 4, two, 2, &a), 0, "a batch of two at expected 4");
	ok(a.first_version == 5 && a.last_version == 6, "... versions 5 and 6");
	fails(es_append(s, NM("Acct-9"), 5, two, 2, NULL), EEXIST, "a batch at expected 5");
	is_int(version_of(s, "Acct-9"), 6, "... stored nothing");
	es_close(s);
	rm_store(dir);
	free(dir);
}

/* ---- Batches. -------------------------------------------------------- */

/* n events get consecutive versions and positions; one bad event (bad
 * JSON, bad type, data or metadata not an object, no data), an empty batch
 * or a repeated id fails the whole batch with EINVAL and stores nothing. */
/* A raw NUL is never JSON, even where jansson 2.14 lets one pass (after a
 * number or a literal): found by the fuzzer. */
static void test_nul_in_json(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	static const char *bodies[] = {"{\"a\":1\0}", "{\"a\":true\0}", "{\"a\":null\0,\"b\":2}"};
	static const size_t lens[] = {8, 11, 16};

	es_stream_create(s, "S", 1);
	for (int i = 0; i < 3; i++) {
		es_event_in e = mk("T", NULL, NULL);
		e.data = bodies[i];
		e.data_len = lens[i];
		fails(es_append(s, "S", 1, ES_ANY, &e, 1, NULL), EINVAL,
		      "data with a raw NUL after a literal");
		e.data = "{}";
		e.data_len = 2;
		e.metadata = bodies[i];
		e.metadata_len = lens[i];
		fails(es_append(s, "S", 1, ES_ANY, &e, 1, NULL), EINVAL,
		      "metadata with a raw NUL after a literal");
	}
	is_int(head_of(s), 0, "nothing was stored");
	es_close(s);
	rm_store(dir);
	free(dir);
}

static void test_batches(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_appended a = {0};
	es_event_in ev[5];
	char data[5][32];

	note("batches");
	is_int(es_stream_create(s, NM("B")), 0, "create B");
	is_int(es_stream_create(s, NM("X")), 0, "create X");
	fill(s, "X", 3);
	fill(s, "B", 1);
	for (int i = 0; i < 5; i++) {
		snprintf(data[i], sizeof data[i], "{ \"k\" : %d }", i);
		ev[i] = mk(i % 2 ? "Odd" : "Even", data[i], NULL);
	}
	is_int(es_append(s, NM("B"), 1, ev, 5, &a), 0, "append a batch of 5 at version 1");
	ok(a.first_version == 2 && a.last_version == 6 && a.first_position == 5 &&
	   a.last_position == 9 && !a.retry, "versions 2…6 at positions 5…9");
	struct events w = {0};
	is_int(stream_walk(s, id_of(s, "B"), 2, &w), 0, "walk the batch");
	is_int(w.n, 5, "five events");
	ok(gapless_versions(&w, 2, id_of(s, "B")) && gapless_positions(&w, 5),
	   "consecutive versions and positions");
	int all_same_time = 1, data_ok = 1;
	for (size_t i = 0; i < w.n; i++) {
		char want[48];
		snprintf(want, sizeof want, "\"data\":{\"k\":%zu}", i);
		if (!strstr(w.v[i].json, want) ||
		    !strstr(w.v[i].json, i % 2 ? "\"event_type\":\"Odd\"" : "\"event_type\":\"Even\""))
			data_ok = 0;
		if (w.v[i].created_us != w.v[0].created_us)
			all_same_time = 0;
	}
	ok(data_ok, "each event has its own type and data, in order");
	ok(all_same_time, "a batch is one commit: one created_at");
	events_free(&w);

	/* Bad batches: the last event is the bad one. */
	static const struct {
		const char *type, *data, *meta, *what;
	} bad[] = {
		{"T", "{\"a\":}", NULL, "bad JSON data"},
		{"T", "{\"a\":1", NULL, "unterminated JSON data"},
		{"T", "{\"a\":1} x", NULL, "data with trailing garbage"},
		{"T", "{\"a\":1}{}", NULL, "data with two objects"},
		{"T", "", NULL, "empty data"},
		{"T", "[1,2]", NULL, "data that is an array"},
		{"T", "\"x\"", NULL, "data that is a string"},
		{"T", "42", NULL, "data that is a number"},
		{"T", "null", NULL, "data that is null"},
		{"T", "{\"a\":1,\"a\":2}", NULL, "data with a duplicate key"},
		{"T", "{'a':1}", NULL, "data with single quotes"},
		{"T", "{\"a\":\"\xff\"}", NULL, "data with invalid UTF-8"},
		{"T", "{}", "[]", "metadata that is an array"},
		{"T", "{}", "\"m\"", "metadata that is a string"},
		{"T", "{}", "{\"m\":", "bad JSON metadata"},
		{"", "{}", NULL, "an empty event type"},
		{"a/b", "{}", NULL, "an event type with '/'"},
		{".T", "{}", NULL, "an event type starting with '.'"},
		{NULL, "{}", NULL, "no event type"},
		{"T", NULL, NULL, "no data"},
	};
	uint64_t head = head_of(s);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char what[128];
		es_event_in three[3] = {mk("T", "{}", NULL), mk("T", "{\"ok\":1}", NULL),
					mk(bad[i].type, bad[i].data, NULL)};
		if (bad[i].meta) {
			three[2].metadata = bad[i].meta;
			three[2].metadata_len = strlen(bad[i].meta);
		}
		snprintf(what, sizeof what, "a batch with %s", bad[i].what);
		fails(es_append(s, NM("B"), ES_ANY, three, 3, NULL), EINVAL, what);
		snprintf(what, sizeof what, "a single event with %s", bad[i].what);
		fails(es_append(s, NM("B"), ES_ANY, &three[2], 1, NULL), EINVAL, what);
	}
	is_int(head_of(s), head, "no bad batch stored anything (head)");
	is_int(version_of(s, "B"), 6, "no bad batch stored anything (version)");
	fails(es_append(s, NM("B"), ES_ANY, ev, 0, NULL), EINVAL, "an empty batch");

	/* Repeated ids within a batch. */
	unsigned char id1[16], id2[16], id3[16];
	uuid_generate(id1);
	uuid_generate(id2);
	uuid_generate(id3);
	es_event_in dup[4] = {mk("T", "{}", id1), mk("T", "{}", id2), mk("T", "{}", NULL),
			      mk("T", "{}", id1)};
	fails(es_append(s, NM("B"), ES_ANY, dup, 4, NULL), EINVAL,
	      "a batch with the same id twice (not adjacent)");
	dup[3].id = id3;
	dup[1].id = id3;
	fails(es_append(s, NM("B"), ES_ANY, dup, 4, NULL), EINVAL,
	      "a batch with another id twice (at 2 and 4)");
	es_event_in pair[2] = {mk("T", "{}", id2), mk("T", "{}", id2)};
	fails(es_append(s, NM("B"), ES_ANY, pair, 2, NULL), EINVAL,
	      "a batch of one id twice in a row");
	is_int(version_of(s, "B"), 6, "nothing stored by batches with repeated ids");

	/* The ids of the failed batches were not stored: they append anew. */
	es_event_in fresh[3] = {mk("T", "{}", id1), mk("T", "{}", id2), mk("T", "{}", id3)};
	is_int(es_append(s, NM("B"), 6, fresh, 3, &a), 0,
	       "the ids of failed batches append as new events");
	ok(!a.retry && a.first_version == 7 && a.last_version == 9,
	   "... not a retry, versions 7…9");

	/* A batch of many events. */
	enum { MANY = 300 };
	es_event_in *many = calloc(MANY, sizeof *many);
	for (int i = 0; i < MANY; i++)
		many[i] = mk("Many", "{\"x\":[1,2,3]}", NULL);
	head = head_of(s);
	is_int(es_append(s, NM("X"), 3, many, MANY, &a), 0, "a batch of %d events", MANY);
	ok(a.first_version == 4 && a.last_version == 3 + MANY &&
	   a.first_position == head + 1 && a.last_position == head + MANY,
	   "... consecutive versions and positions");
	free(many);
	es_close(s);
	rm_store(dir);
	free(dir);
}

/* ---- Idempotency. ---------------------------------------------------- */

/* An event id already stored in the stream is a retry, whatever the
 * expected version: it returns the stored numbers and writes nothing. A
 * batch is a retry only with all of its ids stored in that order; a partly
 * stored batch, or an id stored in another stream, is EEXIST. */
static void test_idempotency(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_appended a = {0};
	unsigned char id1[16], b1[16], b2[16], b3[16], n1[16], n2[16];

	note("idempotency");
	uuid_generate(id1);
	uuid_generate(b1);
	uuid_generate(b2);
	uuid_generate(b3);
	uuid_generate(n1);
	uuid_generate(n2);
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	is_int(es_stream_create(s, NM("T")), 0, "create T");
	fill(s, "T", 1);
	is_int(append1(s, "S", 0, "E", "{\"a\":1}", id1, &a), 0, "append an event with an id");
	ok(a.first_version == 1 && a.first_position == 2 && !a.retry, "version 1 at position 2");
	size_t len0;
	char *orig = event_bytes(s, 2, &len0);
	fill(s, "S", 1);
	uint64_t head = head_of(s);

	memset(&a, 0, sizeof a);
	is_int(append1(s, "S", 0, "E", "{\"a\":1}", id1, &a), 0,
	       "the same event again with a wrong expected version succeeds");
	ok(a.retry == 1, "... as a retry");
	ok(a.first_version == 1 && a.last_version == 1 && a.first_position == 2 &&
	   a.last_position == 2, "... with the original version and position");
	is_int(head_of(s), head, "... and stores nothing (head)");
	is_int(version_of(s, "S"), 2, "... and stores nothing (version)");
	memset(&a, 0, sizeof a);
	is_int(append1(s, "S", ES_ANY, "E", "{\"a\":1}", id1, &a), 0, "again with ES_ANY");
	ok(a.retry && a.first_version == 1 && a.first_position == 2, "... a retry too");
	is_int(append1(s, "S", 2, "E", "{\"a\":1}", id1, &a), 0,
	       "again with the current version as expected");
	ok(a.retry && a.first_version == 1, "... a retry too");
	is_int(append1(s, "S", 2, "E", "{\"a\":1}", id1, NULL), 0, "a retry with out NULL");
	size_t len;
	char *now = event_bytes(s, 2, &len);
	is_mem(now, len, orig, len0, "the original event is unchanged");
	free(now);
	free(orig);
	is_int(head_of(s), head, "no retry stored anything");

	/* Batches. */
	es_event_in batch[3] = {mk("E", "{\"b\":1}", b1), mk("E", "{\"b\":2}", b2),
				mk("E", "{\"b\":3}", b3)};
	is_int(es_append(s, NM("S"), 2, batch, 3, &a), 0, "append a batch with ids");
	ok(a.first_version == 3 && a.last_version == 5 && !a.retry, "versions 3…5");
	uint64_t bpos = a.first_position;
	fill(s, "S", 1);
	fill(s, "T", 1);
	head = head_of(s);
	memset(&a, 0, sizeof a);
	is_int(es_append(s, NM("S"), 0, batch, 3, &a), 0,
	       "the whole batch again, same ids, same order, wrong expected version");
	ok(a.retry && a.first_version == 3 && a.last_version == 5 &&
	   a.first_position == bpos && a.last_position == bpos + 2,
	   "... is a retry with the original versions and positions");
	is_int(head_of(s), head, "... and stores nothing");

	es_event_in swapped[3] = {batch[1], batch[0], batch[2]};
	fails(es_append(s, NM("S"), ES_ANY, swapped, 3, NULL), EEXIST,
	      "the batch's ids in another order");
	es_event_in partly[2] = {batch[0], mk("E", "{}", n1)};
	fails(es_append(s, NM("S"), ES_ANY, partly, 2, NULL), EEXIST,
	      "a batch with one stored id and one new id");
	es_event_in partly2[2] = {mk("E", "{}", n2), batch[2]};
	fails(es_append(s, NM("S"), ES_ANY, partly2, 2, NULL), EEXIST,
	      "a batch with one new id and one stored id");
	es_event_in no_id[2] = {batch[0], mk("E", "{}", NULL)};
	fails(es_append(s, NM("S"), ES_ANY, no_id, 2, NULL), EEXIST,
	      "a batch with one stored id and one event without an id");
	es_event_in gap[2] = {batch[0], batch[2]};
	fails(es_append(s, NM("S"), ES_ANY, gap, 2, NULL), EEXIST,
	      "stored ids in order but not at consecutive versions");
	es_event_in mixed[2] = {batch[0], mk("E", "{}", id1)};
	fails(es_append(s, NM("S"), ES_ANY, mixed, 2, NULL), EEXIST,
	      "a batch of stored ids from two different appends, out of order");
	is_int(head_of(s), head, "the conflicting batches stored nothing (head)");
	is_int(version_of(s, "S"), 6, "... nor changed the stream");
	is_int(append1(s, "S", 6, "E", "{}", n1, &a), 0,
	       "an id from a failed batch appends anew");
	ok(!a.retry && a.first_version == 7, "... as version 7, not a retry");

	/* Another stream. */
	head = head_of(s);
	fails(append1(s, "T", ES_ANY, "E", "{\"a\":1}", id1, NULL), EEXIST,
	      "an id stored in S, appended to T");
	is_int(version_of(s, "T"), 2, "T is unchanged");
	fails(es_append(s, NM("T"), ES_ANY, batch, 3, NULL), EEXIST,
	      "S's whole batch, appended to T");
	is_int(head_of(s), head, "nothing stored");
	es_close(s);
	rm_store(dir);
	free(dir);
}

/* ---- Size limits. ---------------------------------------------------- */

static char *json_with_string(size_t n)
{
	char *d = malloc(n + 16);

	memcpy(d, "{\"p\":\"", 6);
	memset(d + 6, 'x', n);
	memcpy(d + 6 + n, "\"}", 3);
	return d;
}

/* Envelopes over es_options.max_event (or the 1 MiB default) are EFBIG and
 * store nothing; an envelope of exactly the limit is accepted. */
static void test_efbig(void)
{
	char *dir = tmp_dir();
	es_options o = {.max_event = 1000};
	es_store *s = open_store(dir, &o);
	es_appended a;

	note("size limits");
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	char *big = json_with_string(2000);
	fails(append1(s, "S", ES_ANY, "T", big, NULL, NULL), EFBIG,
	      "a 2000-byte event with max_event 1000");
	is_int(head_of(s), 0, "nothing stored");
	is_int(version_of(s, "S"), 0, "the stream is still at version 0");
	es_event_in two[2] = {mk("T", "{}", NULL), mk("T", big, NULL)};
	fails(es_append(s, NM("S"), ES_ANY, two, 2, NULL), EFBIG,
	      "a batch whose second event is too big");
	is_int(head_of(s), 0, "nothing stored");

	/* The limit is on the whole envelope: find the exact boundary. */
	is_int(append1(s, "S", ES_ANY, "T", "{\"p\":\"\"}", NULL, NULL), 0, "a small event");
	size_t base;
	char *b = event_bytes(s, 1, &base);
	free(b);
	ok(base > 200 && base < 1000, "its envelope is %zu bytes", base);
	size_t room = 1000 - base;
	char *exact = json_with_string(room);
	is_int(append1(s, "S", ES_ANY, "T", exact, NULL, &a), 0,
	       "an envelope of exactly max_event bytes is accepted");
	size_t len;
	b = event_bytes(s, 2, &len);
	is_int(len, 1000, "... and is 1000 bytes");
	free(b);
	free(exact);
	exact = json_with_string(room + 1);
	fails(append1(s, "S", ES_ANY, "T", exact, NULL, NULL), EFBIG,
	      "an envelope of max_event + 1 bytes");
	is_int(head_of(s), 2, "nothing stored");
	free(exact);
	es_close(s);

	/* The default limit is 1 MiB. */
	s = open_store(dir, NULL);
	char *huge = json_with_string(ES_MAX_EVENT_DEFAULT);
	fails(append1(s, "S", ES_ANY, "T", huge, NULL, NULL), EFBIG,
	      "a 1 MiB event with the default limit");
	free(huge);
	huge = json_with_string(ES_MAX_EVENT_DEFAULT - 4096);
	is_int(append1(s, "S", ES_ANY, "T", huge, NULL, NULL), 0,
	       "an event just under 1 MiB is accepted by default");
	free(huge);
	is_int(head_of(s), 3, "three events in all");
	es_close(s);
	free(big);
	rm_store(dir);
	free(dir);
}

/* ---- Missing streams and reads. -------------------------------------- */

/* Changes to a stream that does not exist are ENOENT with a reason. */
static void test_missing_stream(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_event_in e = mk("T", "{}", NULL);

	note("missing streams");
	fails(es_append(s, NM("Nope"), ES_ANY, &e, 1, NULL), ENOENT,
	      "appending to a missing stream");
	ok(strstr(es_why(), "Nope") != NULL, "the reason names the stream: %s", es_why());
	fails(es_append(s, NM("Nope"), 0, &e, 1, NULL), ENOENT,
	      "appending to a missing stream with expected 0");
	is_int(es_stream_create(s, NM("Gone")), 0, "create Gone");
	is_int(es_stream_remove(s, NM("Gone")), 0, "remove Gone");
	fails(es_append(s, NM("Gone"), ES_ANY, &e, 1, NULL), ENOENT,
	      "appending to a removed stream");
	fails(es_snapshot_put(s, NM("Nope"), 1, NM("{}")), ENOENT,
	      "a snapshot of a missing stream");
	fails(es_snapshot_delete(s, NM("Nope")), ENOENT,
	      "deleting the snapshot of a missing stream");
	is_int(head_of(s), 0, "nothing stored");
	is_int(stream_count(s), 0, "no stream made");
	es_close(s);
	rm_store(dir);
	free(dir);
}

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
	es_close(s);
	rm_store(dir);
	free(dir);
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

struct checkpoint_list {
	uint64_t id[16], position[16];
	char name[16][32];
	size_t n;
	int reserved_seen;
};

static int collect_checkpoint(void *arg, const es_checkpoint *cp)
{
	struct checkpoint_list *l = arg;

	if (!cp->has_position)
		l->reserved_seen = 1;
	if (l->n < 16) {
		l->id[l->n] = cp->id;
		l->position[l->n] = cp->position;
		snprintf(l->name[l->n], sizeof l->name[0], "%.*s", (int)cp->name_len, cp->name);
	}
	l->n++;
	return 0;
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
	es_close(s);
	rm_store(dir);
	free(dir);
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
	es_close(s);
	rm_store(dir);
	free(dir);
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
	es_close(s);
	rm_store(dir);
	free(dir);
}

/* ---- Views. ------------------------------------------------------------ */

static int collect_view(void *arg, const es_view *v)
{
	char *names = arg;

	strncat(names, v->name, v->name_len);
	strcat(names, " ");
	return 0;
}

/* The names of the views of a kind, space-separated, in id order. */
static void view_names(es_store *s, int kind, char *names)
{
	es_read *r = view(s);

	names[0] = '\0';
	if (es_views_walk(r, kind, 0, collect_view, names))
		bail_out("es_views_walk: %s", es_why());
	es_read_end(r);
}

/* The positions of a view's events, space-separated. */
static void view_positions(es_store *s, int kind, const char *name, uint64_t from,
			   char *out)
{
	es_read *r = view(s);
	es_view v;
	struct events e = {0};

	out[0] = '\0';
	if (es_view_get(r, kind, NM(name), &v) == 0 &&
	    es_view_walk(r, v.id, from, collect_event, &e) == 0)
		for (size_t i = 0; i < e.n; i++)
			sprintf(out + strlen(out), "%llu ", (unsigned long long)e.v[i].position);
	events_free(&e);
	es_read_end(r);
}

/* Opens the store under dir with raw LMDB, in a write transaction. */
static int raw_begin(const char *dir, MDB_env **env, MDB_txn **txn)
{
	int rc = mdb_env_create(env);

	if (rc)
		return rc;
	mdb_env_set_maxdbs(*env, 32);
	if (!(rc = mdb_env_open(*env, dir, 0, 0644)))
		rc = mdb_txn_begin(*env, NULL, 0, txn);
	if (rc)
		mdb_env_close(*env);
	return rc;
}

/* Commits what raw_begin began (or aborts after rc), and closes. */
static void raw_end(MDB_env *env, MDB_txn *txn, int rc, const char *dir)
{
	if (!rc)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	if (rc)
		bail_out("changing %s with raw LMDB: %s", dir, mdb_strerror(rc));
}

/* Makes a store of format 1 of dir: no views, format 1 in meta. */
static void downgrade_to_format_1(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint64_t one = 1;
	MDB_val k = {6, "format"}, v = {8, &one};
	const char *views[] = {"views", "view_names", "view_events"};
	int rc = raw_begin(dir, &env, &txn);

	if (rc)
		bail_out("opening %s: %s", dir, mdb_strerror(rc));
	for (int i = 0; i < 3 && !rc; i++)
		if (!(rc = mdb_dbi_open(txn, views[i], 0, &dbi)))
			rc = mdb_drop(txn, dbi, 1);
	if (!rc && !(rc = mdb_dbi_open(txn, "meta", 0, &dbi)))
		rc = mdb_put(txn, dbi, &k, &v, 0);
	raw_end(env, txn, rc, dir);
}

/* The views of the events test_views appends. */
static void expect_views(es_store *s, const char *when)
{
	char names[1024], got[1024];

	view_names(s, ES_CATEGORY, names);
	is_str(names, "Order User Ordér ", "%s: categories, in order of first event; none for plain or -dash", when);
	view_names(s, ES_TYPE, names);
	is_str(names, "Placed Joined Shipped Odd \"type\"\\ ", "%s: event types, in order of first event", when);
	view_positions(s, ES_CATEGORY, "Order", 0, got);
	is_str(got, "1 3 6 8 9 ", "%s: category Order: its events by position", when);
}

/* Categories (the part of a stream's name before its first '-') and event
 * types list their events by position, kept in the append's transaction;
 * a format 1 store gets them built when opened. */
static void test_views(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	char got[1024];
	es_read *r;
	es_view v;

	note("views");
	const char *streams[] = {"Order-1", "Order-2", "User-x-y", "plain", "-dash", "Ordér-3"};
	for (int i = 0; i < 6; i++)
		is_int(es_stream_create(s, NM(streams[i])), 0, "create %s", streams[i]);
	/* Positions: 1 Order-1 Placed, 2 User-x-y Joined, 3 Order-2 Placed,
	 * 4 plain Placed, 5 -dash Joined, 6 Order-1 Shipped, 7 Ordér-3 Placed,
	 * 8-9 Order-2 a batch: Shipped, "Odd \"type\"". */
	is_int(append1(s, "Order-1", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 1");
	is_int(append1(s, "User-x-y", ES_ANY, "Joined", "{}", NULL, NULL), 0, "append 2");
	is_int(append1(s, "Order-2", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 3");
	is_int(append1(s, "plain", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 4");
	is_int(append1(s, "-dash", ES_ANY, "Joined", "{}", NULL, NULL), 0, "append 5");
	is_int(append1(s, "Order-1", ES_ANY, "Shipped", "{}", NULL, NULL), 0, "append 6");
	is_int(append1(s, "Ordér-3", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 7");
	es_event_in batch[2] = {mk("Shipped", "{}", NULL), mk("Odd \"type\"\\", "{}", NULL)};
	is_int(es_append(s, NM("Order-2"), ES_ANY, batch, 2, NULL), 0, "append 8-9, a batch");
	/* A failed append leaves no trace in the views. */
	fails(append1(s, "Order-1", 0, "Ghost", "{}", NULL, NULL), EEXIST, "a conflicting append");

	expect_views(s, "appended");
	view_positions(s, ES_CATEGORY, "Order", 4, got);
	is_str(got, "6 8 9 ", "... walked from position 4");
	view_positions(s, ES_CATEGORY, "User", 0, got);
	is_str(got, "2 ", "category User (stream User-x-y: up to the first '-')");
	view_positions(s, ES_TYPE, "Placed", 0, got);
	is_str(got, "1 3 4 7 ", "type Placed, across categories and the plain stream");
	view_positions(s, ES_TYPE, "Odd \"type\"\\", 0, got);
	is_str(got, "9 ", "a type with a quote and a backslash");

	r = view(s);
	is_int(es_view_get(r, ES_CATEGORY, NM("Order"), &v), 0, "es_view_get Order");
	ok(v.kind == ES_CATEGORY && v.last_position == 9 && v.name_len == 5 &&
	   memcmp(v.name, "Order", 5) == 0, "... its kind, name and newest position");
	es_event last;
	is_int(es_event_get(r, 9, &last), 0, "event 9");
	ok(v.updated_us == last.created_us, "... updated_us is its newest event's time");
	uint64_t order_id = v.id;
	is_int(es_view_get_id(r, order_id, &v), 0, "es_view_get_id");
	ok(v.id == order_id && v.last_position == 9, "... the same view");
	is_int(es_view_has(r, order_id, 6), 0, "es_view_has: event 6 is in Order");
	fails(es_view_has(r, order_id, 2), ENOENT, "es_view_has of an event elsewhere");
	fails(es_view_has(r, order_id, 99), ENOENT, "es_view_has past the head");
	fails(es_view_get(r, ES_CATEGORY, NM("plain"), &v), ENOENT, "a stream without '-' makes no category");
	fails(es_view_get(r, ES_CATEGORY, NM("Placed"), &v), ENOENT, "a type is not a category");
	fails(es_view_get(r, ES_TYPE, NM("Ghost"), &v), ENOENT, "the type of a failed append");
	fails(es_view_get_id(r, 12345, &v), ENOENT, "an unknown view id");
	es_read_end(r);

	/* Kept across a reopen, and rebuilt the same from a format 1 store. */
	es_close(s);
	downgrade_to_format_1(dir);
	s = NULL;
	fails(es_open(dir, &(es_options){.read_only = 1}, &s), EROFS,
	      "opening a format 1 store read-only");
	ok(strstr(es_why(), "read-write once") != NULL, "... which says to open it read-write once");
	s = open_store(dir, NULL);
	expect_views(s, "rebuilt when a format 1 store is opened read-write");
	view_positions(s, ES_TYPE, "Odd \"type\"\\", 0, got);
	is_str(got, "9 ", "... the escaped type too");
	is_int(append1(s, "Order-9", ES_ANY, "Placed", "{}", NULL, NULL), ENOENT,
	       "(no stream Order-9)");
	is_int(es_stream_create(s, NM("Order-9")), 0, "create Order-9");
	is_int(append1(s, "Order-9", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 10 after the upgrade");
	view_positions(s, ES_CATEGORY, "Order", 0, got);
	is_str(got, "1 3 6 8 9 10 ", "the upgraded store indexes new events");
	es_close(s);
	rm_store(dir);
	free(dir);
}

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
	es_close(s);
	rm_store(dir);
	free(dir);
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
	es_close(s);
	rm_store(dir);
	free(dir);
}

/* ---- Administration: stats, backup, import, verify. ------------------- */

struct problems {
	int n;
	char first[512];
	char all[8192];		/* as many as fit, one per line */
};

static void collect_problem(void *arg, const char *line)
{
	struct problems *p = arg;
	size_t used = strlen(p->all);

	if (p->n++ == 0)
		snprintf(p->first, sizeof p->first, "%s", line);
	snprintf(p->all + used, sizeof p->all - used, "%s\n", line);
}

static uint64_t verify_store(es_store *s, struct problems *p)
{
	uint64_t n = 99;

	memset(p, 0, sizeof *p);
	if (es_verify(s, collect_problem, NULL, p, &n))
		bail_out("es_verify: %s", es_why());
	return n;
}

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

struct lines {
	char **v;
	size_t *len;
	size_t n;
};

static int collect_line(void *arg, const es_event *ev)
{
	struct lines *l = arg;

	l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
	l->len = realloc(l->len, (l->n + 1) * sizeof *l->len);
	if (!l->v || !l->len)
		bail_out("out of memory");
	l->v[l->n] = strndup(ev->json, ev->json_len);
	l->len[l->n++] = ev->json_len;
	return 0;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->len);
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
	is_int(es_log_walk(r, 0, collect_line, &l), 0, "read the log");
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
	snprintf(path, sizeof path, "%s/copy/data.mdb", dir2);
	unlink(path);
	snprintf(path, sizeof path, "%s/copy", dir2);
	rmdir(path);

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
	is_int(es_log_walk(r, 0, collect_line, &m), 0, "read the imported log");
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
	rmdir(dir2);
	free(dir);
	free(dir2);
	free(dir3);
}

/* ---- Threads. -------------------------------------------------------- */

enum { WORKERS = 4, PER_WORKER = 200, RACE_TARGET = 100 };

struct appender {
	es_store *s;
	int k;
	int failures, first_err;
	char first_why[256];
};

static void *append_worker(void *p)
{
	struct appender *w = p;
	char own[16], data[64];

	snprintf(own, sizeof own, "own-%d", w->k);
	for (int i = 0; i < PER_WORKER; i++) {
		snprintf(data, sizeof data, "{\"t\":%d,\"i\":%d}", w->k, i);
		es_event_in e = mk("Tick", data, NULL);
		for (int j = 0; j < 2; j++) {
			const char *name = j ? own : "shared";
			int err = es_append(w->s, name, strlen(name), ES_ANY, &e, 1, NULL);
			if (err && w->failures++ == 0) {
				w->first_err = err;
				snprintf(w->first_why, sizeof w->first_why, "%s", es_why());
			}
		}
	}
	return NULL;
}

struct reader {
	es_store *s;
	atomic_int *stop;
	long views, bad;
};

/* Checks, in views taken while appends go on, that the head and the stream
 * version are consistent with what the view holds. */
static void *read_worker(void *p)
{
	struct reader *rd = p;

	while (!atomic_load(rd->stop)) {
		es_read *r;
		uint64_t h;
		int64_t t;
		es_event ev;
		es_stream st;
		if (es_read_begin(rd->s, &r)) {
			rd->bad++;
			break;
		}
		rd->views++;
		if (es_head(r, &h, &t) ||
		    (h > 0 && (es_event_get(r, h, &ev) || ev.created_us != t)) ||
		    es_event_get(r, h + 1, &ev) != ENOENT ||
		    es_stream_get(r, "shared", 6, &st) ||
		    (st.version > 0 && (es_stream_event(r, st.id, st.version, &ev) ||
					ev.position > h)) ||
		    es_stream_event(r, st.id, st.version + 1, &ev) != ENOENT)
			rd->bad++;
		es_read_end(r);
		/* Pause, so as not to starve the writers (valgrind runs one
		 * thread at a time, and a view makes no system call). */
		nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
	}
	return NULL;
}

struct racer {
	es_store *s;
	int wins, conflicts, others, other_err;
};

static void *race_worker(void *p)
{
	struct racer *w = p;

	for (;;) {
		es_read *r;
		es_stream st;
		int err = es_read_begin(w->s, &r);
		if (err) {
			w->others++;
			w->other_err = err;
			break;
		}
		err = es_stream_get(r, "race", 4, &st);
		es_read_end(r);
		if (err) {
			w->others++;
			w->other_err = err;
			break;
		}
		if (st.version >= RACE_TARGET)
			break;
		es_event_in e = mk("Raced", "{}", NULL);
		err = es_append(w->s, "race", 4, (int64_t)st.version, &e, 1, NULL);
		if (err == 0) {
			w->wins++;
		} else if (err == EEXIST) {
			w->conflicts++;
		} else {
			w->others++;
			w->other_err = err;
			break;
		}
	}
	return NULL;
}

/* 4 threads append to a shared stream and to their own ones, with a reader
 * checking views meanwhile: versions and positions stay gapless and every
 * thread's events keep their order. Then 4 threads race with exact expected
 * versions: exactly RACE_TARGET appends win. */
static void test_threads(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	pthread_t th[WORKERS], rth;
	struct appender ap[WORKERS];
	struct reader rd;
	atomic_int stop = 0;
	char own[16];

	note("threads");
	is_int(es_stream_create(s, NM("shared")), 0, "create shared");
	for (int k = 0; k < WORKERS; k++) {
		snprintf(own, sizeof own, "own-%d", k);
		is_int(es_stream_create(s, NM(own)), 0, "create %s", own);
	}
	rd = (struct reader){.s = s, .stop = &stop};
	if (pthread_create(&rth, NULL, read_worker, &rd))
		bail_out("pthread_create");
	for (int k = 0; k < WORKERS; k++) {
		ap[k] = (struct appender){.s = s, .k = k};
		if (pthread_create(&th[k], NULL, append_worker, &ap[k]))
			bail_out("pthread_create");
	}
	for (int k = 0; k < WORKERS; k++)
		pthread_join(th[k], NULL);
	atomic_store(&stop, 1);
	pthread_join(rth, NULL);

	int failures = 0;
	for (int k = 0; k < WORKERS; k++) {
		failures += ap[k].failures;
		if (ap[k].failures)
			diag("worker %d: %d failures, the first %s: %s", k, ap[k].failures,
			     strerror(ap[k].first_err), ap[k].first_why);
	}
	is_int(failures, 0, "no concurrent append failed");
	ok(rd.bad == 0 && rd.views > 0, "%ld read views during the appends were consistent",
	   rd.views);
	const uint64_t total = 2 * WORKERS * PER_WORKER;
	is_int(head_of(s), total, "the head is %llu", (unsigned long long)total);
	is_int(version_of(s, "shared"), WORKERS * PER_WORKER, "shared has every thread's events");

	struct events w = {0};
	is_int(log_walk(s, 1, &w), 0, "walk the log");
	ok(w.n == total && gapless_positions(&w, 1), "positions 1…%llu, gapless",
	   (unsigned long long)total);
	ok(nondecreasing_times(&w), "created_at never decreases along positions");
	uint64_t sum = 0;
	int per_stream_ok = 1;
	uint64_t next[WORKERS + 1];
	uint64_t ids[WORKERS + 1];
	ids[WORKERS] = id_of(s, "shared");
	for (int k = 0; k < WORKERS; k++) {
		snprintf(own, sizeof own, "own-%d", k);
		ids[k] = id_of(s, own);
	}
	for (int k = 0; k <= WORKERS; k++)
		next[k] = 1;
	for (size_t i = 0; i < w.n; i++) {
		int k;
		for (k = 0; k <= WORKERS && ids[k] != w.v[i].stream_id; k++)
			;
		if (k > WORKERS || w.v[i].version != next[k]++)
			per_stream_ok = 0;
	}
	ok(per_stream_ok, "along the log each stream's versions go 1, 2, 3, … without gaps");
	events_free(&w);
	for (int k = 0; k <= WORKERS; k++) {
		const char *name = k < WORKERS ? (snprintf(own, sizeof own, "own-%d", k), own)
					       : "shared";
		stream_walk(s, ids[k], 1, &w);
		uint64_t want = k < WORKERS ? PER_WORKER : WORKERS * PER_WORKER;
		int seq_ok = w.n == want && gapless_versions(&w, 1, ids[k]);
		int last_i[WORKERS] = {-1, -1, -1, -1};
		for (size_t i = 0; i < w.n && seq_ok; i++) {
			int t = -1, n = -1;
			const char *d = strstr(w.v[i].json, "\"data\":");
			if (!d || sscanf(d, "\"data\":{\"t\":%d,\"i\":%d}", &t, &n) != 2 ||
			    t < 0 || t >= WORKERS || n != last_i[t] + 1 ||
			    (k < WORKERS && t != k))
				seq_ok = 0;
			else
				last_i[t] = n;
		}
		ok(seq_ok, "%s: %llu events, versions gapless, each thread's in its order",
		   name, (unsigned long long)want);
		sum += w.n;
		events_free(&w);
	}
	is_int(sum, total, "the streams' events add up to the log's");

	/* Racing with exact expected versions. */
	struct racer rc[WORKERS];
	is_int(es_stream_create(s, NM("race")), 0, "create race");
	uint64_t head = head_of(s);
	for (int k = 0; k < WORKERS; k++) {
		rc[k] = (struct racer){.s = s};
		if (pthread_create(&th[k], NULL, race_worker, &rc[k]))
			bail_out("pthread_create");
	}
	int wins = 0, conflicts = 0, others = 0;
	for (int k = 0; k < WORKERS; k++) {
		pthread_join(th[k], NULL);
		wins += rc[k].wins;
		conflicts += rc[k].conflicts;
		others += rc[k].others;
		if (rc[k].others)
			diag("racer %d: unexpected error %s", k, strerror(rc[k].other_err));
	}
	note("race: %d wins, %d conflicts", wins, conflicts);
	is_int(others, 0, "racers saw only success or EEXIST");
	is_int(wins, RACE_TARGET, "exactly %d appends won", RACE_TARGET);
	is_int(version_of(s, "race"), RACE_TARGET, "race is at version %d", RACE_TARGET);
	is_int(head_of(s), head + RACE_TARGET, "the log grew by %d", RACE_TARGET);
	stream_walk(s, id_of(s, "race"), 1, &w);
	ok(w.n == RACE_TARGET && gapless_versions(&w, 1, id_of(s, "race")) &&
	   gapless_positions(&w, head + 1), "race has exactly %d gapless events", RACE_TARGET);
	events_free(&w);
	es_close(s);
	rm_store(dir);
	free(dir);
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
	es_log_walk(v, 1, count_event, &n);
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
	char *data = json_with_string(10000);
	int err = 0;
	for (int i = 0; i < 400 && !err; i++)
		err = append1(s, "S", ES_ANY, "Big", data, NULL, NULL);
	free(data);
	is_int(err, 0, "4 MB of events append to a store whose map began at 1 MiB");
	struct stat st = {0};
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	int got = stat(path, &st);
	ok(got == 0 && st.st_size > 4 * 1000 * 1000,
	   "the data file grew past the first map (%lld bytes)", (long long)st.st_size);
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
	es_close(s);
	rm_store(dir);
	free(dir);
}

int main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "--map-reader") == 0)
		return map_reader(argv[2]);
	memset(name255, 'n', 255);
	memset(name256, 'n', 256);
	test_open_reopen();
	test_open_errors();
	test_streams();
	test_envelope();
	test_expected_version();
	test_nul_in_json();
	test_batches();
	test_idempotency();
	test_efbig();
	test_missing_stream();
	test_reads();
	test_walks();
	test_many_streams();
	test_created_at_order();
	test_views();
	test_snapshots();
	test_checkpoints();
	test_admin();
	test_threads();
	test_map_growth(argv[0]);
	return done_testing();
}

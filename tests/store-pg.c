/* store-pg.c — the PostgreSQL backend through store.h, against a real
 * server: a private cluster that tests/pg-cluster starts in a temporary
 * directory. Two es_store handles on one database stand for two hosts:
 * what one appends the other reads at once, racing appends on one version
 * get one winner, retries by event id are stored once, positions stay
 * gapless under concurrent appends from both, a watch on one wakes on
 * the other's append, an append whose connection is killed on the
 * server is resent and stored once, and appends made at once by one
 * handle share one transaction, each failing alone. Then the tools'
 * half (esfsctl): es_import_batch puts another store's lines back byte
 * for byte, by the local store's rules, all of a call or nothing;
 * es_import_undo empties what it filled, and only that; es_verify is
 * clean on both and finds faults made in the tables. A store made by
 * schema version 1 is upgraded by a read-write open, and only by one. */
#include "tap.h"
#include "store-fixture.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <uuid/uuid.h>

static char *cluster;	/* the cluster's directory, stopped at exit */

static void stop_cluster(void)
{
	char cmd[PATH_MAX + 64];

	if (!cluster)
		return;
	snprintf(cmd, sizeof cmd, "tests/pg-cluster stop '%s' >&2", cluster);
	if (system(cmd) != 0)
		diag("tests/pg-cluster stop failed");
	rm_store(cluster);
	free(cluster);
	cluster = NULL;
}

/* Starts the cluster; its URI, malloc'd. */
static char *start_cluster(void)
{
	char cmd[PATH_MAX + 64], uri[PATH_MAX + 128];

	cluster = tmp_dir();
	atexit(stop_cluster);
	snprintf(cmd, sizeof cmd, "tests/pg-cluster start '%s'", cluster);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(uri, sizeof uri, p) || pclose(p) != 0)
		bail_out("tests/pg-cluster start %s failed", cluster);
	uri[strcspn(uri, "\n")] = '\0';
	return strdup(uri);
}

static void test_basics(const char *uri)
{
	es_store *a = open_store(uri, NULL), *b = open_store(uri, NULL);
	es_appended out;
	es_event ev;
	es_stream st;
	es_read *r;

	is_int(es_stream_create(a, NM("Order-1")), 0, "a stream is made");
	fails(es_stream_create(b, NM("Order-1")), EEXIST, "making it again on the other host");
	fails(es_stream_create(a, NM("bad/name")), EINVAL, "a bad name");
	fails(append1(a, "Nope-1", ES_ANY, "T", "{}", NULL, NULL), ENOENT,
	      "an append to a missing stream");

	is_int(append1(a, "Order-1", 0, "Placed", "{ \"total\" : 12 }", NULL, &out), 0,
	       "an append with expected version 0");
	is_int((long long)out.first_version, 1, "it got version 1");
	is_int((long long)out.first_position, 1, "and position 1");

	r = view(b);
	is_int(es_event_get(r, 1, &ev), 0, "the other host reads it at once");
	ok(matches("^\\{\"event_id\":\"[0-9a-f-]{36}\",\"stream_id\":\"Order-1\","
		   "\"event_type\":\"Placed\",\"version\":1,\"schema_version\":1,"
		   "\"data\":\\{\"total\":12\\},\"metadata\":\\{\\},\"global_position\":1,"
		   "\"created_at\":\"" TIME_RE "\"\\}\n$", ev.json, ev.json_len),
	   "its envelope is the contract's line: %.*s", (int)ev.json_len, ev.json);
	is_int(es_stream_get(r, NM("Order-1"), &st), 0, "the stream is there");
	is_int((long long)st.version, 1, "at version 1");
	is_int((long long)es_event_names(&ev), 4, "in 4 directories (it has a category)");
	uint64_t bytes = 0;
	is_int(es_log_bytes(r, 2, &bytes), 0, "log bytes after the head");
	is_int((long long)bytes, (long long)ev.json_len, "are the envelope's");
	es_read_end(r);

	fails(append1(b, "Order-1", 0, "Placed", "{}", NULL, NULL), EEXIST,
	      "a stale expected version from the other host");
	ok(strstr(es_why(), "expected 0, actual 1") != NULL, "the reason names both: %s", es_why());

	unsigned char id[16] = {0x6a, 0x1e, 1, 2, 3, 4, 0x40, 5, 0x80, 6, 7, 8, 9, 10, 11, 12};
	is_int(append1(a, "Order-1", 1, "Paid", "{}", id, &out), 0, "an append with an id");
	is_int(append1(b, "Order-1", 1, "Paid", "{}", id, &out), 0,
	       "its retry from the other host succeeds");
	ok(out.retry && out.first_version == 2, "as a retry of version 2");
	is_int(es_stream_create(a, NM("Order-2")), 0, "a second stream");
	fails(append1(b, "Order-2", ES_ANY, "Paid", "{}", id, NULL), EEXIST,
	      "the same id in another stream");
	fails(append1(a, "Order-1", ES_ANY, "T", "[1]", NULL, NULL), EINVAL, "data not an object");

	is_int(es_snapshot_put(a, NM("Order-1"), 2, "{ \"n\": 2 }", 10), 0, "a snapshot");
	fails(es_snapshot_put(a, NM("Order-1"), 3, "{}", 2), EINVAL, "a snapshot past the version");
	is_int(es_checkpoint_put(b, NM("proj"), 2), 0, "a checkpoint");
	fails(es_checkpoint_put(b, NM("proj"), 99), EINVAL, "a checkpoint past the head");
	r = view(a);
	es_snapshot sn;
	es_checkpoint cp;
	is_int(es_snapshot_get(r, st.id, &sn), 0, "the snapshot reads back");
	ok(matches("^\\{\"stream_id\":\"Order-1\",\"version\":2,\"created_at\":\"" TIME_RE
		   "\",\"data\":\\{\"n\":2\\}\\}\n$", sn.json, sn.json_len),
	   "as the contract's line: %.*s", (int)sn.json_len, sn.json);
	is_int(es_checkpoint_get(r, NM("proj"), &cp), 0, "the checkpoint reads back");
	ok(cp.has_position && cp.position == 2, "at 2");
	es_view v;
	is_int(es_view_get(r, ES_CATEGORY, NM("Order"), &v), 0, "the category Order is a view");
	is_int((long long)v.last_position, 2, "its last event is 2");
	is_int(es_view_has(r, v.id, 1), 0, "event 1 is in it");
	es_read_end(r);
	uint64_t cid = 0, cid2 = 0;
	is_int(es_checkpoint_delete(a, NM("proj")), 0, "the checkpoint is deleted");
	fails(es_checkpoint_delete(a, NM("proj")), ENOENT, "deleting it again");
	is_int(es_checkpoint_reserve(a, NM("proj"), &cid), 0, "its name is reserved");
	is_int(es_checkpoint_reserve(b, NM("proj"), &cid2), 0, "again, from the other host");
	ok(cid && cid == cid2, "with one id, kept from before the delete");
	fails(es_stream_remove(a, NM("Order-1")), ENOTEMPTY, "removing a stream with events");
	is_int(es_stream_create(a, NM("Empty-1")), 0, "an empty stream");
	is_int(es_stream_remove(b, NM("Empty-1")), 0, "is removed by the other host");
	fails(es_stream_remove(b, NM("Empty-1")), ENOENT, "removing it again");

	struct events e = {0};
	is_int(log_walk(b, 1, &e), 0, "the log walks");
	is_int((long long)e.n, 2, "over both events");
	ok(gapless_positions(&e, 1), "gapless");
	events_free(&e);
	es_close(a);
	es_close(b);
}

/* ---- Two hosts racing. ---------------------------------------------- */

#define RACERS 4
#define ROUNDS 60

struct racer {
	es_store *s;
	int wins, conflicts, other;
};

static pthread_barrier_t bar;

/* Each round every racer appends at the same exact version of Race-1. */
static void *race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < ROUNDS; i++) {
		pthread_barrier_wait(&bar);
		int err = append1(r->s, "Race-1", i, "T", "{}", NULL, NULL);
		if (err == 0)
			r->wins++;
		else if (err == EEXIST)
			r->conflicts++;
		else
			r->other++;
		pthread_barrier_wait(&bar);
	}
	return NULL;
}

static void test_race(const char *uri)
{
	es_store *s[2] = {open_store(uri, NULL), open_store(uri, NULL)};
	struct racer r[RACERS];
	pthread_t t[RACERS];
	int wins = 0, conflicts = 0, other = 0;

	is_int(es_stream_create(s[0], NM("Race-1")), 0, "the race's stream");
	pthread_barrier_init(&bar, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct racer){.s = s[i % 2]};
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		wins += r[i].wins;
		conflicts += r[i].conflicts;
		other += r[i].other;
	}
	pthread_barrier_destroy(&bar);
	is_int(wins, ROUNDS, "one winner per version over %d rounds", ROUNDS);
	is_int(conflicts, ROUNDS * (RACERS - 1), "every other racer got EEXIST");
	is_int(other, 0, "and nothing else");
	is_int(version_of(s[1], "Race-1"), ROUNDS, "the stream has one event per round");
	struct events e = {0};
	is_int(log_walk(s[1], 1, &e), 0, "the whole log walks");
	ok(gapless_positions(&e, 1), "positions 1 … %zu, gapless", e.n);
	events_free(&e);
	es_close(s[0]);
	es_close(s[1]);
}

/* ---- A watch on one host wakes on the other's append. --------------- */

static void test_watch(const char *uri)
{
	es_store *a = open_store(uri, NULL), *b = open_store(uri, NULL);
	int fd = -1;

	is_int(es_watch_open(b, &fd), 0, "a watch on the second host");
	struct pollfd p = {.fd = fd, .events = POLLIN};
	poll(&p, 1, 5000);	/* the first wake: the watch connected */
	es_watch_drain(b);
	is_int(es_stream_create(a, NM("Watch-1")), 0, "a stream on the first");
	is_int(append1(a, "Watch-1", ES_ANY, "T", "{}", NULL, NULL), 0, "an append there");
	p.revents = 0;
	is_int(poll(&p, 1, 5000), 1, "wakes the watch");
	es_watch_drain(b);
	es_close(a);
	es_close(b);
}

/* ---- A connection lost during an append. ---------------------------- */

struct lost_arg {
	es_store *s;
	es_appended out;
	int err;
};

static void *lost_append(void *p)
{
	struct lost_arg *a = p;

	a->err = append1(a->s, "Lost-1", 0, "T", "{}", NULL, &a->out);
	return NULL;
}

/* The pid of a backend waiting for a lock in esfs_append, or 0. */
static int waiting_append(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
			     "AND query LIKE '%esfs_append(%' AND pid <> pg_backend_pid()");
	int pid = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;

	PQclear(r);
	return pid;
}

static int wait_for_append(PGconn *c, int not_pid)
{
	for (int i = 0; i < 200; i++) {
		int pid = waiting_append(c);
		if (pid && pid != not_pid)
			return pid;
		usleep(25000);
	}
	return 0;
}

static void test_lost(const char *uri)
{
	es_store *s = open_store(uri, NULL);
	PGconn *lock = PQconnectdb(uri), *admin = PQconnectdb(uri);
	struct lost_arg a = {.s = s};
	pthread_t t;

	is_int(es_stream_create(s, NM("Lost-1")), 0, "a stream for the lost append");
	PQclear(PQexec(lock, "BEGIN"));
	PQclear(PQexec(lock, "SELECT 1 FROM esfs_head FOR UPDATE"));
	pthread_create(&t, NULL, lost_append, &a);
	int pid = wait_for_append(admin, 0);
	ok(pid > 0, "the append waits for the head's lock (backend %d)", pid);
	PQclear(PQexec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = "
		       "(SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
		       "query LIKE '%esfs_append(%' AND pid <> pg_backend_pid() LIMIT 1)"));
	int again = wait_for_append(admin, pid);
	ok(again > 0 && again != pid, "its connection killed, it is sent again on another (backend %d)",
	   again);
	PQclear(PQexec(lock, "ROLLBACK"));
	pthread_join(t, NULL);
	is_int(a.err, 0, "and succeeds: %s", a.err ? es_why() : "");
	is_int((long long)a.out.first_version, 1, "at version 1");
	is_int(version_of(s, "Lost-1"), 1, "stored once");
	PQfinish(lock);
	PQfinish(admin);
	es_close(s);
}


/* ---- Group commit: appends made at once share one transaction. ------ */

#define GROUPED 8

struct grouped {
	es_store *s;
	char stream[32];
	int64_t expected;
	const char *type;
	const unsigned char *id;
	const char *data;	/* NULL: {} */
	int n;			/* events: 0 is 1 */
	int err;
	char why[256];
	es_appended out;
};

static void *grouped_append(void *p)
{
	struct grouped *g = p;
	es_event_in e[4];
	int n = g->n ? g->n : 1;

	for (int i = 0; i < n; i++)
		e[i] = mk(g->type, g->data ? g->data : "{}", i ? NULL : g->id);
	g->err = es_append(g->s, g->stream, strlen(g->stream), g->expected, e, (size_t)n, &g->out);
	snprintf(g->why, sizeof g->why, "%s", g->err ? es_why() : "");
	return NULL;
}

/* Appends of one handle, made while the head's lock is held elsewhere:
 * the first waits for it alone, the others queue behind it and go in one
 * transaction (one xmin) once it is released. */
static int run_grouped(const char *uri, struct grouped *g, int n,
		       const char *tag)
{
	PGconn *lock = PQconnectdb(uri), *admin = PQconnectdb(uri);
	pthread_t t[GROUPED];
	uint64_t after = head_of(g[0].s);

	PQclear(PQexec(lock, "BEGIN"));
	PQclear(PQexec(lock, "SELECT 1 FROM esfs_head FOR UPDATE"));
	pthread_create(&t[0], NULL, grouped_append, &g[0]);
	ok(wait_for_append(admin, 0) > 0, "%s: the first append waits for the head's lock", tag);
	for (int i = 1; i < n; i++)
		pthread_create(&t[i], NULL, grouped_append, &g[i]);
	usleep(200000);	/* (the others queue behind it in the process) */
	PQclear(PQexec(lock, "ROLLBACK"));
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	char pos[24];
	const char *v[] = {pos};
	snprintf(pos, sizeof pos, "%" PRIu64, after);
	PGresult *r = PQexecParams(admin, "SELECT count(DISTINCT xmin::text) FROM events "
				   "WHERE global_position > $1::bigint", 1, NULL, v, NULL, NULL, 0);
	int xacts = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	PQfinish(lock);
	PQfinish(admin);
	return xacts;
}

static void test_group(const char *uri)
{
	es_store *s = open_store(uri, NULL);
	struct grouped g[GROUPED];
	unsigned char dup[16];

	for (int i = 0; i < GROUPED; i++) {
		g[i] = (struct grouped){.s = s, .expected = 0, .type = "T"};
		snprintf(g[i].stream, sizeof g[i].stream, "Group-%d", i);
		is_int(es_stream_create(s, g[i].stream, strlen(g[i].stream)), 0, "stream %s",
		       g[i].stream);
	}
	/* One of the group expects a wrong version, and one gives an id
	 * stored in another stream: they fail alone. */
	uuid_generate(dup);
	is_int(append1(s, "Lost-1", ES_ANY, "T", "{}", dup, NULL), 0, "an event whose id is reused");
	g[3].expected = 5;
	g[5].id = dup;
	int xacts = run_grouped(uri, g, GROUPED, "a group");
	is_int(xacts, 2, "the first alone, the rest in one transaction");
	for (int i = 0; i < GROUPED; i++)
		if (i == 3 || i == 5)
			is_int(g[i].err, EEXIST, "%s fails alone: %s", g[i].stream, g[i].why);
		else
			is_int(g[i].err, 0, "%s is stored: %s", g[i].stream, g[i].why);

	/* A statement that raises (here a trigger's exception) aborts its
	 * group's transaction: each append then runs alone. */
	PGconn *admin = PQconnectdb(uri);
	PGresult *r = PQexec(admin, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
			     "$$ BEGIN IF NEW.event_type = 'Boom' THEN RAISE 'boom'; END IF; "
			     "RETURN NEW; END $$; CREATE TRIGGER boom BEFORE INSERT ON events "
			     "FOR EACH ROW EXECUTE FUNCTION boom()");
	is_int(PQresultStatus(r), PGRES_COMMAND_OK, "a trigger that raises for type Boom");
	PQclear(r);
	for (int i = 0; i < GROUPED; i++)
		g[i] = (struct grouped){.s = s, .expected = ES_ANY, .type = i == 4 ? "Boom" : "T"};
	for (int i = 0; i < GROUPED; i++)
		snprintf(g[i].stream, sizeof g[i].stream, "Group-%d", i);
	xacts = run_grouped(uri, g, GROUPED, "a group with a Boom");
	ok(xacts >= 2, "its appends ran again, alone (%d transactions)", xacts);
	for (int i = 0; i < GROUPED; i++)
		if (i == 4)
			ok(g[i].err == EIO && strstr(g[i].why, "boom"), "the Boom fails with EIO, "
			   "the server's reason in its own thread: %s", g[i].why);
		else
			is_int(g[i].err, 0, "%s is stored: %s", g[i].stream, g[i].why);
	PQclear(PQexec(admin, "DROP TRIGGER boom ON events"));
	PQfinish(admin);
	es_close(s);

	/* One call holds them all: two appends to one stream take
	 * consecutive versions; two that give one new id store it once (the
	 * second, answered AGAIN, runs alone after and is its retry); an
	 * event over the limit, a stream that is not there and a batch of
	 * three stand or fail alone. */
	es_options small = {.max_event = 400};
	static char big[400];
	memset(big, 'x', sizeof big - 1);	/* {"x":"xxx…"} */
	memcpy(big, "{\"x\":\"", 6);
	memcpy(big + sizeof big - 3, "\"}", 2);
	s = open_store(uri, &small);
	uuid_generate(dup);
	uint64_t v1 = version_of(s, "Group-1"), v3 = version_of(s, "Group-3");
	for (int i = 0; i < GROUPED; i++)
		g[i] = (struct grouped){.s = s, .expected = ES_ANY, .type = "T"};
	for (int i = 0; i < GROUPED; i++)
		snprintf(g[i].stream, sizeof g[i].stream, "Group-%d", i);
	snprintf(g[2].stream, sizeof g[2].stream, "Group-1");
	snprintf(g[4].stream, sizeof g[4].stream, "Group-3");
	g[3].id = g[4].id = dup;
	g[5].data = big;
	snprintf(g[6].stream, sizeof g[6].stream, "Nope-6");
	g[7].n = 3;
	g[1].type = g[7].type = "Fresh";	/* (a view the group makes) */
	xacts = run_grouped(uri, g, GROUPED, "a group of mixed appends");
	is_int(xacts, 2, "the first alone, the rest in one transaction (the retry stores nothing)");
	for (int i = 0; i < GROUPED; i++)
		if (i == 5)
			ok(g[i].err == EFBIG && strstr(g[i].why, "over the limit"),
			   "the event over the limit fails alone: %d %s", g[i].err, g[i].why);
		else if (i == 6)
			is_int(g[i].err, ENOENT, "the missing stream fails alone: %s", g[i].why);
		else
			is_int(g[i].err, 0, "%s (%d) is stored: %s", g[i].stream, i, g[i].why);
	is_int(version_of(s, "Group-1"), v1 + 2, "Group-1 took both of its appends");
	ok(g[1].out.first_version != g[2].out.first_version &&
	   g[1].out.first_version + g[2].out.first_version == 2 * v1 + 3,
	   "at versions %" PRIu64 " and %" PRIu64, g[1].out.first_version, g[2].out.first_version);
	is_int(version_of(s, "Group-3"), v3 + 1, "the id given twice is stored once");
	ok(g[3].out.first_version == v3 + 1 && g[4].out.first_version == v3 + 1 &&
	   g[3].out.first_position == g[4].out.first_position && g[3].out.retry + g[4].out.retry == 1,
	   "both see it at version %" PRIu64 ", one of them as the retry", v3 + 1);
	is_int((long long)(g[7].out.last_position - g[7].out.first_position), 2,
	   "the batch of three takes three positions");
	es_read *rd;
	es_view fresh = {0};
	is_int(es_read_begin(s, &rd), 0, "a read view");
	is_int(es_view_get(rd, ES_TYPE, "Fresh", 5, &fresh), 0, "type Fresh, made in the group");
	is_int((long long)fresh.last_position, (long long)(g[7].out.last_position >
	       g[1].out.first_position ? g[7].out.last_position : g[1].out.first_position),
	       "at its newest event");
	es_read_end(rd);
	struct events e = {0};
	is_int(log_walk(s, 1, &e), 0, "the log walks");
	ok(gapless_positions(&e, 1), "positions gapless after the groups");
	events_free(&e);
	struct problems p;
	uint64_t found = verify_store(s, &p);	/* (before p is read for the message) */
	is_int((long long)found, 0, "verify: no problems%s%s", p.n ? ": " : "", p.first);
	es_close(s);
}

/* A group whose connection is killed while it waits for the head's lock:
 * each of its appends settles by its ids, is sent again, and is stored
 * once. */
static void test_group_lost(const char *uri)
{
	es_store *s = open_store(uri, NULL);
	PGconn *lock = PQconnectdb(uri), *admin = PQconnectdb(uri);
	struct grouped g[GROUPED];
	pthread_t t[GROUPED];
	char kill[160];

	for (int i = 0; i < GROUPED; i++) {
		g[i] = (struct grouped){.s = s, .expected = 0, .type = "T"};
		snprintf(g[i].stream, sizeof g[i].stream, "Killed-%d", i);
		is_int(es_stream_create(s, g[i].stream, strlen(g[i].stream)), 0, "stream %s",
		       g[i].stream);
	}
	PQclear(PQexec(lock, "BEGIN"));
	PQclear(PQexec(lock, "SELECT 1 FROM esfs_head FOR UPDATE"));
	pthread_create(&t[0], NULL, grouped_append, &g[0]);
	int first = wait_for_append(admin, 0);
	for (int i = 1; i < GROUPED; i++)
		pthread_create(&t[i], NULL, grouped_append, &g[i]);
	usleep(200000);
	snprintf(kill, sizeof kill, "SELECT pg_terminate_backend(%d)", first);
	PQclear(PQexec(admin, kill));
	int group = wait_for_append(admin, first);
	ok(first > 0 && group > 0, "the lone append's backend (%d) killed, the group's (%d) waits",
	   first, group);
	snprintf(kill, sizeof kill, "SELECT pg_terminate_backend(%d)", group);
	PQclear(PQexec(admin, kill));
	usleep(200000);
	PQclear(PQexec(lock, "ROLLBACK"));
	int stored = 0;
	for (int i = 0; i < GROUPED; i++) {
		pthread_join(t[i], NULL);
		stored += g[i].err == 0 && version_of(s, g[i].stream) == 1;
		if (g[i].err)
			diag("%s: %s", g[i].stream, g[i].why);
	}
	is_int(stored, GROUPED, "every append succeeds, stored once");
	struct events e = {0};
	is_int(log_walk(s, 1, &e), 0, "the log walks");
	ok(gapless_positions(&e, 1), "gapless");
	events_free(&e);
	PQfinish(lock);
	PQfinish(admin);
	es_close(s);
}

/* ---- es_import_batch, es_import_undo, es_verify. ---------------------- */

/* A new database of the cluster; its URI, malloc'd. */
static char *new_db(const char *uri, const char *name)
{
	PGconn *c = PQconnectdb(uri);
	char sql[128], *out;
	const char *at = strstr(uri, "/esfs?");

	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK || !at)
		bail_out("CREATE DATABASE %s: %s", name, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	if (asprintf(&out, "%.*s/%s%s", (int)(at - uri), uri, name, at + 5) < 0)
		bail_out("out of memory");
	return out;
}

/* Runs sql on the database of uri. */
static void sql_on(const char *uri, const char *sql)
{
	PGconn *c = PQconnectdb(uri);
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		bail_out("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static int collect_snapshot(void *arg, const es_snapshot *sn, const es_stream *st)
{
	(void)st;
	*(char **)arg = strndup(sn->json, sn->json_len);
	return 1;
}

static es_import event_item(const struct lines *l, size_t i)
{
	return (es_import){.kind = ES_IMPORT_EVENT, .json = l->v[i], .json_len = l->len[i]};
}

static void test_import(const char *uri)
{
	char *src_uri = new_db(uri, "tools_src"), *dst_uri = new_db(uri, "tools_dst");
	es_store *src = open_store(src_uri, NULL), *dst = open_store(dst_uri, NULL);
	struct problems p;
	struct lines l = {0}, m = {0};
	char *snap = NULL;
	es_read *r;

	note("es_import_batch, es_import_undo, es_verify");
	is_int(es_stream_create(src, NM("Order-1")), 0, "a stream");
	is_int(es_stream_create(src, NM("Empty")), 0, "an empty stream");
	fill(src, "Order-1", 3);
	is_int(append1(src, "plain", ES_ANY, "Odd \"t\"", "{\"n\":1.0,\"s\":\"\\u00e9\"}", NULL, NULL),
	       ENOENT, "(an append to a missing stream)");
	is_int(es_stream_create(src, NM("plain")), 0, "a stream without a category");
	is_int(append1(src, "plain", ES_ANY, "Odd \"t\"", "{\"n\":1.0,\"s\":\"\\u00e9\"}", NULL, NULL),
	       0, "an event with a number and an escape jansson would rewrite");
	is_int(es_snapshot_put(src, NM("Order-1"), 2, NM("{\"total\": 2}")), 0, "a snapshot");
	is_int(es_checkpoint_put(src, NM("c1"), 3), 0, "a checkpoint");
	is_int(verify_store(src, &p), 0, "verify: a store made by esfs has no problems");
	r = view(src);
	is_int(es_log_walk(r, 0, 0, collect_line, &l), 0, "its log is read");
	is_int(es_snapshots_walk(r, 0, collect_snapshot, &snap), 0, "and its snapshot");
	es_read_end(r);
	if (l.n != 4 || !snap)
		bail_out("the source store has %zu events", l.n);

	es_import bad = event_item(&l, 1);
	fails(es_import_batch(dst, &bad, 1), EINVAL, "importing event 2 first (a gap)");
	char *spaced;
	if (asprintf(&spaced, "%.*s }\n", (int)l.len[0] - 2, l.v[0]) < 0)
		bail_out("out of memory");
	bad = (es_import){.kind = ES_IMPORT_EVENT, .json = spaced, .json_len = strlen(spaced)};
	fails(es_import_batch(dst, &bad, 1), EINVAL, "importing an event with a space added");
	ok(strstr(es_why(), "not compact JSON") != NULL, "... the reason says so: %s", es_why());
	free(spaced);

	es_import items[] = {
		{.kind = ES_IMPORT_STREAM, .name = "Empty", .name_len = 5, .time_us = 1000000},
		event_item(&l, 0), event_item(&l, 1), event_item(&l, 2), event_item(&l, 3),
		{.kind = ES_IMPORT_SNAPSHOT, .json = snap, .json_len = strlen(snap)},
		{.kind = ES_IMPORT_CHECKPOINT, .name = "c1", .name_len = 2, .position = 3,
		 .time_us = 2000000},
		{.kind = ES_IMPORT_CHECKPOINT, .name = "c2", .name_len = 2, .position = 5},
	};
	fails(es_import_batch(dst, items, 8), EINVAL, "a batch whose last item is a checkpoint past the head");
	ok(strstr(es_why(), "item 8") != NULL, "... es_why() names item 8: %s", es_why());
	is_int(head_of(dst), 0, "... and nothing of that batch was stored");
	is_int(stream_count(dst), 0, "... not even its streams");
	is_int(es_import_batch(dst, items, 3), 0, "a stream and 2 events are imported");
	is_int(es_import_batch(dst, items + 3, 4), 0, "then 2 events, a snapshot and a checkpoint");
	fails(es_import_batch(dst, items + 1, 1), EINVAL, "importing event 1 again");
	r = view(dst);
	is_int(es_log_walk(r, 0, 0, collect_line, &m), 0, "the imported log is read");
	es_snapshot sn;
	es_view cat;
	is_int(es_snapshot_get(r, id_of(dst, "Order-1"), &sn), 0, "the snapshot is there");
	ok(sn.json_len == strlen(snap) && memcmp(sn.json, snap, sn.json_len) == 0, "... byte for byte");
	is_int(es_view_get(r, ES_CATEGORY, NM("Order"), &cat), 0, "the category view is there");
	is_int((long long)cat.last_position, 3, "... at its newest event");
	uint64_t bytes = 0, want = 0;
	is_int(es_log_bytes(r, 5, &bytes), 0, "the log's bytes");
	es_read_end(r);
	int same = m.n == l.n;
	for (size_t i = 0; same && i < l.n; i++) {
		same = m.len[i] == l.len[i] && memcmp(m.v[i], l.v[i], l.len[i]) == 0;
		want += l.len[i];
	}
	ok(same, "the imported events are byte for byte the source's");
	is_int((long long)bytes, (long long)want, "... and count the same bytes");
	is_int(version_of(dst, "Empty"), 0, "the empty stream is there");
	uint64_t clean = verify_store(dst, &p);
	is_int((long long)clean, 0, "verify: the imported store has no problems%s%s",
	       p.n ? ": " : "", p.first);

	/* Undo: only what was imported, and only that. */
	es_stats made = {.events = 4, .streams = 3, .snapshots = 1, .checkpoints = 1};
	es_stats more = made;	/* (plain was made by its first event) */
	more.streams = 4;
	fails(es_import_undo(dst, &more), EEXIST, "undo refuses a store that holds other than said");
	is_int(head_of(dst), 4, "... and leaves it as it was");
	is_int(es_import_undo(dst, &made), 0, "undo of what was imported");
	is_int(head_of(dst), 0, "... leaves no event");
	is_int(stream_count(dst), 0, "... and no stream");
	is_int(verify_store(dst, &p), 0, "... and a store verify finds clean");
	is_int(es_import_batch(dst, items, 7), 0, "the emptied store takes the import again");
	is_int(verify_store(dst, &p), 0, "... and is clean");
	char *again = strdup(l.v[3]), *at;	/* plain's event 4, as if at 5, version 2 */
	if (!again || !(at = strstr(again, "\"version\":1,")))
		bail_out("event 4 is not version 1: %s", l.v[3]);
	at[10] = '2';
	if (!(at = strstr(again, "\"global_position\":4,")))
		bail_out("event 4 is not at position 4: %s", l.v[3]);
	at[18] = '5';
	bad = (es_import){.kind = ES_IMPORT_EVENT, .json = again, .json_len = l.len[3]};
	fails(es_import_batch(dst, &bad, 1), EEXIST, "importing an event id stored already");
	ok(strstr(es_why(), "stored already at position 4") != NULL, "... saying where: %s", es_why());
	free(again);

	/* Faults made in the tables. */
	sql_on(dst_uri, "UPDATE events SET bytes_before = bytes_before + 1 WHERE global_position = 2");
	is_int(verify_store(dst, &p), 1, "verify finds a wrong bytes_before");
	ok(strstr(p.first, "event 2: ") != NULL, "... at event 2: %s", p.first);
	sql_on(dst_uri, "UPDATE events SET bytes_before = bytes_before - 1 WHERE global_position = 2");
	sql_on(dst_uri, "UPDATE events SET metadata = '{\"x\":1}' WHERE global_position = 4");
	is_int(verify_store(dst, &p), 1, "verify finds a column that differs from the envelope");
	ok(strstr(p.first, "event 4: its envelope and its columns disagree: metadata") != NULL,
	   "... naming it: %s", p.first);
	sql_on(dst_uri, "UPDATE events SET metadata = '{}' WHERE global_position = 4");
	sql_on(dst_uri, "DELETE FROM events WHERE global_position = 3");
	uint64_t found = verify_store(dst, &p);
	ok(found >= 3, "verify finds a gap, and what it breaks: %d problems", p.n);
	ok(strstr(p.all, "positions 3 … 3 are missing") != NULL, "... the gap");
	ok(strstr(p.all, "stream Order-1: at version 3, but its 2 events are versions 1 … 2") != NULL,
	   "... and the stream's missing version");

	lines_free(&l);
	lines_free(&m);
	free(snap);
	es_close(src);
	es_close(dst);
	free(src_uri);
	free(dst_uri);
}

/* ---- A store of schema version 1, upgraded at a read-write open. ----- */

/* The text of file path, malloc'd. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0;

	if (!f || getdelim(&text, &cap, '\0', f) < 0)
		bail_out("cannot read %s", path);
	fclose(f);
	return text;
}

/* The single value of a one-row query on uri, as an integer. */
static long long value_of(const char *uri, const char *sql)
{
	PGconn *c = PQconnectdb(uri);
	PGresult *r = PQexec(c, sql);
	long long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ?
		      atoll(PQgetvalue(r, 0, 0)) : -1;

	PQclear(r);
	PQfinish(c);
	return v;
}

static void test_upgrade(const char *uri)
{
	char *old = new_db(uri, "upgrade_1"), *v1 = slurp("tests/pg-schema-1.sql");
	es_options ro = {.read_only = 1};
	es_store *s;
	struct problems p;

	note("a store made by schema version 1");
	sql_on(old, v1);
	sql_on(old, "INSERT INTO streams VALUES (nextval('esfs_ids'), 'Old-1', 0, 0, 0)");
	PGconn *c = PQconnectdb(old);
	PGresult *r = PQexec(c, "SELECT o_err FROM esfs_append('Old-1', 0, 'Old', "
			     "'{6d1f0c4e-1c2b-4c59-9a55-3f1e7c0b5a01}', '{f}', '{T}', "
			     "ARRAY['{\"event_id\":\"6d1f0c4e-1c2b-4c59-9a55-3f1e7c0b5a01\","
			     "\"stream_id\":\"Old-1\",\"event_type\":\"T\",\"version\":'], '{1}', "
			     "ARRAY['{}'], ARRAY['{}'], 1048576)");
	ok(PQresultStatus(r) == PGRES_TUPLES_OK && PQgetisnull(r, 0, 0),
	   "version 1's esfs_append stores an event: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	is_int(value_of(old, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND "
			"conrelid = 'events'::regclass"), 3, "its events have 3 foreign keys");

	fails(es_open(old, &ro, &s), EINVAL, "a read-only open refuses the older schema");
	ok(strstr(es_why(), "read-write once") != NULL, "... and says how to upgrade it: %s", es_why());
	s = open_store(old, NULL);
	is_int(value_of(old, "SELECT version FROM esfs_schema"), 3, "a read-write open upgrades it "
	       "to version 3");
	is_int(value_of(old, "SELECT count(*) FROM pg_proc WHERE proname IN ('esfs_append', "
			"'esfs_view')"), 2, "... with one esfs_append, for groups, and one esfs_view");
	is_int(value_of(old, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND "
			"conrelid = 'events'::regclass"), 0, "... without the foreign keys of events");
	is_int(es_stream_create(s, NM("New-1")), 0, "a stream is made (esfs_now, new in 2)");
	is_int(append1(s, "Old-1", 1, "T", "{\"after\":1}", NULL, NULL), 0,
	       "the old stream takes its next event");
	is_int(version_of(s, "Old-1"), 2, "at version 2");
	struct events e = {0};
	is_int(log_walk(s, 1, &e), 0, "the log walks");
	ok(e.n == 2 && gapless_positions(&e, 1), "positions 1 and 2, the old one and the new");
	events_free(&e);
	uint64_t found = verify_store(s, &p);
	is_int((long long)found, 0, "verify: the upgraded store has no problems%s%s",
	       p.n ? ": " : "", p.first);
	es_close(s);
	s = open_store(old, &ro);
	ok(s != NULL, "a read-only open of the upgraded store works");
	es_close(s);
	free(v1);
	free(old);
}

/* ---- A log walk told how much its caller wants. ---------------------- *
 * Its pages are sized by the hint (query.c), and it hands out the same
 * events, in order, to where its callback stops it, as a walk without
 * one: from the first, the middle and the last event, with hints smaller
 * and larger than the whole log, and stopped early. */

#define HINT_EVENTS 1200

static void test_hinted_walk(const char *uri)
{
	char *db = new_db(uri, "hinted");
	es_store *s = open_store(db, NULL);
	es_event_in batch[100];
	char *data[100];

	is_int(es_stream_create(s, NM("Hint-1")), 0, "a stream for the hinted walks");
	for (int k = 0; k < HINT_EVENTS / 100; k++) {
		for (int i = 0; i < 100; i++) {
			data[i] = json_with_string((size_t)(k * 100 + i) % 700);
			batch[i] = mk("T", data[i], NULL);
		}
		if (es_append(s, "Hint-1", 6, ES_ANY, batch, 100, NULL))
			bail_out("append: %s", es_why());
		for (int i = 0; i < 100; i++)
			free(data[i]);
	}
	struct events all = {0};
	is_int(log_walk(s, 1, &all), 0, "the log walks without a hint");
	is_int((long long)all.n, HINT_EVENTS, "over every event");

	const struct {
		uint64_t from;
		size_t want, stop_after;
	} c[] = {{1, 1u << 20, 0}, {1, 4096, 0}, {1, 1, 0}, {600, 100000, 0},
		 {1, 1u << 20, 700}, {1, 5000, 90}, {HINT_EVENTS, 1u << 20, 0},
		 {HINT_EVENTS + 1, 1u << 20, 0}};
	for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
		struct events e = {.stop_after = c[k].stop_after};
		es_read *r = view(s);
		int err = es_log_walk(r, c[k].from, c[k].want, collect_event, &e);
		es_read_end(r);
		size_t left = HINT_EVENTS + 1 - c[k].from;
		size_t n = c[k].stop_after && c[k].stop_after < left ? c[k].stop_after : left;
		int same = e.n == n;
		for (size_t i = 0; same && i < n; i++) {
			const struct seen_event *a = &e.v[i], *b = &all.v[c[k].from - 1 + i];
			same = a->position == b->position && a->version == b->version &&
			       a->stream_id == b->stream_id && a->created_us == b->created_us &&
			       !memcmp(a->id, b->id, 16) && a->json_len == b->json_len &&
			       !memcmp(a->json, b->json, a->json_len);
		}
		ok(!err && same, "from %llu, wanting %zu bytes, stopped after %zu: %zu events, "
		   "those of the walk without a hint (%zu)", (unsigned long long)c[k].from,
		   c[k].want, c[k].stop_after, n, e.n);
		events_free(&e);
	}
	events_free(&all);
	es_close(s);
	free(db);
}

int main(void)
{
	char *uri = start_cluster();

	test_basics(uri);
	test_hinted_walk(uri);
	test_race(uri);
	test_watch(uri);
	test_lost(uri);
	test_group(uri);
	test_group_lost(uri);
	test_import(uri);
	test_upgrade(uri);
	free(uri);
	stop_cluster();
	return done_testing();
}

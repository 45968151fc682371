/* tests/store-commit.c — TAP tests of concurrent commits to one store
 * (store/store.h): threads appending to shared and own streams while a
 * reader checks views, then threads racing with exact expected versions.
 */
#include "store-fixture.h"

#include <pthread.h>
#include <stdatomic.h>

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
	done_store(s, dir);
}

int main(void)
{
	test_threads();
	return done_testing();
}

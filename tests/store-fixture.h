/* tests/store-fixture.h — what the C tests of the store (tests/store-*.c)
 * share: temporary store directories and their removal, opening a store
 * and a read view that must succeed, event builders, one-line lookups
 * (head, version, id, count), walk collectors, and raw LMDB access for
 * tests that damage or downgrade a store on purpose.
 *
 * Header-only like tap.h, whose counters are per program: every helper is
 * static inline, so that a test program compiles it with its own checks
 * (fails() counts as two) and an unused one costs nothing. Each topic works
 * on a fresh store directory, made with mkdtemp under $TMPDIR (or /tmp) and
 * removed at its end with rm_store. Results are checked in the main thread
 * only (tap.h is not thread-safe): worker threads collect counts, which are
 * checked after pthread_join.
 */
#ifndef ESFS_STORE_FIXTURE_H
#define ESFS_STORE_FIXTURE_H

#include "store.h"
#include "tap.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <lmdb.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A name literal as the (pointer, length) pair the API takes. */
#define NM(x) (x), strlen(x)

/* ---- Fixtures and helpers. ------------------------------------------- */

/* A new empty directory under $TMPDIR or /tmp (malloc'd path). */
static inline char *tmp_dir(void)
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

/* nftw callback of rm_store: removes one entry, children first. */
static inline int rm_entry(const char *path, const struct stat *sb, int type,
			   struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		diag("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* Removes a store directory and everything in it, whatever files the
 * store keeps there (data.mdb, lock.mdb, and any others), subdirectories
 * included; symbolic links are removed, not followed. A missing directory
 * is not an error. */
static inline void rm_store(const char *dir)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		diag("cannot remove %s: %s", dir, strerror(errno));
}

/* The end of a topic: closes s and removes its directory dir (a path from
 * tmp_dir, freed). */
static inline void done_store(es_store *s, char *dir)
{
	es_close(s);
	rm_store(dir);
	free(dir);
}

/* Opens a store that must open. */
static inline es_store *open_store(const char *dir, const es_options *o)
{
	es_store *s = NULL;
	int err = es_open(dir, o, &s);

	if (err)
		bail_out("es_open %s: %s (%s)", dir, strerror(err), es_why());
	return s;
}

static inline es_read *view(es_store *s)
{
	es_read *r = NULL;
	int err = es_read_begin(s, &r);

	if (err)
		bail_out("es_read_begin: %s (%s)", strerror(err), es_why());
	return r;
}

/* Checks that a call failed with want and left a reason in es_why(). */
static inline void fails(int got, int want, const char *what)
{
	is_int(got, want, "%s fails with %s", what, strerror(want));
	ok(es_why() && es_why()[0] != '\0', "es_why() explains it: %s",
	   es_why() ? es_why() : "(null)");
}

/* An event to append; lengths from strlen. */
static inline es_event_in mk(const char *type, const char *data,
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
static inline int append1(es_store *s, const char *stream, int64_t expected,
			  const char *type, const char *data, const unsigned char *id,
			  es_appended *out)
{
	es_event_in e = mk(type, data, id);

	return es_append(s, stream, strlen(stream), expected, &e, 1, out);
}

/* Appends n events of type "T" and data {"i":k}, which must succeed. */
static inline void fill(es_store *s, const char *stream, int n)
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

static inline uint64_t head_of(es_store *s)
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
static inline long long version_of(es_store *s, const char *name)
{
	es_read *r = view(s);
	es_stream st;
	long long v = es_stream_get(r, name, strlen(name), &st) ? -1
		      : (long long)st.version;

	es_read_end(r);
	return v;
}

/* The stream's id, or 0 when it does not exist. */
static inline uint64_t id_of(es_store *s, const char *name)
{
	es_read *r = view(s);
	es_stream st;
	uint64_t id = es_stream_get(r, name, strlen(name), &st) ? 0 : st.id;

	es_read_end(r);
	return id;
}

static inline uint64_t stream_count(es_store *s)
{
	es_read *r = view(s);
	uint64_t n = 0;

	if (es_stream_count(r, &n))
		bail_out("es_stream_count: %s", es_why());
	es_read_end(r);
	return n;
}

/* A malloc'd copy of the envelope at a position, or NULL. */
static inline char *event_bytes(es_store *s, uint64_t pos, size_t *len)
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
static inline int matches(const char *re, const char *p, size_t n)
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

static inline int64_t now_us(void)
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

static inline int collect_event(void *arg, const es_event *ev)
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

static inline void events_free(struct events *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].json);
	free(e->v);
	memset(e, 0, sizeof *e);
}

static inline int log_walk(es_store *s, uint64_t from, struct events *e)
{
	es_read *r = view(s);
	int err = es_log_walk(r, from, 0, collect_event, e);

	es_read_end(r);
	return err;
}

static inline int stream_walk(es_store *s, uint64_t sid, uint64_t from,
			      struct events *e)
{
	es_read *r = view(s);
	int err = es_stream_walk(r, sid, from, collect_event, e);

	es_read_end(r);
	return err;
}

/* Are the walked events at positions (or versions) first, first+1, …? */
static inline int gapless_positions(const struct events *e, uint64_t first)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].position != first + i)
			return 0;
	return 1;
}

static inline int gapless_versions(const struct events *e, uint64_t first,
				   uint64_t sid)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].version != first + i || e->v[i].stream_id != sid)
			return 0;
	return 1;
}

static inline int nondecreasing_times(const struct events *e)
{
	for (size_t i = 1; i < e->n; i++)
		if (e->v[i].created_us < e->v[i - 1].created_us)
			return 0;
	return 1;
}

/* ---- JSON texts. ----------------------------------------------------- */

#define TIME_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z"

/* {"p":"xx…x"}, with n x's (malloc'd). */
static inline char *json_with_string(size_t n)
{
	char *d = malloc(n + 16);

	memcpy(d, "{\"p\":\"", 6);
	memset(d + 6, 'x', n);
	memcpy(d + 6 + n, "\"}", 3);
	return d;
}

/* ---- Checkpoint walks. ----------------------------------------------- */

struct checkpoint_list {
	uint64_t id[16], position[16];
	char name[16][32];
	size_t n;
	int reserved_seen;
};

static inline int collect_checkpoint(void *arg, const es_checkpoint *cp)
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

/* The envelope lines of a walk, copied. */
struct lines {
	char **v;
	size_t *len;
	size_t n;
};

static inline int collect_line(void *arg, const es_event *ev)
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

static inline void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->len);
}

/* ---- es_verify, its problems collected. ------------------------------ */

struct problems {
	int n;
	char first[512];
	char all[8192];		/* as many as fit, one per line */
};

static inline void collect_problem(void *arg, const char *line)
{
	struct problems *p = arg;
	size_t used = strlen(p->all);

	if (p->n++ == 0)
		snprintf(p->first, sizeof p->first, "%s", line);
	snprintf(p->all + used, sizeof p->all - used, "%s\n", line);
}

static inline uint64_t verify_store(es_store *s, struct problems *p)
{
	uint64_t n = 99;

	memset(p, 0, sizeof *p);
	if (es_verify(s, collect_problem, NULL, p, &n))
		bail_out("es_verify: %s", es_why());
	return n;
}

/* ---- Raw LMDB, to damage or downgrade a store. ----------------------- */

/* Opens the store under dir with raw LMDB, in a write transaction. */
static inline int raw_begin(const char *dir, MDB_env **env, MDB_txn **txn)
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
static inline void raw_end(MDB_env *env, MDB_txn *txn, int rc, const char *dir)
{
	if (!rc)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	if (rc)
		bail_out("changing %s with raw LMDB: %s", dir, mdb_strerror(rc));
}

/* Makes dir, a closed store, a store of an older format (1 or 2) as esfs
 * wrote them before the log: each event's envelope back in its LMDB record
 * after its 40 bytes of fields, no log, no state file; format 1 also has no
 * views. (The record layout is internal.h's: the envelope's log offset and
 * length are at bytes 40 and 48.) */
static inline void downgrade(const char *dir, uint64_t format)
{
	char path[PATH_MAX];
	FILE *f;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi events, meta, dbi;
	MDB_cursor *c;
	MDB_val k, v;
	long size;

	snprintf(path, sizeof path, "%s/log", dir);
	if (!(f = fopen(path, "rb")) || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0)
		bail_out("reading %s: %s", path, strerror(errno));
	char *log = malloc((size_t)size);
	rewind(f);
	if (!log || fread(log, 1, (size_t)size, f) != (size_t)size)
		bail_out("reading %s", path);
	fclose(f);
	int rc = raw_begin(dir, &env, &txn);
	if (rc)
		bail_out("opening %s: %s", dir, mdb_strerror(rc));
	rc = mdb_dbi_open(txn, "events", MDB_INTEGERKEY, &events);
	size_t n = 0, cap = 0;
	struct old { uint64_t pos; char *rec; size_t len; } *old = NULL;
	if (!rc)
		rc = mdb_cursor_open(txn, events, &c);
	for (int op = MDB_FIRST; !rc && mdb_cursor_get(c, &k, &v, op) == 0; op = MDB_NEXT) {
		uint64_t off, len;
		memcpy(&off, (char *)v.mv_data + 40, 8);
		memcpy(&len, (char *)v.mv_data + 48, 8);
		if (n == cap && !(old = realloc(old, (cap = cap ? 2 * cap : 64) * sizeof *old)))
			bail_out("out of memory");
		old[n].rec = malloc(40 + len);
		memcpy(&old[n].pos, k.mv_data, 8);
		memcpy(old[n].rec, v.mv_data, 40);
		memcpy(old[n].rec + 40, log + off, len);
		old[n++].len = 40 + len;
	}
	if (!rc)
		mdb_cursor_close(c);
	for (size_t i = 0; i < n && !rc; i++) {
		k = (MDB_val){8, &old[i].pos};
		v = (MDB_val){old[i].len, old[i].rec};
		rc = mdb_put(txn, events, &k, &v, 0);
	}
	if (!rc)
		rc = mdb_dbi_open(txn, "meta", 0, &meta);
	const char *gone[] = {"log_offset", "log_seq", "log_crc"};
	for (int i = 0; i < 3 && !rc; i++) {
		k = (MDB_val){strlen(gone[i]), (void *)gone[i]};
		rc = mdb_del(txn, meta, &k, NULL);
		rc = rc == MDB_NOTFOUND ? 0 : rc;
	}
	k = (MDB_val){6, "format"};
	v = (MDB_val){8, &format};
	if (!rc)
		rc = mdb_put(txn, meta, &k, &v, 0);
	const char *views[] = {"views", "view_names", "view_events"};
	for (int i = 0; i < 3 && !rc && format == 1; i++)
		if (!(rc = mdb_dbi_open(txn, views[i], 0, &dbi)))
			rc = mdb_drop(txn, dbi, 1);
	raw_end(env, txn, rc, dir);
	for (size_t i = 0; i < n; i++)
		free(old[i].rec);
	free(old);
	free(log);
	unlink(path);
	snprintf(path, sizeof path, "%s/state", dir);
	unlink(path);
}

#endif

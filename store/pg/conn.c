/* conn.c — the PostgreSQL backend's connections (a small pool), opening a
 * store (its schema made on first use), and the commit notification: a
 * thread that LISTENs on its own connection, and polls the head as well,
 * since a notification is lost with a connection. */
#include "pg.h"
#include "../json.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define WATCH_POLL_MS 1000	/* the head is read this often regardless */
#define SCHEMA_VERSION 3	/* schema.sql's; upgrade_sql below for older */
#define TEXT_(x) #x
#define TEXT(x) TEXT_(x)

int pg_is_uri(const char *name)
{
	return strncmp(name, "postgresql://", 13) == 0 || strncmp(name, "postgres://", 11) == 0;
}

int pg_name(const char *name, size_t len, char *buf)
{
	int err = es_name_check(name, len, why_buf, sizeof why_buf);

	if (!err) {
		memcpy(buf, name, len);
		buf[len] = '\0';
	}
	return err;
}

/* The server's message on one line, without its trailing newline. */
static int pg_why(int err, const char *what, const char *msg)
{
	char line[400];
	size_t n = 0;

	for (; *msg && n < sizeof line - 1; msg++)
		line[n++] = *msg == '\n' || *msg == '\t' ? ' ' : *msg;
	while (n && line[n - 1] == ' ')
		n--;
	line[n] = '\0';
	return fail(err, "PostgreSQL: %s: %s", what, line);
}

/* r, when it is a statement's success; else NULL, with *err and es_why. */
static PGresult *checked(PGconn *c, PGresult *r, int *err)
{
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	*err = pg_why(EIO, PQstatus(c) == CONNECTION_BAD ? "connection lost" : "query failed",
		      r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	PQclear(r);
	return NULL;
}

PGresult *pg_run(PGconn *c, const char *sql, int n, const char *const *vals,
		 int *err)
{
	return checked(c, PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0), err);
}

PGresult *pg_run_append(PGconn *c, const char *const *vals, int *err)
{
	return checked(c, PQexecPrepared(c, PG_APPEND, PG_APPEND_PARAMS, vals, NULL, NULL, 0), err);
}

/* The server's notices (and its word that it is shutting down, which
 * reaches an idle connection as one) are not the store's to print: a
 * failure they announce is reported by the call that meets it. */
static void no_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* first then sql in one round trip: both results, or an errno with
 * none. */
static int pipeline(PGconn *c, const char *first, const char *sql, int n,
		    const char *const *vals, PGresult **res)
{
	int got = 0, nulls = 0;

	res[0] = res[1] = NULL;
	if (!PQenterPipelineMode(c)) {	/* then one after the other */
		int err = 0;
		res[0] = checked(c, PQexec(c, first), &err);
		if (!err)
			res[1] = checked(c, PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 1), &err);
		if (err) {
			PQclear(res[0]);
			res[0] = NULL;
		}
		return err;
	}
	if (!PQsendQueryParams(c, first, 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsendQueryParams(c, sql, n, NULL, vals, NULL, NULL, 1) ||
	    !PQpipelineSync(c))	/* (still in pipeline mode: pg_put closes it) */
		return pg_why(EIO, "cannot send a query", PQerrorMessage(c));
	/* Each query's result then a NULL, then the sync; a NULL twice in a
	 * row means the connection failed. */
	for (;;) {
		PGresult *x = PQgetResult(c);
		if (!x) {
			if (++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		if (PQresultStatus(x) == PGRES_PIPELINE_SYNC) {
			PQclear(x);
			break;
		}
		if (got < 2)
			res[got++] = x;
		else
			PQclear(x);
	}
	PQexitPipelineMode(c);
	int err = 0;
	for (int i = 0; i < 2; i++)
		if (!err && !checked(c, res[i], &err))
			res[i] = NULL;
	if (err) {
		PQclear(res[0]);
		PQclear(res[1]);
		res[0] = res[1] = NULL;
	}
	return err;
}

PGresult *pg_run_binary(PGconn *c, const char *first, const char *sql, int n,
			const char *const *vals, int *err)
{
	PGresult *res[2];

	if (!first)
		return checked(c, PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 1), err);
	if ((*err = pipeline(c, first, sql, n, vals, res)))
		return NULL;
	PQclear(res[0]);
	return res[1];
}

/* How long a connection may take to be made, and how long what was sent
 * may go unacknowledged, before the request fails (EIO): a server that
 * cannot be reached, or a network that drops everything, fails a request
 * within about this long rather than after TCP's minutes. The URI's own
 * connect_timeout or tcp_user_timeout, when it has them, win. */
#define CONNECT_TIMEOUT "10"		/* seconds */
#define TCP_USER_TIMEOUT "10000"	/* milliseconds */

static int connect_to(const char *uri, PGconn **out)
{
	/* (Values after dbname's expansion would override the URI's; those
	 * before it are overridden by it.) */
	const char *const keys[] = {"connect_timeout", "tcp_user_timeout", "dbname", NULL};
	const char *const vals[] = {CONNECT_TIMEOUT, TCP_USER_TIMEOUT, uri, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	*out = NULL;
	if (!c)
		return fail(ENOMEM, "out of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		int err = pg_why(EIO, "cannot connect", PQerrorMessage(c));
		PQfinish(c);
		return err;
	}
	PQsetNoticeProcessor(c, no_notice, NULL);
	*out = c;
	return 0;
}

/* Whether an idle connection is still good: nothing has come on it since
 * its last answer. A server that went away, or ended the session, has
 * closed it or told it so; any other word is rare, and costs no more than
 * a new connection. *busy is 0. */
static int alive(PGconn *c, int *busy)
{
	struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};

	*busy = 0;
	return PQstatus(c) == CONNECTION_OK && p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* Whether a pooled connection whose ROLLBACK was sent unanswered
 * (pg_put_rollback) is ready: with wait, after its answer came; without,
 * only if it has come already (*busy then says whether it has not). */
static int settled(PGconn *c, int wait, int *busy)
{
	PGresult *r;
	int ok = 0;

	*busy = 0;
	if (!wait && (!PQconsumeInput(c) || PQisBusy(c))) {
		*busy = PQstatus(c) == CONNECTION_OK;
		return 0;
	}
	while ((r = PQgetResult(c))) {
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
	}
	return ok && PQtransactionStatus(c) == PQTRANS_IDLE && alive(c, busy);
}

/* Takes an idle connection: the newest that is ready; when every one is
 * still waiting for its ROLLBACK's answer, a new one if the pool has room
 * to keep it, else the newest, once answered. NULL when there is none. */
static PGconn *take_idle(pg_store *s)
{
	PGconn *c = NULL;
	int wait = 0, busy;

	pthread_mutex_lock(&s->lock);
	for (int i = s->nidle - 1; i >= 0 && !c; i--) {
		if (s->pending[i] ? settled(s->idle[i], 0, &busy) : alive(s->idle[i], &busy))
			c = s->idle[i];
		else if (busy)
			continue;
		else
			PQfinish(s->idle[i]);	/* failed, or gone */
		memmove(s->idle + i, s->idle + i + 1, (size_t)(s->nidle - i - 1) * sizeof *s->idle);
		memmove(s->pending + i, s->pending + i + 1, (size_t)(s->nidle - i - 1));
		s->nidle--;
	}
	if (!c && s->nidle == PG_POOL) {
		c = s->idle[--s->nidle];
		wait = 1;
	}
	pthread_mutex_unlock(&s->lock);
	if (wait && !settled(c, 1, &busy)) {
		PQfinish(c);
		c = NULL;
	}
	return c;
}

/* Prepares the append on a new connection of a store open for writing
 * (pg_run_append). */
static int prepare(pg_store *s, PGconn *c)
{
	int err = 0;

	if (!s->read_only)
		PQclear(checked(c, PQprepare(c, PG_APPEND, PG_APPEND_SQL, PG_APPEND_PARAMS, NULL),
				&err));
	return err;
}

int pg_get(pg_store *s, PGconn **out)
{
	int err;

	if ((*out = take_idle(s)))
		return 0;
	if ((err = connect_to(s->uri, out)) || (err = prepare(s, *out))) {
		if (*out)
			PQfinish(*out);
		*out = NULL;
	}
	return err;
}

/* Pools c, when there is room; else closes it. */
static void pool(pg_store *s, PGconn *c, int pending)
{
	pthread_mutex_lock(&s->lock);
	if (s->nidle < PG_POOL) {
		s->pending[s->nidle] = (char)pending;
		s->idle[s->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (c)
		PQfinish(c);
}

void pg_put(pg_store *s, PGconn *c)
{
	if (!c)
		return;
	if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE &&
	    PQpipelineStatus(c) == PQ_PIPELINE_OFF)
		pool(s, c, 0);
	else
		PQfinish(c);
}

void pg_put_rollback(pg_store *s, PGconn *c)
{
	if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_INTRANS &&
	    PQpipelineStatus(c) == PQ_PIPELINE_OFF && PQsendQuery(c, "ROLLBACK"))
		pool(s, c, 1);
	else
		pg_put(s, c);
}

/* What takes a store's tables from version v - 1 to v (its functions are
 * all made again, functions.sql). doc/pg.md lists them. */
static const char *const upgrade_sql[SCHEMA_VERSION + 1] = {
	[2] = "ALTER TABLE events DROP CONSTRAINT IF EXISTS events_stream_fkey, "
	      "DROP CONSTRAINT IF EXISTS events_category_view_fkey, "
	      "DROP CONSTRAINT IF EXISTS events_type_view_fkey",
	/* (esfs_append takes a group's appends) */
	[3] = "DROP FUNCTION IF EXISTS esfs_append(text, bigint, text, uuid[], boolean[], text[], "
	      "text[], integer[], text[], text[], bigint), "
	      "esfs_view(smallint, text, bigint, bigint)",
};

static int exec_sql(PGconn *c, const char *what, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int err = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 :
		  pg_why(EIO, what, PQresultErrorMessage(r));

	PQclear(r);
	return err;
}

/* The store's schema version: 0 when the database has none. */
static int schema_version(PGconn *c, int *version)
{
	int err = 0;
	PGresult *r = pg_run(c, "SELECT to_regclass('esfs_schema') IS NOT NULL", 0, NULL, &err);

	if (!r)
		return err;
	int made = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	*version = 0;
	if (made && !(r = pg_run(c, "SELECT max(version) FROM esfs_schema", 0, NULL, &err)))
		return err;
	if (made) {
		*version = PQgetisnull(r, 0, 0) ? -1 : atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	return 0;
}

/* Makes the schema in an empty database, or upgrades an older one, in one
 * transaction: the advisory lock keeps two hosts opening the store at
 * once from both doing it. */
static int make_schema(PGconn *c)
{
	int err = 0, version = 0;
	PGresult *r = pg_run(c, "BEGIN", 0, NULL, &err);

	PQclear(r);
	if (err)
		return err;
	r = pg_run(c, "SELECT pg_advisory_xact_lock(7357617)", 0, NULL, &err);
	PQclear(r);
	if (!err)
		err = schema_version(c, &version);
	if (!err && version == 0)
		err = exec_sql(c, "making the schema", pg_schema_sql);
	for (int v = version + 1; !err && version > 0 && v <= SCHEMA_VERSION; v++)
		if (upgrade_sql[v])
			err = exec_sql(c, "upgrading the schema", upgrade_sql[v]);
	if (!err && version < SCHEMA_VERSION) {
		err = exec_sql(c, "making the schema's functions", pg_functions_sql);
		if (!err)
			PQclear(pg_run(c, "UPDATE esfs_schema SET version = " TEXT(SCHEMA_VERSION),
				       0, NULL, &err));
	}
	PQclear(pg_run(c, err ? "ROLLBACK" : "COMMIT", 0, NULL, err ? &(int){0} : &err));
	return err;
}

/* Checks the database: UTF-8 (names and envelopes are), and the schema's
 * version, which it makes, or upgrades, when the open may write. */
static int check_schema(pg_store *s, PGconn *c)
{
	int err = 0, version;
	PGresult *r = pg_run(c, "SELECT current_setting('server_encoding')", 0, NULL, &err);

	if (!r)
		return err;
	int utf8 = strcmp(PQgetvalue(r, 0, 0), "UTF8") == 0;
	PQclear(r);
	if (!utf8)
		return fail(EINVAL, "PostgreSQL: the database's encoding is not UTF8 (CREATE DATABASE … ENCODING 'UTF8')");
	if ((err = schema_version(c, &version)))
		return err;
	if (version >= 0 && version < SCHEMA_VERSION) {
		if (s->read_only && version == 0)
			return fail(ENOENT, "PostgreSQL: the database has no esfs store yet (open it read-write once)");
		if (s->read_only)
			return fail(EINVAL, "PostgreSQL: the store's schema is version %d, older than this "
				    "esfs's %d: open it read-write once to upgrade it", version, SCHEMA_VERSION);
		if ((err = make_schema(c)) || (err = schema_version(c, &version)))
			return err;
	}
	if (version != SCHEMA_VERSION)
		return fail(EINVAL, "PostgreSQL: the store's schema is version %d; this esfs knows version %d",
			    version, SCHEMA_VERSION);
	return 0;
}

/* Whether the URI holds a password (user:secret@, or password=). */
static int has_password(const char *uri, int *bad)
{
	char *msg = NULL;
	PQconninfoOption *o = PQconninfoParse(uri, &msg), *p;
	int found = 0;

	*bad = !o;
	if (!o) {
		fail(EINVAL, "PostgreSQL: bad URI: %s", msg ? msg : "out of memory");
		PQfreemem(msg);
		return 0;
	}
	for (p = o; p->keyword; p++)
		if (strcmp(p->keyword, "password") == 0 && p->val && p->val[0])
			found = 1;
	PQconninfoFree(o);
	return found;
}

int pg_open(const char *uri, const es_options *opts, es_store **out)
{
	pg_store *s;
	PGconn *c = NULL;
	int err, bad;

	*out = NULL;
	if (has_password(uri, &bad))
		return fail(EINVAL, "the URI holds a password, which ps, logs and /proc/mounts "
			    "would show: put it in ~/.pgpass (or PGPASSFILE, or a service file)");
	if (bad)
		return EINVAL;
	s = calloc(1, sizeof *s);
	if (!s || !(s->uri = strdup(uri))) {
		free(s);
		return fail(ENOMEM, "out of memory");
	}
	s->be = &es_pg_backend;
	s->read_only = opts && opts->read_only;
	s->max_event = opts && opts->max_event ? opts->max_event : ES_MAX_EVENT_DEFAULT;
	pthread_mutex_init(&s->lock, NULL);
	pg_group_init(&s->group);
	if (!(err = connect_to(uri, &c)) && !(err = check_schema(s, c)) && !(err = prepare(s, c))) {
		pg_put(s, c);
		*out = (es_store *)s;
		return 0;
	}
	if (c)
		PQfinish(c);
	pg_close((es_store *)s);
	return err;
}

/* ---- The watch: an eventfd the thread below signals. ---------------- */

struct pg_watch {
	pg_store *s;
	int efd;
	int stop[2];		/* a pipe: the thread stops when it is readable */
	pthread_t thread;
};

static void signal_watch(struct pg_watch *w)
{
	uint64_t one = 1;

	(void)!write(w->efd, &one, sizeof one);
}

/* The head's position, or -1 when the connection failed. */
static long long read_head(PGconn *c)
{
	int err = 0;
	PGresult *r = pg_run(c, "SELECT global_position FROM esfs_head", 0, NULL, &err);
	long long head = r && PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : -1;

	PQclear(r);
	return head;
}

static void *watch_thread(void *arg)
{
	struct pg_watch *w = arg;
	PGconn *c = NULL;
	long long seen = -1;

	for (;;) {
		if (!c) {
			int err = 0;
			/* A standby refuses LISTEN: the head's poll is
			 * left, which is enough. */
			if (connect_to(w->s->uri, &c) == 0) {
				PQclear(pg_run(c, "LISTEN esfs", 0, NULL, &err));
				if (err && PQstatus(c) != CONNECTION_OK) {
					PQfinish(c);
					c = NULL;
				}
			}
			signal_watch(w);	/* what was missed meanwhile */
		}
		struct pollfd p[2] = {{.fd = w->stop[0], .events = POLLIN},
				      {.fd = c ? PQsocket(c) : -1, .events = POLLIN}};
		if (poll(p, 2, WATCH_POLL_MS) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (!c)
			continue;
		int woke = 0;
		if (p[1].revents) {
			if (!PQconsumeInput(c)) {
				PQfinish(c);
				c = NULL;
				continue;
			}
			PGnotify *n;
			while ((n = PQnotifies(c))) {
				PQfreemem(n);
				woke = 1;
			}
		} else {
			long long head = read_head(c);	/* the fallback */
			if (head < 0) {
				PQfinish(c);
				c = NULL;
				continue;
			}
			woke = head != seen;
			seen = head;
		}
		if (woke)
			signal_watch(w);
	}
	if (c)
		PQfinish(c);
	return NULL;
}

int pg_watch_open(es_store *st, int *fd)
{
	pg_store *s = (pg_store *)st;
	struct pg_watch *w = s->watch;

	if (!w) {
		if (!(w = calloc(1, sizeof *w)))
			return fail(ENOMEM, "out of memory");
		w->s = s;
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->efd < 0 || pipe2(w->stop, O_CLOEXEC) != 0) {
			int err = errno;
			if (w->efd >= 0)
				close(w->efd);
			free(w);
			return fail(err, "cannot make a watch: %s", strerror(err));
		}
		int err = pthread_create(&w->thread, NULL, watch_thread, w);
		if (err) {
			close(w->efd);
			close(w->stop[0]);
			close(w->stop[1]);
			free(w);
			return fail(err, "cannot start the watch: %s", strerror(err));
		}
		s->watch = w;
	}
	*fd = w->efd;
	return 0;
}

void pg_watch_drain(es_store *st)
{
	pg_store *s = (pg_store *)st;
	struct pg_watch *w = s->watch;
	uint64_t v;

	if (w)
		(void)!read(w->efd, &v, sizeof v);
}

void pg_close(es_store *st)
{
	pg_store *s = (pg_store *)st;
	struct pg_watch *w = s->watch;

	if (w) {
		close(w->stop[1]);
		pthread_join(w->thread, NULL);
		close(w->stop[0]);
		close(w->efd);
		free(w);
	}
	while (s->nidle)
		PQfinish(s->idle[--s->nidle]);
	pthread_mutex_destroy(&s->lock);
	pg_group_destroy(&s->group);
	free(s->uri);
	free(s);
}

/* A database has no free space of its own to tell: the mount shows its
 * size as used, and nothing free. */
int pg_statfs(es_store *st, struct statvfs *out)
{
	pg_store *s = (pg_store *)st;
	PGconn *c;
	int err = pg_get(s, &c);

	memset(out, 0, sizeof *out);
	out->f_bsize = out->f_frsize = 4096;
	out->f_namemax = 255;
	if (err)
		return err;
	PGresult *r = pg_run(c, "SELECT pg_database_size(current_database())", 0, NULL, &err);
	if (r) {
		out->f_blocks = (fsblkcnt_t)(strtoull(PQgetvalue(r, 0, 0), NULL, 10) / 4096);
		PQclear(r);
	}
	pg_put(s, c);
	return err;
}

/* group.c — the PostgreSQL backend's group commit: appends that one
 * process makes at the same time share one transaction, sent in one round
 * trip (BEGIN, one esfs_append call each, COMMIT, in libpq's pipeline
 * mode), so that the server flushes its WAL once for all of them. An
 * append that finds none waiting runs alone, as one statement.
 *
 * The first append to arrive leads: it takes every append queued (up to
 * GROUP_MAX), runs them, and hands each its result; those that arrive
 * meanwhile queue for the next group, whose leader is the first of them
 * to wake. esfs_append returns a failure rather than raising it, so one
 * append's EEXIST leaves the others of its group standing; should a
 * statement raise all the same, each append of the group runs again on
 * its own, and its own failure is its own (es_why is per thread, so
 * each reason is told in its writer's). A connection lost is each
 * append's to settle (write.c looks its events up). */
#include "pg.h"

#include <errno.h>

#define GROUP_MAX 64	/* appends in one transaction, at most */

enum { QUEUED, DONE, LOST, ALONE };

struct pg_job {
	const char *const *vals;	/* the append's parameters */
	int state;			/* written under the group's lock */
	PGresult *res;			/* DONE: the statement's result, or NULL */
	int err;			/* DONE without a result: its errno */
	struct pg_job *next;
};

/* What running a group made of each of its jobs, handed over under the
 * group's lock (pg_group_run), since each job lives on its writer's
 * stack and the writer may look at it once its lock is free. */
struct outcome {
	int state, err;
	PGresult *res;
};

/* Runs the group jobs[0 … n-1] on one connection, into out. */
static void run_group(pg_store *s, struct pg_job **jobs, int n, struct outcome *out)
{
	struct pg_query q[GROUP_MAX + 2];
	PGresult *res[GROUP_MAX + 2];
	PGconn *c;
	int err = pg_get(s, &c);

	for (int i = 0; i < n; i++)
		out[i] = (struct outcome){ALONE, 0, NULL};
	if (err)	/* no connection: each tries its own, for its reason */
		return;
	if (n == 1) {	/* alone: no transaction to wrap it in. A group of
			 * one is its leader's own append, so es_why is
			 * set in the right thread. */
		PGresult *r = pg_run_append(c, jobs[0]->vals, &err);
		out[0] = (struct outcome){r || PQstatus(c) != CONNECTION_BAD ? DONE : LOST, err, r};
		pg_put(s, c);
		return;
	}
	q[0] = (struct pg_query){"BEGIN", 0, NULL};
	for (int i = 0; i < n; i++)
		q[i + 1] = (struct pg_query){NULL, PG_APPEND_PARAMS, jobs[i]->vals};
	q[n + 1] = (struct pg_query){"COMMIT", 0, NULL};
	err = pg_pipeline(c, q, n + 2, res);
	int lost = err && PQstatus(c) == CONNECTION_BAD;
	pg_put(s, c);
	for (int i = 0; i < n; i++)
		out[i] = (struct outcome){!err ? DONE : lost ? LOST : ALONE, 0,
					  err ? NULL : res[i + 1]};
	if (!err) {
		PQclear(res[0]);
		PQclear(res[n + 1]);
	}
}

/* Takes the queue's first jobs, up to GROUP_MAX, into jobs. */
static int take(struct pg_group *g, struct pg_job **jobs)
{
	int n = 0;

	while (g->queue && n < GROUP_MAX) {
		jobs[n++] = g->queue;
		g->queue = g->queue->next;
	}
	if (!g->queue)
		g->tail = NULL;
	return n;
}

PGresult *pg_group_run(pg_store *s, const char *const *vals, int *err, int *lost)
{
	struct pg_group *g = &s->group;
	struct pg_job job = {vals, QUEUED, NULL, 0, NULL};

	*lost = 0;
	pthread_mutex_lock(&g->lock);
	if (g->tail)
		g->tail->next = &job;
	else
		g->queue = &job;
	g->tail = &job;
	while (job.state == QUEUED) {
		if (g->leading) {
			pthread_cond_wait(&g->done, &g->lock);
			continue;
		}
		struct pg_job *jobs[GROUP_MAX];
		struct outcome out[GROUP_MAX];
		int k = take(g, jobs);
		g->leading = 1;
		pthread_mutex_unlock(&g->lock);
		run_group(s, jobs, k, out);
		pthread_mutex_lock(&g->lock);
		for (int i = 0; i < k; i++) {
			jobs[i]->res = out[i].res;
			jobs[i]->err = out[i].err;
			jobs[i]->state = out[i].state;
		}
		g->leading = 0;
		pthread_cond_broadcast(&g->done);
	}
	pthread_mutex_unlock(&g->lock);

	if (job.state == DONE) {
		if (!job.res)
			*err = job.err;
		return job.res;
	}
	if (job.state == LOST) {
		*err = fail(EIO, "PostgreSQL: connection lost during a group commit");
		*lost = 1;
		return NULL;
	}
	PGconn *c;	/* ALONE */
	if ((*err = pg_get(s, &c)))
		return NULL;
	PGresult *r = pg_run_append(c, vals, err);
	*lost = !r && PQstatus(c) == CONNECTION_BAD;
	pg_put(s, c);
	return r;
}

void pg_group_init(struct pg_group *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->done, NULL);
	g->queue = g->tail = NULL;
	g->leading = 0;
}

void pg_group_destroy(struct pg_group *g)
{
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->lock);
}

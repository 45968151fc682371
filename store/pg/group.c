/* group.c — the PostgreSQL backend's group commit: appends that one
 * process makes at the same time share one transaction, one call of
 * esfs_append (functions.sql) with the arrays of all of them joined, so
 * that the server takes its locks, writes and flushes its WAL once for
 * all of them, in one round trip.
 *
 * The first append to arrive leads: it takes every append queued (up to
 * GROUP_MAX), runs them, and hands each its row of the answer; those that
 * arrive meanwhile queue for the next group, whose leader is the first of
 * them to wake. esfs_append returns a failure rather than raising it, so
 * one append's EEXIST leaves the others of its group standing; an append
 * that it answers AGAIN (an event id an append before it in the group
 * gives too), and every append of a group whose call raises all the same,
 * runs again on its own, after, so that its outcome is its own (es_why is
 * per thread, so each reason is told in its writer's). A connection lost
 * is each append's to settle (write.c looks its events up). */
#include "pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP_MAX 64	/* appends in one transaction, at most */

enum { QUEUED, DONE, LOST, ALONE };

struct pg_job {
	const char *const *vals;	/* the append's parameters */
	struct pg_outcome *out;		/* DONE: its row, unless err */
	int state;			/* written under the group's lock */
	int err;			/* DONE: the call's errno, or 0 */
	struct pg_job *next;
};

/* Row i of esfs_append's answer r, into out. */
static void outcome_of(const PGresult *r, int i, struct pg_outcome *out)
{
	snprintf(out->err, sizeof out->err, "%s", PQgetvalue(r, i, 0));
	snprintf(out->why, sizeof out->why, "%s", PQgetvalue(r, i, 1));
	out->version = strtoull(PQgetvalue(r, i, 2), NULL, 10);
	out->position = strtoull(PQgetvalue(r, i, 3), NULL, 10);
	out->retry = PQgetvalue(r, i, 4)[0] == 't';
}

/* The arrays of jobs[0 … n-1] joined, into joined (the caller frees each),
 * their elements one after the other: 0, or ENOMEM. */
static int join(struct pg_job **jobs, int n, char **joined)
{
	for (int k = 0; k < PG_APPEND_ARRAYS; k++) {
		size_t len = 2;
		for (int i = 0; i < n; i++)
			len += strlen(jobs[i]->vals[k]) - 1;	/* "{…}" less "}", plus ',' */
		char *p = joined[k] = malloc(len + 1);
		if (!p)
			return ENOMEM;
		*p++ = '{';
		for (int i = 0; i < n; i++) {
			size_t l = strlen(jobs[i]->vals[k]) - 2;
			memcpy(p, jobs[i]->vals[k] + 1, l);
			p += l;
			*p++ = i + 1 < n ? ',' : '}';
		}
		*p = '\0';
	}
	return 0;
}

/* Runs the group jobs[0 … n-1] in one call on one connection: its answer
 * (row i job i's, or NULL with *err), and what each came to, in state. */
static PGresult *run_group(pg_store *s, struct pg_job **jobs, int n, int *state, int *err)
{
	char *joined[PG_APPEND_ARRAYS] = {0};
	const char *vals[PG_APPEND_PARAMS];
	PGresult *r = NULL;
	PGconn *c;
	int lost = 0;

	for (int i = 0; i < n; i++)
		state[i] = ALONE;
	if ((*err = pg_get(s, &c))) {	/* no connection: each tries its own,
					 * for its reason; one has it */
		if (n == 1)
			state[0] = DONE;
		return NULL;
	}
	if (n == 1) {	/* a group of one is its leader's own append, so
			 * es_why is set in the right thread */
		memcpy(vals, jobs[0]->vals, sizeof vals);
	} else if (!join(jobs, n, joined)) {
		memcpy(vals, joined, sizeof joined);
		vals[PG_APPEND_ARRAYS] = jobs[0]->vals[PG_APPEND_ARRAYS];
	} else {
		for (int k = 0; k < PG_APPEND_ARRAYS; k++)
			free(joined[k]);
		pg_put(s, c);
		return NULL;
	}
	r = pg_run_append(c, vals, err);
	lost = !r && PQstatus(c) == CONNECTION_BAD;
	pg_put(s, c);
	for (int k = 0; k < PG_APPEND_ARRAYS; k++)
		free(joined[k]);
	if (r && PQntuples(r) != n) {	/* not esfs_append's answer, but
					 * committed: each settles by its ids */
		PQclear(r);
		r = NULL;
		lost = 1;
	}
	for (int i = 0; i < n; i++)
		state[i] = r ? (strcmp(PQgetvalue(r, i, 0), "AGAIN") ? DONE : ALONE) :
			   lost ? LOST : n == 1 ? DONE : ALONE;
	return r;
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
	g->queued -= n;
	g->last = n;
	return n;
}

/* Before it takes the queue, a leader waits, up to GATHER_US, for as many
 * appends as the last group had: writers whose appends the last group
 * committed come back one by one, and the first of them would otherwise
 * lead a group of itself and a few, and the rest another, each paying the
 * server's fixed cost and its flush. A lone writer's groups are of one,
 * and never wait; when writers go away, one group waits and the next
 * expects fewer. */
#define GATHER_US 500

static void gather(struct pg_group *g)
{
	struct timespec until;

	if (g->queued >= g->last)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += GATHER_US * 1000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (g->queued < g->last &&
	       pthread_cond_timedwait(&g->arrived, &g->lock, &until) == 0)
		;
}

int pg_group_run(pg_store *s, const char *const *vals, struct pg_outcome *out, int *lost)
{
	struct pg_group *g = &s->group;
	struct pg_job job = {vals, out, QUEUED, 0, NULL};
	int err;

	*lost = 0;
	pthread_mutex_lock(&g->lock);
	if (g->tail)
		g->tail->next = &job;
	else
		g->queue = &job;
	g->tail = &job;
	g->queued++;
	pthread_cond_signal(&g->arrived);
	while (job.state == QUEUED) {
		if (g->leading) {
			pthread_cond_wait(&g->done, &g->lock);
			continue;
		}
		struct pg_job *jobs[GROUP_MAX];
		int state[GROUP_MAX];
		g->leading = 1;
		gather(g);
		int k = take(g, jobs);
		pthread_mutex_unlock(&g->lock);
		PGresult *r = run_group(s, jobs, k, state, &err);
		pthread_mutex_lock(&g->lock);
		for (int i = 0; i < k; i++) {	/* (each job lives on its writer's
						 * stack: handed over under the lock) */
			if (state[i] == DONE && r)
				outcome_of(r, i, jobs[i]->out);
			jobs[i]->err = state[i] == DONE && !r ? err : 0;
			jobs[i]->state = state[i];
		}
		PQclear(r);
		g->leading = 0;
		pthread_cond_broadcast(&g->done);
	}
	pthread_mutex_unlock(&g->lock);

	if (job.state == ALONE) {	/* again, in a group of its own */
		struct pg_job *self = &job;
		PGresult *r = run_group(s, &self, 1, &job.state, &err);
		if (job.state == DONE && r)
			outcome_of(r, 0, out);
		job.err = job.state == DONE && !r ? err : 0;
		PQclear(r);
	}
	if (job.state == DONE)
		return job.err;
	if (job.state == LOST) {
		*lost = 1;
		return fail(EIO, "PostgreSQL: the outcome of the append is unknown (the connection "
			    "was lost, or the answer was not esfs_append's)");
	}
	return fail(EIO, "PostgreSQL: esfs_append answered AGAIN to an append alone");
}

void pg_group_init(struct pg_group *g)
{
	pthread_condattr_t a;

	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->done, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&g->arrived, &a);
	pthread_condattr_destroy(&a);
	g->queue = g->tail = NULL;
	g->queued = g->last = g->leading = 0;
}

void pg_group_destroy(struct pg_group *g)
{
	pthread_cond_destroy(&g->arrived);
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->lock);
}

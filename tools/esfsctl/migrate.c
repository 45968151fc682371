/* migrate.c — esfsctl migrate SRC DST: copies a store into a new one, a
 * directory into PostgreSQL or back (or either into its own kind), with
 * the same event ids, envelopes, versions, global positions and times,
 * the same snapshots and checkpoints, so that a mount of either shows the
 * same tree. SRC is read in one read view (it may be mounted and written
 * meanwhile: what is copied is the store as it was at the start); DST is
 * a new or empty directory, or an empty PostgreSQL store (target.c).
 *
 * The log is walked in position order, each stream put before its first
 * event (with its creation time), then the empty streams, the snapshots
 * and the checkpoints, all through es_import_batch, BATCH items (one
 * transaction) at a time. A failure or an interrupt undoes what was made
 * in DST (target.c). Ids of streams, views and checkpoints (and so inode
 * numbers) are DST's own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esfsctl.h"
#include "progress.h"
#include "store.h"

#define BATCH 1000			/* items a transaction */
#define BATCH_BYTES (16u << 20)		/* or this much text */
#define MAX_EVENT (64u << 20)		/* the largest max_event esfs takes */

struct migrate {
	const char *src_name;
	es_store *src;
	es_read *r;
	struct ctl_target t;
	uint64_t head;		/* SRC's, at the view's start */
	uint64_t events, streams, empty, snapshots, checkpoints;	/* copied */
	int failed;

	/* The batch: its texts in buf, where items point only when it is sent
	 * (buf may move as it grows). */
	es_import item[BATCH];
	size_t off[BATCH];
	size_t n;
	char *buf;
	size_t len, cap;
};

/* Sends the batch. */
static int flush(struct migrate *m)
{
	for (size_t i = 0; i < m->n; i++) {
		es_import *it = &m->item[i];
		if (it->kind == ES_IMPORT_EVENT || it->kind == ES_IMPORT_SNAPSHOT)
			it->json = m->buf + m->off[i];
		else
			it->name = m->buf + m->off[i];
	}
	if (m->n && ctl_target_import(&m->t, m->item, m->n) != 0) {
		ctl_error("%s: %s (copying %s)", m->t.where, es_why(), m->src_name);
		return -1;
	}
	m->n = 0;
	m->len = 0;
	return 0;
}

/* Adds an item whose text (json or name, n bytes) is copied. */
static int add(struct migrate *m, es_import it, const char *text, size_t n)
{
	if (ctl_interrupted) {
		ctl_error("interrupted");
		return -1;
	}
	if ((m->n == BATCH || m->len > BATCH_BYTES) && flush(m))
		return -1;
	if (m->cap - m->len < n + 1) {
		size_t cap = m->cap ? m->cap : 1 << 20;
		while (cap - m->len < n + 1)
			cap *= 2;
		char *p = realloc(m->buf, cap);
		if (!p) {
			ctl_error("out of memory");
			return -1;
		}
		m->buf = p;
		m->cap = cap;
	}
	m->off[m->n] = m->len;
	memcpy(m->buf + m->len, text, n);
	m->len += n;
	m->buf[m->len++] = '\0';
	m->item[m->n++] = it;
	return 0;
}

static int add_stream(struct migrate *m, const es_stream *st)
{
	m->streams++;
	return add(m, (es_import){.kind = ES_IMPORT_STREAM, .name_len = st->name_len,
				  .time_us = st->created_us}, st->name, st->name_len);
}

/* Each walk step: 0 to go on, else the walk stops with m->failed set. */
static int stop(struct migrate *m)
{
	m->failed = 1;
	return 1;
}

static int on_event(void *arg, const es_event *ev)
{
	struct migrate *m = arg;
	es_stream st;

	if (ev->version == 1) {	/* the stream, created before its first event */
		if (es_stream_get_id(m->r, ev->stream_id, &st) != 0) {
			ctl_error("%s: event %" PRIu64 ": %s", m->src_name, ev->position, es_why());
			return stop(m);
		}
		if (add_stream(m, &st))
			return stop(m);
	}
	if (add(m, (es_import){.kind = ES_IMPORT_EVENT, .json_len = ev->json_len}, ev->json,
		ev->json_len))
		return stop(m);
	progress_update(++m->events, m->head);
	return 0;
}

static int on_stream(void *arg, const es_stream *st)
{
	struct migrate *m = arg;

	if (st->version != 0)
		return 0;	/* made with its first event */
	m->empty++;
	return add_stream(m, st) ? stop(m) : 0;
}

static int on_snapshot(void *arg, const es_snapshot *sn, const es_stream *st)
{
	struct migrate *m = arg;

	(void)st;
	m->snapshots++;
	return add(m, (es_import){.kind = ES_IMPORT_SNAPSHOT, .json_len = sn->json_len},
		   sn->json, sn->json_len) ? stop(m) : 0;
}

static int on_checkpoint(void *arg, const es_checkpoint *cp)
{
	struct migrate *m = arg;

	m->checkpoints++;
	return add(m, (es_import){.kind = ES_IMPORT_CHECKPOINT, .name_len = cp->name_len,
				  .position = cp->position, .time_us = cp->updated_us},
		   cp->name, cp->name_len) ? stop(m) : 0;
}

/* Walks SRC in one read view into DST. */
static int copy(struct migrate *m)
{
	int64_t created;
	int err;

	if ((err = es_read_begin(m->src, &m->r))) {
		ctl_error("%s: %s", m->src_name, es_why());
		return -1;
	}
	progress_start("migrating", "events");
	if (!(err = es_head(m->r, &m->head, &created)) &&
	    !(err = es_log_walk(m->r, 1, 0, on_event, m)) && !m->failed &&
	    !(err = es_streams_walk(m->r, 0, on_stream, m)) && !m->failed &&
	    !(err = es_snapshots_walk(m->r, 0, on_snapshot, m)) && !m->failed)
		err = es_checkpoints_walk(m->r, 0, on_checkpoint, m);
	if (err)
		ctl_error("%s: %s", m->src_name, es_why());
	es_read_end(m->r);
	m->r = NULL;
	if (err || m->failed)
		return -1;
	return flush(m);
}

int cmd_migrate(int argc, char **argv)
{
	int rc = ctl_args(argc, argv, 2, "SRC DST");
	if (rc >= 0)
		return rc;

	struct migrate *m = calloc(1, sizeof *m);
	es_stats st;
	int ok = 0;

	if (!m) {
		ctl_error("out of memory");
		return 1;
	}
	m->src_name = argv[argc - 2];

	ctl_catch_signals();

	if (ctl_target_check(&m->t, argv[argc - 1]) == 0 &&
	    ctl_open_ro(m->src_name, &m->src, &st) == 0 &&
	    ctl_target_open(&m->t, MAX_EVENT) == 0 && copy(m) == 0) {
		ctl_target_close(&m->t);
		ok = 1;
	}
	progress_clear();
	if (ok)
		printf("%s: migrated %" PRIu64 " event%s (head %" PRIu64 "), %" PRIu64 " stream%s (%"
		       PRIu64 " empty), %" PRIu64 " snapshot%s, %" PRIu64 " checkpoint%s from %s\n",
		       m->t.where, m->events, plural(m->events), m->head, m->streams,
		       plural(m->streams), m->empty, m->snapshots, plural(m->snapshots),
		       m->checkpoints, plural(m->checkpoints), m->src_name);
	else
		ctl_target_undo(&m->t);
	es_close(m->src);
	free(m->buf);
	free(m);
	return ok ? 0 : 1;
}

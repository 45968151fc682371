/* audit.c — es_verify for a PostgreSQL store: every invariant checked in
 * one REPEATABLE READ, READ ONLY transaction, each problem one line, in
 * the words of the local backend's verify.c where the check is the same.
 * The scans are SQL (window functions over global_position, aggregates
 * per stream and per view) that return only what is wrong; the one pass
 * the client makes is over the envelopes, each read back with the local
 * backend's own check (read_envelope: exact JSON as esfs writes it) and
 * compared field by field with its columns. Rows come through cursors,
 * a page at a time, so that memory stays small at millions of events. */
#include "pg.h"
#include "../json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#define PAGE 4096	/* rows a fetch */
#define TEXT(x) #x
#define FETCH(n) "FETCH " TEXT(n) " FROM esfs_audit"

struct audit {
	PGconn *c;
	struct problems out;
	es_progress_fn progress;
	uint64_t head, events;	/* esfs_head's position; the events there are */
	uint64_t done;		/* envelopes checked */
};

typedef void (*row_fn)(struct audit *a, const PGresult *r, int row);

static const char *col(const PGresult *r, int row, int c)
{
	return PQgetvalue(r, row, c);
}

static uint64_t u64(const PGresult *r, int row, int c)
{
	return strtoull(PQgetvalue(r, row, c), NULL, 10);
}

static int yes(const PGresult *r, int row, int c)
{
	return !PQgetisnull(r, row, c) && PQgetvalue(r, row, c)[0] == 't';
}

static int exec(struct audit *a, const char *sql)
{
	int err = 0;

	PQclear(pg_run(a->c, sql, 0, NULL, &err));
	return err;
}

/* Runs query through a cursor, PAGE rows a fetch, each row to fn. */
static int each_row(struct audit *a, const char *query, row_fn fn)
{
	size_t n = strlen(query) + 64;
	char *sql = malloc(n);
	int err;

	if (!sql)
		return fail(ENOMEM, "out of memory");
	snprintf(sql, n, "DECLARE esfs_audit NO SCROLL CURSOR FOR %s", query);
	err = exec(a, sql);
	free(sql);
	while (!err) {
		PGresult *r = pg_run(a->c, FETCH(PAGE), 0, NULL, &err);
		if (!r)
			break;
		int rows = PQntuples(r);
		for (int i = 0; i < rows; i++)
			fn(a, r, i);
		PQclear(r);
		if (rows < PAGE)
			break;
	}
	return err ? err : exec(a, "CLOSE esfs_audit");
}

/* ---- The head. --------------------------------------------------------- */

static int check_head(struct audit *a)
{
	int err = 0;
	PGresult *r = pg_run(a->c, "SELECT h.global_position, h.log_bytes, h.created_us, e.n, "
			     "e.last, e.bytes, (SELECT created_us FROM events ORDER BY "
			     "global_position DESC LIMIT 1), (SELECT count(*) FROM esfs_head) "
			     "FROM esfs_head h, (SELECT count(*) AS n, coalesce(max(global_position), 0) "
			     "AS last, coalesce(sum(octet_length(envelope)), 0) AS bytes FROM events) e "
			     "LIMIT 1", 0, NULL, &err);

	if (!r)
		return err;
	if (PQntuples(r) != 1 || u64(r, 0, 7) != 1) {
		problem(&a->out, "esfs_head has %s rows, not one", PQntuples(r) ? col(r, 0, 7) : "no");
		PQclear(r);
		return 0;
	}
	a->head = u64(r, 0, 0);
	a->events = u64(r, 0, 3);
	if (a->head != u64(r, 0, 4))
		problem(&a->out, "the head is at position %s, the last event at %s", col(r, 0, 0),
			col(r, 0, 4));
	if (a->head != a->events)
		problem(&a->out, "the head is at position %s, for %s events", col(r, 0, 0), col(r, 0, 3));
	if (u64(r, 0, 1) != u64(r, 0, 5))
		problem(&a->out, "the head says the envelopes hold %s bytes, they hold %s", col(r, 0, 1),
			col(r, 0, 5));
	if (strcmp(col(r, 0, 2), PQgetisnull(r, 0, 6) ? "0" : col(r, 0, 6)) != 0)
		problem(&a->out, "the head's time is %s µs, the last event's %s", col(r, 0, 2),
			PQgetisnull(r, 0, 6) ? "0 (there is none)" : col(r, 0, 6));
	PQclear(r);
	return 0;
}

/* ---- Positions, bytes_before, times: one scan in position order. ------ */

static void log_row(struct audit *a, const PGresult *r, int i)
{
	uint64_t pos = u64(r, i, 0), prev = u64(r, i, 1);

	if (pos != prev + 1)
		problem(&a->out, "positions %" PRIu64 " … %" PRIu64 " are missing", prev + 1, pos - 1);
	if (strcmp(col(r, i, 2), col(r, i, 3)) != 0)
		problem(&a->out, "event %" PRIu64 ": %s bytes before it, where the events before hold %s",
			pos, col(r, i, 2), col(r, i, 3));
	if (yes(r, i, 4))
		problem(&a->out, "event %" PRIu64 ": created before the event before it", pos);
}

#define LOG_SCAN "SELECT global_position, prev, bytes_before, before, created_us < prev_us " \
	"FROM (SELECT global_position, bytes_before, created_us, " \
	"lag(global_position, 1, 0::bigint) OVER w AS prev, " \
	"coalesce(sum(octet_length(envelope)) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND " \
	"1 PRECEDING), 0) AS before, lag(created_us) OVER w AS prev_us " \
	"FROM events WINDOW w AS (ORDER BY global_position)) e " \
	"WHERE global_position <> prev + 1 OR bytes_before <> before OR created_us < prev_us " \
	"ORDER BY global_position"

/* ---- Streams: versions 1 … version, without a gap. -------------------- */

static void stream_row(struct audit *a, const PGresult *r, int i)
{
	if (u64(r, i, 2) == 0)
		problem(&a->out, "stream %s: at version %s, but it has no events", col(r, i, 0),
			col(r, i, 1));
	else
		problem(&a->out, "stream %s: at version %s, but its %s events are versions %s … %s",
			col(r, i, 0), col(r, i, 1), col(r, i, 2), col(r, i, 4), col(r, i, 3));
}

#define STREAM_SCAN "SELECT s.name, s.version, count(e.version), max(e.version), " \
	"min(e.version) FROM streams s LEFT JOIN events e ON e.stream = s.id " \
	"GROUP BY s.id, s.name, s.version HAVING count(e.version) <> s.version OR " \
	"coalesce(max(e.version), 0) <> s.version OR coalesce(min(e.version), 1) <> 1 " \
	"ORDER BY s.id"

static void version_gap_row(struct audit *a, const PGresult *r, int i)
{
	problem(&a->out, "stream %s: versions %" PRIu64 " … %" PRIu64 " are missing", col(r, i, 0),
		u64(r, i, 1) + 1, u64(r, i, 2) - 1);
}

#define VERSION_GAPS "SELECT s.name, g.prev, g.version FROM (SELECT stream, version, " \
	"lag(version, 1, 0::bigint) OVER (PARTITION BY stream ORDER BY version) AS prev " \
	"FROM events) g JOIN streams s ON s.id = g.stream WHERE g.version > g.prev + 1 " \
	"ORDER BY s.id, g.version"

/* ---- Each event's stream and views. ------------------------------------ */

static void membership_row(struct audit *a, const PGresult *r, int i)
{
	const char *pos = col(r, i, 0);

	if (yes(r, i, 1))
		problem(&a->out, "event %s: its stream_id column is not its stream's name", pos);
	if (yes(r, i, 2))
		problem(&a->out, "event %s: its stream_type column is not its stream's category", pos);
	if (yes(r, i, 3))
		problem(&a->out, "event %s: not in the view of its type", pos);
	if (yes(r, i, 4))
		problem(&a->out, "event %s: not in the view of its category", pos);
	if (yes(r, i, 5))
		problem(&a->out, "event %s: in a category view, but its stream has no category", pos);
}

#define CATEGORY(name) "CASE WHEN strpos(" name ", '-') > 1 THEN left(" name ", " \
	"strpos(" name ", '-') - 1) ELSE '' END"
#define MEMBERSHIP "SELECT global_position, bad_name, bad_type_col, bad_type, bad_cat, " \
	"stray_cat FROM (SELECT e.global_position, e.stream_id <> s.name AS bad_name, " \
	"e.stream_type <> " CATEGORY("s.name") " AS bad_type_col, " \
	"t.id IS NULL OR t.kind <> 2 OR t.name <> e.event_type AS bad_type, " \
	CATEGORY("s.name") " <> '' AND (c.id IS NULL OR c.kind <> 1 OR " \
	"c.name <> " CATEGORY("s.name") ") AS bad_cat, " \
	CATEGORY("s.name") " = '' AND e.category_view IS NOT NULL AS stray_cat " \
	"FROM events e JOIN streams s ON s.id = e.stream " \
	"LEFT JOIN views t ON t.id = e.type_view LEFT JOIN views c ON c.id = e.category_view) m " \
	"WHERE bad_name OR bad_type_col OR bad_type OR bad_cat OR stray_cat " \
	"ORDER BY global_position"

/* ---- The views: each last_position its newest event's. ----------------- */

static void view_row(struct audit *a, const PGresult *r, int i)
{
	const char *kind = strcmp(col(r, i, 0), "1") == 0 ? "category" :
			   strcmp(col(r, i, 0), "2") == 0 ? "type" : NULL;

	if (!kind)
		problem(&a->out, "view %s: kind %s, neither 1 (a category) nor 2 (a type)", col(r, i, 1),
			col(r, i, 0));
	else if (PQgetisnull(r, i, 3))
		problem(&a->out, "%s view %s has no events", kind, col(r, i, 1));
	else if (strcmp(col(r, i, 2), col(r, i, 3)) != 0)
		problem(&a->out, "%s view %s: its last position is %s, its newest event %s", kind,
			col(r, i, 1), col(r, i, 2), col(r, i, 3));
	else
		problem(&a->out, "%s view %s: its time is not its newest event's", kind, col(r, i, 1));
}

#define VIEW_SCAN "WITH m AS (SELECT type_view AS id, max(global_position) AS last " \
	"FROM events GROUP BY type_view UNION ALL SELECT category_view, max(global_position) " \
	"FROM events WHERE category_view IS NOT NULL GROUP BY category_view) " \
	"SELECT v.kind, v.name, v.last_position, m.last FROM views v " \
	"LEFT JOIN m ON m.id = v.id LEFT JOIN events le ON le.global_position = m.last " \
	"WHERE v.kind NOT IN (1, 2) OR m.last IS NULL OR m.last <> v.last_position OR " \
	"le.created_us <> v.updated_us ORDER BY v.id"

/* ---- Snapshots and checkpoints. ---------------------------------------- */

static void snapshot_row(struct audit *a, const PGresult *r, int i)
{
	const char *name = col(r, i, 0), *line = col(r, i, 4), *data = col(r, i, 5);
	size_t len = (size_t)PQgetlength(r, i, 0), n = (size_t)PQgetlength(r, i, 4);
	size_t dlen = (size_t)PQgetlength(r, i, 5);
	uint64_t version = u64(r, i, 2);
	int64_t created = strtoll(col(r, i, 3), NULL, 10);
	char *rec = malloc(2 * len + dlen + 120);

	if (version < 1 || version > u64(r, i, 1))
		problem(&a->out, "snapshot of %s: version %s outside 1 … %s", name, col(r, i, 2),
			col(r, i, 1));
	if (snapshot_line_ok(line, n, name, len, version, created) != 0)
		problem(&a->out, "snapshot of %s: its line is not as esfs writes it", name);
	else if (!rec)
		problem(&a->out, "snapshot of %s: out of memory to check it", name);
	else if (snapshot_line(rec, name, len, version, created, data, dlen) != n ||
		 memcmp(rec, line, n) != 0 || yes(r, i, 6) || !yes(r, i, 7))
		problem(&a->out, "snapshot of %s: its line and its columns disagree", name);
	free(rec);
}

#define SNAPSHOT_SCAN "SELECT s.name, s.version, sn.version, sn.created_us, sn.line, " \
	"sn.data::text, sn.stream_id <> s.name, sn.created_at = timestamp with time zone " \
	"'epoch' + sn.created_us * interval '1 microsecond' " \
	"FROM snapshots sn JOIN streams s ON s.id = sn.stream ORDER BY sn.stream"

static void checkpoint_row(struct audit *a, const PGresult *r, int i)
{
	problem(&a->out, "checkpoint %s: position %s, past the last %s", col(r, i, 0), col(r, i, 1),
		col(r, i, 2));
}

#define CHECKPOINT_SCAN "SELECT c.name, c.position, h.global_position FROM " \
	"subscription_checkpoints c, esfs_head h WHERE c.position < 0 OR " \
	"c.position > h.global_position ORDER BY c.id"

static void ids_row(struct audit *a, const PGresult *r, int i)
{
	problem(&a->out, "the sequence esfs_ids is at %s, but id %s is given already", col(r, i, 0),
		col(r, i, 1));
}

#define IDS_SCAN "SELECT q.last, m.id FROM (SELECT CASE WHEN is_called THEN last_value " \
	"ELSE last_value - 1 END AS last FROM esfs_ids) q, (SELECT max(id) AS id FROM " \
	"(SELECT max(id) AS id FROM streams UNION ALL SELECT max(id) FROM views " \
	"UNION ALL SELECT max(id) FROM subscription_checkpoints) x) m WHERE m.id > q.last"

/* ---- Each envelope against its columns. -------------------------------- */

#define ENVELOPE_SCAN "SELECT global_position, event_id, stream_id, event_type, version, " \
	"schema_version, event_data, metadata, created_us, created_at = timestamp with time " \
	"zone 'epoch' + created_us * interval '1 microsecond', envelope FROM events " \
	"ORDER BY global_position"

/* Whether column c of the row is the text p (n bytes). */
static int same(const PGresult *r, int i, int c, const char *p, size_t n)
{
	return (size_t)PQgetlength(r, i, c) == n && memcmp(PQgetvalue(r, i, c), p, n) == 0;
}

static void envelope_row(struct audit *a, const PGresult *r, int i)
{
	struct envelope_fields f;
	const char *pos = col(r, i, 0);
	char num[24], differ[160] = "";
	unsigned char id[16];

	if (++a->done % 65536 == 0 && a->progress)
		a->progress(a->out.arg, a->done, a->events);
	if (read_envelope(col(r, i, 10), (size_t)PQgetlength(r, i, 10), &f) != 0) {
		problem(&a->out, "event %s: %s", pos, es_why());
		envelope_free(&f);
		return;
	}
#define DIFFER(what) strcat(strcat(differ, *differ ? ", " : ""), what)
	if (f.position != u64(r, i, 0))
		DIFFER("global_position");
	if (uuid_parse(col(r, i, 1), id) != 0 || memcmp(id, f.id, 16) != 0)
		DIFFER("event_id");
	if (!same(r, i, 2, f.name, f.name_len))
		DIFFER("stream_id");
	if (!same(r, i, 3, f.type, f.type_len))
		DIFFER("event_type");
	if (f.version != u64(r, i, 4))
		DIFFER("version");
	snprintf(num, sizeof num, "%u", f.ev.schema_version);
	if (strcmp(num, col(r, i, 5)) != 0)
		DIFFER("schema_version");
	if (!same(r, i, 6, f.ev.data, f.ev.data_len))
		DIFFER("data");
	if (!same(r, i, 7, f.ev.meta, f.ev.meta_len))
		DIFFER("metadata");
	if (f.created != strtoll(col(r, i, 8), NULL, 10))
		DIFFER("created_at");
	if (!yes(r, i, 9))
		DIFFER("created_at against created_us");
#undef DIFFER
	if (*differ)
		problem(&a->out, "event %s: its envelope and its columns disagree: %s", pos, differ);
	envelope_free(&f);
}

int pg_verify(es_store *st, es_problem_fn problem_fn, es_progress_fn progress,
	      void *arg, uint64_t *problems)
{
	pg_store *s = (pg_store *)st;
	struct audit a = {.out = {problem_fn, arg, 0}, .progress = progress};
	static const struct {
		const char *sql;
		row_fn fn;
	} scans[] = {
		{LOG_SCAN, log_row}, {STREAM_SCAN, stream_row}, {VERSION_GAPS, version_gap_row},
		{MEMBERSHIP, membership_row}, {VIEW_SCAN, view_row},
		{SNAPSHOT_SCAN, snapshot_row}, {CHECKPOINT_SCAN, checkpoint_row},
		{IDS_SCAN, ids_row}, {ENVELOPE_SCAN, envelope_row},
	};
	int err;

	*problems = 0;
	if ((err = pg_get(s, &a.c)))
		return err;
	if (!(err = exec(&a, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")))
		err = check_head(&a);
	for (size_t i = 0; i < sizeof scans / sizeof *scans && !err; i++)
		err = each_row(&a, scans[i].sql, scans[i].fn);
	if (!err && progress)
		progress(arg, a.done, a.events);
	pg_rollback(a.c);
	pg_put(s, a.c);
	*problems = a.out.count;
	return err;
}

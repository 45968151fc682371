/* recover.c — what a read-write es_open finds, and what es_close leaves
 * (doc/log.md): the state file, the replay of the log's tail into the
 * index, rebuilding the index from the whole log, and converting a store
 * of format 1 or 2 (events in LMDB, no log).
 *
 * LMDB runs with MDB_NOSYNC: the log is the durable record and the index
 * is trusted only when the kernel that wrote it is still the one running
 * (its page cache holds every page the index was given), or when it was
 * synced at a clean close. STORE_DIR/state says which:
 *
 *   clean            the index was synced at close: trust it
 *   recovering BOOT  a writer is replaying or rebuilding the index, under
 *                    the kernel whose boot id is BOOT; readers keep away
 *   open BOOT        a writer has (or had) the store open under it
 *
 * An open finding its own kernel's boot id (the writer was killed, the
 * kernel kept its pages) trusts the index and replays the log past what it
 * indexed: at most the last group. Another boot id (a power cut, a crash
 * of the kernel, a reboot) or no state rebuilds the index from the log.
 * The state is written (synced, renamed) before the first unsynced commit,
 * so it never claims more than the disk holds.
 */
#include "internal.h"
#include "dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLAY_CHUNK 16384	/* records per transaction of a replay */
#define CONVERT_RECORD ((size_t)1 << 20)	/* bytes of ops per record */
#define CONVERT_GROUP ((size_t)16 << 20)	/* bytes per flush */

static void path_of(const es_store *s, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", s->dir, name);
}

static int exists(const es_store *s, const char *name)
{
	char path[PATH_MAX];

	path_of(s, name, path, sizeof path);
	return access(path, F_OK) == 0;
}

/* The running kernel's boot id (a UUID new at every boot), into buf (at
 * least 40 bytes); "" when it cannot be read. */
static void boot_id(char *buf, size_t size)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, (int)size, f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
}

/* The state file's text ("" when there is none), NUL-terminated. */
static void state_read(const es_store *s, char *buf, size_t size)
{
	char path[PATH_MAX];
	int fd;
	ssize_t n = 0;

	path_of(s, "state", path, sizeof path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* Whether state ("open BOOT" or "recovering BOOT") names the running
 * kernel: its page cache then holds every page the index was given. */
static int this_boot(const char *state, const char *word)
{
	char boot[64];
	size_t n = strlen(word);

	boot_id(boot, sizeof boot);
	return boot[0] && strncmp(state, word, n) == 0 && state[n] == ' ' &&
	       strcmp(state + n + 1, boot) == 0;
}

/* Whether the index matches what the log's writer last committed, as far
 * as it got: synced at a clean close, or written by this kernel. */
static int index_trusted(const char *state)
{
	return strcmp(state, "clean") == 0 || this_boot(state, "open") ||
	       this_boot(state, "recovering");
}

/* Replaces the state file with text, durably. */
static int state_write(const es_store *s, const char *text)
{
	char path[PATH_MAX];
	int err;

	path_of(s, "state", path, sizeof path);
	err = dir_replace(path, text, strlen(text));
	return err ? fail(err, "%s: %s", path, strerror(err)) : 0;
}

/* Writes "WORD BOOT" as the state. */
static int state_session(es_store *s, const char *word)
{
	char boot[64], text[128];

	boot_id(boot, sizeof boot);
	snprintf(text, sizeof text, "%s %s\n", word, boot[0] ? boot : "-");
	return state_write(s, text);
}

int state_readable(es_store *s)
{
	char state[128];

	state_read(s, state, sizeof state);
	if (strcmp(state, "clean") == 0 || this_boot(state, "open"))
		return 0;
	if (this_boot(state, "recovering"))
		return fail(EAGAIN, "%s is being recovered by its writer: try again when it serves",
			    s->dir);
	if (!exists(s, "log") && (exists(s, "data.mdb") || exists(s, "data.mdb.format2")))
		return fail(EROFS, "%s has an older store format: open it read-write once to convert it",
			    s->dir);
	if (!exists(s, "log"))
		return fail(ENOENT, "no store at %s", s->dir);
	return fail(EROFS, "%s was not closed cleanly: open it read-write once to recover its index",
		    s->dir);
}

static int unlink_in(const es_store *s, const char *name)
{
	char path[PATH_MAX];

	path_of(s, name, path, sizeof path);
	if (unlink(path) != 0 && errno != ENOENT)
		return fail(errno, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

int drop_index(es_store *s)
{
	int err;

	if (s->env) {
		mdb_env_close(s->env);
		s->env = NULL;
	}
	if ((err = unlink_in(s, "data.mdb")))
		return err;
	return unlink_in(s, "lock.mdb");
}

int recover_begin(es_store *s, int *rebuild)
{
	char state[128];
	int err;

	state_read(s, state, sizeof state);
	*rebuild = exists(s, "log") && !index_trusted(state);
	/* Until recover_end, read-only openers keep away (the index may hold
	 * only a prefix of the log), and a writer that dies is followed by one
	 * that goes on from where it got. */
	if ((err = state_session(s, "recovering")))
		return err;
	return *rebuild ? drop_index(s) : 0;
}

int recover_end(es_store *s)
{
	return state_session(s, "open");
}

void recover_close(es_store *s)
{
	if (s->read_only || !s->log || s->broken)
		return;
	if (log_sync(s->log) == 0 && mdb_env_sync(s->env, 1) == 0)
		state_write(s, "clean\n");
}

/* ---- Replay. --------------------------------------------------------- */

struct replay {
	es_store *s;
	MDB_txn *txn;
	unsigned count;
	int err;
};

static int replay_one(void *arg, uint64_t seq, uint32_t type, uint64_t payload,
		      const char *p, size_t len)
{
	struct replay *rp = arg;

	(void)seq;
	if (rp->count == REPLAY_CHUNK)
		return 1;	/* the next transaction's */
	if (type != REC_CHANGE)
		rp->err = fail(EIO, "a log record of unknown type %u", type);
	else
		rp->err = apply_record(rp->s, rp->txn, p, len, payload);
	if (rp->err)
		return 1;
	rp->count++;
	return 0;
}

static int newest_in_log(es_store *s)
{
	MDB_txn *txn;
	uint64_t head;
	int64_t created;
	es_event ev;
	int err = txn_begin(s, MDB_RDONLY, &txn);

	if (err)
		return err;
	if (!(err = last_event(s, txn, &head, &created)) && head > 0 &&
	    !(err = event_at(s, txn, head, &ev)) &&
	    (ev.json_len < 2 || ev.json[0] != '{' || ev.json[ev.json_len - 1] != '\n'))
		err = fail(EIO, "event %llu is not in the log where the index says",
			   (unsigned long long)head);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->map_lock);
	return err;
}

int recover_replay(es_store *s)
{
	log_end at = s->indexed, end;
	int err;

	/* A record a killed writer wrote but never flushed is still in the
	 * page cache: flush it before the index takes it. */
	if ((err = log_sync(s->log)))
		return fail(err, "flushing the log: %s", strerror(err));
	/* An index that has more than the log (a log put back from an older
	 * copy, or zeroed) is rebuilt: EIO sends es_open there. The newest
	 * event it indexes must be in the log, as its envelope. */
	if ((err = newest_in_log(s)))
		return err;
	for (;;) {
		MDB_txn *txn;
		size_t seen = map_size(s);
		if ((err = txn_begin(s, 0, &txn)))
			return err;
		struct replay rp = {s, txn, 0, 0};
		log_scan(s->log, at, replay_one, &rp, &end);
		if (!rp.err && rp.count > 0)
			rp.err = put_log_end(s, txn, &end);
		if (rp.err || rp.count == 0) {
			mdb_txn_abort(txn);
		} else {
			int rc = mdb_txn_commit(txn);
			if (rc)
				rp.err = lmdb_fail(rc, "committing the replay");
		}
		pthread_rwlock_unlock(&s->map_lock);
		if (rp.err == RETRY_MAP) {
			if ((err = grow_map(s, seen)))
				return err;
			continue;
		}
		if (rp.err)
			return rp.err;
		if (rp.count == 0)
			break;
		at = end;
	}
	s->indexed = at;
	log_set_end(s->log, at);
	return 0;
}

/* ---- Converting a store of format 1 or 2. ----------------------------- */

struct convert {
	es_store *s;
	es_log *log;
	log_group g;
	MDB_txn *txn;
	MDB_dbi events, streams, snapshots, checkpoints, meta;
	uint64_t counts[4];	/* events, streams, snapshots, checkpoints written */
};

/* Ends the record being built in s->change, and writes the group when it
 * is large (or when all is true). */
static int convert_flush(struct convert *c, int all)
{
	char why[256];
	int err;

	if (c->s->change_len > 0) {
		struct iovec piece = {c->s->change, c->s->change_len};
		uint64_t at;
		if ((err = log_group_add(&c->g, REC_CHANGE, &piece, 1, &at)))
			return fail(err, "converting: %s", strerror(err));
		c->s->change_len = 0;
	}
	c->s->change_base = c->g.end.offset + LOG_RECORD_HEADER;
	if (c->g.len < CONVERT_GROUP && !all)
		return 0;
	if ((err = log_group_write(c->log, &c->g, why, sizeof why)))
		return fail(err, "converting: %s", why);
	log_group_init(&c->g, c->g.end);
	c->s->change_base = c->g.end.offset + LOG_RECORD_HEADER;
	return 0;
}

static int convert_op(struct convert *c, uint32_t op, const uint64_t *f, int n,
		      const void *bytes, size_t len)
{
	int err = op_put(c->s, NULL, op, f, n, bytes, len);

	return err ? err : c->s->change_len >= CONVERT_RECORD ? convert_flush(c, 0) : 0;
}

static int convert_event(struct convert *c, uint64_t pos, const MDB_val *v)
{
	const char *r = v->mv_data, *json = r + OLD_EVENT_HDR;
	size_t jlen = v->mv_size - OLD_EVENT_HDR, tlen;
	char type[256];
	int err;

	if (v->mv_size < OLD_EVENT_HDR + 3)
		return fail(EIO, "converting: event %llu has a record of %zu bytes",
			    (unsigned long long)pos, v->mv_size);
	if ((err = envelope_type(json, jlen, type, &tlen)))
		return fail(err, "converting: event %llu has no event_type", (unsigned long long)pos);
	char *p = op_begin(c->s, EVENTS_HDR + EVENT_OP_HDR + tlen + jlen);
	if (!p)
		return ENOMEM;
	put64(p, get64(r));		/* stream id */
	put64(p + 8, get64(r + 8));	/* version */
	put64(p + 16, pos);
	put64(p + 24, get64(r + 16));	/* created */
	put64(p + 32, 1);
	memcpy(p + EVENTS_HDR, r + 24, 16);
	put32(p + EVENTS_HDR + 16, (uint32_t)tlen);
	put32(p + EVENTS_HDR + 20, (uint32_t)jlen);
	memcpy(p + EVENTS_HDR + EVENT_OP_HDR, type, tlen);
	memcpy(p + EVENTS_HDR + EVENT_OP_HDR + tlen, json, jlen);
	op_end(c->s, NULL, OP_EVENTS, EVENTS_HDR + EVENT_OP_HDR + tlen + jlen);
	return c->s->change_len >= CONVERT_RECORD ? convert_flush(c, 0) : 0;
}

/* Every record of database dbi, in key order, to fn. */
static int convert_db(struct convert *c, MDB_dbi dbi, uint64_t *count,
		      int (*fn)(struct convert *, uint64_t, const MDB_val *))
{
	MDB_cursor *cur;
	MDB_val k, v;
	int err = 0, rc = mdb_cursor_open(c->txn, dbi, &cur);

	if (rc)
		return lmdb_fail(rc, "converting");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !err;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		err = fn(c, get64(k.mv_data), &v);
		++*count;
	}
	mdb_cursor_close(cur);
	if (!err && rc != MDB_NOTFOUND)
		err = lmdb_fail(rc, "converting");
	return err;
}

static int convert_stream(struct convert *c, uint64_t id, const MDB_val *v)
{
	es_stream st;

	decode_stream(id, v, &st);
	return convert_op(c, OP_STREAM, (uint64_t[]){id, (uint64_t)st.created_us}, 2,
			  st.name, st.name_len);
}

static int convert_snapshot(struct convert *c, uint64_t sid, const MDB_val *v)
{
	return convert_op(c, OP_SNAPSHOT, &sid, 1, v->mv_data, v->mv_size);
}

static int convert_checkpoint(struct convert *c, uint64_t id, const MDB_val *v)
{
	es_checkpoint cp;

	decode_checkpoint(id, v, &cp);
	if (cp.has_position)
		c->counts[3]++;
	uint64_t f[4] = {id, cp.position, (uint64_t)cp.updated_us, (uint64_t)cp.has_position};
	return convert_op(c, OP_CHECKPOINT, f, 4, cp.name, cp.name_len);
}

static int get_meta(struct convert *c, const char *key, uint64_t *out)
{
	MDB_val k = val(key, strlen(key)), v;
	int rc = mdb_get(c->txn, c->meta, &k, &v);

	*out = 0;
	if (rc == 0 && v.mv_size == 8)
		*out = get64(v.mv_data);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdb_fail(rc, "converting");
}

/* Writes log.new from the old store's open read transaction. */
static int convert_write(struct convert *c, const char *path)
{
	uint64_t next_stream, next_checkpoint, n = 0;
	char why[256];
	int err;

	if ((err = log_open(path, 0, &c->log, why, sizeof why)))
		return fail(err, "converting: %s", why);
	log_set_end(c->log, log_start(c->log));
	log_group_init(&c->g, log_start(c->log));
	c->s->change_len = 0;
	c->s->change_base = c->g.end.offset + LOG_RECORD_HEADER;
	if (!(err = convert_db(c, c->streams, &c->counts[1], convert_stream)) &&
	    !(err = convert_db(c, c->events, &c->counts[0], convert_event)) &&
	    !(err = convert_db(c, c->snapshots, &c->counts[2], convert_snapshot)) &&
	    !(err = convert_db(c, c->checkpoints, &n, convert_checkpoint)) &&
	    !(err = get_meta(c, "next_stream", &next_stream)) &&
	    !(err = get_meta(c, "next_checkpoint", &next_checkpoint)) &&
	    !(err = convert_op(c, OP_IDS, (uint64_t[]){next_stream, next_checkpoint}, 2,
			       NULL, 0)))
		err = convert_flush(c, 1);
	log_group_free(&c->g);
	log_close(c->log);
	return err;
}

static int old_dbi(struct convert *c, const char *name, MDB_dbi *dbi)
{
	int rc = mdb_dbi_open(c->txn, name, 0, dbi);

	if (rc == MDB_NOTFOUND)
		return fail(EINVAL, "%s holds an LMDB database that is not an esfs store", c->s->dir);
	return rc ? lmdb_fail(rc, "opening the old store") : 0;
}

int convert_old(es_store *s)
{
	struct convert c = {.s = s};
	char log_new[PATH_MAX], log_path[PATH_MAX], data[PATH_MAX], old[PATH_MAX];
	MDB_env *env;
	MDB_dbi main;
	uint64_t format = 0;
	int err, rc = mdb_env_create(&env);

	if (rc)
		return lmdb_fail(rc, "creating the LMDB environment");
	mdb_env_set_maxdbs(env, 32);
	rc = mdb_env_open(env, s->dir, MDB_RDONLY, 0644);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &c.txn);
	if (rc) {
		mdb_env_close(env);
		return rc > 0 ? fail(rc, "cannot open the store at %s: %s", s->dir, strerror(rc))
		       : fail(EINVAL, "cannot open the store at %s: %s", s->dir, mdb_strerror(rc));
	}
	MDB_stat st;
	MDB_val k = val("meta", 4), v;
	err = 0;
	if (mdb_dbi_open(c.txn, NULL, 0, &main) == 0 && mdb_stat(c.txn, main, &st) == 0 &&
	    st.ms_entries == 0) {
		format = 0;	/* an empty environment: a new store */
	} else if (mdb_get(c.txn, main, &k, &v) != 0) {
		err = fail(EINVAL, "%s holds an LMDB database that is not an esfs store", s->dir);
	} else if (!(err = old_dbi(&c, "meta", &c.meta)) && !(err = get_meta(&c, "format", &format))) {
		if (format == FORMAT)
			err = fail(EIO, "%s has store format %d but its log is missing", s->dir, FORMAT);
		else if (format != 1 && format != 2)
			err = fail(EINVAL, "%s has store format %llu; this esfs reads format %d",
				   s->dir, (unsigned long long)format, FORMAT);
	}
	path_of(s, "log.new", log_new, sizeof log_new);
	path_of(s, "log", log_path, sizeof log_path);
	if (!err && format != 0) {
		unlink(log_new);
		if (!(err = old_dbi(&c, "events", &c.events)) &&
		    !(err = old_dbi(&c, "streams", &c.streams)) &&
		    !(err = old_dbi(&c, "snapshots", &c.snapshots)) &&
		    !(err = old_dbi(&c, "checkpoints", &c.checkpoints)))
			err = convert_write(&c, log_new);
	}
	mdb_txn_abort(c.txn);
	mdb_env_close(env);
	if (err) {
		unlink(log_new);
		return err;
	}
	path_of(s, "data.mdb", data, sizeof data);
	path_of(s, "data.mdb.format2", old, sizeof old);
	if (format == 0) {	/* nothing to keep */
		unlink(data);
		unlink_in(s, "lock.mdb");
		return 0;
	}
	/* The old file steps aside first (an open that finds it so, and no
	 * log, puts it back); then the log's rename is the commit point. The
	 * old file stays until the index built from the log has been counted
	 * against it (convert_check, at every open until it matches). */
	if (rename(data, old) != 0 || (errno = dir_sync(s->dir)) ||
	    rename(log_new, log_path) != 0 || (errno = dir_sync(s->dir)))
		return fail(errno, "converting %s: %s", s->dir, strerror(errno));
	unlink_in(s, "lock.mdb");
	return 0;
}

/* Counts the entries of dbs in the old store's file (path, format 1 or 2). */
static int old_counts(const char *path, uint64_t *counts)
{
	static const char *const names[3] = {"events", "streams", "snapshots"};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;
	int rc = mdb_env_create(&env);

	if (rc)
		return lmdb_fail(rc, "reading the old store");
	mdb_env_set_maxdbs(env, 32);
	if (!(rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0644)) &&
	    !(rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))) {
		for (int i = 0; i < 3 && !rc; i++)
			if (!(rc = mdb_dbi_open(txn, names[i], 0, &dbi)) && !(rc = mdb_stat(txn, dbi, &st)))
				counts[i] = st.ms_entries;
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return rc ? lmdb_fail(rc, "reading the old store") : 0;
}

/* After a conversion (data.mdb.format2 is there): the index built from
 * the log holds as many events, streams and snapshots as the old store
 * did; then the old file goes. */
int convert_check(es_store *s)
{
	static const char *const what[3] = {"events", "streams", "snapshots"};
	char old[PATH_MAX];
	MDB_txn *txn;
	MDB_stat st;
	uint64_t got[3], want[3];
	int dbs[3] = {DB_EVENTS, DB_STREAMS, DB_SNAPSHOTS}, err;

	path_of(s, "data.mdb.format2", old, sizeof old);
	if (access(old, F_OK) != 0)
		return 0;
	if ((err = old_counts(old, want)) || (err = txn_begin(s, MDB_RDONLY, &txn)))
		return err;
	for (int i = 0; i < 3; i++)
		got[i] = mdb_stat(txn, s->dbi[dbs[i]], &st) == 0 ? st.ms_entries : UINT64_MAX;
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->map_lock);
	for (int i = 0; i < 3; i++)
		if (got[i] != want[i])
			return fail(EIO, "converting %s: %llu %s in the old store, %llu in the new; "
				    "the old file is kept as data.mdb.format2", s->dir,
				    (unsigned long long)want[i], what[i], (unsigned long long)got[i]);
	return unlink_in(s, "data.mdb.format2");
}

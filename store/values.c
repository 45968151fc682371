/* values.c — the values beside the log: snapshots (es_snapshot_put,
 * es_snapshot_delete) and checkpoints (es_checkpoint_reserve, _put,
 * _delete). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct snapshot_arg {
	const char *name;
	size_t len;
	uint64_t version;
	const char *data;
	size_t data_len;
};

/* A snapshot's record: header, then its line. malloc'd; *len its size. */
char *snapshot_record(const char *name, size_t len, uint64_t version,
		      int64_t created, const char *data, size_t data_len,
		      size_t *rec_len)
{
	char *rec = malloc(SNAPSHOT_HDR + 2 * len + data_len + 120);

	if (!rec)
		return NULL;
	put64(rec, version);
	put64(rec + 8, (uint64_t)created);
	*rec_len = SNAPSHOT_HDR + snapshot_line(rec + SNAPSHOT_HDR, name, len, version, created,
						data, data_len);
	return rec;
}

static int do_snapshot_put(es_store *s, MDB_txn *txn, void *p)
{
	struct snapshot_arg *a = p;
	es_stream st;
	int64_t now = now_us();
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	if (a->version < 1 || a->version > st.version)
		return fail(EINVAL, "snapshot version %llu is outside 1 … %llu, the versions of stream %.*s",
			    (unsigned long long)a->version, (unsigned long long)st.version,
			    (int)a->len, a->name);
	size_t n;
	char *rec = snapshot_record(a->name, a->len, a->version, now, a->data,
				    a->data_len, &n);
	if (!rec)
		return fail(ENOMEM, "out of memory");
	err = op_put(s, txn, OP_SNAPSHOT, &st.id, 1, rec, n);
	free(rec);
	return err;
}

int local_snapshot_put(es_store *s, const char *name, size_t len,
		    uint64_t version, const char *data, size_t data_len)
{
	struct snapshot_arg a = {name, len, version, NULL, 0};
	char why[256], *compact;
	int err = es_json_check(data, data_len, 0, why, sizeof why, &compact,
				&a.data_len, NULL);

	if (err)
		return fail(err, "snapshot data: %s", why);
	a.data = compact;
	if (a.data_len > s->max_event)
		err = fail(EFBIG, "snapshot data is %zu bytes, over the limit of %zu",
			   a.data_len, s->max_event);
	else
		err = write_txn(s, do_snapshot_put, &a);
	free(compact);
	return err;
}

static int do_snapshot_delete(es_store *s, MDB_txn *txn, void *p)
{
	struct name_arg *a = p;
	es_stream st;
	int err = find_stream(s, txn, a->name, a->len, &st);

	if (err)
		return err;
	MDB_val k = val(&st.id, 8), v;
	int rc = mdb_get(txn, s->dbi[DB_SNAPSHOTS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "stream %.*s has no snapshot", (int)a->len, a->name);
	if (rc)
		return lmdb_fail(rc, "reading a snapshot");
	return op_put(s, txn, OP_SNAPSHOT_DELETE, &st.id, 1, NULL, 0);
}

int local_snapshot_delete(es_store *s, const char *name, size_t len)
{
	struct name_arg a = {name, len};

	return write_txn(s, do_snapshot_delete, &a);
}

/* ---- Checkpoints. ---------------------------------------------------- */

int put_checkpoint(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
		   int64_t updated)
{
	char rec[CHECKPOINT_HDR + 255];

	put64(rec, a->position);
	put64(rec + 8, (uint64_t)updated);
	put64(rec + 16, (uint64_t)a->has_position);
	memcpy(rec + CHECKPOINT_HDR, a->name, a->len);
	return put_raw(txn, s->dbi[DB_CHECKPOINTS], &a->id, 8, rec,
		       CHECKPOINT_HDR + a->len, 0);
}

/* Writes checkpoint a (its id given by checkpoint_id) as of updated. */
int store_checkpoint(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
		     int64_t updated)
{
	uint64_t f[4] = {a->id, a->position, (uint64_t)updated, (uint64_t)a->has_position};

	return op_put(s, txn, OP_CHECKPOINT, f, 4, a->name, a->len);
}

/* Finds the id of checkpoint a->name, or picks the next one (which
 * store_checkpoint then gives it). */
int checkpoint_id(es_store *s, MDB_txn *txn, struct checkpoint_arg *a,
		  int *created)
{
	int err, rc = get_u64(txn, s->dbi[DB_CHECKPOINT_NAMES], a->name, a->len, &a->id);

	*created = 0;
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((err = meta_get(s, txn, "next_checkpoint", &a->id)))
		return err;
	a->id = a->id ? a->id : 1;
	if (a->id > ES_ID_MAX)
		return fail(ENOSPC, "no checkpoint ids left");
	*created = 1;
	return 0;
}

static int do_checkpoint_reserve(es_store *s, MDB_txn *txn, void *p)
{
	struct checkpoint_arg *a = p;
	int created, err = checkpoint_id(s, txn, a, &created);

	if (err || !created)
		return err;
	a->has_position = 0;
	a->position = 0;
	return store_checkpoint(s, txn, a, now_us());
}

int local_checkpoint_reserve(es_store *s, const char *name, size_t len, uint64_t *id)
{
	struct checkpoint_arg a = {name, len, 0, 0, 0};
	int err = es_name_check(name, len, why_buf, sizeof why_buf);

	if (!err)
		err = write_txn(s, do_checkpoint_reserve, &a);
	if (!err)
		*id = a.id;
	return err;
}

static int do_checkpoint_put(es_store *s, MDB_txn *txn, void *p)
{
	struct checkpoint_arg *a = p;
	uint64_t head;
	int64_t t;
	int created, err = last_event(s, txn, &head, &t);

	if (err)
		return err;
	if (a->position > head)
		return fail(EINVAL, "checkpoint position %llu is beyond the last global position, %llu",
			    (unsigned long long)a->position, (unsigned long long)head);
	if ((err = checkpoint_id(s, txn, a, &created)))
		return err;
	a->has_position = 1;
	return store_checkpoint(s, txn, a, now_us());
}

int local_checkpoint_put(es_store *s, const char *name, size_t len, uint64_t position)
{
	struct checkpoint_arg a = {name, len, position, 1, 0};
	int err = es_name_check(name, len, why_buf, sizeof why_buf);

	return err ? err : write_txn(s, do_checkpoint_put, &a);
}

static int do_checkpoint_delete(es_store *s, MDB_txn *txn, void *p)
{
	struct checkpoint_arg *a = p;
	MDB_val k, v;
	int rc = get_u64(txn, s->dbi[DB_CHECKPOINT_NAMES], a->name, a->len, &a->id);

	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "no checkpoint %.*s", (int)a->len, a->name);
	if (rc)
		return rc;
	k = val(&a->id, 8);
	rc = mdb_get(txn, s->dbi[DB_CHECKPOINTS], &k, &v);
	if (rc)
		return lmdb_fail(rc, "reading a checkpoint");
	if (get64((char *)v.mv_data + 16) == 0)
		return fail(ENOENT, "no checkpoint %.*s", (int)a->len, a->name);
	/* Keep the name's id, so that its inode stays the same. */
	a->has_position = 0;
	a->position = 0;
	return store_checkpoint(s, txn, a, now_us());
}

int local_checkpoint_delete(es_store *s, const char *name, size_t len)
{
	struct checkpoint_arg a = {name, len, 0, 0, 0};

	if (len == 0 || len > 255)
		return fail(ENOENT, "no checkpoint of that name");
	return write_txn(s, do_checkpoint_delete, &a);
}

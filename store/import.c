/* import.c — es_import_batch: putting a copy back, its lines checked to be
 * exactly what esfs writes. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

static int import_event(es_store *s, MDB_txn *txn, const es_import *it)
{
	struct envelope_fields f;
	uint64_t head, have;
	int64_t last;
	es_stream st;
	char uuid[37];
	int err = read_envelope(it->json, it->json_len, &f);

	if (!err)
		err = last_event(s, txn, &head, &last);
	if (err)
		goto out;
	if (f.position != head + 1)
		err = fail(EINVAL, "event at global position %llu where %llu comes next",
			   (unsigned long long)f.position, (unsigned long long)head + 1);
	else if (f.created < last)
		err = fail(EINVAL, "event %llu: created_at is before the previous event's",
			   (unsigned long long)f.position);
	else if (f.len > s->max_event)
		err = fail(EFBIG, "event %llu is %zu bytes, over the limit of %zu",
			   (unsigned long long)f.position, f.len, s->max_event);
	else if (get_u64(txn, s->dbi[DB_EVENT_IDS], f.id, 16, &have) == 0) {
		uuid_unparse_lower(f.id, uuid);
		err = fail(EEXIST, "event %llu: event id %s is stored already at position %llu",
			   (unsigned long long)f.position, uuid, (unsigned long long)have);
	}
	if (err)
		goto out;
	err = find_stream(s, txn, f.name, f.name_len, &st);
	if (err == ENOENT && f.version == 1)
		err = create_stream(s, txn, f.name, f.name_len, f.created, &st);
	else if (err == ENOENT)
		err = fail(EINVAL, "event %llu is version %llu of stream %s, which does not exist",
			   (unsigned long long)f.position, (unsigned long long)f.version, f.name);
	if (!err && f.version != st.version + 1)
		err = fail(EINVAL, "event %llu is version %llu of stream %s, which is at version %llu",
			   (unsigned long long)f.position, (unsigned long long)f.version, f.name,
			   (unsigned long long)st.version);
	if (!err)
		err = append_events(s, txn, &st, head, f.created, &f.ev, 1);
out:
	envelope_free(&f);
	return err;
}

static int import_snapshot(es_store *s, MDB_txn *txn, const es_import *it)
{
	struct snapshot_fields f;
	es_stream st;
	char *rec = NULL;
	size_t rec_len = 0;
	int err = read_snapshot(it->json, it->json_len, &f);

	if (!err && !(err = find_stream(s, txn, f.name, f.name_len, &st))) {
		if (f.version > st.version)
			err = fail(EINVAL, "snapshot of %s at version %llu, past the stream's %llu",
				   f.name, (unsigned long long)f.version,
				   (unsigned long long)st.version);
		else if (!(rec = snapshot_record(f.name, f.name_len, f.version, f.created, f.data,
						 f.data_len, &rec_len)))
			err = fail(ENOMEM, "out of memory");
		else
			err = op_put(s, txn, OP_SNAPSHOT, &st.id, 1, rec, rec_len);
	}
	free(rec);
	snapshot_fields_free(&f);
	return err;
}

static int import_one(es_store *s, MDB_txn *txn, const es_import *it)
{
	char why[256];
	es_stream st;
	uint64_t head;
	int64_t last;
	int err, created;

	switch (it->kind) {
	case ES_IMPORT_STREAM:
		if (es_name_check(it->name, it->name_len, why, sizeof why))
			return fail(EINVAL, "stream name: %s", why);
		return create_stream(s, txn, it->name, it->name_len, it->time_us, &st);
	case ES_IMPORT_EVENT:
		return import_event(s, txn, it);
	case ES_IMPORT_SNAPSHOT:
		return import_snapshot(s, txn, it);
	case ES_IMPORT_CHECKPOINT: {
		struct checkpoint_arg a = {it->name, it->name_len, it->position, 1, 0};
		if (es_name_check(it->name, it->name_len, why, sizeof why))
			return fail(EINVAL, "checkpoint name: %s", why);
		if ((err = last_event(s, txn, &head, &last)))
			return err;
		if (it->position > head)
			return fail(EINVAL, "checkpoint %.*s at %llu, past the last position %llu",
				    (int)it->name_len, it->name,
				    (unsigned long long)it->position, (unsigned long long)head);
		if ((err = checkpoint_id(s, txn, &a, &created)))
			return err;
		return store_checkpoint(s, txn, &a, it->time_us);
	}
	default:
		return fail(EINVAL, "unknown import kind %d", it->kind);
	}
}

struct import_arg {
	const es_import *items;
	size_t n;
};

static int do_import(es_store *s, MDB_txn *txn, void *p)
{
	struct import_arg *a = p;

	for (size_t i = 0; i < a->n; i++) {
		int err = import_one(s, txn, &a->items[i]);
		if (err) {
			char why[sizeof why_buf];
			memcpy(why, why_buf, sizeof why);
			return fail(err, "item %zu: %s", i + 1, why);
		}
	}
	return 0;
}

int local_import_batch(es_store *s, const es_import *items, size_t n)
{
	struct import_arg a = {items, n};

	return n ? write_txn(s, do_import, &a) : 0;
}

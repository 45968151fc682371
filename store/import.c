/* import.c — es_import_batch: putting a copy back, its lines checked to be
 * exactly what esfs writes. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

/* Parses line (one JSON object and '\n', n bytes) into *o, and checks that
 * it is compact, as esfs writes it, so that its members can be walked. */
static int parse_line(const char *line, size_t n, const char *what, json_t **o)
{
	char why[256], *compact = NULL;
	size_t clen = 0;
	int err;

	if (n < 3 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
		return fail(EINVAL, "%s is one line of JSON ending in a newline", what);
	if ((err = es_json_check(line, n - 1, 0, why, sizeof why, &compact, &clen, o)))
		return fail(err, "%s that is not a JSON object: %s", what, why);
	free(compact);
	if (clen != n - 1) {
		json_decref(*o);
		*o = NULL;
		return fail(EINVAL, "%s is not compact JSON, as esfs writes it", what);
	}
	return 0;
}

/* The raw text of member key of a compact object line. */
static int member_text(const char *line, size_t n, const char *key,
		       const char **text, size_t *len)
{
	size_t at = 0, klen = strlen(key);
	es_json_member m;

	while (es_json_next_member(line, n, &at, &m))
		if (m.key_len == klen + 2 && memcmp(m.key + 1, key, klen) == 0) {
			*text = m.value;
			*len = m.value_len;
			return 0;
		}
	return fail(EINVAL, "no %s", key);
}

/* A decimal member of a compact object line, min … ES_ID_MAX, from its
 * text (jansson reads numbers as doubles here). */
static int member_u64(const char *line, size_t n, const char *key, uint64_t min,
		      uint64_t *out)
{
	const char *text;
	size_t len;
	uint64_t v = 0;

	if (member_text(line, n, key, &text, &len) != 0 || len == 0 || len > 17)
		return fail(EINVAL, "%s is not a number from %llu", key, (unsigned long long)min);
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return fail(EINVAL, "%s is not a number from %llu", key,
				    (unsigned long long)min);
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	if (v < min || v > ES_ID_MAX)
		return fail(EINVAL, "%s is outside %llu … %llu", key, (unsigned long long)min,
			    (unsigned long long)ES_ID_MAX);
	*out = v;
	return 0;
}

static int member_name(json_t *o, const char *key, const char **name, size_t *len)
{
	json_t *v = json_object_get(o, key);
	char why[256];

	if (!json_is_string(v))
		return fail(EINVAL, "%s is not a string", key);
	*name = json_string_value(v);
	*len = json_string_length(v);
	if (es_name_check(*name, *len, why, sizeof why))
		return fail(EINVAL, "%s: %s", key, why);
	return 0;
}

void envelope_free(struct envelope_fields *f)
{
	json_decref(f->o);
	free(f->rec);
	memset(f, 0, sizeof *f);
}

int read_envelope(const char *line, size_t n, struct envelope_fields *f)
{
	struct prepared *ev = &f->ev;
	const char *id;
	char qstream[2 * 255 + 2];
	uint64_t schema;
	size_t qlen;
	int err;

	memset(f, 0, sizeof *f);
	if ((err = parse_line(line, n, "an event", &f->o)))
		return err;
	id = json_string_value(json_object_get(f->o, "event_id"));
	if (!id || strlen(id) != 36 || uuid_parse(id, f->id) != 0)
		return fail(EINVAL, "event_id is not a UUID");
	if ((err = member_u64(line, n - 1, "global_position", 1, &f->position)) ||
	    (err = member_u64(line, n - 1, "version", 1, &f->version)) ||
	    (err = member_u64(line, n - 1, "schema_version", 1, &schema)) ||
	    (err = member_name(f->o, "stream_id", &f->name, &f->name_len)) ||
	    (err = member_name(f->o, "event_type", &f->type, &f->type_len)) ||
	    (err = es_time_parse(json_string_value(json_object_get(f->o, "created_at")),
			      &f->created)) ||
	    (err = member_text(line, n - 1, "data", (const char **)&ev->data, &ev->data_len)) ||
	    (err = member_text(line, n - 1, "metadata", (const char **)&ev->meta, &ev->meta_len)))
		return err;
	if (schema > UINT32_MAX)
		return fail(EINVAL, "schema_version is out of range");
	if (!json_is_object(json_object_get(f->o, "data")) ||
	    !json_is_object(json_object_get(f->o, "metadata")))
		return fail(EINVAL, "data and metadata must be JSON objects");
	memcpy(ev->id, f->id, 16);
	ev->given_id = 1;
	ev->type = f->type;
	ev->type_len = f->type_len;
	ev->schema_version = (uint32_t)schema;
	qlen = es_json_quote(f->name, f->name_len, qstream);
	f->rec = malloc(ENVELOPE_FIXED + qlen + 2 * f->type_len + ev->data_len + ev->meta_len);
	if (!f->rec)
		return fail(ENOMEM, "out of memory");
	f->len = envelope(f->rec, ev, qstream, qlen, f->version, f->position, f->created);
	if (f->len != n || memcmp(f->rec, line, n) != 0)
		return fail(EINVAL, "event %llu is not exactly as esfs writes it (keys, order, spacing or escapes differ)",
			    (unsigned long long)f->position);
	return 0;
}

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
	const char *line = it->json, *name, *data;
	size_t n = it->json_len, name_len, data_len, rec_len = 0;
	json_t *o = NULL;
	uint64_t version;
	int64_t created;
	es_stream st;
	char *rec = NULL;
	int err;

	if ((err = parse_line(line, n, "a snapshot", &o)))
		return err;
	if (!(err = member_name(o, "stream_id", &name, &name_len)) &&
	    !(err = member_u64(line, n - 1, "version", 1, &version)) &&
	    !(err = es_time_parse(json_string_value(json_object_get(o, "created_at")), &created)) &&
	    !(err = member_text(line, n - 1, "data", &data, &data_len)) &&
	    !(err = find_stream(s, txn, name, name_len, &st))) {
		if (!json_is_object(json_object_get(o, "data")))
			err = fail(EINVAL, "the snapshot of %s: data must be a JSON object", name);
		else if (version > st.version)
			err = fail(EINVAL, "snapshot of %s at version %llu, past the stream's %llu",
				   name, (unsigned long long)version, (unsigned long long)st.version);
		else if (!(rec = snapshot_record(name, name_len, version, created, data,
						 data_len, &rec_len)))
			err = fail(ENOMEM, "out of memory");
		else if (rec_len - SNAPSHOT_HDR != n || memcmp(rec + SNAPSHOT_HDR, line, n) != 0)
			err = fail(EINVAL, "the snapshot of %s is not exactly as esfs writes it", name);
		else
			err = op_put(s, txn, OP_SNAPSHOT, &st.id, 1, rec, rec_len);
	}
	free(rec);
	json_decref(o);
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

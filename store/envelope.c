/* envelope.c — the lines esfs writes, shared by both backends: an event's
 * envelope and a snapshot's line, built from their fields, and read back
 * from text with the check that the text is exactly what esfs writes for
 * those fields (es_import_batch's and es_verify's rule; see common.h). */
#include "common.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

size_t envelope(char *b, const struct prepared *ev,
		const char *qstream, size_t qstream_len, uint64_t version,
		uint64_t pos, int64_t created)
{
	char uuid[37], when[32];
	size_t n = 0;

	uuid_unparse_lower(ev->id, uuid);
	es_time_format(created, when);
#define LIT(s) (memcpy(b + n, s, sizeof s - 1), n += sizeof s - 1)
#define BYTES(p, len) (memcpy(b + n, p, len), n += len)
	LIT("{\"event_id\":\"");
	BYTES(uuid, 36);
	LIT("\",\"stream_id\":");
	BYTES(qstream, qstream_len);
	LIT(",\"event_type\":");
	n += es_json_quote(ev->type, ev->type_len, b + n);
	n += (size_t)sprintf(b + n, ",\"version\":%llu,\"schema_version\":%u,\"data\":",
			     (unsigned long long)version, ev->schema_version);
	BYTES(ev->data, ev->data_len);
	LIT(",\"metadata\":");
	BYTES(ev->meta, ev->meta_len);
	n += (size_t)sprintf(b + n, ",\"global_position\":%llu,\"created_at\":\"",
			     (unsigned long long)pos);
	BYTES(when, 27);
	LIT("\"}\n");
#undef LIT
#undef BYTES
	return n;
}

size_t snapshot_line(char *b, const char *name, size_t len, uint64_t version,
		     int64_t created, const char *data, size_t data_len)
{
	char when[32];
	size_t n;

	es_time_format(created, when);
	n = (size_t)sprintf(b, "{\"stream_id\":");
	n += es_json_quote(name, len, b + n);
	n += (size_t)sprintf(b + n, ",\"version\":%llu,\"created_at\":\"%s\",\"data\":",
			     (unsigned long long)version, when);
	memcpy(b + n, data, data_len);
	n += data_len;
	memcpy(b + n, "}\n", 2);
	return n + 2;
}

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

void snapshot_fields_free(struct snapshot_fields *f)
{
	json_decref(f->o);
	memset(f, 0, sizeof *f);
}

int read_snapshot(const char *line, size_t n, struct snapshot_fields *f)
{
	char *rec;
	size_t len;
	int err;

	memset(f, 0, sizeof *f);
	if ((err = parse_line(line, n, "a snapshot", &f->o)) ||
	    (err = member_name(f->o, "stream_id", &f->name, &f->name_len)) ||
	    (err = member_u64(line, n - 1, "version", 1, &f->version)) ||
	    (err = es_time_parse(json_string_value(json_object_get(f->o, "created_at")),
				 &f->created)) ||
	    (err = member_text(line, n - 1, "data", &f->data, &f->data_len)))
		return err;
	if (!json_is_object(json_object_get(f->o, "data")))
		return fail(EINVAL, "the snapshot of %s: data must be a JSON object", f->name);
	if (!(rec = malloc(2 * f->name_len + f->data_len + 120)))
		return fail(ENOMEM, "out of memory");
	len = snapshot_line(rec, f->name, f->name_len, f->version, f->created, f->data,
			    f->data_len);
	err = len != n || memcmp(rec, line, n) != 0;
	free(rec);
	return err ? fail(EINVAL, "the snapshot of %s is not exactly as esfs writes it", f->name) : 0;
}

int snapshot_line_ok(const char *line, size_t n, const char *name, size_t len,
		     uint64_t version, int64_t created)
{
	char why[256], *rec, *compact = NULL;
	size_t head, clen = 0;
	int ok;

	if (!(rec = malloc(2 * len + 120)))
		return fail(ENOMEM, "out of memory");
	/* The line is the text up to "data":, then the data and "}\n". */
	head = snapshot_line(rec, name, len, version, created, "", 0) - 2;
	ok = n >= head + 4 && memcmp(line, rec, head) == 0 &&
	     memcmp(line + n - 2, "}\n", 2) == 0 &&
	     es_json_check(line + head, n - head - 2, 0, why, sizeof why, &compact, &clen,
			   NULL) == 0 && clen == n - head - 2;
	free(compact);
	free(rec);
	return ok ? 0 : EINVAL;
}

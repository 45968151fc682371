/* common.h — inside the store (not part of its API): what every backend
 * shares, with no LMDB and no PostgreSQL in it: the reason of the last
 * failure, an event to append once validated (event.c), the lines esfs
 * writes, built and read back (envelope.c), and the clock. */
#ifndef ES_COMMON_H
#define ES_COMMON_H

#include "store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The reason of the last failure, es_why's (errors.c). */
extern _Thread_local char why_buf[512];

/* Sets es_why's reason from fmt; returns err. */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where es_verify's problems go, and how many went there. */
struct problems {
	es_problem_fn fn;
	void *arg;
	uint64_t count;
};

/* Reports one problem, a line made from fmt (errors.c). */
void problem(struct problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One event to append, validated and compacted before the transaction. */
struct prepared {
	const char *type;
	size_t type_len;
	unsigned char id[16];
	int given_id;
	uint32_t schema_version;
	char *data, *meta;	/* malloc'd, the caller frees them */
	size_t data_len, meta_len;
};

/* Fixed bytes of an envelope, its numbers at their widest included. */
#define ENVELOPE_FIXED 256

/* Validates the n events in and fills ev (n, zeroed by the caller): EINVAL
 * with the reason for a bad type, data or metadata, or an id given twice;
 * an event without an id gets a new one. */
int prepare_events(const es_event_in *in, size_t n, struct prepared *ev);

/* The category of a stream: the length of its name's part before the
 * first '-'; 0 when there is none. */
size_t category_len(const char *name, size_t len);

/* ---- envelope.c: the lines esfs writes. ---------------------------- */

/* Writes the envelope of ev into b; returns its length, at most
 * ENVELOPE_FIXED + the quoted stream + 2 * type + data + metadata. */
size_t envelope(char *b, const struct prepared *ev,
		const char *qstream, size_t qstream_len, uint64_t version,
		uint64_t pos, int64_t created);

/* An envelope line read back: its fields, checked to be exactly the line
 * esfs writes for them. */
struct envelope_fields {
	json_t *o;		/* owns name and type */
	unsigned char id[16];
	const char *name, *type;
	size_t name_len, type_len;
	uint64_t version, position;
	int64_t created;
	struct prepared ev;	/* its parts, to append it again */
	char *rec;		/* the line as esfs writes it: malloc'd */
	size_t len;
};

/* Reads an event line (n bytes, '\n' included) into *f: 0, or EINVAL
 * (ENOMEM) with the reason. envelope_free frees *f either way. */
int read_envelope(const char *line, size_t n, struct envelope_fields *f);
void envelope_free(struct envelope_fields *f);

/* Writes the line of a snapshot into b, which needs room for 2 * len +
 * data_len + 120 bytes; returns its length. */
size_t snapshot_line(char *b, const char *name, size_t len, uint64_t version,
		     int64_t created, const char *data, size_t data_len);

/* A snapshot line read back, checked to be exactly as esfs writes it. */
struct snapshot_fields {
	json_t *o;		/* owns name */
	const char *name, *data;	/* data points into the line */
	size_t name_len, data_len;
	uint64_t version;
	int64_t created;
};

/* Reads a snapshot line (n bytes, '\n' included) into *f: 0, or EINVAL
 * (ENOMEM) with the reason. snapshot_fields_free frees *f either way. */
int read_snapshot(const char *line, size_t n, struct snapshot_fields *f);
void snapshot_fields_free(struct snapshot_fields *f);

/* Whether line (n bytes) is the line esfs writes for a snapshot of stream
 * name at version, made at created, with compact JSON object data: 0, or
 * EINVAL (ENOMEM with the reason). */
int snapshot_line_ok(const char *line, size_t n, const char *name, size_t len,
		     uint64_t version, int64_t created);

/* Now, in microseconds since the epoch. */
int64_t now_us(void);

#endif

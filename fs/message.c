/* message.c — receiving and parsing messages (see message.h).
 *
 * Receiving is one pass over each byte: header lines are checked as each
 * ends, the empty line starts the body, and the body ends where its JSON
 * object or array closes (es_json_frame). Parsing then validates the
 * body with jansson and slices the original text, so that data and
 * metadata are stored as written, less insignificant whitespace.
 */
#include "message.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uuid/uuid.h>

static int bad(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return EINVAL;
}

/* ---- Receiving. ------------------------------------------------------ */

void msg_reset(msg_reader *m)
{
	m->len = 0;
	m->line_start = 0;
	m->body = 0;
	memset(&m->frame, 0, sizeof m->frame);
	m->skip = 0;
	m->skip_line = 0;
	m->line_len = 0;
}

int msg_pending(const msg_reader *m)
{
	return m->len > 0 && !m->skip;
}

void msg_free(msg_reader *m)
{
	free(m->buf);
	m->buf = NULL;
	m->cap = 0;
	msg_reset(m);
}

static int is_token(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/* Checks the shape of one header line, [start, end) without its LF. */
static int check_line(const char *p, size_t n, char *why, size_t size)
{
	size_t i = 0;

	if (n > 0 && p[n - 1] == '\r')
		n--;
	while (i < n && is_token((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ':')
		return bad(why, size, "a header line must be 'Name: value', not '%.*s'",
			   (int)(n > 40 ? 40 : n), p);
	for (size_t j = i; j < n; j++)
		if (p[j] == '\0')
			return bad(why, size, "a NUL byte in a header line");
	return 0;
}

/* After a body that closed before p[i], only spaces and tabs may follow
 * on its line, then the line end (LF or CRLF) or the end of the data.
 * Sets *past to the index past them and returns 0; or, when anything else
 * follows, sets *past to where it starts and returns EINVAL. */
static int after_body(const char *p, size_t n, size_t i, size_t *past)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n && p[i] == '\r' && (i + 1 == n || p[i + 1] == '\n'))
		i++;	/* a CR that ends the data, or of a CRLF */
	if (i < n && p[i] == '\n')
		i++;
	else if (i < n) {
		*past = i;
		return EINVAL;
	}
	*past = i;
	return 0;
}

/* The length of the text at p up to its line end, at most max. */
static size_t line_part(const char *p, size_t n, size_t max)
{
	size_t i = 0;

	while (i < n && i < max && p[i] != '\n' && p[i] != '\r')
		i++;
	return i;
}

/* Turns to skipping the rest of the message; line_len says whether a
 * header line is under way. */
static int start_skip(msg_reader *m, int err, size_t line_len, int skip_line)
{
	m->skip = 1;
	m->line_len = line_len;
	m->skip_line = skip_line;
	return err;
}

/* Frames the rest of a failed message as msg_feed would, keeping nothing. */
static int skip_feed(msg_reader *m, const char *p, size_t n, size_t *used)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (m->body == 0) {
			if (c == '\n') {
				if (m->line_len == 0)
					m->body = 1;	/* the empty line */
				m->line_len = 0;
			} else if (c != '\r') {
				m->line_len++;
			}
			continue;
		}
		long end = m->skip_line ? 0 : es_json_frame_feed(&m->frame, p + i, 1);
		if (end < 0)
			m->skip_line = 1;
		if (m->skip_line && c == '\n') {
			*used = i + 1;
			msg_reset(m);
			return MSG_SKIPPED;
		}
		if (end > 0) {
			size_t past;
			if (after_body(p, n, i + 1, &past)) {
				m->skip_line = 1;	/* and text after it, to its line's end */
				i = past - 1;
				continue;
			}
			*used = past;
			msg_reset(m);
			return MSG_SKIPPED;
		}
	}
	*used = n;
	return MSG_MORE;
}

int msg_feed(msg_reader *m, const char *p, size_t n, size_t *used,
	     char *why, size_t why_size)
{
	size_t i = 0;

	if (m->skip)
		return skip_feed(m, p, n, used);
	/* Blank space before a message belongs to no message. */
	if (m->len == 0)
		while (i < n && (p[i] == '\n' || p[i] == '\r' || p[i] == ' ' || p[i] == '\t'))
			i++;
	while (i < n) {
		size_t take = n - i;
		long end = 0;

		if (m->body == 0) {
			/* Headers: take up to and including the next LF. */
			const char *lf = memchr(p + i, '\n', take);
			if (lf)
				take = (size_t)(lf - (p + i)) + 1;
		} else {
			end = es_json_frame_feed(&m->frame, p + i, take);
			if (end < 0) {
				*used = i;
				return start_skip(m, bad(why, why_size,
					"the body must be one JSON object, or an array for a batch"), 0, 1);
			}
			if (end > 0)
				take = (size_t)end;
		}
		if (m->len + take > m->limit) {
			snprintf(why, why_size, "the message is over %zu bytes", m->limit);
			if (end > 0 && !after_body(p, n, i + take, used)) {
				msg_reset(m);	/* it ended: nothing to skip */
				return EFBIG;
			}
			if (end > 0) {		/* ... but for text after it */
				return start_skip(m, EFBIG, 0, 1);
			}
			*used = i + take;
			return start_skip(m, EFBIG, m->body == 0 && p[i + take - 1] != '\n', 0);
		}
		if (m->len + take > m->cap) {
			size_t cap = m->cap ? m->cap : 4096;
			while (cap < m->len + take)
				cap *= 2;
			char *b = realloc(m->buf, cap);
			if (!b) {
				*used = i;
				snprintf(why, why_size, "out of memory");
				return ENOMEM;
			}
			m->buf = b;
			m->cap = cap;
		}
		memcpy(m->buf + m->len, p + i, take);
		m->len += take;
		i += take;

		if (m->body == 0) {
			size_t ll = m->len - m->line_start;
			if (m->buf[m->len - 1] != '\n') {
				if (ll > MSG_MAX_HEADERS) {
					*used = i;
					return start_skip(m, bad(why, why_size, "a header line over %d bytes",
								 MSG_MAX_HEADERS), ll, 0);
				}
				continue;
			}
			const char *line = m->buf + m->line_start;
			if (ll == 1 || (ll == 2 && line[0] == '\r')) {
				m->body = m->len;	/* the empty line */
				continue;
			}
			int err = check_line(line, ll - 1, why, why_size);
			if (!err && m->len > MSG_MAX_HEADERS)
				err = bad(why, why_size, "headers over %d bytes", MSG_MAX_HEADERS);
			if (err) {
				*used = i;
				return start_skip(m, err, 0, 0);
			}
			m->line_start = m->len;
		} else if (end > 0) {
			/* The line end after the body belongs to it; any text
			 * but blanks before it spoils the whole message. */
			if (after_body(p, n, i, used))
				return start_skip(m, p[*used] == '\r' ?
					bad(why, why_size, "only spaces and tabs may follow the body on its line, "
					    "not a CR without an LF") :
					bad(why, why_size,
					    "only spaces and tabs may follow the body on its line, not '%.*s'",
					    (int)line_part(p + *used, n - *used, 40), p + *used), 0, 1);
			if (m->frame.too_deep) {
				msg_reset(m);
				return bad(why, why_size, "the body is nested deeper than %d",
					   ES_JSON_MAX_DEPTH);
			}
			return MSG_DONE;
		}
	}
	*used = i;
	return MSG_MORE;
}

/* ---- Headers. -------------------------------------------------------- */

enum {
	H_EXPECTED_VERSION, H_EVENT_TYPE, H_EVENT_ID, H_SCHEMA_VERSION,
	H_METADATA, H_CORRELATION_ID, H_CAUSATION_ID, H_VERSION, H_COUNT
};

static const char *const header_names[H_COUNT] = {
	"Expected-Version", "Event-Type", "Event-Id", "Schema-Version",
	"Metadata", "Correlation-Id", "Causation-Id", "Version",
};

struct headers {
	const char *v[H_COUNT];
	size_t len[H_COUNT];
};

/* Splits the header block into known headers; allowed is a bit set of
 * the headers this kind of message takes. */
static int split_headers(const msg_reader *m, unsigned allowed,
			 struct headers *h, char *why, size_t size)
{
	size_t i = 0;

	memset(h, 0, sizeof *h);
	while (i < m->body) {
		const char *line = m->buf + i;
		const char *lf = memchr(line, '\n', m->body - i);
		size_t n = (size_t)(lf - line);
		i += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		const char *colon = memchr(line, ':', n);
		size_t name_len = (size_t)(colon - line);
		const char *v = colon + 1;
		size_t vl = n - name_len - 1;
		while (vl > 0 && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		int k = 0;
		while (k < H_COUNT && (strlen(header_names[k]) != name_len ||
				       strncasecmp(header_names[k], line, name_len) != 0))
			k++;
		if (k == H_COUNT || !(allowed & (1u << k)))
			return bad(why, size, "unknown header '%.*s'", (int)(name_len > 64 ? 64 : name_len), line);
		if (h->v[k])
			return bad(why, size, "header %s given twice", header_names[k]);
		if (vl == 0)
			return bad(why, size, "header %s is empty", header_names[k]);
		h->v[k] = v;
		h->len[k] = vl;
	}
	return 0;
}

/* A decimal number of at most 19 digits, no sign, no more than max. */
static int parse_number(const char *p, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int header_number(const struct headers *h, int k, uint64_t min,
			 uint64_t max, uint64_t *out, char *why, size_t size)
{
	if (parse_number(h->v[k], h->len[k], max, out) || *out < min)
		return bad(why, size, "%s must be a number from %llu to %llu, not '%.*s'",
			   header_names[k], (unsigned long long)min,
			   (unsigned long long)max, (int)(h->len[k] > 40 ? 40 : h->len[k]),
			   h->v[k]);
	return 0;
}

static int parse_uuid(const char *p, size_t n, unsigned char *out)
{
	char s[37];

	if (n != 36)
		return -1;
	memcpy(s, p, 36);
	s[36] = '\0';
	return uuid_parse(s, out);
}

/* ---- Metadata. ------------------------------------------------------- *
 * An event's metadata is the Metadata header's object, overridden key by
 * key by a batch item's own metadata, then by Correlation-Id and
 * Causation-Id. Members keep their original text and order. */

struct member {
	const char *key;	/* decoded, for matching */
	size_t key_len;
	const char *raw_key;	/* as written, quotes included */
	size_t raw_key_len;
	const char *value;
	size_t value_len;
	char *owned;		/* for values made here */
};

struct members {
	struct member *m;
	size_t n, cap;
};

static int set_member(struct members *ms, const struct member *add)
{
	for (size_t i = 0; i < ms->n; i++)
		if (ms->m[i].key_len == add->key_len &&
		    memcmp(ms->m[i].key, add->key, add->key_len) == 0) {
			ms->m[i].value = add->value;
			ms->m[i].value_len = add->value_len;
			return 0;
		}
	if (ms->n == ms->cap) {
		size_t cap = ms->cap ? ms->cap * 2 : 8;
		struct member *m = realloc(ms->m, cap * sizeof *m);
		if (!m)
			return ENOMEM;
		ms->m = m;
		ms->cap = cap;
	}
	ms->m[ms->n++] = *add;
	return 0;
}

/* Adds the members of compact object text obj, whose parsed form is o. */
static int add_object(struct members *ms, const char *obj, size_t n, json_t *o)
{
	size_t pos = 0;
	es_json_member jm;
	void *it = json_object_iter(o);

	while (es_json_next_member(obj, n, &pos, &jm) && it) {
		const char *key = json_object_iter_key(it);
		struct member m = {key, strlen(key), jm.key, jm.key_len,
				   jm.value, jm.value_len, NULL};
		if (set_member(ms, &m))
			return ENOMEM;
		it = json_object_iter_next(o, it);
	}
	return 0;
}

/* Builds the metadata text of one event into *out (malloc'd), or leaves
 * it NULL when there is none. */
static int build_metadata(const char *base, size_t base_len, json_t *base_o,
			  const char *item, size_t item_len, json_t *item_o,
			  const char *corr, const char *caus, char **out,
			  size_t *out_len)
{
	struct members ms = {0};
	int err = 0;

	*out = NULL;
	*out_len = 0;
	if (!base && !corr && !caus) {
		return 0;	/* the item's own text, untouched */
	}
	if (base)
		err = add_object(&ms, base, base_len, base_o);
	if (!err && item)
		err = add_object(&ms, item, item_len, item_o);
	if (!err && corr) {
		struct member m = {"correlation_id", 14, "\"correlation_id\"", 16,
				   corr, strlen(corr), NULL};
		err = set_member(&ms, &m);
	}
	if (!err && caus) {
		struct member m = {"causation_id", 12, "\"causation_id\"", 14,
				   caus, strlen(caus), NULL};
		err = set_member(&ms, &m);
	}
	size_t len = 2;
	for (size_t i = 0; !err && i < ms.n; i++)
		len += ms.m[i].raw_key_len + 1 + ms.m[i].value_len + 1;
	char *b = err ? NULL : malloc(len + 1);
	if (!err && !b)
		err = ENOMEM;
	if (!err) {
		size_t o = 0;
		b[o++] = '{';
		for (size_t i = 0; i < ms.n; i++) {
			if (i)
				b[o++] = ',';
			memcpy(b + o, ms.m[i].raw_key, ms.m[i].raw_key_len);
			o += ms.m[i].raw_key_len;
			b[o++] = ':';
			memcpy(b + o, ms.m[i].value, ms.m[i].value_len);
			o += ms.m[i].value_len;
		}
		b[o++] = '}';
		b[o] = '\0';
		*out = b;
		*out_len = o;
	}
	free(ms.m);
	return err;
}

/* A header value as a JSON string literal (malloc'd), or NULL if the
 * value is not valid UTF-8. */
static char *quote_header(const char *v, size_t n)
{
	json_t *s = json_stringn(v, n);
	char *q;

	if (!s)
		return NULL;
	q = json_dumps(s, JSON_ENCODE_ANY);
	json_decref(s);
	return q;
}

/* ---- Append messages. ------------------------------------------------ */

/* Everything an append message owns, freed together. */
struct owned {
	char *body;		/* compact body */
	json_t *body_o;
	char *base;		/* compact Metadata header */
	json_t *base_o;
	char *corr, *caus;	/* quoted header values */
	unsigned char (*ids)[16];
	char **meta;		/* built metadata per event */
	size_t n;
};

void msg_append_free(msg_append *a)
{
	struct owned *o = a->owned;

	if (o) {
		for (size_t i = 0; o->meta && i < o->n; i++)
			free(o->meta[i]);
		free(o->meta);
		free(o->ids);
		free(o->body);
		json_decref(o->body_o);
		free(o->base);
		json_decref(o->base_o);
		free(o->corr);
		free(o->caus);
		free(o);
	}
	free(a->ev);
	memset(a, 0, sizeof *a);
}

/* Parses JSON text into o (for decoded keys and strings) and its compact
 * copy into *text; the members of o are in the order of the text. */
static int load_json(const char *p, size_t n, int want_array, const char *what,
		     char **text, size_t *text_len, json_t **o, char *why,
		     size_t size)
{
	char reason[200];
	int err = es_json_check(p, n, want_array, reason, sizeof reason, text,
				text_len, o);

	return err == EINVAL ? bad(why, size, "%s: %s", what, reason) : err;
}

/* Fills event i of a batch from item text and its parsed form. */
static int parse_item(msg_append *a, struct owned *o, size_t i, const char *text,
		      size_t len, json_t *item, uint32_t schema, char *why,
		      size_t size)
{
	es_event_in *ev = &a->ev[i];
	const char *meta = NULL;
	size_t meta_len = 0, pos = 0;
	json_t *meta_o = NULL;
	es_json_member jm;
	void *it = json_object_iter(item);

	if (!json_is_object(item))
		return bad(why, size, "batch item %zu is not a JSON object", i + 1);
	ev->schema_version = schema;
	while (es_json_next_member(text, len, &pos, &jm) && it) {
		const char *key = json_object_iter_key(it);
		json_t *v = json_object_iter_value(it);
		it = json_object_iter_next(item, it);
		if (strcmp(key, "event_type") == 0) {
			if (!json_is_string(v))
				return bad(why, size, "batch item %zu: event_type must be a string", i + 1);
			ev->type = json_string_value(v);
			ev->type_len = json_string_length(v);
		} else if (strcmp(key, "data") == 0) {
			if (!json_is_object(v))
				return bad(why, size, "batch item %zu: data must be a JSON object", i + 1);
			ev->data = jm.value;
			ev->data_len = jm.value_len;
		} else if (strcmp(key, "event_id") == 0) {
			if (!json_is_string(v) ||
			    parse_uuid(json_string_value(v), json_string_length(v), o->ids[i]))
				return bad(why, size, "batch item %zu: event_id must be a UUID", i + 1);
			ev->id = o->ids[i];
		} else if (strcmp(key, "metadata") == 0) {
			if (!json_is_object(v))
				return bad(why, size, "batch item %zu: metadata must be a JSON object", i + 1);
			meta = jm.value;
			meta_len = jm.value_len;
			meta_o = v;
		} else if (strcmp(key, "schema_version") == 0) {
			uint64_t sv;
			if (parse_number(jm.value, jm.value_len, UINT32_MAX, &sv) || sv == 0)
				return bad(why, size, "batch item %zu: schema_version must be a positive integer", i + 1);
			ev->schema_version = (uint32_t)sv;
		} else {
			return bad(why, size, "batch item %zu: unknown key \"%s\"", i + 1, key);
		}
	}
	if (!ev->type)
		return bad(why, size, "batch item %zu has no event_type", i + 1);
	if (!ev->data)
		return bad(why, size, "batch item %zu has no data", i + 1);
	size_t built_len;
	int err = build_metadata(o->base, o->base ? strlen(o->base) : 0, o->base_o,
				 meta, meta_len, meta_o, o->corr, o->caus,
				 &o->meta[i], &built_len);
	if (err)
		return err;
	if (o->meta[i]) {
		ev->metadata = o->meta[i];
		ev->metadata_len = built_len;
	} else if (meta) {
		ev->metadata = meta;
		ev->metadata_len = meta_len;
	}
	return 0;
}

int msg_parse_append(const msg_reader *m, msg_append *a, char *why, size_t size)
{
	const unsigned allowed = (1u << H_EXPECTED_VERSION) | (1u << H_EVENT_TYPE) |
				 (1u << H_EVENT_ID) | (1u << H_SCHEMA_VERSION) |
				 (1u << H_METADATA) | (1u << H_CORRELATION_ID) |
				 (1u << H_CAUSATION_ID);
	struct headers h;
	struct owned *o;
	uint64_t schema = 1, expected;
	size_t body_len, base_len = 0;
	int err;

	memset(a, 0, sizeof *a);
	if ((err = split_headers(m, allowed, &h, why, size)))
		return err;
	if (!h.v[H_EXPECTED_VERSION])
		return bad(why, size, "the Expected-Version header is missing");
	if (h.len[H_EXPECTED_VERSION] == 3 &&
	    strncasecmp(h.v[H_EXPECTED_VERSION], "any", 3) == 0)
		a->expected = ES_ANY;
	else if ((err = header_number(&h, H_EXPECTED_VERSION, 0, ES_ID_MAX, &expected, why, size)))
		return err;
	else
		a->expected = (int64_t)expected;
	if (h.v[H_SCHEMA_VERSION] &&
	    (err = header_number(&h, H_SCHEMA_VERSION, 1, UINT32_MAX, &schema, why, size)))
		return err;
	if (!h.v[H_EVENT_TYPE] && h.v[H_EVENT_ID])
		return bad(why, size, "Event-Id is for one event; a batch gives each item its event_id");

	a->owned = o = calloc(1, sizeof *o);
	if (!o)
		return ENOMEM;
	if (h.v[H_METADATA] &&
	    (err = load_json(h.v[H_METADATA], h.len[H_METADATA], 0, "the Metadata header",
			     &o->base, &base_len, &o->base_o, why, size)))
		goto fail;
	if ((h.v[H_CORRELATION_ID] &&
	     !(o->corr = quote_header(h.v[H_CORRELATION_ID], h.len[H_CORRELATION_ID]))) ||
	    (h.v[H_CAUSATION_ID] &&
	     !(o->caus = quote_header(h.v[H_CAUSATION_ID], h.len[H_CAUSATION_ID])))) {
		err = bad(why, size, "Correlation-Id and Causation-Id must be valid UTF-8");
		goto fail;
	}

	const char *body = m->buf + m->body;
	size_t raw_len = m->len - m->body;
	if (h.v[H_EVENT_TYPE]) {
		/* One event: the body is its data, checked by the store. */
		a->n = 1;
		a->ev = calloc(1, sizeof *a->ev);
		o->ids = calloc(1, 16);
		o->meta = calloc(1, sizeof *o->meta);
		o->n = 1;
		if (!a->ev || !o->ids || !o->meta) {
			err = ENOMEM;
			goto fail;
		}
		a->ev->type = h.v[H_EVENT_TYPE];
		a->ev->type_len = h.len[H_EVENT_TYPE];
		a->ev->schema_version = (uint32_t)schema;
		a->ev->data = body;
		a->ev->data_len = raw_len;
		if (h.v[H_EVENT_ID]) {
			if (parse_uuid(h.v[H_EVENT_ID], h.len[H_EVENT_ID], o->ids[0])) {
				err = bad(why, size, "Event-Id must be a UUID, not '%.*s'",
					  (int)(h.len[H_EVENT_ID] > 40 ? 40 : h.len[H_EVENT_ID]),
					  h.v[H_EVENT_ID]);
				goto fail;
			}
			a->ev->id = o->ids[0];
		}
		size_t ml;
		if ((err = build_metadata(o->base, base_len, o->base_o, NULL, 0, NULL,
					  o->corr, o->caus, &o->meta[0], &ml)))
			goto fail;
		if (o->meta[0]) {
			a->ev->metadata = o->meta[0];
			a->ev->metadata_len = ml;
		}
		return 0;
	}

	/* A batch: an array of objects. */
	if ((err = load_json(body, raw_len, 1, "the batch", &o->body, &body_len,
			     &o->body_o, why, size)))
		goto fail;
	a->n = json_array_size(o->body_o);
	if (a->n == 0) {
		err = bad(why, size, "an empty batch");
		goto fail;
	}
	a->ev = calloc(a->n, sizeof *a->ev);
	o->ids = calloc(a->n, 16);
	o->meta = calloc(a->n, sizeof *o->meta);
	o->n = a->n;
	if (!a->ev || !o->ids || !o->meta) {
		err = ENOMEM;
		goto fail;
	}
	size_t pos = 0, i = 0, item_len;
	const char *item;
	while (i < a->n && es_json_next_element(o->body, body_len, &pos, &item, &item_len)) {
		err = parse_item(a, o, i, item, item_len, json_array_get(o->body_o, i),
				 (uint32_t)schema, why, size);
		if (err)
			goto fail;
		i++;
	}
	return 0;
fail:
	msg_append_free(a);
	return err;
}

/* ---- Snapshots and checkpoints. -------------------------------------- */

int msg_parse_snapshot(const msg_reader *m, uint64_t *version, const char **data,
		       size_t *data_len, char *why, size_t size)
{
	struct headers h;
	int err = split_headers(m, 1u << H_VERSION, &h, why, size);

	if (err)
		return err;
	if (!h.v[H_VERSION])
		return bad(why, size, "the Version header is missing");
	if ((err = header_number(&h, H_VERSION, 1, ES_ID_MAX, version, why, size)))
		return err;
	*data = m->buf + m->body;
	*data_len = m->len - m->body;
	return 0;
}

int msg_parse_position(const char *p, size_t n, uint64_t *pos, char *why, size_t size)
{
	size_t len = n;

	if (len > 0 && p[len - 1] == '\n')
		len--;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (parse_number(p, len, ES_ID_MAX, pos))
		return bad(why, size, "a checkpoint is a decimal position and a newline, not '%.*s'",
			   (int)(len > 40 ? 40 : len), p);
	return 0;
}

/* tests/fuzz/message.c — libFuzzer target for what users write to esfs files.
 *
 * Covers the message reader and parsers of fs/message.c (msg_feed, msg_reset,
 * msg_parse_append, msg_parse_snapshot, msg_parse_position, msg_free) and the
 * JSON helpers of store/json.c (es_json_frame_feed through msg_feed, and
 * es_json_check, es_json_compact, es_json_skip, es_json_next_member,
 * es_json_next_element, es_name_check, es_json_quote on what the parsers
 * hand back).
 *
 * Input layout (the seed corpus in tests/fuzz/corpus/ follows it):
 *   byte 0   bits 0-1  the file written: 0 or 3 streams/S/new (append
 *                      messages), 1 snapshots/S (snapshot messages),
 *                      2 checkpoints/NAME (all bytes after byte 0 are one
 *                      write, parsed by msg_parse_position; nothing else
 *                      below applies)
 *            bits 2-4  k, the number of split bytes that follow (0-7)
 *            bit 5     a small reader limit (next byte after the split
 *                      bytes, L: limit = 16 + 8 * L), to reach EFBIG;
 *                      otherwise the limit is 1 MiB
 *            bit 6     feed the rest one byte per write
 *   k bytes  the lengths of the first k writes (0-255 each, cut to what is
 *            left); the last write takes the rest
 *   [L]      with bit 5
 *   rest     the bytes written to the file
 *
 * Each write is fed as fs/ops.c write_messages feeds one write(): msg_feed in
 * a loop; MSG_DONE parses the message (msg_parse_append or
 * msg_parse_snapshot), frees it and calls msg_reset; an errno goes on (the
 * reader skips the rest of the failed message); MSG_MORE and MSG_SKIPPED end
 * the write. Where the daemon would fail the write and drop its tail
 * (MSG_SKIPPED, or a message that does not parse), the tail is written again
 * as the next write, as a writer that goes on would, so that every byte
 * passes through msg_feed.
 *
 * Invariants checked (abort() on violation):
 * - msg_feed never takes more than it is given; MSG_MORE takes all of it;
 *   it takes at least one byte of a non-empty write unless it returns an
 *   errno and turns to skipping; the bytes taken add up to the input size;
 * - a whole message has a header block and a body inside its buffer, and an
 *   error comes with a reason;
 * - es_json_compact never lengthens its input and is a fixpoint; for text
 *   es_json_check accepts, its compact copy equals es_json_compact's, and
 *   es_json_skip / es_json_next_member / es_json_next_element slice the
 *   compact text into exactly the values jansson parsed;
 * - a parsed append has n >= 1 events, each with a type, data (a JSON object
 *   es_json_check accepts, except a single event's body, which the store
 *   checks) and metadata, when there is any, that es_json_check accepts as
 *   an object; an expected version is ES_ANY or <= 2^56-1;
 * - an event type es_name_check takes, quoted by es_json_quote, reads back
 *   through jansson as the same bytes;
 * - a parsed snapshot has a version in 1 .. 2^56-1 and a body in the buffer;
 * - a parsed checkpoint position is <= 2^56-1 and is the decimal number
 *   written;
 * - nothing leaks once msg_free has run (LeakSanitizer).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../fs/message.h"

#define CHECK(c)                                                           \
	do {                                                               \
		if (!(c)) {                                                \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",   \
				__FILE__, __LINE__, #c);                   \
			abort();                                           \
		}                                                          \
	} while (0)

enum { K_APPEND, K_SNAPSHOT, K_CHECKPOINT };

/* Checks that compact text t (n bytes) slices into exactly the value v
 * jansson parsed from it. */
static void walk(const char *t, size_t n, json_t *v)
{
	CHECK(n > 0);
	CHECK(es_json_skip(t, n) == n);
	if (json_is_object(v)) {
		size_t pos = 0, count = 0;
		es_json_member jm;
		void *it = json_object_iter(v);
		CHECK(t[0] == '{' && t[n - 1] == '}');
		while (es_json_next_member(t, n, &pos, &jm)) {
			CHECK(it != NULL);
			CHECK(pos <= n);
			CHECK(jm.key >= t && jm.key + jm.key_len < t + n);
			CHECK(jm.key_len >= 2 && jm.key[0] == '"' &&
			      jm.key[jm.key_len - 1] == '"');
			CHECK(jm.key[jm.key_len] == ':');
			CHECK(jm.value == jm.key + jm.key_len + 1);
			CHECK(jm.value + jm.value_len <= t + n - 1);
			walk(jm.value, jm.value_len, json_object_iter_value(it));
			it = json_object_iter_next(v, it);
			count++;
		}
		CHECK(it == NULL);
		CHECK(count == json_object_size(v));
	} else if (json_is_array(v)) {
		size_t pos = 0, i = 0, len;
		const char *e;
		CHECK(t[0] == '[' && t[n - 1] == ']');
		while (es_json_next_element(t, n, &pos, &e, &len)) {
			CHECK(i < json_array_size(v));
			CHECK(pos <= n);
			CHECK(e > t && e + len <= t + n - 1);
			walk(e, len, json_array_get(v, i));
			i++;
		}
		CHECK(i == json_array_size(v));
	} else if (json_is_string(v)) {
		CHECK(n >= 2 && t[0] == '"' && t[n - 1] == '"');
	} else if (json_is_number(v)) {
		CHECK(t[0] == '-' || (t[0] >= '0' && t[0] <= '9'));
	} else if (json_is_true(v)) {
		CHECK(n == 4 && memcmp(t, "true", 4) == 0);
	} else if (json_is_false(v)) {
		CHECK(n == 5 && memcmp(t, "false", 5) == 0);
	} else {
		CHECK(json_is_null(v));
		CHECK(n == 4 && memcmp(t, "null", 4) == 0);
	}
}

/* es_json_compact of any text: never longer, and a fixpoint. Returns the
 * compact length; *out (malloc'd) holds it. */
static size_t compact_checked(const char *p, size_t n, char **out)
{
	char *c = malloc(n + 1), *c2 = malloc(n + 1);
	size_t len, len2;

	CHECK(c && c2);
	len = es_json_compact(p, n, c);
	CHECK(len <= n);
	len2 = es_json_compact(c, len, c2);
	CHECK(len2 == len && memcmp(c, c2, len) == 0);
	free(c2);
	*out = c;
	return len;
}

/* Runs the JSON helpers over text p (n bytes). Returns whether
 * es_json_check accepts it as an object (or, with want_array, an array);
 * then everything about it must hold. */
static int json_checked(const char *p, size_t n, int want_array)
{
	char why[256] = "", *compact, *copy = NULL;
	size_t clen, copy_len = 0;
	json_t *tree = NULL;
	int err;

	CHECK(es_json_skip(p, n) <= n);
	clen = compact_checked(p, n, &compact);
	err = es_json_check(p, n, want_array, why, sizeof why, &copy, &copy_len, &tree);
	CHECK(err == 0 || err == EINVAL);
	if (err) {
		CHECK(why[0] != '\0');
		CHECK(copy == NULL && tree == NULL);
		free(compact);
		return 0;
	}
	CHECK(copy && tree);
	CHECK(want_array ? json_is_array(tree) : json_is_object(tree));
	CHECK(copy_len == clen && memcmp(copy, compact, clen) == 0);
	CHECK(copy[copy_len] == '\0');
	walk(copy, copy_len, tree);
	free(copy);
	free(compact);
	json_decref(tree);
	return 1;
}

/* An event type: when es_name_check takes it, es_json_quote makes a JSON
 * string that jansson reads back as the same bytes. */
static void name_checked(const char *s, size_t n)
{
	char why[256] = "", *q;
	json_t *v;
	size_t len;

	if (es_name_check(s, n, why, sizeof why)) {
		CHECK(why[0] != '\0');
		return;
	}
	CHECK(n >= 1 && n <= 255);
	q = malloc(2 * n + 2);
	CHECK(q);
	len = es_json_quote(s, n, q);
	CHECK(len >= n + 2 && len <= 2 * n + 2);
	CHECK(es_json_skip(q, len) == len);
	v = json_loadb(q, len, JSON_DECODE_ANY, NULL);
	CHECK(json_is_string(v));
	CHECK(json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0);
	json_decref(v);
	free(q);
}

static int check_append(const msg_reader *m)
{
	char why[512] = "";
	msg_append a;
	int err = msg_parse_append(m, &a, why, sizeof why);
	int batch;

	CHECK(err == 0 || err == EINVAL);
	if (err) {
		CHECK(why[0] != '\0');
		CHECK(a.ev == NULL && a.owned == NULL && a.n == 0);
		return 0;
	}
	CHECK(a.n >= 1 && a.ev != NULL && a.owned != NULL);
	CHECK(a.expected == ES_ANY || (a.expected >= 0 && (uint64_t)a.expected <= ES_ID_MAX));
	/* A single event's body is the message's body, the store checks it;
	 * a batch's events are slices of text jansson accepted. */
	batch = !(a.n == 1 && a.ev[0].data == m->buf + m->body);
	for (size_t i = 0; i < a.n; i++) {
		const es_event_in *ev = &a.ev[i];
		CHECK(ev->type != NULL);
		CHECK(ev->data != NULL && ev->data_len > 0);
		CHECK(ev->schema_version >= 1);
		name_checked(ev->type, ev->type_len);
		if (batch)
			CHECK(json_checked(ev->data, ev->data_len, 0));
		else
			json_checked(ev->data, ev->data_len, 0);
		if (ev->metadata)
			CHECK(json_checked(ev->metadata, ev->metadata_len, 0));
	}
	msg_append_free(&a);
	CHECK(a.ev == NULL && a.owned == NULL);
	return 1;
}

static int check_snapshot(const msg_reader *m)
{
	char why[512] = "";
	uint64_t version = 0;
	const char *data = NULL;
	size_t len = 0;
	int err = msg_parse_snapshot(m, &version, &data, &len, why, sizeof why);

	CHECK(err == 0 || err == EINVAL);
	if (err) {
		CHECK(why[0] != '\0');
		return 0;
	}
	CHECK(version >= 1 && version <= ES_ID_MAX);
	CHECK(data == m->buf + m->body && data + len == m->buf + m->len);
	CHECK(len > 0);
	json_checked(data, len, 0);
	return 1;
}

static void check_position(const char *p, size_t n)
{
	char why[256] = "";
	uint64_t pos = UINT64_MAX, ref = 0;
	size_t len = n;
	int err = msg_parse_position(p, n, &pos, why, sizeof why);

	CHECK(err == 0 || err == EINVAL);
	if (err) {
		CHECK(why[0] != '\0');
		return;
	}
	CHECK(pos <= ES_ID_MAX);
	if (len > 0 && p[len - 1] == '\n')
		len--;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	CHECK(len >= 1 && len <= 19);
	for (size_t i = 0; i < len; i++) {
		CHECK(p[i] >= '0' && p[i] <= '9');
		ref = ref * 10 + (uint64_t)(p[i] - '0');
	}
	CHECK(ref == pos);
}

/* A whole message is in m: check it as commit_message would take it.
 * Returns whether it parsed. */
static int message_done(const msg_reader *m, int kind)
{
	const char *body = m->buf + m->body;
	size_t len = m->len - m->body, j = 0;

	CHECK(m->len > 0 && m->len <= m->limit);
	CHECK(m->body > 0 && m->body < m->len);
	CHECK(m->buf[m->body - 1] == '\n');
	CHECK(!m->skip);
	/* The body is framed: one object or array after blank space. */
	while (j < len && strchr(" \t\r\n", body[j]))
		j++;
	CHECK(j < len && (body[j] == '{' || body[j] == '['));
	CHECK(body[len - 1] == '}' || body[len - 1] == ']');
	json_checked(body, len, body[j] == '[');
	return kind == K_SNAPSHOT ? check_snapshot(m) : check_append(m);
}

/* One write() of n bytes, fed as write_messages does. Returns the bytes
 * taken; fewer than n when the daemon would fail the write there. */
static size_t write_once(msg_reader *m, int kind, const char *buf, size_t size)
{
	char why[512];
	size_t pos = 0;
	int zero = 0;	/* the last call took nothing */

	while (pos < size) {
		size_t used = SIZE_MAX, n = size - pos;
		int was_skipping = m->skip;

		why[0] = '\0';
		int rc = msg_feed(m, buf + pos, n, &used, why, sizeof why);
		CHECK(used <= n);
		pos += used;
		if (rc == MSG_MORE) {
			CHECK(used == n);
			break;
		}
		if (rc == MSG_SKIPPED) {
			CHECK(was_skipping && used > 0 && !m->skip && m->len == 0);
			break;
		}
		if (rc == MSG_DONE) {
			int ok;
			CHECK(used > 0);
			ok = message_done(m, kind);
			msg_reset(m);
			CHECK(!msg_pending(m));
			if (!ok)
				break;	/* a failed commit ends the write */
			continue;
		}
		/* An errno: the reader skips the rest of the message (or it
		 * ended, and is forgotten). */
		CHECK(rc == EINVAL || rc == EFBIG);
		CHECK(why[0] != '\0' && memchr(why, '\0', sizeof why));
		CHECK(!was_skipping);
		CHECK(m->skip || m->len == 0);
		CHECK(used > 0 || m->skip);
		/* Two calls in a row that take nothing would loop for ever. */
		CHECK(used > 0 || !zero);
		zero = used == 0;
	}
	return pos;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_object_seed(1);	/* the same hashing on every run */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t i = 1, k, lens[7], total = 0;
	int kind, bytewise;
	msg_reader m = {0};

	if (size < 1)
		return 0;
	kind = data[0] & 3;
	if (kind == 3)
		kind = K_APPEND;
	if (kind == K_CHECKPOINT) {
		check_position(p + 1, size - 1);
		return 0;
	}
	k = (data[0] >> 2) & 7;
	bytewise = data[0] & 0x40;
	if (size < 1 + k)
		return 0;
	for (size_t j = 0; j < k; j++)
		lens[j] = data[i++];
	m.limit = 1 << 20;
	if (data[0] & 0x20) {
		if (i >= size)
			return 0;
		m.limit = 16 + 8 * (size_t)data[i++];
	}

	const char *rest = p + i;
	size_t left = size - i, piece = 0;
	while (left > 0) {
		size_t n = left;
		if (bytewise)
			n = 1;
		else if (piece < k && lens[piece] < left)
			n = lens[piece];
		piece++;
		size_t took = write_once(&m, kind, rest, n);
		CHECK(took <= n);
		/* What the daemon would drop is written again. */
		rest += took;
		left -= took;
		total += took;
	}
	CHECK(total == size - i);
	msg_free(&m);
	CHECK(m.buf == NULL && m.len == 0);
	return 0;
}

/* tests/message.c — table-driven TAP tests of the message reader and
 * parsers of the daemon (fs/message.c: msg_feed, msg_parse_append,
 * msg_parse_snapshot, msg_parse_position), with store/json.c under them.
 *
 * Each row of `cases` is an input, the ways it is cut into pieces (whole,
 * byte by byte, in two at every split point, or given pieces), the results
 * msg_feed must give in order, with how far into the input each came, and
 * for every whole message what parsing it must yield. The input is fed as
 * the daemon feeds one write() (fs/ops.c write_messages): msg_feed again on
 * what is left of a piece until it is taken, a whole message parsed and
 * then msg_reset, except that here a piece goes on after MSG_SKIPPED too,
 * so that every byte passes through the reader.
 *
 * The results and bytes used are checked for the row's first cut (whole,
 * else its pieces, else byte by byte); its other cuts must give the same
 * results and the same messages, byte for byte. Where cutting changes the
 * answer (a limit reached before the end of a message is seen, a body whose
 * line goes on in the next piece), a row names its one cut.
 */
#include "../fs/message.h"
#include "tap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#define LEN(s) (sizeof(s) - 1)

/* A step's at: all of the input. */
#define AT_END SIZE_MAX

/* An input with a NUL byte in it, and its length. */
#define BYTES(s) s, LEN(s)

/* ---- The table's shape. ---------------------------------------------- */

enum { K_APPEND, K_SNAPSHOT };

enum {
	CUT_WHOLE = 1,		/* one piece */
	CUT_PIECES = 2,		/* the row's pieces */
	CUT_BYTES = 4,		/* one byte a piece */
	CUT_SPLITS = 8,		/* two pieces, at every split point */
	CUT_ALL = CUT_WHOLE | CUT_BYTES | CUT_SPLITS,
};

/* Data or metadata text that a row does not spell out (generated input). */
static const char UNCHECKED[] = "(not checked)";

struct ev_want {
	const char *type;
	const char *data;	/* as the parser hands it to the store */
	size_t data_len;	/* 0: strlen(data) */
	const char *meta;	/* NULL: no metadata */
	unsigned schema;	/* 0: 1 */
	const char *id;		/* lowercase UUID, or NULL: none given */
};

/* What parsing a whole message yields. */
struct parse_want {
	int err;		/* 0 or EINVAL */
	const char *why;	/* for an error: a part of the reason */
	int64_t expected;	/* append: the expected version, or ES_ANY */
	size_t n;		/* append: the number of events */
	struct ev_want ev[3];
	uint64_t version;	/* snapshot: the version */
	const char *data;	/* snapshot: the body */
};

/* One msg_feed result other than MSG_MORE, or MSG_MORE last: the data ended
 * inside a message or inside the rest of a failed one. */
struct step {
	int rc;			/* MSG_DONE, MSG_SKIPPED, MSG_MORE or an errno */
	size_t at;		/* bytes of the input taken once it came, or AT_END */
	const char *why;	/* for an errno: a part of the reason */
	struct parse_want p;	/* for MSG_DONE */
};

struct mcase {
	const char *name;
	const char *in;
	size_t len;		/* 0: strlen(in) */
	char *(*make)(size_t *len);	/* or the input is made by this */
	int kind;		/* K_APPEND or K_SNAPSHOT */
	size_t limit;		/* the reader's limit; 0: 1 MiB */
	unsigned cuts;		/* 0: CUT_ALL */
	size_t pieces[4];	/* for CUT_PIECES; the last one takes the rest */
	struct step steps[6];	/* up to the first with at == 0 */
	const char *todo;	/* a known bug: the row's checks are TODO */
};

/* ---- Inputs. --------------------------------------------------------- */

#define EV0 "Expected-Version: 0\n"
#define ET "Event-Type: T\n"
#define ID "6f1c0b5e-8c1d-4c1b-9d43-0b9f8a7f4a10"
#define ID_UPPER "6F1C0B5E-8C1D-4C1B-9D43-0B9F8A7F4A10"
#define MAXV "72057594037927935"	/* ES_ID_MAX, 2^56 - 1 */

/* A second message, to show that the reader goes on after a first one. */
#define NEXT "Expected-Version: 1\nEvent-Type: Next\n\n{\"next\":1}\n"
#define NEXT_DONE(at) \
	{MSG_DONE, (at), NULL, {.expected = 1, .n = 1, \
				.ev = {{"Next", "{\"next\":1}"}}}}

/* One event of type T with data d and nothing else. */
#define T_EVENT(d) {.expected = 0, .n = 1, .ev = {{"T", d}}}

/* A message whose only fault is in its headers, as found by the parser. */
#define BAD_HEADERS(h, reason) \
	{"headers " #h, .in = h "\n{}\n", .steps = {{MSG_DONE, AT_END, NULL, \
				       {EINVAL, reason}}}}

static char *repeat(const char *head, int c, size_t n, const char *tail,
		    size_t *len)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *b = malloc(hl + n + tl + 1);

	if (!b)
		bail_out("out of memory");
	memcpy(b, head, hl);
	memset(b + hl, c, n);
	memcpy(b + hl + n, tail, tl + 1);
	*len = hl + n + tl;
	return b;
}

/* A body nested d deep: {"a": then d - 1 arrays, closed. */
static char *nested(size_t d, size_t *len)
{
	size_t hl = LEN(EV0 ET "\n{\"a\":");
	char *b = malloc(hl + 2 * d + 2);

	if (!b)
		bail_out("out of memory");
	memcpy(b, EV0 ET "\n{\"a\":", hl);
	memset(b + hl, '[', d - 1);
	memset(b + hl + d - 1, ']', d - 1);
	memcpy(b + hl + 2 * (d - 1), "}\n", 2);
	*len = hl + 2 * d;
	return b;
}

static char *nested_512(size_t *len)
{
	return nested(512, len);
}

static char *nested_513(size_t *len)
{
	return nested(513, len);
}

/* A header line of 70,000 bytes. */
#define LONG_LINE_HEAD EV0 "X-Pad: "
#define LONG_LINE_TAIL "\n" ET "\n{}\n"
static char *long_header_line(size_t *len)
{
	return repeat(LONG_LINE_HEAD, 'a', 70000, LONG_LINE_TAIL, len);
}

/* EV0, then 1,024 header lines of 64 bytes: over 64 KiB at the last. */
#define PAD_LINES 1024
static char *many_header_lines(size_t *len)
{
	size_t o = LEN(EV0);
	char *b = malloc(LEN(EV0) + PAD_LINES * 64 + LEN(ET "\n{}\n") + 1);

	if (!b)
		bail_out("out of memory");
	memcpy(b, EV0, o);
	for (int i = 0; i < PAD_LINES; i++) {
		memcpy(b + o, "Xpad: ", 6);
		memset(b + o + 6, 'a', 57);
		b[o + 63] = '\n';
		o += 64;
	}
	memcpy(b + o, ET "\n{}\n", LEN(ET "\n{}\n") + 1);
	*len = o + LEN(ET "\n{}\n");
	return b;
}

/* Headers of exactly 64 KiB (the limit), then one byte more: a Metadata
 * header padded to fit. */
#define META_HEAD EV0 ET "Metadata: {\"p\":\""
#define META_TAIL "\"}\n\n{}\n"
#define META_PAD (65536 - LEN(META_HEAD) - 3)
static char *headers_64k(size_t *len)
{
	return repeat(META_HEAD, 'm', META_PAD, META_TAIL, len);
}

static char *headers_64k_1(size_t *len)
{
	return repeat(META_HEAD, 'm', META_PAD + 1, META_TAIL, len);
}

/* ---- The cases. ------------------------------------------------------ */

static const struct mcase cases[] = {
	/* Whole messages. */
	{"one event", EV0 "Event-Type: Placed\n\n{\"a\": 1}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 1, .ev = {{"Placed", "{\"a\": 1}"}}}}}},
	{"no line end after the body", EV0 ET "\n{}",
	 .steps = {{MSG_DONE, AT_END, NULL, T_EVENT("{}")}}},
	{"CRLF throughout, any version",
	 "Expected-Version: any\r\nEvent-Type: T\r\n\r\n{\"a\":1}\r\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = ES_ANY, .n = 1, .ev = {{"T", "{\"a\":1}"}}}}}},
	{"ANY in capitals", "Expected-Version: ANY\n" ET "\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = ES_ANY, .n = 1, .ev = {{"T", "{}"}}}}}},
	{"header names in any case, blanks around values trimmed",
	 "expected-VERSION:\t 7 \t\nevent-type:  Order Placed  \n\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 7, .n = 1, .ev = {{"Order Placed", "{}"}}}}}},
	{"blank lines and blanks before and after a message",
	 "\n\r\n \t\n" EV0 ET "\n{}\n\n\n",
	 .steps = {{MSG_DONE, LEN("\n\r\n \t\n" EV0 ET "\n{}\n"), NULL, T_EVENT("{}")}}},
	{"a body after blank lines, kept as written",
	 EV0 ET "\n \n\t{\"a\" : [1, {}]}\n",
	 .steps = {{MSG_DONE, AT_END, NULL, T_EVENT(" \n\t{\"a\" : [1, {}]}")}}},
	{"brackets and escapes inside strings do not end the body",
	 EV0 ET "\n{\"s\":\"}{][\\\"\\\\\",\"t\":\"\\\\\"}\n",
	 .steps = {{MSG_DONE, AT_END, NULL, T_EVENT("{\"s\":\"}{][\\\"\\\\\",\"t\":\"\\\\\"}")}}},
	{"Schema-Version and Event-Id",
	 EV0 ET "Schema-Version: 3\nEvent-Id: " ID_UPPER "\n\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 1, .ev = {{"T", "{}", .schema = 3, .id = ID}}}}}},
	{"the largest numbers",
	 "Expected-Version: " MAXV "\nEvent-Type: T\nSchema-Version: 4294967295\n\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = INT64_C(72057594037927935), .n = 1,
			   .ev = {{"T", "{}", .schema = 4294967295u}}}}}},
	{"leading zeros", "Expected-Version: 007\n" ET "\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 7, .n = 1, .ev = {{"T", "{}"}}}}}},
	{"a raw NUL in a string of a single event's body (the store refuses it)",
	 BYTES(EV0 ET "\n{\"a\":\"x\0y\"}\n"),
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 1, .ev = {{"T", "{\"a\":\"x\0y\"}", 11}}}}}},

	/* Batches. */
	{"a batch",
	 "Expected-Version: 3\n\n[{\"event_type\":\"A\",\"data\":{\"x\": 1}},\n"
	 " {\"event_type\":\"B\",\"data\":{},\"metadata\":{\"m\": 2},\"schema_version\":2,"
	 "\"event_id\":\"" ID_UPPER "\"}]\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 3, .n = 2,
		     .ev = {{"A", "{\"x\":1}"},
			    {"B", "{}", .meta = "{\"m\":2}", .schema = 2, .id = ID}}}}}},
	{"a batch takes Schema-Version as its items' default",
	 "Expected-Version: any\nSchema-Version: 5\n\n[{\"event_type\":\"A\",\"data\":{}},"
	 "{\"event_type\":\"B\",\"data\":{},\"schema_version\":1}]",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = ES_ANY, .n = 2,
		     .ev = {{"A", "{}", .schema = 5}, {"B", "{}", .schema = 1}}}}}},
	{"a batch item's event_type is decoded",
	 EV0 "\n[{\"event_type\":\"a\\\"b\\u00e9\",\"data\":{\"s\":\"\\u00e9\"}}]\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 1,
			   .ev = {{"a\"b\xc3\xa9", "{\"s\":\"\\u00e9\"}"}}}}}},
	{"a raw NUL in a batch", BYTES(EV0 "\n[{\"event_type\":\"A\",\"data\":{\"a\":1\0}}]\n"),
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {EINVAL, "the batch: a NUL byte"}}}},

	/* Two messages. */
	{"two messages in one buffer",
	 EV0 "Event-Type: A\n\n{\"n\":1}\n" NEXT,
	 .steps = {{MSG_DONE, LEN(EV0 "Event-Type: A\n\n{\"n\":1}\n"), NULL,
		    {.expected = 0, .n = 1, .ev = {{"A", "{\"n\":1}"}}}},
		   NEXT_DONE(AT_END)}},
	{"blank lines between two messages",
	 EV0 ET "\n{}\r\n\n \t\r\n\n" NEXT,
	 .steps = {{MSG_DONE, LEN(EV0 ET "\n{}\r\n"), NULL, T_EVENT("{}")},
		   NEXT_DONE(AT_END)}},

	/* Headers the parser refuses. */
	BAD_HEADERS(EV0 ET "Foo: bar\n", "unknown header 'Foo'"),
	BAD_HEADERS(EV0 ET "Version: 1\n", "unknown header 'Version'"),
	BAD_HEADERS(EV0 "Event-Type: A\nevent-type: B\n", "header Event-Type given twice"),
	BAD_HEADERS(EV0 ET "Expected-Version: 0\n", "header Expected-Version given twice"),
	BAD_HEADERS(EV0 "Event-Type: \t \n", "header Event-Type is empty"),
	BAD_HEADERS(ET, "the Expected-Version header is missing"),
	BAD_HEADERS("Expected-Version: -1\n" ET, "Expected-Version must be a number from 0 to " MAXV ", not '-1'"),
	BAD_HEADERS("Expected-Version: 1x\n" ET, "Expected-Version must be a number"),
	BAD_HEADERS("Expected-Version: none\n" ET, "Expected-Version must be a number"),
	BAD_HEADERS("Expected-Version: 1 2\n" ET, "Expected-Version must be a number"),
	BAD_HEADERS("Expected-Version: 72057594037927936\n" ET, "Expected-Version must be a number"),
	BAD_HEADERS("Expected-Version: 99999999999999999999\n" ET, "Expected-Version must be a number"),
	BAD_HEADERS(EV0 ET "Schema-Version: 0\n", "Schema-Version must be a number from 1 to 4294967295, not '0'"),
	BAD_HEADERS(EV0 ET "Schema-Version: 4294967296\n", "Schema-Version must be a number"),
	BAD_HEADERS(EV0 ET "Schema-Version: +1\n", "Schema-Version must be a number"),
	BAD_HEADERS(EV0 ET "Event-Id: not-a-uuid\n", "Event-Id must be a UUID, not 'not-a-uuid'"),
	BAD_HEADERS(EV0 ET "Event-Id: 6f1c0b5e-8c1d-4c1b-9d43-0b9f8a7f4a1g\n", "Event-Id must be a UUID"),
	BAD_HEADERS(EV0 ET "Event-Id: " ID "0\n", "Event-Id must be a UUID"),
	{"Event-Id in a batch",
	 EV0 "Event-Id: " ID "\n\n[{\"event_type\":\"A\",\"data\":{}}]\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {EINVAL, "Event-Id is for one event; a batch gives each item its event_id"}}}},

	/* Header lines the reader refuses: the rest of the message is skipped. */
	{"a header line without a colon", "Expected-Version 0\n" ET "\n{}\n",
	 .steps = {{EINVAL, LEN("Expected-Version 0\n"), "a header line must be 'Name: value', not 'Expected-Version 0'"},
		   {MSG_SKIPPED, AT_END}}},
	{"a space in a header name", EV0 "Event Type: T\n\n{}\n",
	 .steps = {{EINVAL, LEN(EV0 "Event Type: T\n"), "a header line must be 'Name: value'"},
		   {MSG_SKIPPED, AT_END}}},
	{"an empty header name", EV0 ": T\n\n{}\n",
	 .steps = {{EINVAL, LEN(EV0 ": T\n"), "a header line must be 'Name: value'"},
		   {MSG_SKIPPED, AT_END}}},
	{"a raw NUL in a header value", BYTES(EV0 "Event-Type: a\0b\n\n{}\n"),
	 .steps = {{EINVAL, LEN(EV0 "Event-Type: a\0b\n"), "a NUL byte in a header line"},
		   {MSG_SKIPPED, AT_END}}},
	{"a raw NUL in a header name", BYTES(EV0 "Event\0Type: T\n\n{}\n"),
	 .steps = {{EINVAL, LEN(EV0 "Event\0Type: T\n"), "a header line must be 'Name: value'"},
		   {MSG_SKIPPED, AT_END}}},
	{"a message without headers", "\n{}\n",
	 .steps = {{EINVAL, AT_END, "a header line must be 'Name: value', not '{}'"},
		   {MSG_MORE, AT_END}}},

	/* Metadata. */
	{"the Metadata header",
	 EV0 ET "Metadata: { \"a\" : 1, \"b\": \"x y\" }\n\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 1, .ev = {{"T", "{}", .meta = "{\"a\":1,\"b\":\"x y\"}"}}}}}},
	{"Correlation-Id and Causation-Id",
	 EV0 ET "Correlation-Id: req-1\nCausation-Id: ev 9\n\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 1,
		     .ev = {{"T", "{}", .meta = "{\"correlation_id\":\"req-1\",\"causation_id\":\"ev 9\"}"}}}}}},
	{"Correlation-Id overrides the Metadata header's, in its place",
	 EV0 ET "Metadata: {\"correlation_id\":\"old\",\"n\":1}\nCorrelation-Id: new\n\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 1,
			   .ev = {{"T", "{}", .meta = "{\"correlation_id\":\"new\",\"n\":1}"}}}}}},
	{"a Correlation-Id with a quote and a backslash is escaped",
	 EV0 ET "Correlation-Id: a\"b\\c\n\n{}\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 1,
		     .ev = {{"T", "{}", .meta = "{\"correlation_id\":\"a\\\"b\\\\c\"}"}}}}}},
	{"a batch merges the header metadata, each item's, then the ids",
	 EV0 "Metadata: {\"a\":1,\"correlation_id\":\"old\"}\nCorrelation-Id: new\nCausation-Id: c\n\n"
	 "[{\"event_type\":\"A\",\"data\":{},\"metadata\":{\"a\":2,\"c\":3}},{\"event_type\":\"B\",\"data\":{}}]\n",
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.expected = 0, .n = 2,
			   .ev = {{"A", "{}", .meta = "{\"a\":2,\"correlation_id\":\"new\",\"c\":3,\"causation_id\":\"c\"}"},
				  {"B", "{}", .meta = "{\"a\":1,\"correlation_id\":\"new\",\"causation_id\":\"c\"}"}}}}}},
	BAD_HEADERS(EV0 ET "Correlation-Id: \xff\n", "Correlation-Id and Causation-Id must be valid UTF-8"),
	BAD_HEADERS(EV0 ET "Causation-Id: a\xc3\n", "Correlation-Id and Causation-Id must be valid UTF-8"),
	BAD_HEADERS(EV0 ET "Metadata: [1]\n", "the Metadata header: "),
	BAD_HEADERS(EV0 ET "Metadata: {\"a\":\n", "the Metadata header: "),
	BAD_HEADERS(EV0 ET "Metadata: {\"a\":1,\"a\":2}\n", "the Metadata header: "),

	/* Batches the parser refuses. */
#define BAD_BATCH(body, reason) \
	{"batch " #body, .in = EV0 "\n" body "\n", .steps = {{MSG_DONE, AT_END, NULL, {EINVAL, reason}}}}
	BAD_BATCH("{\"a\":1}", "the batch: "),
	BAD_BATCH("[]", "an empty batch"),
	BAD_BATCH("[1]", "batch item 1 is not a JSON object"),
	BAD_BATCH("[{\"data\":{}}]", "batch item 1 has no event_type"),
	BAD_BATCH("[{\"event_type\":\"A\"}]", "batch item 1 has no data"),
	BAD_BATCH("[{\"event_type\":\"A\",\"data\":{}},{\"event_type\":\"B\",\"data\":[]}]",
		  "batch item 2: data must be a JSON object"),
	BAD_BATCH("[{\"event_type\":1,\"data\":{}}]", "batch item 1: event_type must be a string"),
	BAD_BATCH("[{\"event_type\":\"A\",\"data\":{},\"foo\":1}]", "batch item 1: unknown key \"foo\""),
	BAD_BATCH("[{\"event_type\":\"A\",\"data\":{},\"event_id\":\"x\"}]", "batch item 1: event_id must be a UUID"),
	BAD_BATCH("[{\"event_type\":\"A\",\"data\":{},\"schema_version\":0}]",
		  "batch item 1: schema_version must be a positive integer"),
	BAD_BATCH("[{\"event_type\":\"A\",\"data\":{},\"schema_version\":1.5}]",
		  "batch item 1: schema_version must be a positive integer"),
	BAD_BATCH("[{\"event_type\":\"A\",\"data\":{},\"metadata\":\"m\"}]",
		  "batch item 1: metadata must be a JSON object"),
	BAD_BATCH("[{\"event_type\":\"A\",\"data\":{\"k\":1,\"k\":2}}]", "the batch: "),

	/* Bodies the reader refuses. */
	{"a body that is not JSON", EV0 ET "\nhello\n",
	 .steps = {{EINVAL, LEN(EV0 ET "\n"), "the body must be one JSON object, or an array for a batch"},
		   {MSG_SKIPPED, AT_END}}},
	{"a body that is a string, then the next message", EV0 ET "\n\"x\"\n" NEXT,
	 .steps = {{EINVAL, LEN(EV0 ET "\n"), "the body must be one JSON object"},
		   {MSG_SKIPPED, LEN(EV0 ET "\n\"x\"\n")},
		   NEXT_DONE(AT_END)}},
	{"a body nested 512 deep", .make = nested_512,
	 .cuts = CUT_WHOLE | CUT_BYTES,
	 .steps = {{MSG_DONE, LEN(EV0 ET "\n{\"a\":") + 2 * 512, NULL, T_EVENT(UNCHECKED)}}},
	{"a body nested 513 deep", .make = nested_513,
	 .cuts = CUT_WHOLE | CUT_BYTES,
	 .steps = {{EINVAL, LEN(EV0 ET "\n{\"a\":") + 2 * 513, "the body is nested deeper than 512"}}},

	/* Limits. */
	{"a message of exactly the limit", EV0 ET "\n{}\n", .limit = LEN(EV0 ET "\n{}"),
	 .steps = {{MSG_DONE, AT_END, NULL, T_EVENT("{}")}}},
	{"a message one byte over the limit, whose last byte is over",
	 EV0 ET "\n{}\n", .limit = LEN(EV0 ET "\n{"),
	 .steps = {{EFBIG, AT_END, "the message is over 36 bytes"}}},
	{"a body over the limit, given whole", EV0 ET "\n{\"p\":\"0123456789012345678901234567890123456789\"}\n",
	 .limit = 64, .cuts = CUT_WHOLE,
	 .steps = {{EFBIG, AT_END,
		    "the message is over 64 bytes"}}},
	{"a body over the limit, byte by byte", EV0 ET "\n{\"p\":\"0123456789012345678901234567890123456789\"}\n",
	 .limit = 64, .cuts = CUT_BYTES,
	 .steps = {{EFBIG, 65, "the message is over 64 bytes"},
		   {MSG_SKIPPED, LEN(EV0 ET "\n{\"p\":\"0123456789012345678901234567890123456789\"}")}}},
	{"headers over the limit", EV0 "Event-Type: Something-Long\n\n{}\n" NEXT, .limit = 40,
	 .cuts = CUT_WHOLE | CUT_PIECES, .pieces = {LEN(EV0 "Event-Type: Something-Long\n")},
	 .steps = {{EFBIG, LEN(EV0 "Event-Type: Something-Long\n"), "the message is over 40 bytes"},
		   {MSG_SKIPPED, LEN(EV0 "Event-Type: Something-Long\n\n{}\n")},
		   {EFBIG, AT_END, "over 40 bytes"}}},
	{"headers over the limit, byte by byte", EV0 "Event-Type: Something-Long\n\n{}\n", .limit = 32,
	 .cuts = CUT_BYTES,
	 .steps = {{EFBIG, 33, "the message is over 32 bytes"},
		   {MSG_SKIPPED, LEN(EV0 "Event-Type: Something-Long\n\n{}")}}},
	{"a header line over 64 KiB, given whole", .make = long_header_line, .cuts = CUT_WHOLE,
	 .steps = {{EINVAL, LEN(LONG_LINE_HEAD) + 70000 + 1, "headers over 65536 bytes"},
		   {MSG_SKIPPED, LEN(LONG_LINE_HEAD LONG_LINE_TAIL) + 70000}}},
	{"a header line over 64 KiB, byte by byte", .make = long_header_line, .cuts = CUT_BYTES,
	 .steps = {{EINVAL, LEN(EV0) + 65537, "a header line over 65536 bytes"},
		   {MSG_SKIPPED, LEN(LONG_LINE_HEAD LONG_LINE_TAIL) + 70000 - 1}}},
	{"header lines over 64 KiB in all", .make = many_header_lines, .cuts = CUT_WHOLE | CUT_BYTES,
	 .steps = {{EINVAL, LEN(EV0) + 65536, "headers over 65536 bytes"},
		   {MSG_SKIPPED, LEN(EV0 ET "\n{}\n") + 65536}}},
	{"headers of exactly 64 KiB", .make = headers_64k, .cuts = CUT_WHOLE | CUT_BYTES,
	 .steps = {{MSG_DONE, 65536 + LEN("\n{}\n"), NULL,
		    {.expected = 0, .n = 1, .ev = {{"T", "{}", .meta = UNCHECKED}}}}}},
	{"headers of 64 KiB and a byte", .make = headers_64k_1, .cuts = CUT_WHOLE | CUT_BYTES,
	 .steps = {{EINVAL, 65537, "headers over 65536 bytes"},
		   {MSG_SKIPPED, 65537 + LEN("\n{}\n")}}},

	/* Skipping the rest of a failed message. */
	{"the rest of a failed message is skipped, strings and nesting included",
	 "Bad header\nEvent-Type: T\n\n{\"s\":\"}\",\"n\":{\"m\":[1]}}\n" NEXT,
	 .steps = {{EINVAL, LEN("Bad header\n"), "a header line must be"},
		   {MSG_SKIPPED, LEN("Bad header\nEvent-Type: T\n\n{\"s\":\"}\",\"n\":{\"m\":[1]}}\n")},
		   NEXT_DONE(AT_END)}},
	{"a failed message whose body is not JSON is skipped to its line's end",
	 "Bad\n\nnot json {\n" NEXT,
	 .steps = {{EINVAL, LEN("Bad\n"), "a header line must be"},
		   {MSG_SKIPPED, LEN("Bad\n\nnot json {\n")},
		   NEXT_DONE(AT_END)}},
	{"a failed message in CRLF", "Bad\r\nEvent-Type: T\r\n\r\n{}\r\n" NEXT,
	 .steps = {{EINVAL, LEN("Bad\r\n"), "a header line must be"},
		   {MSG_SKIPPED, LEN("Bad\r\nEvent-Type: T\r\n\r\n{}\r\n")},
		   NEXT_DONE(AT_END)}},
	{"the data ends in the rest of a failed message", "Bad\nEvent-Type: T\n\n{\"a\":",
	 .steps = {{EINVAL, LEN("Bad\n"), "a header line must be"},
		   {MSG_MORE, AT_END}}},
	{"the data ends in a message's body", EV0 ET "\n{\"a\":",
	 .steps = {{MSG_MORE, AT_END}}},
	{"the data ends in a message's headers", EV0 "Event-Ty",
	 .steps = {{MSG_MORE, AT_END}}},
	{"only blank lines", "\n\r\n \t \n",
	 .steps = {{0}}},

	/* After the body, only blanks on its line. */
	{"text after the body spoils the message", EV0 ET "\n{} xyz\n", .cuts = CUT_WHOLE,
	 .steps = {{EINVAL, LEN(EV0 ET "\n{} "), "only spaces and tabs may follow the body on its line, not 'xyz'"},
		   {MSG_SKIPPED, AT_END}}},
	{"text after the body, its line's end in the next piece", EV0 ET "\n{} xyz\n",
	 .cuts = CUT_PIECES, .pieces = {LEN(EV0 ET "\n{} xyz")},
	 .steps = {{EINVAL, LEN(EV0 ET "\n{} "), "only spaces and tabs may follow the body"},
		   {MSG_SKIPPED, AT_END}}},
	{"text right after the body", EV0 ET "\n{}xyz\n" NEXT, .cuts = CUT_WHOLE,
	 .steps = {{EINVAL, LEN(EV0 ET "\n{}"), "only spaces and tabs may follow the body on its line, not 'xyz'"},
		   {MSG_SKIPPED, LEN(EV0 ET "\n{}xyz\n")},
		   NEXT_DONE(AT_END)}},
	{"a batch with text after it", EV0 "\n[{\"event_type\":\"A\",\"data\":{}}]\t, []\n", .cuts = CUT_WHOLE,
	 .steps = {{EINVAL, LEN(EV0 "\n[{\"event_type\":\"A\",\"data\":{}}]\t"), "not ', []'"},
		   {MSG_SKIPPED, AT_END}}},
	{"a message right after a body, on its line", EV0 ET "\n{}" NEXT, .cuts = CUT_WHOLE,
	 .steps = {{EINVAL, LEN(EV0 ET "\n{}"), "not 'Expected-Version: 1'"},
		   {MSG_SKIPPED, LEN(EV0 ET "\n{}Expected-Version: 1\n")},
		   {MSG_DONE, AT_END, NULL,
		    {EINVAL, "the Expected-Version header is missing"}}}},
	{"a body closed at the end of a piece is done: the rule holds within a write",
	 EV0 ET "\n{} xyz\n", .cuts = CUT_PIECES, .pieces = {LEN(EV0 ET "\n{}")},
	 .steps = {{MSG_DONE, LEN(EV0 ET "\n{}"), NULL, T_EVENT("{}")},
		   {EINVAL, AT_END, "a header line must be 'Name: value', not 'xyz'"},
		   {MSG_MORE, AT_END}}},
	{"spaces and a tab after the body", EV0 ET "\n{}  \t\n",
	 .steps = {{MSG_DONE, AT_END, NULL, T_EVENT("{}")}}},
	{"blanks after the body, then CRLF", EV0 ET "\n{} \t\r\n",
	 .steps = {{MSG_DONE, AT_END, NULL, T_EVENT("{}")}}},
	{"a tab after the body, then the end of the data", EV0 ET "\n{}\t",
	 .steps = {{MSG_DONE, AT_END, NULL, T_EVENT("{}")}}},
	{"two messages, the first body followed by blanks", EV0 ET "\n{}  \n" NEXT,
	 .steps = {{MSG_DONE, LEN(EV0 ET "\n{}  \n"), NULL, T_EVENT("{}")},
		   NEXT_DONE(AT_END)}},
	{"text after the body of a failed message: skipped to its line's end",
	 "Bad\n\n{} junk\n" NEXT, .cuts = CUT_WHOLE,
	 .steps = {{EINVAL, LEN("Bad\n"), "a header line must be"},
		   {MSG_SKIPPED, LEN("Bad\n\n{} junk\n")},
		   NEXT_DONE(AT_END)}},
	{"text after a body over the limit: skipped to its line's end",
	 EV0 ET "\n{\"p\":\"0123456789\"} junk\n" NEXT, .limit = 48, .cuts = CUT_WHOLE,
	 .steps = {{EFBIG, LEN(EV0 ET "\n{\"p\":\"0123456789\"} "), "the message is over 48 bytes"},
		   {MSG_SKIPPED, LEN(EV0 ET "\n{\"p\":\"0123456789\"} junk\n")},
		   NEXT_DONE(AT_END)}},
	{"a carriage return alone after the body is not a line end",
	 EV0 ET "\n{}\rxyz\n" NEXT, .cuts = CUT_WHOLE,
	 .steps = {{EINVAL, LEN(EV0 ET "\n{}"), "only spaces and tabs may follow the body"},
		   {MSG_SKIPPED, LEN(EV0 ET "\n{}\rxyz\n")},
		   NEXT_DONE(AT_END)}},
	{"a snapshot with text after its body", "Version: 1\n\n{} x\n", .kind = K_SNAPSHOT,
	 .cuts = CUT_WHOLE,
	 .steps = {{EINVAL, LEN("Version: 1\n\n{} "), "only spaces and tabs may follow the body"},
		   {MSG_SKIPPED, AT_END}}},

	/* Snapshots. */
	{"a snapshot", "Version: 3\n\n{\"s\": 1}\n", .kind = K_SNAPSHOT,
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.version = 3, .data = "{\"s\": 1}"}}}},
	{"a snapshot in CRLF, the header in lower case", "version: " MAXV "\r\n\r\n{}\r\n",
	 .kind = K_SNAPSHOT,
	 .steps = {{MSG_DONE, AT_END, NULL,
		    {.version = UINT64_C(72057594037927935), .data = "{}"}}}},
	{"a snapshot whose body is an array (the store refuses it)", "Version: 1\n\n[1]\n",
	 .kind = K_SNAPSHOT,
	 .steps = {{MSG_DONE, AT_END, NULL, {.version = 1, .data = "[1]"}}}},
#define BAD_SNAPSHOT(h, reason) \
	{"snapshot headers " #h, .in = h "\n{}\n", .kind = K_SNAPSHOT, \
	 .steps = {{MSG_DONE, AT_END, NULL, {EINVAL, reason}}}}
	BAD_SNAPSHOT("Version: 0\n", "Version must be a number from 1 to " MAXV ", not '0'"),
	BAD_SNAPSHOT("Version: 72057594037927936\n", "Version must be a number"),
	BAD_SNAPSHOT("Version: 1\nVersion: 2\n", "header Version given twice"),
	BAD_SNAPSHOT("Expected-Version: 1\n", "unknown header 'Expected-Version'"),
	BAD_SNAPSHOT("Version: 1\nEvent-Type: T\n", "unknown header 'Event-Type'"),
};

/* ---- Feeding. -------------------------------------------------------- */

struct got {
	int rc;
	size_t at;
	char why[256];
	char *msg;		/* for MSG_DONE, a copy of the message */
	size_t len, body;
};

struct trace {
	struct got s[16];
	size_t n;
	char bad[256];		/* the first broken rule of msg_feed, if any */
};

static void trace_free(struct trace *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i].msg);
	memset(t, 0, sizeof *t);
}

__attribute__((format(printf, 2, 3)))
static void broken(struct trace *t, const char *fmt, ...)
{
	va_list ap;

	if (t->bad[0])
		return;
	va_start(ap, fmt);
	vsnprintf(t->bad, sizeof t->bad, fmt, ap);
	va_end(ap);
}

/* Feeds in[0..len) in pieces of the lengths in cut (ncut of them, the
 * last taking the rest) to a fresh reader with the given limit, recording
 * every result but MSG_MORE, and MSG_MORE last when the data ends inside
 * a message. Checks msg_feed's promises on the way. */
static void run(const char *in, size_t len, size_t limit, const size_t *cut,
		size_t ncut, struct trace *t)
{
	msg_reader m = {0};
	size_t off = 0, calls = 0;

	memset(t, 0, sizeof *t);
	m.limit = limit ? limit : 1024 * 1024;
	for (size_t k = 0; k < ncut && off < len; k++) {
		size_t piece = k + 1 == ncut || cut[k] > len - off ? len - off : cut[k];
		size_t pos = 0;
		while (pos < piece) {
			char why[256] = "";
			size_t used = SIZE_MAX;
			int rc = msg_feed(&m, in + off + pos, piece - pos, &used, why, sizeof why);
			if (used > piece - pos) {
				broken(t, "msg_feed took %zu of %zu bytes", used, piece - pos);
				used = piece - pos;
			}
			pos += used;
			if (++calls > 4 * len + 16) {
				broken(t, "msg_feed does not get through the input");
				break;
			}
			if (rc == MSG_MORE) {
				if (pos != piece)
					broken(t, "MSG_MORE left %zu bytes of a piece", piece - pos);
				break;
			}
			if (t->n == sizeof t->s / sizeof *t->s) {
				broken(t, "more than %zu results", t->n);
				break;
			}
			struct got *g = &t->s[t->n++];
			g->rc = rc;
			g->at = off + pos;
			snprintf(g->why, sizeof g->why, "%s", why);
			if (rc == MSG_DONE) {
				if (m.body == 0 || m.body > m.len)
					broken(t, "a whole message with its body at %zu of %zu",
					       m.body, m.len);
				g->msg = malloc(m.len ? m.len : 1);
				if (!g->msg)
					bail_out("out of memory");
				memcpy(g->msg, m.buf, m.len);
				g->len = m.len;
				g->body = m.body;
				msg_reset(&m);
			} else if (rc > 0) {
				if (!why[0])
					broken(t, "%s without a reason", strerrorname_np(rc));
				if (msg_pending(&m))
					broken(t, "%s keeps part of the message", strerrorname_np(rc));
			} else if (rc != MSG_SKIPPED) {
				broken(t, "msg_feed returned %d", rc);
			}
		}
		off += piece;
	}
	if (msg_pending(&m) || m.skip) {
		if (t->n < sizeof t->s / sizeof *t->s)
			t->s[t->n++] = (struct got){.rc = MSG_MORE, .at = len};
	}
	msg_free(&m);
}

/* ---- Rendering results, to compare them as text. --------------------- */

struct text {
	char b[4096];
	size_t n;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *x, const char *fmt, ...)
{
	va_list ap;

	if (x->n >= sizeof x->b - 1)
		return;
	va_start(ap, fmt);
	int w = vsnprintf(x->b + x->n, sizeof x->b - x->n, fmt, ap);
	va_end(ap);
	if (w > 0)
		x->n += (size_t)w < sizeof x->b - x->n ? (size_t)w : sizeof x->b - x->n - 1;
}

static const char *rc_name(int rc)
{
	switch (rc) {
	case MSG_MORE: return "MORE";
	case MSG_DONE: return "DONE";
	case MSG_SKIPPED: return "SKIPPED";
	default: return rc > 0 && strerrorname_np(rc) ? strerrorname_np(rc) : "?";
	}
}

static size_t want_steps(const struct step *w)
{
	size_t n = 0;

	while (n < 6 && w[n].at != 0)
		n++;
	return n;
}

/* A message's bytes as a short fingerprint: its lengths and FNV-1a. */
static void put_message(struct text *x, const struct got *g)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < g->len; i++)
		h = (h ^ (unsigned char)g->msg[i]) * UINT64_C(1099511628211);
	put(x, "{%zu bytes, body at %zu, %016llx}", g->len, g->body, (unsigned long long)h);
}

/* The results as "DONE@46 EINVAL@19 SKIPPED@80 MORE@90": with at, the
 * bytes taken; a reason that lacks the row's part is shown in full; with
 * msg, each whole message's fingerprint. */
static void render(struct text *x, const struct trace *t, const struct step *w,
		   int at, int msg)
{
	size_t nw = want_steps(w);

	x->n = 0;
	x->b[0] = '\0';
	for (size_t i = 0; i < t->n; i++) {
		const struct got *g = &t->s[i];
		put(x, "%s%s", i ? " " : "", rc_name(g->rc));
		if (at)
			put(x, "@%zu", g->at);
		if (g->rc > 0 && i < nw && w[i].why && !strstr(g->why, w[i].why))
			put(x, "[why: %s]", g->why);
		if (msg && g->rc == MSG_DONE)
			put_message(x, g);
	}
	if (t->bad[0])
		put(x, " BROKEN: %s", t->bad);
}

static void render_want(struct text *x, const struct step *w)
{
	x->n = 0;
	x->b[0] = '\0';
	for (size_t i = 0; i < want_steps(w); i++)
		put(x, "%s%s@%zu", i ? " " : "", rc_name(w[i].rc), w[i].at);
}

/* ---- Checking parses. ------------------------------------------------ */

static void check_event(const char *name, size_t k, size_t j, const es_event_in *ev,
			const struct ev_want *w)
{
	char id[37] = "";

	is_mem(ev->type, ev->type_len, w->type, strlen(w->type),
	       "%s: message %zu, event %zu: type", name, k, j + 1);
	if (w->data != UNCHECKED)
		is_mem(ev->data, ev->data_len, w->data, w->data_len ? w->data_len : strlen(w->data),
		       "%s: message %zu, event %zu: data", name, k, j + 1);
	else
		ok(ev->data && ev->data_len > 0, "%s: message %zu, event %zu: has data",
		   name, k, j + 1);
	if (w->meta != UNCHECKED)
		is_mem(ev->metadata, ev->metadata_len, w->meta, w->meta ? strlen(w->meta) : 0,
		       "%s: message %zu, event %zu: metadata", name, k, j + 1);
	else
		ok(ev->metadata && ev->metadata_len > 0, "%s: message %zu, event %zu: has metadata",
		   name, k, j + 1);
	is_int(ev->schema_version, w->schema ? w->schema : 1,
	       "%s: message %zu, event %zu: schema version", name, k, j + 1);
	if (ev->id)
		uuid_unparse_lower(ev->id, id);
	is_str(ev->id ? id : NULL, w->id, "%s: message %zu, event %zu: event id", name, k, j + 1);
}

/* Parses message k (counted from 1) of a row as the daemon would, and
 * checks what comes out against the row. */
static void check_parse(const struct mcase *c, size_t k, const struct got *g,
			const struct parse_want *w)
{
	msg_reader m = {.buf = g->msg, .len = g->len, .cap = g->len, .body = g->body};
	char why[256] = "";
	int err;

	if (c->kind == K_SNAPSHOT) {
		uint64_t version = 0;
		const char *data = NULL;
		size_t data_len = 0;
		err = msg_parse_snapshot(&m, &version, &data, &data_len, why, sizeof why);
		is_int(err, w->err, "%s: snapshot %zu %s", c->name, k,
		       w->err ? "is refused" : "parses");
		if (err == 0 && w->err == 0) {
			is_int(version, w->version, "%s: snapshot %zu: version", c->name, k);
			is_mem(data, data_len, w->data, strlen(w->data), "%s: snapshot %zu: data",
			       c->name, k);
		}
	} else {
		msg_append a;
		err = msg_parse_append(&m, &a, why, sizeof why);
		is_int(err, w->err, "%s: message %zu %s", c->name, k,
		       w->err ? "is refused" : "parses");
		if (err == 0 && w->err == 0) {
			is_int(a.expected, w->expected, "%s: message %zu: expected version",
			       c->name, k);
			is_int(a.n, w->n, "%s: message %zu: events", c->name, k);
			for (size_t j = 0; j < a.n && j < w->n; j++)
				check_event(c->name, k, j, &a.ev[j], &w->ev[j]);
		}
		if (err == 0)
			msg_append_free(&a);
		else
			ok(a.ev == NULL && a.owned == NULL && a.n == 0,
			   "%s: message %zu: a refused message leaves nothing to free", c->name, k);
	}
	if (w->err)
		ok(strstr(why, w->why) != NULL, "%s: message %zu: the reason says \"%s\": %s",
		   c->name, k, w->why, why);
}

/* ---- Running a row. -------------------------------------------------- */

static const char *cut_name(unsigned cut, char *buf, size_t size, const struct mcase *c)
{
	if (cut == CUT_WHOLE)
		return "given whole";
	if (cut == CUT_BYTES)
		return "byte by byte";
	size_t o = (size_t)snprintf(buf, size, "in pieces of");
	for (size_t i = 0; i < 4 && c->pieces[i] && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, " %zu", c->pieces[i]);
	snprintf(buf + o, o < size ? size - o : 0, " and the rest");
	return buf;
}

static void run_cut(const struct mcase *c, const char *in, size_t len, unsigned cut,
		    struct trace *t)
{
	size_t whole = len, *bytes = NULL, np = 0;

	if (cut == CUT_WHOLE) {
		run(in, len, c->limit, &whole, 1, t);
	} else if (cut == CUT_PIECES) {
		while (np < 4 && c->pieces[np])
			np++;
		size_t p[5];
		memcpy(p, c->pieces, np * sizeof *p);
		p[np] = len;	/* the rest */
		run(in, len, c->limit, p, np + 1, t);
	} else {
		bytes = malloc((len ? len : 1) * sizeof *bytes);
		if (!bytes)
			bail_out("out of memory");
		for (size_t i = 0; i < len; i++)
			bytes[i] = 1;
		run(in, len, c->limit, bytes, len, t);
		free(bytes);
	}
}

static void run_case(const struct mcase *c)
{
	size_t len = c->len ? c->len : c->in ? strlen(c->in) : 0;
	char *made = c->make ? c->make(&len) : NULL;
	const char *in = made ? made : c->in;
	unsigned cuts = c->cuts ? c->cuts : CUT_ALL;
	unsigned first = cuts & CUT_WHOLE ? CUT_WHOLE : cuts & CUT_PIECES ? CUT_PIECES : CUT_BYTES;
	struct trace ref, t;
	struct text got, want;
	char how[128];
	struct step steps[6];

	todo(c->todo);
	memcpy(steps, c->steps, sizeof steps);
	for (size_t i = 0; i < want_steps(steps); i++)
		if (steps[i].at == AT_END)
			steps[i].at = len;
	/* The first cut against the row: results, bytes used, parses. */
	run_cut(c, in, len, first, &ref);
	render(&got, &ref, steps, 1, 0);
	render_want(&want, steps);
	is_str(got.b, want.b, "%s, %s: msg_feed's results and bytes used", c->name,
	       cut_name(first, how, sizeof how, c));
	for (size_t i = 0, k = 0; i < ref.n && i < want_steps(steps); i++)
		if (ref.s[i].rc == MSG_DONE && steps[i].rc == MSG_DONE)
			check_parse(c, ++k, &ref.s[i], &steps[i].p);

	/* The other cuts against the first. */
	struct text ref_text;
	render(&ref_text, &ref, steps, 0, 1);
	for (unsigned cut = CUT_PIECES; cut <= CUT_BYTES; cut <<= 1)
		if (cut != first && (cuts & cut)) {
			run_cut(c, in, len, cut, &t);
			render(&got, &t, steps, 0, 1);
			is_str(got.b, ref_text.b, "%s, %s: the same results and messages",
			       c->name, cut_name(cut, how, sizeof how, c));
			trace_free(&t);
		}
	if (cuts & CUT_SPLITS) {
		size_t bad_at = 0, tried = 0;
		struct text bad = {.b = "", .n = 0};
		for (size_t k = 1; k < len && !bad_at; k++) {
			size_t two[2] = {k, len - k};
			run(in, len, c->limit, two, 2, &t);
			render(&got, &t, steps, 0, 1);
			if (strcmp(got.b, ref_text.b) != 0) {
				bad_at = k;
				bad = got;
			}
			tried++;
			trace_free(&t);
		}
		if (bad_at)
			is_str(bad.b, ref_text.b, "%s, cut in two at byte %zu: the same results and messages",
			       c->name, bad_at);
		else
			ok(1, "%s, cut in two at each of the %zu split points: the same results and messages",
			   c->name, tried);
	}
	trace_free(&ref);
	free(made);
	todo(NULL);
}

/* ---- Checkpoint positions. ------------------------------------------- */

static const struct {
	const char *in;
	int err;
	uint64_t pos;
	const char *why;
} positions[] = {
	{"42\n", 0, 42, NULL},
	{"42", 0, 42, NULL},
	{"42\r\n", 0, 42, NULL},
	{"0\n", 0, 0, NULL},
	{"007\n", 0, 7, NULL},
	{MAXV "\n", 0, UINT64_C(72057594037927935), NULL},
	{"72057594037927936\n", EINVAL, 0, "not '72057594037927936'"},
	{"", EINVAL, 0, "a checkpoint is a decimal position and a newline"},
	{"\n", EINVAL, 0, "a checkpoint is a decimal position and a newline"},
	{"42\n\n", EINVAL, 0, "not '42\n'"},
	{"4 2\n", EINVAL, 0, "not '4 2'"},
	{" 42\n", EINVAL, 0, "not ' 42'"},
	{"-1\n", EINVAL, 0, "not '-1'"},
	{"+1\n", EINVAL, 0, "not '+1'"},
	{"0x10\n", EINVAL, 0, "not '0x10'"},
	{"42\r", 0, 42, NULL},
};

static void test_positions(void)
{
	for (size_t i = 0; i < sizeof positions / sizeof *positions; i++) {
		char why[256] = "", shown[64];
		uint64_t pos = 12345;
		const char *in = positions[i].in;
		size_t o = 0;
		for (const char *p = in; *p && o + 3 < sizeof shown; p++)
			o += (size_t)snprintf(shown + o, sizeof shown - o, "%s",
					      *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : (char[]){*p, 0});
		shown[o] = '\0';
		int err = msg_parse_position(in, strlen(in), &pos, why, sizeof why);
		is_int(err, positions[i].err, "checkpoint '%s' %s", shown,
		       positions[i].err ? "is refused" : "parses");
		if (positions[i].err == 0 && err == 0)
			is_int(pos, positions[i].pos, "checkpoint '%s' is %llu", shown,
			       (unsigned long long)positions[i].pos);
		if (positions[i].err)
			ok(strstr(why, positions[i].why) != NULL,
			   "checkpoint '%s': the reason says \"%s\": %s", shown, positions[i].why, why);
	}
}

/* ---- The reader's state. --------------------------------------------- */

static void test_pending(void)
{
	msg_reader m = {.limit = 1024};
	char why[256];
	size_t used;

	ok(!msg_pending(&m), "a new reader has nothing pending");
	is_int(msg_feed(&m, "\n\n", 2, &used, why, sizeof why), MSG_MORE,
	       "blank lines: MSG_MORE");
	ok(!msg_pending(&m), "... and nothing pending");
	is_int(msg_feed(&m, EV0 "Ev", LEN(EV0 "Ev"), &used, why, sizeof why), MSG_MORE,
	       "part of a message: MSG_MORE");
	ok(msg_pending(&m), "... pending");
	msg_reset(&m);
	ok(!msg_pending(&m), "msg_reset forgets it");
	is_int(msg_feed(&m, ET "\n{}", LEN(ET "\n{}"), &used, why, sizeof why), MSG_DONE,
	       "after msg_reset a new message starts");
	msg_reset(&m);
	is_int(msg_feed(&m, "Bad\n", 4, &used, why, sizeof why), EINVAL, "a bad header line");
	ok(!msg_pending(&m) && m.skip, "... nothing pending, the rest is being skipped");
	msg_free(&m);
	ok(m.buf == NULL && m.cap == 0 && !msg_pending(&m) && !m.skip,
	   "msg_free leaves an empty reader");
}

int main(void)
{
	size_t n = sizeof cases / sizeof *cases;

	note("%zu message cases", n);
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
	note("%zu checkpoint positions", sizeof positions / sizeof *positions);
	test_positions();
	test_pending();
	return done_testing();
}

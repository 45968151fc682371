/* tests/store-append.c — TAP tests of appending (es_append and stream
 * creation in store/store.h, and through them store/json.c): stream, event
 * type and checkpoint names, the envelope's exact bytes, expected
 * versions, batches, idempotent retries by event id, size limits, and
 * appends to missing streams.
 */
#include "store-fixture.h"

#include <jansson.h>
#include <uuid/uuid.h>

/* ---- Streams and names. ---------------------------------------------- */

struct bad_name {
	const char *s;
	size_t len;
	const char *what;
};

static char name255[256], name256[257];

static const struct bad_name bad_names[] = {
	{"", 0, "an empty name"},
	{name256, 256, "a 256-byte name"},
	{".hidden", 7, "a name starting with '.'"},
	{".", 1, "the name '.'"},
	{"..", 2, "the name '..'"},
	{"a/b", 3, "a name containing '/'"},
	{"a\x01" "b", 3, "a name containing \\x01"},
	{"a\nb", 3, "a name containing a newline"},
	{"a\0b", 3, "a name containing NUL"},
	{"a\x7f" "b", 3, "a name containing DEL"},
	{"a\xc2\x85" "b", 4, "a name containing the C1 control U+0085"},
	{"a\xc2\x9f", 3, "a name containing the C1 control U+009F"},
	{"a\xff" "b", 3, "a name with the invalid UTF-8 byte \\xff"},
	{"a\xc3", 2, "a name with truncated UTF-8"},
	{"a\xc0\xaf", 3, "a name with overlong UTF-8"},
	{"a\xed\xa0\x80", 4, "a name with a UTF-16 surrogate in UTF-8"},
};

/* Stream create/remove: duplicate, bad and good names, removal rules,
 * ids never reused, es_stream_count; the same name rules for checkpoints
 * and event types. */
static void test_streams(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	char what[128];

	note("streams and names");
	is_int(es_stream_create(s, NM("Order-1")), 0, "create Order-1");
	is_int(stream_count(s), 1, "one stream");
	is_int(version_of(s, "Order-1"), 0, "a new stream is at version 0");
	fails(es_stream_create(s, NM("Order-1")), EEXIST, "creating Order-1 again");
	is_int(stream_count(s), 1, "still one stream");

	for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
		const struct bad_name *b = &bad_names[i];
		es_event_in e = mk("T", "{}", NULL);
		uint64_t id;
		snprintf(what, sizeof what, "es_stream_create with %s", b->what);
		fails(es_stream_create(s, b->s, b->len), EINVAL, what);
		snprintf(what, sizeof what, "es_checkpoint_put with %s", b->what);
		fails(es_checkpoint_put(s, b->s, b->len, 0), EINVAL, what);
		snprintf(what, sizeof what, "es_checkpoint_reserve with %s", b->what);
		fails(es_checkpoint_reserve(s, b->s, b->len, &id), EINVAL, what);
		e.type = b->s;
		e.type_len = b->len;
		snprintf(what, sizeof what, "es_append with an event type that is %s", b->what);
		fails(es_append(s, NM("Order-1"), ES_ANY, &e, 1, NULL), EINVAL, what);
	}
	is_int(stream_count(s), 1, "no bad name made a stream");
	is_int(head_of(s), 0, "no bad event type made an event");

	/* Good names. */
	const char *good[] = {"Order-é", "q\"uote\\back", "with space", "a.b", "日本語-1",
			      "x\xc2\xa0y" /* U+00A0 is not a control */};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		is_int(es_stream_create(s, NM(good[i])), 0, "create stream %s", good[i]);
		es_read *r = view(s);
		es_stream st;
		int err = es_stream_get(r, NM(good[i]), &st);
		ok(err == 0 && st.name_len == strlen(good[i]) &&
		   memcmp(st.name, good[i], st.name_len) == 0,
		   "es_stream_get finds %s with its name", good[i]);
		es_read_end(r);
		is_int(es_checkpoint_put(s, NM(good[i]), 0), 0, "checkpoint named %s", good[i]);
		is_int(append1(s, good[i], 0, good[i], "{}", NULL, NULL), 0,
		       "event type %s", good[i]);
	}
	is_int(es_stream_create(s, name255, 255), 0, "a 255-byte name works");
	is_int(append1(s, "Order-1", ES_ANY, name255, "{}", NULL, NULL), 0,
	       "a 255-byte event type works");
	is_int(es_checkpoint_put(s, name255, 255, 0), 0, "a 255-byte checkpoint name works");
	is_int(version_of(s, name255), 0, "the 255-byte stream is there");
	uint64_t count = 2 + sizeof good / sizeof *good;
	is_int(stream_count(s), count, "es_stream_count counts every stream");

	/* Removal. */
	fails(es_stream_remove(s, NM("Order-1")), ENOTEMPTY, "removing a stream with events");
	is_int(version_of(s, "Order-1"), 1, "the stream is still there");
	fails(es_stream_remove(s, NM("Nope")), ENOENT, "removing a missing stream");
	is_int(stream_count(s), count, "es_stream_count is unchanged");
	is_int(es_stream_create(s, NM("Tmp")), 0, "create Tmp");
	uint64_t tmp1 = id_of(s, "Tmp");
	is_int(stream_count(s), count + 1, "es_stream_count goes up");
	is_int(es_stream_remove(s, NM("Tmp")), 0, "remove the empty stream Tmp");
	is_int(stream_count(s), count, "es_stream_count goes down");
	is_int(version_of(s, "Tmp"), -1, "Tmp is gone");
	es_read *r = view(s);
	es_stream st;
	is_int(es_stream_get_id(r, tmp1, &st), ENOENT, "Tmp's id finds nothing");
	es_read_end(r);
	fails(es_stream_remove(s, NM("Tmp")), ENOENT, "removing Tmp again");
	is_int(es_stream_create(s, NM("Tmp")), 0, "create Tmp again");
	uint64_t tmp2 = id_of(s, "Tmp");
	ok(tmp2 > tmp1, "the new Tmp has a new id (%llu, was %llu)",
	   (unsigned long long)tmp2, (unsigned long long)tmp1);
	is_int(es_stream_remove(s, NM("Tmp")), 0, "remove Tmp");
	is_int(es_stream_create(s, NM("Other")), 0, "create Other");
	ok(id_of(s, "Other") > tmp2, "ids are never reused after removal");
	is_int(stream_count(s), count + 1, "es_stream_count follows");

	/* Ids are distinct and the names map to them both ways. */
	r = view(s);
	int both_ways = 1;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		es_stream a, b;
		if (es_stream_get(r, NM(good[i]), &a) || es_stream_get_id(r, a.id, &b) ||
		    b.name_len != a.name_len || memcmp(b.name, good[i], a.name_len))
			both_ways = 0;
	}
	ok(both_ways, "es_stream_get_id gives back each stream by its id");
	es_read_end(r);

	done_store(s, dir);
}

/* ---- The envelope. --------------------------------------------------- */

#define UUID_RE "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

/* Checks with jansson that an envelope is one JSON object with exactly the
 * contract's keys in the contract's order. */
static void check_envelope_keys(const char *json, size_t len, const char *what)
{
	static const char *keys[] = {"event_id", "stream_id", "event_type", "version",
				     "schema_version", "data", "metadata",
				     "global_position", "created_at"};
	json_error_t jerr;
	json_t *v = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
			       &jerr);
	size_t i = 0;
	int in_order = v && json_is_object(v);

	ok(v != NULL, "%s: the envelope is valid JSON%s%s", what, v ? "" : ": ",
	   v ? "" : jerr.text);
	if (!v)
		return;
	for (void *it = json_object_iter(v); it && in_order;
	     it = json_object_iter_next(v, it), i++)
		if (i >= 9 || strcmp(json_object_iter_key(it), keys[i]) != 0)
			in_order = 0;
	ok(in_order && i == 9, "%s: the envelope has the nine keys in order", what);
	ok(json_is_object(json_object_get(v, "data")) &&
	   json_is_object(json_object_get(v, "metadata")) &&
	   json_is_number(json_object_get(v, "version")) &&
	   json_is_number(json_object_get(v, "schema_version")) &&
	   json_is_number(json_object_get(v, "global_position")) &&
	   json_is_string(json_object_get(v, "event_id")) &&
	   json_is_string(json_object_get(v, "created_at")),
	   "%s: data and metadata are objects, the numbers numbers, the rest strings", what);
	json_decref(v);
}

/* A single append: version 1, position 1, the exact envelope bytes; data
 * and metadata compacted with numbers and escapes kept byte for byte;
 * names JSON-escaped; the caller's event id kept and written lowercase. */
static void test_envelope(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_appended a = {0};
	char uuid[37], when[32], expect[2048];

	note("the envelope");
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	int64_t before = now_us();
	is_int(append1(s, "S", 0, "T", "{ \"a\" : 1 }", NULL, &a), 0, "append one event");
	int64_t after = now_us();
	ok(a.first_version == 1 && a.last_version == 1 && a.first_position == 1 &&
	   a.last_position == 1 && !a.retry, "it is version 1 at position 1, not a retry");

	uint64_t sid = id_of(s, "S");
	es_read *r = view(s);
	es_event ev;
	int err = es_event_get(r, 1, &ev);
	is_int(err, 0, "es_event_get(1)");
	if (!err) {
		ok(matches("^[{]\"event_id\":\"" UUID_RE "\",\"stream_id\":\"S\","
			   "\"event_type\":\"T\",\"version\":1,\"schema_version\":1,"
			   "\"data\":[{]\"a\":1[}],\"metadata\":[{][}],\"global_position\":1,"
			   "\"created_at\":\"" TIME_RE "\"[}]\n$", ev.json, ev.json_len),
		   "the envelope has the contract's form: %.*s", (int)ev.json_len - 1, ev.json);
		uuid_unparse_lower(ev.id, uuid);
		es_time_format(ev.created_us, when);
		snprintf(expect, sizeof expect,
			 "{\"event_id\":\"%s\",\"stream_id\":\"S\",\"event_type\":\"T\","
			 "\"version\":1,\"schema_version\":1,\"data\":{\"a\":1},"
			 "\"metadata\":{},\"global_position\":1,\"created_at\":\"%s\"}\n",
			 uuid, when);
		is_mem(ev.json, ev.json_len, expect, strlen(expect),
		       "the envelope is exactly the expected line, ending in a newline");
		ok(ev.created_us >= before && ev.created_us <= after,
		   "created_at is the commit time");
		is_int(es_time_format(ev.created_us, when), 27, "es_time_format gives 27 bytes");
		ok(ev.stream_id == sid && ev.version == 1 && ev.position == 1,
		   "the event record has the stream id, version and position");
		check_envelope_keys(ev.json, ev.json_len, "single event");
	}
	es_stream st;
	ok(es_stream_get(r, NM("S"), &st) == 0 && st.version == 1 &&
	   st.updated_us == ev.created_us, "the stream is at version 1, updated then");
	uint64_t hp;
	int64_t ht;
	ok(es_head(r, &hp, &ht) == 0 && hp == 1 && ht == ev.created_us,
	   "es_head gives position 1 and its time");
	es_read_end(r);

	/* Data and metadata: whitespace goes, everything else stays. */
	static const char data[] =
		"{\n\t\"n\" : 0.1 ,\r\n \"e\" : 1e5, \"f\" : 1.0, \"E\" : 1E+2, "
		"\"neg\" : -0, \"big\" : 123456789012345678901234567890,\n"
		"  \"s\" : \"\\u00e9\\/x\", \"w\" : \"a b\\tc\\n\", \"k e y\" : \"é\",\n"
		"  \"nested\" : { \"a\" : [ 1 , 2 , { } , [ ] ] , \"t\" : true , \"z\" : null }\n}\n";
	static const char data_c[] =
		"{\"n\":0.1,\"e\":1e5,\"f\":1.0,\"E\":1E+2,\"neg\":-0,"
		"\"big\":123456789012345678901234567890,\"s\":\"\\u00e9\\/x\","
		"\"w\":\"a b\\tc\\n\",\"k e y\":\"é\",\"nested\":{\"a\":[1,2,{},[]],\"t\":true,\"z\":null}}";
	static const char meta[] = " { \"correlation_id\" : \"req 1\" , \"n\" : 2.50 } ";
	static const char meta_c[] = "{\"correlation_id\":\"req 1\",\"n\":2.50}";
	unsigned char id[16];
	uuid_parse("6F1C0B5E-8C1D-4C1B-9D43-0B9F8A7F4A10", id);
	es_event_in e = mk("Order\"Placed\\", data, id);
	e.metadata = meta;
	e.metadata_len = strlen(meta);
	e.schema_version = 7;
	const char *sname = "Q\"uo\\te-é";
	is_int(es_stream_create(s, NM(sname)), 0, "create a stream named with '\"' and '\\'");
	is_int(es_append(s, NM(sname), 0, &e, 1, &a), 0, "append with data, metadata and an id");
	size_t len;
	char *got = event_bytes(s, 2, &len);
	if (got) {
		es_read *r2 = view(s);
		es_event ev2;
		es_event_get(r2, 2, &ev2);
		es_time_format(ev2.created_us, when);
		es_read_end(r2);
		snprintf(expect, sizeof expect,
			 "{\"event_id\":\"6f1c0b5e-8c1d-4c1b-9d43-0b9f8a7f4a10\","
			 "\"stream_id\":\"Q\\\"uo\\\\te-é\",\"event_type\":\"Order\\\"Placed\\\\\","
			 "\"version\":1,\"schema_version\":7,\"data\":%s,\"metadata\":%s,"
			 "\"global_position\":2,\"created_at\":\"%s\"}\n", data_c, meta_c, when);
		is_mem(got, len, expect, strlen(expect),
		       "data and metadata are compacted, numbers and escapes kept; names escaped");
		check_envelope_keys(got, len, "escaped names");
		json_t *v = json_loadb(got, len, JSON_DECODE_INT_AS_REAL, NULL);
		is_str(json_string_value(json_object_get(v, "stream_id")), sname,
		       "the escaped stream_id decodes to the stream's name");
		is_str(json_string_value(json_object_get(v, "event_type")), "Order\"Placed\\",
		       "the escaped event_type decodes to the type");
		json_decref(v);
		free(got);
	} else {
		ok(0, "event 2 is there");
	}
	done_store(s, dir);
}

/* ---- Expected versions. ---------------------------------------------- */

/* Does text hold the decimal number n, not as part of a longer number? */
static int mentions_number(const char *text, unsigned long long n)
{
	char num[32];
	size_t len = (size_t)snprintf(num, sizeof num, "%llu", n);

	for (const char *p = strstr(text, num); p; p = strstr(p + 1, num))
		if ((p == text || p[-1] < '0' || p[-1] > '9') &&
		    (p[len] < '0' || p[len] > '9'))
			return 1;
	return 0;
}

/* Exact expected versions succeed, others fail with EEXIST and store
 * nothing (the reason names the stream and both versions); ES_ANY always
 * works; an expected version below -1 is EINVAL. */
static void test_expected_version(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_appended a = {0};

	note("expected versions");
	is_int(es_stream_create(s, NM("Acct-9")), 0, "create Acct-9");
	is_int(es_stream_create(s, NM("Other")), 0, "create Other");
	fill(s, "Other", 2);
	is_int(append1(s, "Acct-9", 0, "T", "{}", NULL, &a), 0, "expected 0 on an empty stream");
	ok(a.first_version == 1 && a.first_position == 3, "... version 1 at position 3");
	is_int(append1(s, "Acct-9", 1, "T", "{}", NULL, NULL), 0, "expected 1");
	is_int(append1(s, "Acct-9", 2, "T", "{}", NULL, &a), 0, "expected 2");
	ok(a.first_version == 3 && a.first_position == 5, "... version 3 at position 5");

	fails(append1(s, "Acct-9", 17, "T", "{}", NULL, NULL), EEXIST, "expected 17 at version 3");
	const char *why = es_why();
	ok(mentions_number(why, 17) && mentions_number(why, 3),
	   "the reason mentions the expected (17) and actual (3) versions: %s", why);
	ok(strstr(why, "Acct-9") != NULL, "the reason names the stream");
	fails(append1(s, "Acct-9", 2, "T", "{}", NULL, NULL), EEXIST, "expected 2 at version 3");
	fails(append1(s, "Acct-9", 0, "T", "{}", NULL, NULL), EEXIST, "expected 0 at version 3");
	fails(append1(s, "Acct-9", 4, "T", "{}", NULL, NULL), EEXIST, "expected 4 at version 3");
	is_int(head_of(s), 5, "the failed appends stored nothing (head)");
	is_int(version_of(s, "Acct-9"), 3, "the failed appends stored nothing (version)");
	size_t len;
	char *b = event_bytes(s, 6, &len);
	ok(b == NULL, "there is no event at position 6");
	free(b);

	is_int(append1(s, "Acct-9", ES_ANY, "T", "{}", NULL, &a), 0, "ES_ANY at version 3");
	ok(a.first_version == 4 && a.first_position == 6, "... version 4 at position 6");
	is_int(es_stream_create(s, NM("Fresh")), 0, "create Fresh");
	is_int(append1(s, "Fresh", ES_ANY, "T", "{}", NULL, &a), 0, "ES_ANY on an empty stream");
	ok(a.first_version == 1, "... version 1");

	fails(append1(s, "Acct-9", -2, "T", "{}", NULL, NULL), EINVAL, "expected -2");
	fails(append1(s, "Acct-9", INT64_MIN, "T", "{}", NULL, NULL), EINVAL,
	      "expected INT64_MIN");
	is_int(version_of(s, "Acct-9"), 4, "nothing stored by bad expected versions");
	is_int(head_of(s), 7, "head is 7");

	/* A batch checks the expected version once, against the start. */
	es_event_in two[2] = {mk("T", "{}", NULL), mk("T", "{}", NULL)};
	is_int(es_append(s, NM("Acct-9"), 4, two, 2, &a), 0, "a batch of two at expected 4");
	ok(a.first_version == 5 && a.last_version == 6, "... versions 5 and 6");
	fails(es_append(s, NM("Acct-9"), 5, two, 2, NULL), EEXIST, "a batch at expected 5");
	is_int(version_of(s, "Acct-9"), 6, "... stored nothing");
	done_store(s, dir);
}

/* ---- Batches. -------------------------------------------------------- */

/* A raw NUL is never JSON, even where jansson 2.14 lets one pass (after a
 * number or a literal): found by the fuzzer. */
static void test_nul_in_json(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	static const char *bodies[] = {"{\"a\":1\0}", "{\"a\":true\0}", "{\"a\":null\0,\"b\":2}"};
	static const size_t lens[] = {8, 11, 16};

	es_stream_create(s, "S", 1);
	for (int i = 0; i < 3; i++) {
		es_event_in e = mk("T", NULL, NULL);
		e.data = bodies[i];
		e.data_len = lens[i];
		fails(es_append(s, "S", 1, ES_ANY, &e, 1, NULL), EINVAL,
		      "data with a raw NUL after a literal");
		e.data = "{}";
		e.data_len = 2;
		e.metadata = bodies[i];
		e.metadata_len = lens[i];
		fails(es_append(s, "S", 1, ES_ANY, &e, 1, NULL), EINVAL,
		      "metadata with a raw NUL after a literal");
	}
	is_int(head_of(s), 0, "nothing was stored");
	done_store(s, dir);
}

/* n events get consecutive versions and positions; one bad event (bad
 * JSON, bad type, data or metadata not an object, no data), an empty batch
 * or a repeated id fails the whole batch with EINVAL and stores nothing. */
static void test_batches(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_appended a = {0};
	es_event_in ev[5];
	char data[5][32];

	note("batches");
	is_int(es_stream_create(s, NM("B")), 0, "create B");
	is_int(es_stream_create(s, NM("X")), 0, "create X");
	fill(s, "X", 3);
	fill(s, "B", 1);
	for (int i = 0; i < 5; i++) {
		snprintf(data[i], sizeof data[i], "{ \"k\" : %d }", i);
		ev[i] = mk(i % 2 ? "Odd" : "Even", data[i], NULL);
	}
	is_int(es_append(s, NM("B"), 1, ev, 5, &a), 0, "append a batch of 5 at version 1");
	ok(a.first_version == 2 && a.last_version == 6 && a.first_position == 5 &&
	   a.last_position == 9 && !a.retry, "versions 2…6 at positions 5…9");
	struct events w = {0};
	is_int(stream_walk(s, id_of(s, "B"), 2, &w), 0, "walk the batch");
	is_int(w.n, 5, "five events");
	ok(gapless_versions(&w, 2, id_of(s, "B")) && gapless_positions(&w, 5),
	   "consecutive versions and positions");
	int all_same_time = 1, data_ok = 1;
	for (size_t i = 0; i < w.n; i++) {
		char want[48];
		snprintf(want, sizeof want, "\"data\":{\"k\":%zu}", i);
		if (!strstr(w.v[i].json, want) ||
		    !strstr(w.v[i].json, i % 2 ? "\"event_type\":\"Odd\"" : "\"event_type\":\"Even\""))
			data_ok = 0;
		if (w.v[i].created_us != w.v[0].created_us)
			all_same_time = 0;
	}
	ok(data_ok, "each event has its own type and data, in order");
	ok(all_same_time, "a batch is one commit: one created_at");
	events_free(&w);

	/* Bad batches: the last event is the bad one. */
	static const struct {
		const char *type, *data, *meta, *what;
	} bad[] = {
		{"T", "{\"a\":}", NULL, "bad JSON data"},
		{"T", "{\"a\":1", NULL, "unterminated JSON data"},
		{"T", "{\"a\":1} x", NULL, "data with trailing garbage"},
		{"T", "{\"a\":1}{}", NULL, "data with two objects"},
		{"T", "", NULL, "empty data"},
		{"T", "[1,2]", NULL, "data that is an array"},
		{"T", "\"x\"", NULL, "data that is a string"},
		{"T", "42", NULL, "data that is a number"},
		{"T", "null", NULL, "data that is null"},
		{"T", "{\"a\":1,\"a\":2}", NULL, "data with a duplicate key"},
		{"T", "{'a':1}", NULL, "data with single quotes"},
		{"T", "{\"a\":\"\xff\"}", NULL, "data with invalid UTF-8"},
		{"T", "{}", "[]", "metadata that is an array"},
		{"T", "{}", "\"m\"", "metadata that is a string"},
		{"T", "{}", "{\"m\":", "bad JSON metadata"},
		{"", "{}", NULL, "an empty event type"},
		{"a/b", "{}", NULL, "an event type with '/'"},
		{".T", "{}", NULL, "an event type starting with '.'"},
		{NULL, "{}", NULL, "no event type"},
		{"T", NULL, NULL, "no data"},
	};
	uint64_t head = head_of(s);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char what[128];
		es_event_in three[3] = {mk("T", "{}", NULL), mk("T", "{\"ok\":1}", NULL),
					mk(bad[i].type, bad[i].data, NULL)};
		if (bad[i].meta) {
			three[2].metadata = bad[i].meta;
			three[2].metadata_len = strlen(bad[i].meta);
		}
		snprintf(what, sizeof what, "a batch with %s", bad[i].what);
		fails(es_append(s, NM("B"), ES_ANY, three, 3, NULL), EINVAL, what);
		snprintf(what, sizeof what, "a single event with %s", bad[i].what);
		fails(es_append(s, NM("B"), ES_ANY, &three[2], 1, NULL), EINVAL, what);
	}
	is_int(head_of(s), head, "no bad batch stored anything (head)");
	is_int(version_of(s, "B"), 6, "no bad batch stored anything (version)");
	fails(es_append(s, NM("B"), ES_ANY, ev, 0, NULL), EINVAL, "an empty batch");

	/* Repeated ids within a batch. */
	unsigned char id1[16], id2[16], id3[16];
	uuid_generate(id1);
	uuid_generate(id2);
	uuid_generate(id3);
	es_event_in dup[4] = {mk("T", "{}", id1), mk("T", "{}", id2), mk("T", "{}", NULL),
			      mk("T", "{}", id1)};
	fails(es_append(s, NM("B"), ES_ANY, dup, 4, NULL), EINVAL,
	      "a batch with the same id twice (not adjacent)");
	dup[3].id = id3;
	dup[1].id = id3;
	fails(es_append(s, NM("B"), ES_ANY, dup, 4, NULL), EINVAL,
	      "a batch with another id twice (at 2 and 4)");
	es_event_in pair[2] = {mk("T", "{}", id2), mk("T", "{}", id2)};
	fails(es_append(s, NM("B"), ES_ANY, pair, 2, NULL), EINVAL,
	      "a batch of one id twice in a row");
	is_int(version_of(s, "B"), 6, "nothing stored by batches with repeated ids");

	/* The ids of the failed batches were not stored: they append anew. */
	es_event_in fresh[3] = {mk("T", "{}", id1), mk("T", "{}", id2), mk("T", "{}", id3)};
	is_int(es_append(s, NM("B"), 6, fresh, 3, &a), 0,
	       "the ids of failed batches append as new events");
	ok(!a.retry && a.first_version == 7 && a.last_version == 9,
	   "... not a retry, versions 7…9");

	/* A batch of many events. */
	enum { MANY = 300 };
	es_event_in *many = calloc(MANY, sizeof *many);
	for (int i = 0; i < MANY; i++)
		many[i] = mk("Many", "{\"x\":[1,2,3]}", NULL);
	head = head_of(s);
	is_int(es_append(s, NM("X"), 3, many, MANY, &a), 0, "a batch of %d events", MANY);
	ok(a.first_version == 4 && a.last_version == 3 + MANY &&
	   a.first_position == head + 1 && a.last_position == head + MANY,
	   "... consecutive versions and positions");
	free(many);
	done_store(s, dir);
}

/* ---- Idempotency. ---------------------------------------------------- */

/* An event id already stored in the stream is a retry, whatever the
 * expected version: it returns the stored numbers and writes nothing. A
 * batch is a retry only with all of its ids stored in that order; a partly
 * stored batch, or an id stored in another stream, is EEXIST. */
static void test_idempotency(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_appended a = {0};
	unsigned char id1[16], b1[16], b2[16], b3[16], n1[16], n2[16];

	note("idempotency");
	uuid_generate(id1);
	uuid_generate(b1);
	uuid_generate(b2);
	uuid_generate(b3);
	uuid_generate(n1);
	uuid_generate(n2);
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	is_int(es_stream_create(s, NM("T")), 0, "create T");
	fill(s, "T", 1);
	is_int(append1(s, "S", 0, "E", "{\"a\":1}", id1, &a), 0, "append an event with an id");
	ok(a.first_version == 1 && a.first_position == 2 && !a.retry, "version 1 at position 2");
	size_t len0;
	char *orig = event_bytes(s, 2, &len0);
	fill(s, "S", 1);
	uint64_t head = head_of(s);

	memset(&a, 0, sizeof a);
	is_int(append1(s, "S", 0, "E", "{\"a\":1}", id1, &a), 0,
	       "the same event again with a wrong expected version succeeds");
	ok(a.retry == 1, "... as a retry");
	ok(a.first_version == 1 && a.last_version == 1 && a.first_position == 2 &&
	   a.last_position == 2, "... with the original version and position");
	is_int(head_of(s), head, "... and stores nothing (head)");
	is_int(version_of(s, "S"), 2, "... and stores nothing (version)");
	memset(&a, 0, sizeof a);
	is_int(append1(s, "S", ES_ANY, "E", "{\"a\":1}", id1, &a), 0, "again with ES_ANY");
	ok(a.retry && a.first_version == 1 && a.first_position == 2, "... a retry too");
	is_int(append1(s, "S", 2, "E", "{\"a\":1}", id1, &a), 0,
	       "again with the current version as expected");
	ok(a.retry && a.first_version == 1, "... a retry too");
	is_int(append1(s, "S", 2, "E", "{\"a\":1}", id1, NULL), 0, "a retry with out NULL");
	size_t len;
	char *now = event_bytes(s, 2, &len);
	is_mem(now, len, orig, len0, "the original event is unchanged");
	free(now);
	free(orig);
	is_int(head_of(s), head, "no retry stored anything");

	/* Batches. */
	es_event_in batch[3] = {mk("E", "{\"b\":1}", b1), mk("E", "{\"b\":2}", b2),
				mk("E", "{\"b\":3}", b3)};
	is_int(es_append(s, NM("S"), 2, batch, 3, &a), 0, "append a batch with ids");
	ok(a.first_version == 3 && a.last_version == 5 && !a.retry, "versions 3…5");
	uint64_t bpos = a.first_position;
	fill(s, "S", 1);
	fill(s, "T", 1);
	head = head_of(s);
	memset(&a, 0, sizeof a);
	is_int(es_append(s, NM("S"), 0, batch, 3, &a), 0,
	       "the whole batch again, same ids, same order, wrong expected version");
	ok(a.retry && a.first_version == 3 && a.last_version == 5 &&
	   a.first_position == bpos && a.last_position == bpos + 2,
	   "... is a retry with the original versions and positions");
	is_int(head_of(s), head, "... and stores nothing");

	es_event_in swapped[3] = {batch[1], batch[0], batch[2]};
	fails(es_append(s, NM("S"), ES_ANY, swapped, 3, NULL), EEXIST,
	      "the batch's ids in another order");
	es_event_in partly[2] = {batch[0], mk("E", "{}", n1)};
	fails(es_append(s, NM("S"), ES_ANY, partly, 2, NULL), EEXIST,
	      "a batch with one stored id and one new id");
	es_event_in partly2[2] = {mk("E", "{}", n2), batch[2]};
	fails(es_append(s, NM("S"), ES_ANY, partly2, 2, NULL), EEXIST,
	      "a batch with one new id and one stored id");
	es_event_in no_id[2] = {batch[0], mk("E", "{}", NULL)};
	fails(es_append(s, NM("S"), ES_ANY, no_id, 2, NULL), EEXIST,
	      "a batch with one stored id and one event without an id");
	es_event_in gap[2] = {batch[0], batch[2]};
	fails(es_append(s, NM("S"), ES_ANY, gap, 2, NULL), EEXIST,
	      "stored ids in order but not at consecutive versions");
	es_event_in mixed[2] = {batch[0], mk("E", "{}", id1)};
	fails(es_append(s, NM("S"), ES_ANY, mixed, 2, NULL), EEXIST,
	      "a batch of stored ids from two different appends, out of order");
	is_int(head_of(s), head, "the conflicting batches stored nothing (head)");
	is_int(version_of(s, "S"), 6, "... nor changed the stream");
	is_int(append1(s, "S", 6, "E", "{}", n1, &a), 0,
	       "an id from a failed batch appends anew");
	ok(!a.retry && a.first_version == 7, "... as version 7, not a retry");

	/* Another stream. */
	head = head_of(s);
	fails(append1(s, "T", ES_ANY, "E", "{\"a\":1}", id1, NULL), EEXIST,
	      "an id stored in S, appended to T");
	is_int(version_of(s, "T"), 2, "T is unchanged");
	fails(es_append(s, NM("T"), ES_ANY, batch, 3, NULL), EEXIST,
	      "S's whole batch, appended to T");
	is_int(head_of(s), head, "nothing stored");
	done_store(s, dir);
}

/* ---- Size limits. ---------------------------------------------------- */

/* Envelopes over es_options.max_event (or the 1 MiB default) are EFBIG and
 * store nothing; an envelope of exactly the limit is accepted. */
static void test_efbig(void)
{
	char *dir = tmp_dir();
	es_options o = {.max_event = 1000};
	es_store *s = open_store(dir, &o);
	es_appended a;

	note("size limits");
	is_int(es_stream_create(s, NM("S")), 0, "create S");
	char *big = json_with_string(2000);
	fails(append1(s, "S", ES_ANY, "T", big, NULL, NULL), EFBIG,
	      "a 2000-byte event with max_event 1000");
	is_int(head_of(s), 0, "nothing stored");
	is_int(version_of(s, "S"), 0, "the stream is still at version 0");
	es_event_in two[2] = {mk("T", "{}", NULL), mk("T", big, NULL)};
	fails(es_append(s, NM("S"), ES_ANY, two, 2, NULL), EFBIG,
	      "a batch whose second event is too big");
	is_int(head_of(s), 0, "nothing stored");

	/* The limit is on the whole envelope: find the exact boundary. */
	is_int(append1(s, "S", ES_ANY, "T", "{\"p\":\"\"}", NULL, NULL), 0, "a small event");
	size_t base;
	char *b = event_bytes(s, 1, &base);
	free(b);
	ok(base > 200 && base < 1000, "its envelope is %zu bytes", base);
	size_t room = 1000 - base;
	char *exact = json_with_string(room);
	is_int(append1(s, "S", ES_ANY, "T", exact, NULL, &a), 0,
	       "an envelope of exactly max_event bytes is accepted");
	size_t len;
	b = event_bytes(s, 2, &len);
	is_int(len, 1000, "... and is 1000 bytes");
	free(b);
	free(exact);
	exact = json_with_string(room + 1);
	fails(append1(s, "S", ES_ANY, "T", exact, NULL, NULL), EFBIG,
	      "an envelope of max_event + 1 bytes");
	is_int(head_of(s), 2, "nothing stored");
	free(exact);
	es_close(s);

	/* The default limit is 1 MiB. */
	s = open_store(dir, NULL);
	char *huge = json_with_string(ES_MAX_EVENT_DEFAULT);
	fails(append1(s, "S", ES_ANY, "T", huge, NULL, NULL), EFBIG,
	      "a 1 MiB event with the default limit");
	free(huge);
	huge = json_with_string(ES_MAX_EVENT_DEFAULT - 4096);
	is_int(append1(s, "S", ES_ANY, "T", huge, NULL, NULL), 0,
	       "an event just under 1 MiB is accepted by default");
	free(huge);
	is_int(head_of(s), 3, "three events in all");
	es_close(s);
	free(big);
	rm_store(dir);
	free(dir);
}

/* ---- Missing streams. ----------------------------------------------- */

/* Changes to a stream that does not exist are ENOENT with a reason. */
static void test_missing_stream(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	es_event_in e = mk("T", "{}", NULL);

	note("missing streams");
	fails(es_append(s, NM("Nope"), ES_ANY, &e, 1, NULL), ENOENT,
	      "appending to a missing stream");
	ok(strstr(es_why(), "Nope") != NULL, "the reason names the stream: %s", es_why());
	fails(es_append(s, NM("Nope"), 0, &e, 1, NULL), ENOENT,
	      "appending to a missing stream with expected 0");
	is_int(es_stream_create(s, NM("Gone")), 0, "create Gone");
	is_int(es_stream_remove(s, NM("Gone")), 0, "remove Gone");
	fails(es_append(s, NM("Gone"), ES_ANY, &e, 1, NULL), ENOENT,
	      "appending to a removed stream");
	fails(es_snapshot_put(s, NM("Nope"), 1, NM("{}")), ENOENT,
	      "a snapshot of a missing stream");
	fails(es_snapshot_delete(s, NM("Nope")), ENOENT,
	      "deleting the snapshot of a missing stream");
	is_int(head_of(s), 0, "nothing stored");
	is_int(stream_count(s), 0, "no stream made");
	done_store(s, dir);
}

int main(void)
{
	memset(name255, 'n', 255);
	memset(name256, 'n', 256);
	test_streams();
	test_envelope();
	test_expected_version();
	test_nul_in_json();
	test_batches();
	test_idempotency();
	test_efbig();
	test_missing_stream();
	return done_testing();
}

/* tests/store-views.c — TAP tests of the store's views (store/store.h):
 * categories and event types listing their events by position, kept in the
 * append's transaction, across a reopen, and built when a format 1 store is
 * upgraded.
 */
#include "store-fixture.h"

/* ---- Views. ------------------------------------------------------------ */

static int collect_view(void *arg, const es_view *v)
{
	char *names = arg;

	strncat(names, v->name, v->name_len);
	strcat(names, " ");
	return 0;
}

/* The names of the views of a kind, space-separated, in id order. */
static void view_names(es_store *s, int kind, char *names)
{
	es_read *r = view(s);

	names[0] = '\0';
	if (es_views_walk(r, kind, 0, collect_view, names))
		bail_out("es_views_walk: %s", es_why());
	es_read_end(r);
}

/* The positions of a view's events, space-separated. */
static void view_positions(es_store *s, int kind, const char *name, uint64_t from,
			   char *out)
{
	es_read *r = view(s);
	es_view v;
	struct events e = {0};

	out[0] = '\0';
	if (es_view_get(r, kind, NM(name), &v) == 0 &&
	    es_view_walk(r, v.id, from, collect_event, &e) == 0)
		for (size_t i = 0; i < e.n; i++)
			sprintf(out + strlen(out), "%llu ", (unsigned long long)e.v[i].position);
	events_free(&e);
	es_read_end(r);
}

/* The views of the events test_views appends. */
static void expect_views(es_store *s, const char *when)
{
	char names[1024], got[1024];

	view_names(s, ES_CATEGORY, names);
	is_str(names, "Order User Ordér ", "%s: categories, in order of first event; none for plain or -dash", when);
	view_names(s, ES_TYPE, names);
	is_str(names, "Placed Joined Shipped Odd \"type\"\\ ", "%s: event types, in order of first event", when);
	view_positions(s, ES_CATEGORY, "Order", 0, got);
	is_str(got, "1 3 6 8 9 ", "%s: category Order: its events by position", when);
}

/* Categories (the part of a stream's name before its first '-') and event
 * types list their events by position, kept in the append's transaction;
 * a format 1 store gets them built when opened. */
static void test_views(void)
{
	char *dir = tmp_dir();
	es_store *s = open_store(dir, NULL);
	char got[1024];
	es_read *r;
	es_view v;

	note("views");
	const char *streams[] = {"Order-1", "Order-2", "User-x-y", "plain", "-dash", "Ordér-3"};
	for (int i = 0; i < 6; i++)
		is_int(es_stream_create(s, NM(streams[i])), 0, "create %s", streams[i]);
	/* Positions: 1 Order-1 Placed, 2 User-x-y Joined, 3 Order-2 Placed,
	 * 4 plain Placed, 5 -dash Joined, 6 Order-1 Shipped, 7 Ordér-3 Placed,
	 * 8-9 Order-2 a batch: Shipped, "Odd \"type\"". */
	is_int(append1(s, "Order-1", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 1");
	is_int(append1(s, "User-x-y", ES_ANY, "Joined", "{}", NULL, NULL), 0, "append 2");
	is_int(append1(s, "Order-2", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 3");
	is_int(append1(s, "plain", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 4");
	is_int(append1(s, "-dash", ES_ANY, "Joined", "{}", NULL, NULL), 0, "append 5");
	is_int(append1(s, "Order-1", ES_ANY, "Shipped", "{}", NULL, NULL), 0, "append 6");
	is_int(append1(s, "Ordér-3", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 7");
	es_event_in batch[2] = {mk("Shipped", "{}", NULL), mk("Odd \"type\"\\", "{}", NULL)};
	is_int(es_append(s, NM("Order-2"), ES_ANY, batch, 2, NULL), 0, "append 8-9, a batch");
	/* A failed append leaves no trace in the views. */
	fails(append1(s, "Order-1", 0, "Ghost", "{}", NULL, NULL), EEXIST, "a conflicting append");

	expect_views(s, "appended");
	view_positions(s, ES_CATEGORY, "Order", 4, got);
	is_str(got, "6 8 9 ", "... walked from position 4");
	view_positions(s, ES_CATEGORY, "User", 0, got);
	is_str(got, "2 ", "category User (stream User-x-y: up to the first '-')");
	view_positions(s, ES_TYPE, "Placed", 0, got);
	is_str(got, "1 3 4 7 ", "type Placed, across categories and the plain stream");
	view_positions(s, ES_TYPE, "Odd \"type\"\\", 0, got);
	is_str(got, "9 ", "a type with a quote and a backslash");

	r = view(s);
	is_int(es_view_get(r, ES_CATEGORY, NM("Order"), &v), 0, "es_view_get Order");
	ok(v.kind == ES_CATEGORY && v.last_position == 9 && v.name_len == 5 &&
	   memcmp(v.name, "Order", 5) == 0, "... its kind, name and newest position");
	es_event last;
	is_int(es_event_get(r, 9, &last), 0, "event 9");
	ok(v.updated_us == last.created_us, "... updated_us is its newest event's time");
	uint64_t order_id = v.id;
	is_int(es_view_get_id(r, order_id, &v), 0, "es_view_get_id");
	ok(v.id == order_id && v.last_position == 9, "... the same view");
	is_int(es_view_has(r, order_id, 6), 0, "es_view_has: event 6 is in Order");
	fails(es_view_has(r, order_id, 2), ENOENT, "es_view_has of an event elsewhere");
	fails(es_view_has(r, order_id, 99), ENOENT, "es_view_has past the head");
	fails(es_view_get(r, ES_CATEGORY, NM("plain"), &v), ENOENT, "a stream without '-' makes no category");
	fails(es_view_get(r, ES_CATEGORY, NM("Placed"), &v), ENOENT, "a type is not a category");
	fails(es_view_get(r, ES_TYPE, NM("Ghost"), &v), ENOENT, "the type of a failed append");
	fails(es_view_get_id(r, 12345, &v), ENOENT, "an unknown view id");
	es_read_end(r);

	/* Kept across a reopen, and rebuilt the same from a format 1 store. */
	es_close(s);
	downgrade(dir, 1);
	s = NULL;
	fails(es_open(dir, &(es_options){.read_only = 1}, &s), EROFS,
	      "opening a format 1 store read-only");
	ok(strstr(es_why(), "read-write once") != NULL, "... which says to open it read-write once");
	s = open_store(dir, NULL);
	expect_views(s, "rebuilt when a format 1 store is opened read-write");
	view_positions(s, ES_TYPE, "Odd \"type\"\\", 0, got);
	is_str(got, "9 ", "... the escaped type too");
	is_int(append1(s, "Order-9", ES_ANY, "Placed", "{}", NULL, NULL), ENOENT,
	       "(no stream Order-9)");
	is_int(es_stream_create(s, NM("Order-9")), 0, "create Order-9");
	is_int(append1(s, "Order-9", ES_ANY, "Placed", "{}", NULL, NULL), 0, "append 10 after the upgrade");
	view_positions(s, ES_CATEGORY, "Order", 0, got);
	is_str(got, "1 3 6 8 9 10 ", "the upgraded store indexes new events");
	done_store(s, dir);
}

int main(void)
{
	test_views();
	return done_testing();
}

/* tests/store-recover.c — TAP tests of what es_open finds (store/recover.c,
 * doc/log.md): a writer that died (the index trusted, the log's tail
 * replayed), a power cut (another boot: the index rebuilt from the log), an
 * index lost or damaged, a torn or garbage log tail cut off, and a store of
 * format 2 converted to the log at its first read-write open.
 *
 * A writer's death is a child process that appends and dies by SIGKILL,
 * without es_close. A power cut is that, then the state's boot id made
 * another kernel's, as a reboot would. Byte-level damage goes to the
 * files with plain I/O.
 */
#include "store-fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void path_in(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
}

static int exists_in(const char *dir, const char *name)
{
	char p[PATH_MAX];

	path_in(p, dir, name);
	return access(p, F_OK) == 0;
}

/* The text of dir/state, first line. */
static void state_of(const char *dir, char *buf, size_t size)
{
	char p[PATH_MAX];
	FILE *f;

	path_in(p, dir, "state");
	buf[0] = '\0';
	if ((f = fopen(p, "r"))) {
		if (!fgets(buf, (int)size, f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
}

/* Appends n events of stream S in a child that then dies by SIGKILL,
 * without closing the store. */
static void die_after(const char *dir, int n)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		es_store *s;
		if (es_open(dir, NULL, &s) != 0)
			_exit(2);
		for (int i = 0; i < n; i++)
			if (append1(s, "S", ES_ANY, "Died", "{\"n\":1}", NULL, NULL) != 0)
				_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	int status;
	waitpid(pid, &status, 0);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		bail_out("the dying writer failed (status %d)", status);
}

/* A reboot after a store was left open: the boot id its state names is
 * no longer the running kernel's. */
static void reboot(const char *dir)
{
	char st[128], p[PATH_MAX];
	FILE *f;

	state_of(dir, st, sizeof st);
	if (strncmp(st, "open ", 5) != 0)
		bail_out("no open session in %s/state: %s", dir, st);
	path_in(p, dir, "state");
	if (!(f = fopen(p, "w")) || fputs("open 00000000-0000-4000-8000-000000000000\n", f) < 0 ||
	    fclose(f) != 0)
		bail_out("rewriting %s: %s", p, strerror(errno));
}

/* "open BOOT_ID" of the running kernel. */
static void this_boot(char *buf, size_t size)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	snprintf(buf, size, "open ");
	if (!f || !fgets(buf + 5, (int)size - 5, f))
		bail_out("no boot id: %s", strerror(errno));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (in < 0 || out < 0)
		bail_out("copying %s to %s: %s", from, to, strerror(errno));
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			bail_out("copying to %s: %s", to, strerror(errno));
	close(in);
	close(out);
}

static void check_clean(es_store *s, const char *what)
{
	struct problems p;
	int n = (int)verify_store(s, &p);

	is_int(n, 0, "%s: verify finds nothing%s%s", what, p.n ? ": " : "", p.first);
}

/* A writer killed: its acknowledged events are all there, the index is
 * trusted (not rebuilt), and the log's tail past an index left behind is
 * replayed. */
static void test_killed(void)
{
	char *dir = tmp_dir(), st[128], data[PATH_MAX], saved[PATH_MAX + 8];
	es_store *s = open_store(dir, NULL);

	note("a writer killed");
	is_int(es_stream_create(s, "S", 1), 0, "create S");
	fill(s, "S", 10);
	es_close(s);
	state_of(dir, st, sizeof st);
	is_str(st, "clean", "a closed store's state is clean");
	die_after(dir, 5);
	state_of(dir, st, sizeof st);
	char boot[128];
	this_boot(boot, sizeof boot);
	is_str(st, boot, "a killed writer leaves its state open, with this kernel's boot id");
	/* An index from before the last appends: their records are only in
	 * the log, as when a writer dies between the flush and the commit. */
	path_in(data, dir, "data.mdb");
	snprintf(saved, sizeof saved, "%s.saved", data);
	copy_file(data, saved);
	die_after(dir, 7);
	copy_file(saved, data);
	unlink(saved);
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 22, "reopened: all 22 acknowledged events, the 7 from the log's tail");
	is_int((int)version_of(s, "S"), 22, "... S at version 22");
	state_of(dir, st, sizeof st);
	is_str(st, boot, "... and the state is open again");
	struct events e = {0};
	is_int(log_walk(s, 1, &e), 0, "walk the log");
	ok(e.n == 22 && gapless_positions(&e, 1), "... positions 1 … 22 without a gap");
	events_free(&e);
	check_clean(s, "after the tail replay");
	is_int(append1(s, "S", 22, "After", "{}", NULL, NULL), 0, "append at version 23");
	done_store(s, dir);
}

/* A power cut: another boot, so the index is rebuilt from the log, also when
 * it is garbage or gone. */
static void test_power_cut(void)
{
	char *dir = tmp_dir(), data[PATH_MAX];
	es_store *s = open_store(dir, NULL);

	note("power cuts");
	is_int(es_stream_create(s, "S", 1), 0, "create S");
	is_int(es_stream_create(s, "Order-1", 7), 0, "create Order-1");
	fill(s, "Order-1", 3);
	is_int(es_snapshot_put(s, "Order-1", 7, 2, "{\"total\":2}", 11), 0, "a snapshot");
	is_int(es_checkpoint_put(s, "mailer", 6, 3), 0, "a checkpoint");
	is_int(es_stream_create(s, "gone", 4), 0, "create gone");
	is_int(es_stream_remove(s, "gone", 4), 0, "remove gone");
	es_close(s);
	die_after(dir, 4);
	reboot(dir);
	/* What an unsynced LMDB may be after a cut: garbage. */
	path_in(data, dir, "data.mdb");
	int fd = open(data, O_WRONLY);
	char junk[8192];
	memset(junk, 0x5a, sizeof junk);
	ok(fd >= 0 && pwrite(fd, junk, sizeof junk, 0) == (ssize_t)sizeof junk, "the index overwritten with garbage");
	close(fd);
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 7, "reopened after the cut: the index rebuilt, 7 events");
	is_int((int)version_of(s, "S"), 4, "... S at version 4");
	is_int((int)stream_count(s), 2, "... two streams (gone stays removed)");
	es_read *r = view(s);
	es_stream o;
	es_snapshot sn;
	es_checkpoint cp;
	is_int(es_stream_get(r, "Order-1", 7, &o), 0, "... Order-1");
	is_int(es_snapshot_get(r, o.id, &sn), 0, "... its snapshot");
	ok(sn.version == 2 && strstr(sn.json, "{\"total\":2}") != NULL, "... at version 2 with its data");
	is_int(es_checkpoint_get(r, "mailer", 6, &cp), 0, "... the checkpoint");
	ok(cp.has_position && cp.position == 3, "... at 3");
	es_read_end(r);
	check_clean(s, "after the rebuild");
	is_int(es_stream_create(s, "new", 3), 0, "create new");
	ok(id_of(s, "new") == 4, "... it gets id 4: ids are never reused, gone's 3 included (%llu)",
	   (unsigned long long)id_of(s, "new"));
	es_close(s);

	/* The index gone altogether. */
	unlink(data);
	path_in(data, dir, "state");
	unlink(data);
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 7, "no index and no state: rebuilt from the log, 7 events");
	check_clean(s, "after a rebuild from nothing");
	done_store(s, dir);
}

/* Garbage and torn records past the log's end are found and cut off. */
static void test_torn_tail(void)
{
	char *dir = tmp_dir(), path[PATH_MAX];
	es_store *s = open_store(dir, NULL);
	struct stat sb;

	note("a torn log tail");
	is_int(es_stream_create(s, "S", 1), 0, "create S");
	fill(s, "S", 3);
	es_close(s);
	path_in(path, dir, "log");
	if (stat(path, &sb) != 0)
		bail_out("stat %s: %s", path, strerror(errno));
	/* Half a record (a torn write), then garbage. */
	int fd = open(path, O_WRONLY);
	char rec[64] = "ESLR";
	memset(rec + 4, 0x33, sizeof rec - 4);
	ok(fd >= 0 && pwrite(fd, rec, sizeof rec, sb.st_size) == (ssize_t)sizeof rec, "garbage written past the log's end");
	close(fd);
	die_after(dir, 0);	/* a session that does nothing, left open */
	reboot(dir);
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 3, "reopened: the 3 events, nothing of the garbage");
	is_int(append1(s, "S", 3, "Next", "{}", NULL, NULL), 0, "an append overwrites the cut-off tail");
	check_clean(s, "after the cut");
	es_close(s);
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 4, "reopened: 4 events");
	done_store(s, dir);
}

struct stream_list {
	char names[256];
};

static int collect_name(void *arg, const es_stream *st)
{
	struct stream_list *l = arg;

	snprintf(l->names + strlen(l->names), sizeof l->names - strlen(l->names), "%.*s:%llu:%llu ",
		 (int)st->name_len, st->name, (unsigned long long)st->id,
		 (unsigned long long)st->version);
	return 0;
}

/* Everything a reader sees, as one text: streams, every envelope, the
 * snapshot and the checkpoints. */
static char *everything(es_store *s)
{
	struct stream_list l = {""};
	struct events e = {0};
	struct checkpoint_list c = {0};
	es_read *r;
	es_stream o;
	es_snapshot sn = {0};
	size_t n = 1024;

	log_walk(s, 1, &e);
	r = view(s);
	es_streams_walk(r, 0, collect_name, &l);
	for (size_t i = 0; i < e.n; i++)
		n += e.v[i].json_len;
	char *out = malloc(n), *p = out;
	p += sprintf(p, "%s\n", l.names);
	for (size_t i = 0; i < e.n; i++)
		p += sprintf(p, "%.*s", (int)e.v[i].json_len, e.v[i].json);
	if (es_stream_get(r, "Order-1", 7, &o) == 0 && es_snapshot_get(r, o.id, &sn) == 0)
		p += sprintf(p, "%.*s", (int)sn.json_len, sn.json);
	es_checkpoints_walk(r, 0, collect_checkpoint, &c);
	for (size_t i = 0; i < c.n && i < 16; i++)
		p += sprintf(p, "%s:%llu:%llu\n", c.name[i], (unsigned long long)c.id[i],
			     (unsigned long long)c.position[i]);
	es_read_end(r);
	events_free(&e);
	return out;
}

/* A store of format 2 (or 1) is converted at its first read-write open:
 * everything kept, verified, the old file gone. */
static void test_convert(uint64_t format)
{
	char *dir = tmp_dir(), *before, *after;
	es_store *s = open_store(dir, NULL);
	uint64_t id;

	note("converting a store of format %llu", (unsigned long long)format);
	is_int(es_stream_create(s, "Order-1", 7), 0, "create Order-1");
	is_int(es_stream_create(s, "gone", 4), 0, "create gone");
	is_int(es_stream_create(s, "User-2", 6), 0, "create User-2");
	is_int(es_stream_create(s, "empty", 5), 0, "create empty");
	fill(s, "Order-1", 3);
	es_event_in batch[2] = {mk("Joined", "{\"a\":\"\\u00e9\"}", NULL), mk("Left", "{}", NULL)};
	is_int(es_append(s, "User-2", 6, ES_ANY, batch, 2, NULL), 0, "a batch");
	is_int(es_snapshot_put(s, "Order-1", 7, 2, "{\"total\":2}", 11), 0, "a snapshot");
	is_int(es_checkpoint_reserve(s, "reserved", 8, &id), 0, "a reserved checkpoint");
	is_int(es_checkpoint_put(s, "mailer", 6, 4), 0, "a checkpoint");
	is_int(es_stream_remove(s, "gone", 4), 0, "remove gone");
	before = everything(s);
	es_close(s);
	downgrade(dir, format);
	ok(!exists_in(dir, "log") && !exists_in(dir, "state"), "format %llu: no log, no state",
	   (unsigned long long)format);
	s = NULL;
	fails(es_open(dir, &(es_options){.read_only = 1}, &s), EROFS, "opening it read-only");
	ok(strstr(es_why(), "read-write once") != NULL, "... which says to open it read-write once");
	s = open_store(dir, NULL);
	ok(exists_in(dir, "log") && !exists_in(dir, "data.mdb.format2"), "opened read-write: converted to a log, the old file gone");
	after = everything(s);
	is_str(after, before, "every stream, envelope, snapshot and checkpoint as before");
	check_clean(s, "after the conversion");
	is_int(es_stream_create(s, "next", 4), 0, "create next");
	ok(id_of(s, "next") == 5, "... it gets id 5, past the removed stream's (%llu)",
	   (unsigned long long)id_of(s, "next"));
	uint64_t id2;
	is_int(es_checkpoint_reserve(s, "another", 7, &id2), 0, "reserve another checkpoint");
	ok(id2 == 3, "... it gets id 3 (%llu)", (unsigned long long)id2);
	is_int(append1(s, "Order-1", 3, "Shipped", "{}", NULL, NULL), 0, "append at version 4");
	es_close(s);
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 6, "reopened: 6 events");
	free(before);
	free(after);
	done_store(s, dir);
}

/* What a trusted state does not save: an index that does not open is
 * rebuilt; a writer's recovery keeps read-only openers away; a conversion
 * cut short goes on. */
static void test_edges(void)
{
	char *dir = tmp_dir(), path[PATH_MAX], st[192], boot[128];
	es_store *s = open_store(dir, NULL), *r = NULL;

	note("edges");
	is_int(es_stream_create(s, "S", 1), 0, "create S");
	fill(s, "S", 6);
	es_close(s);
	die_after(dir, 2);	/* state: open, this kernel's boot id */
	path_in(path, dir, "data.mdb");
	int fd = open(path, O_WRONLY);
	char junk[16384];
	memset(junk, 0x77, sizeof junk);
	ok(fd >= 0 && pwrite(fd, junk, sizeof junk, 0) == (ssize_t)sizeof junk,
	   "a trusted index overwritten with garbage");
	close(fd);
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 8, "it does not open, so it is rebuilt from the log: 8 events");
	check_clean(s, "after rebuilding a damaged index");
	es_close(s);

	/* A writer in the middle of its recovery. */
	this_boot(boot, sizeof boot);
	snprintf(st, sizeof st, "recovering %s\n", boot + 5);
	path_in(path, dir, "state");
	FILE *f = fopen(path, "w");
	ok(f && fputs(st, f) >= 0 && fclose(f) == 0, "state: recovering, this kernel");
	fails(es_open(dir, &(es_options){.read_only = 1}, &r), EAGAIN,
	      "a read-only open while the writer recovers");
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 8, "a writer goes on from there: 8 events");
	es_close(s);
	done_store(NULL, dir);

	/* Conversions cut short. */
	dir = tmp_dir();
	s = open_store(dir, NULL);
	is_int(es_stream_create(s, "S", 1), 0, "create S");
	fill(s, "S", 4);
	es_close(s);
	downgrade(dir, 2);
	char data[PATH_MAX], old[PATH_MAX + 16];
	path_in(data, dir, "data.mdb");
	snprintf(old, sizeof old, "%s.format2", data);
	ok(rename(data, old) == 0, "a conversion cut short before its log: the old file aside");
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 4, "opened: put back and converted, 4 events");
	ok(access(old, F_OK) != 0 && exists_in(dir, "log"), "... the old file gone, the log there");
	es_close(s);
	rm_store(dir);
	free(dir);

	dir = tmp_dir();
	s = open_store(dir, NULL);
	is_int(es_stream_create(s, "S", 1), 0, "create S");
	fill(s, "S", 3);
	es_close(s);
	char keep[PATH_MAX];
	path_in(path, dir, "log");
	snprintf(keep, sizeof keep, "%s/../log.keep", dir);
	copy_file(path, keep);
	downgrade(dir, 2);
	path_in(data, dir, "data.mdb");
	snprintf(old, sizeof old, "%s.format2", data);
	ok(rename(data, old) == 0 && rename(keep, path) == 0,
	   "a conversion cut short after its log: the log in place, the old file aside, no state");
	s = open_store(dir, NULL);
	is_int((int)head_of(s), 3, "opened: the index rebuilt from the log, 3 events");
	ok(access(old, F_OK) != 0, "... counted against the old file, which then goes");
	done_store(s, dir);
}

int main(void)
{
	test_killed();
	test_power_cut();
	test_torn_tail();
	test_convert(2);
	test_convert(1);
	test_edges();
	return done_testing();
}

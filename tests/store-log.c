/* tests/store-log.c — TAP unit tests of the store's log file (store/log.c):
 * framing and the chained CRC, groups and undo, scanning back to the last
 * whole record after a torn or garbage tail, a stale record that must not
 * follow a new one, a reader in another open seeing later records, and
 * preallocation ahead of the end. Works on real files in a temporary
 * directory. The log is not yet under the store's index (doc/log.md). */
#include "log.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static char dir[4096];
static char path[sizeof dir + 8];
static char why[256];

struct seen {
	int n;
	uint64_t seq[16];
	uint32_t type[16];
	char text[16][64];
};

static int collect(void *arg, uint64_t seq, uint32_t type, uint64_t payload,
		   const char *p, size_t len)
{
	struct seen *s = arg;

	(void)payload;
	if (s->n < 16) {
		s->seq[s->n] = seq;
		s->type[s->n] = type;
		snprintf(s->text[s->n], sizeof s->text[0], "%.*s", (int)len, p);
	}
	s->n++;
	return 0;
}

static int add(log_group *g, uint32_t type, const char *text, uint64_t *payload)
{
	struct iovec v[2] = {{(void *)text, strlen(text) / 2},
			     {(void *)(text + strlen(text) / 2), strlen(text) - strlen(text) / 2}};
	uint64_t ignored;

	return log_group_add(g, type, v, 2, payload ? payload : &ignored);
}

static struct seen scan(es_log *l, log_end from, log_end *end)
{
	struct seen s = {0};

	log_scan(l, from, collect, &s, end);
	return s;
}

static void poke(uint64_t off, const char *bytes, size_t n)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || pwrite(fd, bytes, n, (off_t)off) != (ssize_t)n)
		bail_out("cannot change %s: %s", path, strerror(errno));
	close(fd);
}

int main(void)
{
	es_log *l, *r;
	log_group g = {0};
	log_end end, mark, after4;
	struct seen s;
	uint64_t payload;

	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/esfs-log-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof path, "%s/log", dir);

	/* A new log: its header, and an empty scan. */
	if (!is_int(log_open(path, 0, &l, why, sizeof why), 0, "a new log opens read-write"))
		bail_out("%s", why);
	struct stat st;
	ok(stat(path, &st) == 0 && st.st_size == LOG_HEADER, "it is made with its header block only");
	s = scan(l, log_start(l), &end);
	is_int(s.n, 0, "an empty log has no records");
	ok(end.offset == LOG_HEADER && end.seq == 1, "its end is right after the header, seq 1");
	log_group_init(&g, end);
	add(&g, 1, "x", NULL);
	is_int(log_group_write(l, &g, why, sizeof why), EINVAL, "no write before log_set_end");
	log_set_end(l, end);

	/* A group of three records. */
	log_group_init(&g, end);
	is_int(add(&g, 7, "first record", &payload), 0, "a record is added to a group");
	ok(payload == LOG_HEADER + LOG_RECORD_HEADER, "its payload's offset is after the record header");
	add(&g, 8, "second", NULL);
	add(&g, 9, "the third record, longer than the others", NULL);
	is_int(log_group_write(l, &g, why, sizeof why), 0, "the group is written and flushed");
	s = scan(l, log_start(l), &end);
	is_int(s.n, 3, "the scan finds three records");
	ok(s.seq[0] == 1 && s.seq[2] == 3 && s.type[1] == 8, "with their seqs and types");
	is_str(s.text[2], "the third record, longer than the others", "and their payloads, whole");
	ok(end.offset == g.end.offset && end.seq == 4 && end.crc == g.end.crc,
	   "the scan ends where the group did");
	const char *p = log_at(l, payload, 12);
	ok(p && memcmp(p, "first record", 12) == 0, "log_at reads a payload from the map");
	log_end at3;
	log_scan(l, log_start(l), NULL, NULL, &at3);
	log_scan(l, (log_end){g.start.offset + 40, 2, 0}, collect, &s, &at3);
	ok(at3.offset == g.start.offset + 40, "a scan from a wrong place finds nothing");

	/* Undo inside a group. */
	log_group_init(&g, end);
	add(&g, 1, "kept", NULL);
	mark = g.end;
	add(&g, 1, "taken back", NULL);
	add(&g, 1, "taken back too", NULL);
	log_group_undo(&g, &mark);
	add(&g, 2, "after the undo", NULL);
	is_int(log_group_write(l, &g, why, sizeof why), 0, "a group with an undo is written");
	s = scan(l, log_start(l), &end);
	is_int(s.n, 5, "the records taken back are not in the log");
	is_str(s.text[4], "after the undo", "and the one added after the undo follows");
	after4 = end;
	is_int(log_group_write(l, &g, why, sizeof why), EINVAL, "the same group twice is refused");

	/* Another open sees the records, also ones written after it opened. */
	is_int(log_open(path, 1, &r, why, sizeof why), 0, "the log opens read-only beside the writer");
	log_group_init(&g, end);
	add(&g, 3, "written after the reader opened", NULL);
	log_group_write(l, &g, why, sizeof why);
	s = scan(r, log_start(r), &end);
	is_int(s.n, 6, "the reader's scan finds the later record too");
	log_close(r);

	/* A torn tail: the last of two records has a changed byte. */
	log_group_init(&g, end);
	add(&g, 4, "seventh: whole", NULL);
	mark = g.end;
	add(&g, 4, "eighth: torn", NULL);
	add(&g, 4, "ninth, fine", NULL);
	log_group_write(l, &g, why, sizeof why);
	poke(mark.offset + LOG_RECORD_HEADER + 3, "#", 1);
	s = scan(l, log_start(l), &end);
	is_int(s.n, 7, "a scan stops before a record whose bytes changed");
	ok(end.offset == mark.offset && end.seq == mark.seq, "the end is before the torn record");
	log_close(l);

	/* Reopened: recovery's end; a new record of the torn one's size, and
	 * the old ninth after it must not count. */
	is_int(log_open(path, 0, &l, why, sizeof why), 0, "the log opens again");
	s = scan(l, log_start(l), &end);
	is_int(s.n, 7, "the same seven whole records");
	log_set_end(l, end);
	log_group_init(&g, end);
	add(&g, 5, "eighth: anew", NULL);	/* as long as "eighth: torn" */
	log_group_write(l, &g, why, sizeof why);
	s = scan(l, log_start(l), &end);
	is_int(s.n, 8, "the new eighth record is found, and the stale ninth after it is not");
	is_str(s.text[7], "eighth: anew", "it is the new one");

	/* Garbage past the end. */
	log_end e8 = end;
	poke(end.offset, "ESLR\x10\0\0\0\x09\0\0\0\0\0\0\0garbage garbage!", 32);
	s = scan(l, log_start(l), &end);
	ok(s.n == 8 && end.offset == e8.offset, "garbage shaped like a record header is not a record");

	/* A scan from the middle, with the chain's CRC, as recovery does. */
	s = scan(l, after4, &end);
	is_int(s.n, 3, "a scan from a known end goes on from there");

	/* Preallocation: zeros, allocated, ahead of the end. */
	for (int i = 0; i < 100 && (stat(path, &st) != 0 || (uint64_t)st.st_size < end.offset + (16u << 20)); i++)
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	ok((uint64_t)st.st_size >= end.offset + (16u << 20), "the file is preallocated ahead of the end");
	ok(st.st_blocks * 512 >= st.st_size - 4096, "with blocks allocated, not a hole");
	s = scan(l, log_start(l), &end);
	is_int(s.n, 8, "the zeros are no records");
	log_group_free(&g);
	log_close(l);

	/* Not a log. */
	poke(0, "NOTALOG!", 8);
	is_int(log_open(path, 1, &l, why, sizeof why), EINVAL, "a file that is not a log is refused");
	ok(strstr(why, "not an esfs log") != NULL, "saying so");

	unlink(path);
	rmdir(dir);
	return done_testing();
}

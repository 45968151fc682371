/* restore.c — esfsctl restore COPY STORE: turns a copy of a mounted
 * esfs (cp -a MOUNTPOINT/. COPY, or rsync -aH) back into a store with the
 * same event ids, versions, global positions, times, snapshots and
 * checkpoints, so that diff -r between a mount of it and COPY is empty.
 *
 * 1. The copy's shape is checked before anything is written: all/ holds
 *    positions 1 … N without a gap, each streams/S holds versions 1 … n
 *    and new, snapshots and checkpoints parse and name streams, versions
 *    and positions that exist, categories/ and types/ hold only events of
 *    all/.
 * 2. all/ is read in position order; each event is checked against its
 *    name and against streams/S/V, and handed to es_import_batch, up to
 *    BATCH items (one transaction) at a time. A stream's creation time is
 *    the mtime of its new file.
 * 3. Empty streams (mtime of their directory), snapshots and checkpoints
 *    (position from the file, time from its mtime) follow.
 *
 * STORE is a directory that does not exist or is empty, or the URI of
 * a PostgreSQL store that is empty (target.c). A refused copy or any
 * failure (an interrupt too) removes what was made: the directory if it
 * was created, else the files made in it; in PostgreSQL, the rows
 * imported, while the store holds nothing else (target.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "esfsctl.h"
#include "json.h"
#include "names.h"
#include "progress.h"
#include "store.h"

#define BATCH 1000			/* items a transaction */
#define BATCH_BYTES (16u << 20)		/* or this much text */
#define MAX_EVENT (64u << 20)		/* the largest max_event esfs takes */
#define MAX_FILE (MAX_EVENT + 4096u)	/* the largest file read */

/* A stream directory of the copy. */
struct stream {
	char *name;
	uint64_t events;	/* event files in streams/S: versions 1 … events */
	uint64_t seen;		/* its events met in all/ so far */
	int64_t dir_us;		/* mtime of streams/S */
	int64_t new_us;		/* mtime of streams/S/new; -1 without it */
};

struct restore {
	const char *copy;	/* COPY, as given */
	int copy_fd, all_fd, streams_fd, snapshots_fd, checkpoints_fd;
	uint64_t head;		/* the last position in all/ */
	struct stream *streams;	/* sorted by name */
	size_t nstreams;
	uint64_t empty, snapshots, checkpoints;	/* what was restored */
	uint64_t view_files;	/* files of categories/ and types/ checked */

	const char *dir;	/* STORE */
	struct ctl_target t;
	int importing;		/* in steps 2 and 3 */

	/* The batch being built. Its texts live in buf, and items point into
	 * it only when the batch is sent (buf may move as it grows). */
	es_import item[BATCH];
	size_t label_off[BATCH];	/* the file the item comes from */
	size_t json_off[BATCH], name_off[BATCH];
	size_t n;
	char *buf;
	size_t len, cap;
};

/* Refuses: "esfsctl restore: COPY/rel: why". Returns -1. */
static int refuse(const struct restore *r, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(const struct restore *r, const char *rel, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	ctl_error("%s%s%s: %s", r->copy, *rel ? "/" : "", rel, why);
	return -1;
}

/* ---- Names and files. ------------------------------------------------- */

/* An event file's name: 20 digits, 1 … ES_ID_MAX. */
static int parse_name(const char *name, uint64_t *n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; name[i]; i++) {
		if (i == ES_EVENT_NAME_LEN || name[i] < '0' || name[i] > '9' || v > ES_ID_MAX)
			return -1;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (i != ES_EVENT_NAME_LEN || v == 0 || v > ES_ID_MAX)
		return -1;
	*n = v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_stream(const void *a, const void *b)
{
	return strcmp(((const struct stream *)a)->name, ((const struct stream *)b)->name);
}

static struct stream *find_stream(const struct restore *r, const char *name)
{
	struct stream key = {.name = (char *)name};

	if (!r->nstreams)
		return NULL;
	return bsearch(&key, r->streams, r->nstreams, sizeof key, cmp_stream);
}

/* Makes room for n more bytes in the text buffer. */
static int reserve(struct restore *r, size_t n)
{
	if (r->cap - r->len >= n)
		return 0;
	size_t cap = r->cap ? r->cap : 1 << 20;
	while (cap - r->len < n)
		cap *= 2;
	char *p = realloc(r->buf, cap);
	if (!p) {
		ctl_error("out of memory");
		return -1;
	}
	r->buf = p;
	r->cap = cap;
	return 0;
}

/* Appends text (and a NUL) to the buffer; *off says where. */
static int put_text(struct restore *r, const char *p, size_t n, size_t *off)
{
	if (reserve(r, n + 1))
		return -1;
	*off = r->len;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len++] = '\0';
	return 0;
}

/* Appends the regular file name under dirfd (rel in messages) to the
 * buffer, with a NUL after it that *len does not count. */
static int read_file(struct restore *r, int dirfd, const char *name, const char *rel,
		     size_t *off, size_t *len, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return refuse(r, rel, "%s", errno == ELOOP ? "a symbolic link, not a file"
				  : errno == ENOENT ? "missing" : strerror(errno));
	if (fstat(fd, st) != 0) {
		close(fd);
		return refuse(r, rel, "%s", strerror(errno));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return refuse(r, rel, "not a regular file");
	}
	if (st->st_size > (off_t)MAX_FILE) {
		close(fd);
		return refuse(r, rel, "too large (%lld bytes)", (long long)st->st_size);
	}
	*off = r->len;
	for (;;) {
		if (reserve(r, 65536)) {
			close(fd);
			return -1;
		}
		ssize_t got = read(fd, r->buf + r->len, r->cap - r->len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			close(fd);
			r->len = *off;
			return refuse(r, rel, "%s", strerror(errno));
		}
		if (got == 0)
			break;
		r->len += (size_t)got;
		if (r->len - *off > MAX_FILE) {
			close(fd);
			r->len = *off;
			return refuse(r, rel, "too large");
		}
	}
	close(fd);
	*len = r->len - *off;
	r->buf[r->len++] = '\0';
	return 0;
}

/* A file of one line ending in '\n'. */
static int check_line(const struct restore *r, const char *rel, const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);

	if (n == 0)
		return refuse(r, rel, "empty; it should hold one line of JSON");
	if (!nl)
		return refuse(r, rel, "does not end in a newline");
	if (nl != p + n - 1)
		return refuse(r, rel, "holds more than one line");
	return 0;
}

/* Parses a line as a JSON object. */
static json_t *parse_line(const struct restore *r, const char *rel, const char *p, size_t n)
{
	json_error_t e;
	json_t *root = json_loadb(p, n - 1, JSON_REJECT_DUPLICATES, &e);

	if (!root)
		refuse(r, rel, "not JSON: %s (byte %d)", e.text, e.position);
	else if (!json_is_object(root)) {
		refuse(r, rel, "not a JSON object");
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* Whether file name under dirfd is the same file as, or holds the same
 * bytes as, the event of all/ in buf[off … off + len) with stat *ev. */
static int same_event(struct restore *r, int dirfd, const char *name, const char *rel,
		      const char *all_rel, size_t off, size_t len, const struct stat *ev)
{
	struct stat st;
	size_t off2, len2;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return refuse(r, rel, "%s (it should hold the event of %s)",
			      errno == ENOENT ? "missing" : strerror(errno), all_rel);
	if (st.st_dev == ev->st_dev && st.st_ino == ev->st_ino)
		return 0;	/* one file, as cp -a and rsync -aH keep it */
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size != len)
		return refuse(r, rel, "differs from %s", all_rel);
	if (read_file(r, dirfd, name, rel, &off2, &len2, &st))
		return -1;
	int differ = len2 != len || memcmp(r->buf + off, r->buf + off2, len) != 0;
	r->len = off2;
	if (differ)
		return refuse(r, rel, "differs from %s", all_rel);
	return 0;
}

/* Array a of *cap items of size bytes, with room for item n: a, or where
 * it moved; NULL (a is kept) when memory is out. */
static void *grow(void *a, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return a;
	size_t c = *cap ? *cap * 2 : 64;
	void *p = realloc(a, c * size);
	if (!p) {
		ctl_error("out of memory");
		return NULL;
	}
	*cap = c;
	return p;
}

/* Calls fn for each entry of directory dirfd (rel in messages) but . and
 * .., until it returns other than 0. */
static int each_entry(struct restore *r, int dirfd, const char *rel,
		      int (*fn)(struct restore *r, const char *name, void *arg), void *arg)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int ret = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return refuse(r, rel, "%s", strerror(errno));
	}
	rewinddir(d);	/* the descriptor's offset is shared with dirfd */
	for (errno = 0; (e = readdir(d)); errno = 0) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((ret = fn(r, e->d_name, arg)) != 0)
			break;
		if (ctl_interrupted) {
			ctl_error("interrupted");
			ret = -1;
			break;
		}
	}
	if (!ret && errno)
		ret = refuse(r, rel, "%s", strerror(errno));
	closedir(d);
	return ret;
}

/* The event files of a directory: their numbers, and whether new is one. */
struct numbers {
	const char *rel;
	uint64_t *a;
	size_t n, cap;
	int *has_new;		/* NULL: new is not allowed (all/) */
};

static int add_number(struct restore *r, const char *name, void *arg)
{
	struct numbers *l = arg;
	char path[PATH_MAX];
	uint64_t v;

	if (l->has_new && !strcmp(name, ES_NEW)) {
		*l->has_new = 1;
		return 0;
	}
	if (parse_name(name, &v)) {
		snprintf(path, sizeof path, "%s/%s", l->rel, name);
		return refuse(r, path, "not an event file: names are 20 digits, 1 or more%s",
			      l->has_new ? ", or new" : "");
	}
	uint64_t *a = grow(l->a, &l->cap, l->n, sizeof *a);
	if (!a)
		return -1;
	l->a = a;
	l->a[l->n++] = v;
	return 0;
}

/* Counts the event files of directory dirfd (rel in messages) into *n:
 * names of 20 digits, numbered 1 … *n with no gap; and new when has_new
 * is not NULL. */
static int count_events(struct restore *r, int dirfd, const char *rel, uint64_t *n,
			int *has_new)
{
	struct numbers l = {.rel = rel, .has_new = has_new};
	char path[PATH_MAX];
	int ret = 0;

	if (has_new)
		*has_new = 0;
	if (each_entry(r, dirfd, rel, add_number, &l)) {
		free(l.a);
		return -1;
	}
	if (l.n)
		qsort(l.a, l.n, sizeof *l.a, cmp_u64);
	for (size_t i = 0; i < l.n && !ret; i++)
		if (l.a[i] != i + 1) {
			snprintf(path, sizeof path, "%s/" ES_EVENT_NAME_FMT, rel, (uint64_t)i + 1);
			ret = refuse(r, path, "missing: %s has %s up to " ES_EVENT_NAME_FMT " with a gap",
				     rel, has_new ? "versions" : "positions", l.a[l.n - 1]);
		}
	free(l.a);
	*n = l.n;
	return ret;
}

/* Opens directory name under dirfd; -1 with errno. */
static int open_dir(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* ---- 1. The shape of the copy. --------------------------------------- */

static const char *const top_dirs[] = {
	ES_DIR_ALL, ES_DIR_STREAMS, ES_DIR_SNAPSHOTS, ES_DIR_CHECKPOINTS
};
static const char *const ignored_dirs[] = {
	ES_DIR_FEED, ES_DIR_SUBSCRIPTIONS, ES_DIR_CATEGORIES, ES_DIR_TYPES
};

static int top_entry_ok(struct restore *r, const char *name, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < 4; i++)
		if (!strcmp(name, top_dirs[i]) || !strcmp(name, ignored_dirs[i]))
			return 0;
	return refuse(r, name, "not part of a copy of an esfs mount");
}

static int check_top(struct restore *r)
{
	int *fds[] = {&r->all_fd, &r->streams_fd, &r->snapshots_fd, &r->checkpoints_fd};

	r->copy_fd = open(r->copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->copy_fd < 0)
		return refuse(r, "", "%s", strerror(errno));
	for (size_t i = 0; i < 4; i++) {
		*fds[i] = open_dir(r->copy_fd, top_dirs[i]);
		if (*fds[i] < 0 && errno == ENOENT && i < 2)
			return refuse(r, "", "no %s/ in it; is it a copy of a mounted esfs "
				      "(cp -a MOUNTPOINT/. COPY)?", top_dirs[i]);
		if (*fds[i] < 0 && errno != ENOENT)
			return refuse(r, top_dirs[i], "%s", errno == ENOTDIR || errno == ELOOP ?
				      "not a directory" : strerror(errno));
	}
	return each_entry(r, r->copy_fd, "", top_entry_ok, NULL);
}

static int add_stream(struct restore *r, const char *name, void *arg)
{
	size_t *cap = arg;

	struct stream *a = grow(r->streams, cap, r->nstreams, sizeof *a);
	if (!a)
		return -1;
	r->streams = a;
	struct stream *st = &r->streams[r->nstreams];
	*st = (struct stream){.name = strdup(name), .new_us = -1};
	if (!st->name) {
		ctl_error("out of memory");
		return -1;
	}
	r->nstreams++;
	return 0;
}

/* Reads the names of streams/, sorted. */
static int list_streams(struct restore *r)
{
	size_t cap = 0;

	if (each_entry(r, r->streams_fd, ES_DIR_STREAMS, add_stream, &cap))
		return -1;
	if (r->nstreams)
		qsort(r->streams, r->nstreams, sizeof *r->streams, cmp_stream);
	return 0;
}

/* streams/S: a directory with a good name, versions 1 … n and new. */
static int check_stream(struct restore *r, struct stream *st)
{
	char rel[PATH_MAX], why[256];
	struct stat sb;
	uint64_t n;
	int has_new;

	snprintf(rel, sizeof rel, ES_DIR_STREAMS "/%s", st->name);
	if (es_name_check(st->name, strlen(st->name), why, sizeof why))
		return refuse(r, rel, "not a stream name: %s", why);
	int fd = open_dir(r->streams_fd, st->name);
	if (fd < 0)
		return refuse(r, rel, "%s", errno == ENOTDIR || errno == ELOOP ?
			      "not a directory" : strerror(errno));
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return refuse(r, rel, "%s", strerror(errno));
	}
	st->dir_us = ctl_us(sb.st_mtim);
	int ret = count_events(r, fd, rel, &n, &has_new);
	if (ret == 0 && has_new) {
		snprintf(rel, sizeof rel, ES_DIR_STREAMS "/%s/" ES_NEW, st->name);
		if (fstatat(fd, ES_NEW, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			ret = refuse(r, rel, "%s", strerror(errno));
		else if (!S_ISREG(sb.st_mode) || sb.st_size != 0)
			ret = refuse(r, rel, "not an empty file, as new is in a mount");
		else
			st->new_us = ctl_us(sb.st_mtim);
	}
	close(fd);
	st->events = n;
	return ret;
}

/* snapshots/S: one line for stream S at a version it has. */
static int check_snapshot(struct restore *r, const char *name, size_t *off, size_t *len)
{
	char rel[PATH_MAX];
	struct stat sb;
	struct stream *st = find_stream(r, name);

	snprintf(rel, sizeof rel, ES_DIR_SNAPSHOTS "/%s", name);
	if (!st)
		return refuse(r, rel, "a snapshot of a stream not in " ES_DIR_STREAMS "/");
	if (read_file(r, r->snapshots_fd, name, rel, off, len, &sb) ||
	    check_line(r, rel, r->buf + *off, *len))
		return -1;
	json_t *root = parse_line(r, rel, r->buf + *off, *len);
	if (!root)
		return -1;
	json_t *sid = json_object_get(root, "stream_id"), *ver = json_object_get(root, "version");
	int ret = 0;
	if (!json_is_string(sid) || strcmp(json_string_value(sid), name) != 0)
		ret = refuse(r, rel, "its stream_id is not %s", name);
	else if (!json_is_integer(ver) || json_integer_value(ver) < 1 ||
		 (uint64_t)json_integer_value(ver) > st->events)
		ret = refuse(r, rel, "its version is not one of the stream's (1 … %" PRIu64 ")",
			     st->events);
	json_decref(root);
	return ret;
}

/* checkpoints/NAME: a position at most the head, and a newline. */
static int check_checkpoint(struct restore *r, const char *name, uint64_t *pos, int64_t *us)
{
	char rel[PATH_MAX], why[256];
	struct stat sb;
	size_t off, len;

	snprintf(rel, sizeof rel, ES_DIR_CHECKPOINTS "/%s", name);
	if (es_name_check(name, strlen(name), why, sizeof why))
		return refuse(r, rel, "not a checkpoint name: %s", why);
	if (read_file(r, r->checkpoints_fd, name, rel, &off, &len, &sb))
		return -1;
	const char *p = r->buf + off;
	uint64_t v = 0;
	size_t i;
	for (i = 0; i < len && p[i] >= '0' && p[i] <= '9' && v <= ES_ID_MAX; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	int good = i > 0 && i < len && p[i] == '\n' && i + 1 == len && v <= ES_ID_MAX;
	r->len = off;
	if (!good)
		return refuse(r, rel, "not a position and a newline");
	if (v > r->head)
		return refuse(r, rel, "position %" PRIu64 " is beyond the last in " ES_DIR_ALL "/ (%" PRIu64 ")",
			      v, r->head);
	*pos = v;
	*us = ctl_us(sb.st_mtim);
	return 0;
}

/* categories/X/N and types/X/N: the event of all/N. */
struct view_dir {
	const char *top;
	int fd;			/* of top/X */
	const char *x;
};

static int view_event_ok(struct restore *r, const char *name, void *arg)
{
	struct view_dir *v = arg;
	char rel[PATH_MAX], all_rel[32];
	struct stat ev, sb;
	uint64_t pos;
	size_t off, len;

	progress_update(++r->view_files, 0);
	snprintf(rel, sizeof rel, "%s/%s/%s", v->top, v->x, name);
	if (parse_name(name, &pos))
		return refuse(r, rel, "not an event file: names are 20 digits, 1 or more");
	if (pos > r->head)
		return refuse(r, rel, "no such position in " ES_DIR_ALL "/");
	snprintf(all_rel, sizeof all_rel, ES_DIR_ALL "/%s", name);
	if (fstatat(r->all_fd, name, &ev, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fstatat(v->fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ev.st_dev == sb.st_dev && ev.st_ino == sb.st_ino)
		return 0;	/* one file: the common case */
	if (read_file(r, r->all_fd, name, all_rel, &off, &len, &ev))
		return -1;
	int ret = same_event(r, v->fd, name, rel, all_rel, off, len, &ev);
	r->len = 0;
	return ret;
}

static int view_ok(struct restore *r, const char *name, void *arg)
{
	struct view_dir v = {.top = arg, .x = name};
	char rel[PATH_MAX];

	snprintf(rel, sizeof rel, "%s/%s", v.top, name);
	v.fd = open_dir(r->copy_fd, rel);
	if (v.fd < 0)
		return refuse(r, rel, "%s", errno == ENOTDIR || errno == ELOOP ?
			      "not a directory" : strerror(errno));
	int ret = each_entry(r, v.fd, rel, view_event_ok, &v);
	close(v.fd);
	return ret;
}

static int check_views(struct restore *r, const char *top)
{
	int fd = open_dir(r->copy_fd, top);

	if (fd < 0)
		return errno == ENOENT ? 0 : refuse(r, top, "%s", strerror(errno));
	int ret = each_entry(r, fd, top, view_ok, (void *)top);
	close(fd);
	return ret;
}

static int snapshots_and_checkpoints(struct restore *r);

static int check_copy(struct restore *r)
{
	progress_start("checking", "streams");
	if (check_top(r) || count_events(r, r->all_fd, ES_DIR_ALL, &r->head, NULL))
		return -1;
	if (list_streams(r))
		return -1;
	for (size_t i = 0; i < r->nstreams; i++) {
		if (ctl_interrupted) {
			ctl_error("interrupted");
			return -1;
		}
		if (check_stream(r, &r->streams[i]))
			return -1;
		progress_update(i + 1, r->nstreams);
	}
	if (snapshots_and_checkpoints(r))
		return -1;
	progress_start("checking " ES_DIR_CATEGORIES "/ and " ES_DIR_TYPES "/", "files");
	return check_views(r, ES_DIR_CATEGORIES) || check_views(r, ES_DIR_TYPES) ? -1 : 0;
}

/* ---- The new store. ---------------------------------------------------- */

/* Imports items[lo, hi). When the store refuses an item, halves the range
 * (the halves before it commit; all is undone anyway) until the item is
 * found, so that the refusal names its file. */
static int import(struct restore *r, size_t lo, size_t hi)
{
	int err = ctl_target_import(&r->t, r->item + lo, hi - lo);

	if (!err)
		return 0;
	if (hi - lo > 1 && (err == EINVAL || err == EEXIST)) {
		size_t mid = lo + (hi - lo) / 2;
		return import(r, lo, mid) || import(r, mid, hi) ? -1 : 0;
	}
	const char *label = r->buf + r->label_off[lo], *why = es_why();
	if (hi - lo == 1 && (err == EINVAL || err == EEXIST)) {
		if (strncmp(why, "item 1: ", 8) == 0)
			why += 8;	/* the store numbers items; here there is one */
		return refuse(r, label, "refused by the store: %s", why);
	}
	ctl_error("%s: %s (importing %s and after)", r->dir, why, label);
	return -1;
}

/* Sends the batch. */
static int flush(struct restore *r)
{
	for (size_t i = 0; i < r->n; i++) {
		es_import *it = &r->item[i];
		if (it->kind == ES_IMPORT_EVENT || it->kind == ES_IMPORT_SNAPSHOT)
			it->json = r->buf + r->json_off[i];
		else
			it->name = r->buf + r->name_off[i];
	}
	int ret = r->n ? import(r, 0, r->n) : 0;
	r->n = 0;
	r->len = 0;
	return ret;
}

/* Adds an item; text at json_off or name_off in the buffer, label the
 * file it comes from. */
static int add(struct restore *r, const es_import *it, size_t text_off, const char *label)
{
	size_t i = r->n;

	if (put_text(r, label, strlen(label), &r->label_off[i]))
		return -1;
	r->item[i] = *it;
	r->json_off[i] = r->name_off[i] = text_off;
	r->n++;
	return 0;
}

/* The batch is sent before it would overflow; item texts already in the
 * buffer stay until then. */
static int room(struct restore *r, size_t items)
{
	if (r->n + items > BATCH || r->len > BATCH_BYTES)
		return flush(r);
	return 0;
}

/* ---- 2. The events. ---------------------------------------------------- */

static int import_event(struct restore *r, uint64_t pos)
{
	char name[ES_EVENT_NAME_LEN + 1], rel[32], srel[PATH_MAX];
	struct stat ev;
	size_t off, len;

	if (room(r, 2))
		return -1;
	snprintf(name, sizeof name, ES_EVENT_NAME_FMT, pos);
	snprintf(rel, sizeof rel, ES_DIR_ALL "/%s", name);
	if (read_file(r, r->all_fd, name, rel, &off, &len, &ev) ||
	    check_line(r, rel, r->buf + off, len))
		return -1;
	json_t *root = parse_line(r, rel, r->buf + off, len);
	if (!root)
		return -1;
	json_t *sid = json_object_get(root, "stream_id"),
	       *ver = json_object_get(root, "version"),
	       *gp = json_object_get(root, "global_position"),
	       *at = json_object_get(root, "created_at");
	struct stream *st = NULL;
	int64_t created = 0;
	int ret = -1;

	if (!json_is_string(sid) || !json_is_integer(ver) || !json_is_integer(gp) ||
	    !json_is_string(at))
		refuse(r, rel, "not an event: it needs stream_id, version, "
		       "global_position and created_at");
	else if ((uint64_t)json_integer_value(gp) != pos)
		refuse(r, rel, "its global_position is %" JSON_INTEGER_FORMAT
		       ", not %" PRIu64 " as its name says", json_integer_value(gp), pos);
	else if (es_time_parse(json_string_value(at), &created))
		refuse(r, rel, "its created_at is not a time as esfs writes it");
	else if (!(st = find_stream(r, json_string_value(sid))))
		refuse(r, rel, "its stream %s is not in " ES_DIR_STREAMS "/", json_string_value(sid));
	else if ((uint64_t)json_integer_value(ver) != st->seen + 1)
		refuse(r, rel, "version %" JSON_INTEGER_FORMAT " of stream %s, but the "
		       "stream's events before it in " ES_DIR_ALL "/ end at version %" PRIu64,
		       json_integer_value(ver), st->name, st->seen);
	else
		ret = 0;
	json_decref(root);
	if (ret)
		return -1;

	st->seen++;
	snprintf(srel, sizeof srel, ES_DIR_STREAMS "/%s/" ES_EVENT_NAME_FMT, st->name, st->seen);
	if (same_event(r, r->streams_fd, srel + strlen(ES_DIR_STREAMS "/"), srel, rel, off, len, &ev))
		return -1;

	/* The stream first, at the time of its new file (its creation), or
	 * of its first event without one. */
	if (st->seen == 1) {
		es_import it = {.kind = ES_IMPORT_STREAM, .name_len = strlen(st->name),
				.time_us = st->new_us >= 0 && st->new_us < created ?
					   st->new_us : created};
		size_t noff;
		snprintf(srel, sizeof srel, ES_DIR_STREAMS "/%s", st->name);
		if (put_text(r, st->name, it.name_len, &noff) || add(r, &it, noff, srel))
			return -1;
	}
	es_import it = {.kind = ES_IMPORT_EVENT, .json_len = len};
	return add(r, &it, off, rel);
}

/* ---- 3. Empty streams, snapshots, checkpoints. ------------------------- */

/* snapshots/S: checked, and imported when r->importing. */
static int snapshot_entry(struct restore *r, const char *name, void *arg)
{
	char rel[PATH_MAX];
	size_t off, len;

	(void)arg;
	if ((r->importing && room(r, 1)) || check_snapshot(r, name, &off, &len))
		return -1;
	if (!r->importing) {
		r->len = 0;
		return 0;
	}
	es_import it = {.kind = ES_IMPORT_SNAPSHOT, .json_len = len};
	snprintf(rel, sizeof rel, ES_DIR_SNAPSHOTS "/%s", name);
	r->snapshots++;
	return add(r, &it, off, rel);
}

/* checkpoints/NAME: checked, and imported when r->importing. */
static int checkpoint_entry(struct restore *r, const char *name, void *arg)
{
	char rel[PATH_MAX];
	es_import it = {.kind = ES_IMPORT_CHECKPOINT, .name_len = strlen(name)};
	size_t off;

	(void)arg;
	if ((r->importing && room(r, 1)) ||
	    check_checkpoint(r, name, &it.position, &it.time_us))
		return -1;
	if (!r->importing)
		return 0;
	if (put_text(r, name, it.name_len, &off))
		return -1;
	snprintf(rel, sizeof rel, ES_DIR_CHECKPOINTS "/%s", name);
	r->checkpoints++;
	return add(r, &it, off, rel);
}

static int snapshots_and_checkpoints(struct restore *r)
{
	if (r->snapshots_fd >= 0 &&
	    each_entry(r, r->snapshots_fd, ES_DIR_SNAPSHOTS, snapshot_entry, NULL))
		return -1;
	if (r->checkpoints_fd >= 0 &&
	    each_entry(r, r->checkpoints_fd, ES_DIR_CHECKPOINTS, checkpoint_entry, NULL))
		return -1;
	return 0;
}

static int import_all(struct restore *r)
{
	r->importing = 1;
	progress_start("restoring", "events");
	for (uint64_t pos = 1; pos <= r->head; pos++) {
		if (ctl_interrupted) {
			ctl_error("interrupted");
			return -1;
		}
		if (import_event(r, pos))
			return -1;
		progress_update(pos, r->head);
	}
	for (size_t i = 0; i < r->nstreams; i++) {
		struct stream *st = &r->streams[i];
		char rel[PATH_MAX];
		snprintf(rel, sizeof rel, ES_DIR_STREAMS "/%s/" ES_EVENT_NAME_FMT, st->name, st->seen + 1);
		if (st->seen < st->events)
			return refuse(r, rel, "no event in " ES_DIR_ALL "/ is this one");
		if (st->events)
			continue;
		es_import it = {.kind = ES_IMPORT_STREAM, .name_len = strlen(st->name),
				.time_us = st->dir_us};
		size_t off;
		snprintf(rel, sizeof rel, ES_DIR_STREAMS "/%s", st->name);
		if (room(r, 1) || put_text(r, st->name, it.name_len, &off) ||
		    add(r, &it, off, rel))
			return -1;
		r->empty++;
	}
	return snapshots_and_checkpoints(r) || flush(r) ? -1 : 0;
}

int cmd_restore(int argc, char **argv)
{
	int rc = ctl_args(argc, argv, 2, "COPY STORE");
	if (rc >= 0)
		return rc;

	struct restore *r = calloc(1, sizeof *r);
	if (!r) {
		ctl_error("out of memory");
		return 1;
	}
	r->copy = argv[argc - 2];
	r->dir = argv[argc - 1];
	r->copy_fd = r->all_fd = r->streams_fd = r->snapshots_fd = r->checkpoints_fd = -1;

	ctl_catch_signals();

	int ok = 0;
	if (ctl_target_check(&r->t, r->dir) == 0 && check_copy(r) == 0 &&
	    ctl_target_open(&r->t, MAX_EVENT) == 0 && import_all(r) == 0) {
		ctl_target_close(&r->t);
		ok = 1;
	}
	progress_clear();
	if (ok) {
		printf("%s: restored %" PRIu64 " event%s, %zu stream%s (%" PRIu64 " empty), %"
		       PRIu64 " snapshot%s, %" PRIu64 " checkpoint%s from %s\n", r->dir,
		       r->head, plural(r->head), r->nstreams, plural(r->nstreams), r->empty,
		       r->snapshots, plural(r->snapshots), r->checkpoints,
		       plural(r->checkpoints), r->copy);
	} else {
		ctl_target_undo(&r->t);
	}

	int fds[] = {r->copy_fd, r->all_fd, r->streams_fd, r->snapshots_fd, r->checkpoints_fd};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (size_t i = 0; i < r->nstreams; i++)
		free(r->streams[i].name);
	free(r->streams);
	free(r->buf);
	free(r);
	return ok ? 0 : 1;
}

/* node.c — the helpers every kind of node answers with (see node.h):
 * refusals, attributes, entries, listings and names. */
#include "node.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

void refuse(fuse_req_t req, int err, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_line(LOG_NOTICE, "%s (%s)", line, errno_name(err));
	fuse_reply_err(req, err);
}

/* ---- Attributes. ----------------------------------------------------- */

static void set_times(struct stat *st, int64_t us)
{
	st->st_mtim.tv_sec = (time_t)(us / 1000000);
	st->st_mtim.tv_nsec = (long)(us % 1000000) * 1000;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

void set_attr(const struct esfs *fs, struct stat *st, fuse_ino_t ino, mode_t mode,
	      nlink_t nlink, off_t size, int64_t us)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = nlink;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = size;
	st->st_blksize = 4096;
	st->st_blocks = (size + 511) / 512;
	set_times(st, us);
}

int head_attr(const struct esfs *fs, es_read *rd, fuse_ino_t ino, mode_t mode,
	     nlink_t nlink, struct stat *st)
{
	uint64_t head;
	int64_t at;
	int err = es_head(rd, &head, &at);

	if (!err)
		set_attr(fs, st, ino, mode, nlink, 0, at);
	return err;
}

void reply_change(fuse_req_t req, int err, const char *what, const char *name)
{
	if (err)
		refuse(req, err, "%s/%s: %s", what, name, es_why());
	else
		fuse_reply_err(req, 0);
}

void reply_entry(fuse_req_t req, const struct stat *st, double entry_timeout,
		 double attr_timeout)
{
	struct fuse_entry_param e = {
		.ino = st->st_ino,
		.attr = *st,
		.entry_timeout = entry_timeout,
		.attr_timeout = attr_timeout,
	};
	fuse_reply_entry(req, &e);
}

void reply_part(fuse_req_t req, const char *p, size_t len, size_t size, off_t off)
{
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, p + off, size < len - (size_t)off ? size : len - (size_t)off);
}

/* ---- Listing. -------------------------------------------------------- */

int list_add(struct listing *l, const char *name, const struct stat *st,
	     double et, double at, off_t off)
{
	size_t need;

	if (l->plus) {
		struct fuse_entry_param e = {
			.ino = st->st_ino, .attr = *st,
			.entry_timeout = et, .attr_timeout = at,
		};
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			e.ino = 0;	/* the kernel takes no reference */
		need = fuse_add_direntry_plus(l->req, l->buf + l->used, l->size - l->used,
					      name, &e, off);
	} else {
		need = fuse_add_direntry(l->req, l->buf + l->used, l->size - l->used,
					 name, st, off);
	}
	if (need > l->size - l->used)
		return 1;
	l->used += need;
	return 0;
}

int list_named(struct listing *l, const char *name, size_t len,
	       const struct stat *st, double et, double at, uint64_t id)
{
	char z[256];

	memcpy(z, name, len);
	z[len] = '\0';
	return list_add(l, z, st, et, at, (off_t)id + l->base);
}

/* ---- Names. ---------------------------------------------------------- */

int parse_event_name(const char *name, uint64_t *n)
{
	uint64_t v = 0;
	size_t len = strlen(name);

	if (len == 0 || len > ES_EVENT_NAME_LEN)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		if (v > ES_ID_MAX / 10)
			return -1;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (v == 0 || v > ES_ID_MAX)
		return -1;
	*n = v;
	return 0;
}

int parse_position(const char *name, uint64_t *n)
{
	if (strcmp(name, "0") == 0) {
		*n = 0;
		return 0;
	}
	return parse_event_name(name, n);
}

void event_name(uint64_t n, char *buf)
{
	snprintf(buf, ES_EVENT_NAME_LEN + 1, ES_EVENT_NAME_FMT, n);
}

int wants_write(const struct fuse_file_info *fi)
{
	return (fi->flags & O_ACCMODE) != O_RDONLY;
}

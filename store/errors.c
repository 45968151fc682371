/* errors.c — the store's failures: es_why, and fail and lmdb_fail, which
 * set its reason and return an errno (LMDB's codes mapped to one); and
 * the problems es_verify finds, a line each (problem). */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Thread_local char why_buf[512];

const char *es_why(void)
{
	return why_buf;
}

int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof why_buf, fmt, ap);
	va_end(ap);
	return err;
}

void problem(struct problems *p, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	p->count++;
	p->fn(p->arg, line);
}

/* Maps an LMDB return code to an errno, with the reason. */
int lmdb_fail(int rc, const char *what)
{
	if (rc == MDB_MAP_FULL)
		return RETRY_MAP;
	if (rc == MDB_NOTFOUND)
		return fail(ENOENT, "%s: not found", what);
	if (rc == MDB_TXN_FULL)
		return fail(EFBIG, "%s: too much in one transaction", what);
	if (rc > 0)	/* a system errno; LMDB's own codes are negative */
		return fail(rc, "%s: %s", what, strerror(rc));
	return fail(EIO, "%s: %s", what, mdb_strerror(rc));
}

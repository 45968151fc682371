/* tap.h — a tiny header-only TAP (Test Anything Protocol) producer for the
 * esfs C unit tests, so that `prove` can run them; no packaged TAP library
 * is used.
 *
 *   ok(cond, fmt, ...)                        passes when cond is true
 *   is_int(got, want, fmt, ...)               compares two integers (long long)
 *   is_str(got, want, fmt, ...)               compares two C strings (NULL allowed)
 *   is_mem(got, got_len, want, want_len, fmt, ...)   compares two byte ranges
 *   diag(fmt, ...)                            a "# " comment on stderr
 *   note(fmt, ...)                            a "# " comment on stdout
 *   bail_out(fmt, ...)                        "Bail out!" and exit(255)
 *   todo(reason)                              the checks that follow, until
 *                                             todo(NULL), are TODO: they show
 *                                             a known bug, and prove does
 *                                             not count their failures
 *   done_testing()                            prints the plan "1..N" and
 *                                             returns the exit status
 *
 * The test name is a printf format. Each check returns 1 when it passed, 0
 * when it failed; a failure prints "# got:" / "# expected:" diagnostics on
 * stderr. Results go to stdout, flushed after every line. The counters are
 * not locked: make checks from one thread only (collect results in worker
 * threads, check them after pthread_join).
 */
#ifndef ESFS_TAP_H
#define ESFS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tap_state {
	int run;		/* checks made */
	int failed;		/* checks that failed, TODO ones not counted */
	const char *todo;	/* the reason the checks made now are TODO */
};

static inline struct tap_state *tap_state(void)
{
	static struct tap_state st;
	return &st;
}

/* Writes a message on f, each of its lines prefixed with "# ". */
static inline void tap_vcomment(FILE *f, const char *fmt, va_list ap)
{
	char buf[8192];
	const char *p = buf;

	vsnprintf(buf, sizeof buf, fmt, ap);
	fflush(stdout);
	while (*p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		fprintf(f, "# %.*s\n", len, p);
		p += len + (nl != NULL);
	}
	fflush(f);
}

/* A diagnostic, shown by prove: for failures and surprises. */
__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vcomment(stderr, fmt, ap);
	va_end(ap);
}

/* A note, shown by prove -v only: for headings and statistics. */
__attribute__((format(printf, 1, 2)))
static inline void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vcomment(stdout, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2), noreturn))
static inline void bail_out(const char *fmt, ...)
{
	va_list ap;

	fflush(stderr);
	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(255);
}

/* Marks the checks that follow as TODO (reason not NULL) or not (NULL). */
static inline void todo(const char *reason)
{
	tap_state()->todo = reason;
}

/* Prints "ok N - name" or "not ok N - name" (with " # TODO reason" while
 * todo() is set) and, on failure, where. */
static inline int tap_vresult(int pass, const char *file, int line,
			      const char *fmt, va_list ap)
{
	struct tap_state *st = tap_state();
	char name[1024];

	vsnprintf(name, sizeof name, fmt, ap);
	for (char *c = name; *c; c++)	/* a name must stay on one line */
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	st->run++;
	if (!pass && !st->todo)
		st->failed++;
	printf("%sok %d%s%s%s%s\n", pass ? "" : "not ", st->run, *name ? " - " : "",
	       name, st->todo ? " # TODO " : "", st->todo ? st->todo : "");
	fflush(stdout);
	if (!pass)
		diag("  Failed %stest '%s'\n  at %s line %d.", st->todo ? "(TODO) " : "",
		     name, file, line);
	return pass;
}

__attribute__((format(printf, 4, 5)))
static inline int tap_ok(int pass, const char *file, int line,
			 const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	return r;
}

__attribute__((format(printf, 5, 6)))
static inline int tap_is_int(long long got, long long want, const char *file,
			     int line, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vresult(got == want, file, line, fmt, ap);
	va_end(ap);
	if (!r)
		diag("got:      %lld\nexpected: %lld", got, want);
	return r;
}

/* Appends a readable, escaped rendering of p[0..n) to out (size cap),
 * truncated with "..." when long. */
static inline void tap_render(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	if (!p) {
		snprintf(out, cap, "NULL");
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char tmp[8];
		if (c == '\n')
			snprintf(tmp, sizeof tmp, "\\n");
		else if (c == '\t')
			snprintf(tmp, sizeof tmp, "\\t");
		else if (c == '\\' || c == '"')
			snprintf(tmp, sizeof tmp, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			snprintf(tmp, sizeof tmp, "\\x%02x", c);
		else
			snprintf(tmp, sizeof tmp, "%c", c);
		size_t t = strlen(tmp);
		if (o + t + 6 >= cap) {
			memcpy(out + o, "\"...", 4);
			o += 4;
			out[o] = '\0';
			return;
		}
		memcpy(out + o, tmp, t);
		o += t;
	}
	out[o++] = '"';
	out[o] = '\0';
}

__attribute__((format(printf, 7, 8)))
static inline int tap_is_mem(const void *got, size_t got_len, const void *want,
			     size_t want_len, const char *file, int line,
			     const char *fmt, ...)
{
	int pass = (got == NULL && want == NULL) ||
		   (got && want && got_len == want_len &&
		    memcmp(got, want, got_len) == 0);
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass) {
		static char g[4096], w[4096];
		size_t at = 0;
		tap_render(got, got_len, g, sizeof g);
		tap_render(want, want_len, w, sizeof w);
		if (got && want)
			while (at < got_len && at < want_len &&
			       ((const char *)got)[at] == ((const char *)want)[at])
				at++;
		diag("got:      %s (%zu bytes)\nexpected: %s (%zu bytes)\n"
		     "first difference at byte %zu", g, got_len, w, want_len, at);
	}
	return pass;
}

__attribute__((format(printf, 5, 6)))
static inline int tap_is_str(const char *got, const char *want,
			     const char *file, int line, const char *fmt, ...)
{
	int pass = (got == NULL && want == NULL) ||
		   (got && want && strcmp(got, want) == 0);
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass) {
		static char g[4096], w[4096];
		tap_render(got, got ? strlen(got) : 0, g, sizeof g);
		tap_render(want, want ? strlen(want) : 0, w, sizeof w);
		diag("got:      %s\nexpected: %s", g, w);
	}
	return pass;
}

/* Prints the plan and returns the exit status: 0 when every check passed,
 * else the number of failures (at most 254), 255 when nothing was run. */
static inline int done_testing(void)
{
	struct tap_state *st = tap_state();

	printf("1..%d\n", st->run);
	fflush(stdout);
	if (st->run == 0) {
		diag("No tests run!");
		return 255;
	}
	if (st->failed) {
		diag("Looks like you failed %d test%s of %d.", st->failed,
		     st->failed == 1 ? "" : "s", st->run);
		return st->failed > 254 ? 254 : st->failed;
	}
	return 0;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, \
		   __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_mem(got, got_len, want, want_len, ...) \
	tap_is_mem((got), (got_len), (want), (want_len), __FILE__, __LINE__, \
		   __VA_ARGS__)

#endif

/* log.c — one line per event worth telling: to stderr when esfs runs in
 * the foreground, to syslog (daemon facility) when it runs in the
 * background. */
#include "esfs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static int to_stderr = 1;

/* Writes line as one line: control characters (a newline in a stream's
 * name, say) are shown as \xHH. */
static void emit(int priority, const char *line)
{
	char out[4 * 1024 + 1];
	size_t o = 0;

	for (const char *p = line; *p && o + 4 < sizeof out; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	if (to_stderr)
		fprintf(stderr, "esfs: %s\n", out);
	else
		syslog(priority, "%s", out);
}

static void vlog(int priority, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof line, fmt, ap);
	emit(priority, line);
}

static void fuse_log_to_us(enum fuse_log_level level, const char *fmt, va_list ap)
{
	/* libfuse ends its lines with '\n'; syslog wants none, stderr gets
	 * it from the format. */
	char line[1024];
	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	emit((int)level, line);
}

void log_init(int foreground)
{
	to_stderr = foreground;
	if (!foreground)
		openlog("esfs", LOG_PID, LOG_DAEMON);
	fuse_set_log_func(fuse_log_to_us);
}

void log_line(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, fmt, ap);
	va_end(ap);
}

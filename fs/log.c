/* log.c — one line per event worth telling: to stderr when esfs runs in
 * the foreground, to syslog (daemon facility) when it runs in the
 * background. */
#include "esfs.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static int to_stderr = 1;

static void vlog(int priority, const char *fmt, va_list ap)
{
	if (to_stderr) {
		fputs("esfs: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(priority, fmt, ap);
	}
}

static void fuse_log_to_us(enum fuse_log_level level, const char *fmt, va_list ap)
{
	/* libfuse ends its lines with '\n'; syslog wants none, stderr gets
	 * it from the format. */
	char line[1024];
	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = 0;
	while (line[n])
		n++;
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (to_stderr)
		fprintf(stderr, "%s\n", line);
	else
		syslog((int)level, "%s", line);
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

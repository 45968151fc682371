/* log.c — one line per event worth telling: to stderr when esfs runs in
 * the foreground, to syslog (daemon facility) when it runs in the
 * background, and when there is no syslog to hand it to (no /dev/log, as
 * in many containers) to a file a person can find:
 * $XDG_STATE_HOME/esfs/esfs.log, by default ~/.local/state/esfs/esfs.log.
 * esfs says which at start, while its stderr is still the terminal. */
#include "esfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum { TO_STDERR, TO_SYSLOG, TO_FILE };
static int dest = TO_STDERR;
static int log_fd = -1;

const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "EUNKNOWN";
}

size_t log_escape(const char *in, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < size; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (size > 0)
		out[o] = '\0';
	return o;
}

/* Writes line as one line: control characters (a newline in a stream's
 * name, say) are shown as \xHH. */
static void emit(int priority, const char *line)
{
	char out[4 * 1024 + 1];

	log_escape(line, strlen(line), out, sizeof out);
	if (dest == TO_STDERR) {
		fprintf(stderr, "esfs: %s\n", out);
	} else if (dest == TO_SYSLOG) {
		syslog(priority, "%s", out);
	} else {
		/* One write() a line, so that lines of threads never mix. */
		char rec[sizeof out + 64];
		time_t now = time(NULL);
		struct tm tm;
		size_t n = strftime(rec, sizeof rec, "%Y-%m-%dT%H:%M:%SZ",
				    gmtime_r(&now, &tm));
		n += (size_t)snprintf(rec + n, sizeof rec - n, " esfs[%ld]: %s\n",
				      (long)getpid(), out);
		if (write(log_fd, rec, n < sizeof rec ? n : sizeof rec) < 0)
			return;	/* nowhere left to say it */
	}
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

/* The log file for a background esfs with no syslog: opened (made with
 * its directories, 0700) or -1 after saying why. */
static int open_log_file(char *path, size_t size)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (state && state[0] == '/')
		n = snprintf(path, size, "%s/esfs", state);
	else if (home && home[0] == '/')
		n = snprintf(path, size, "%s/.local/state/esfs", home);
	else
		return -1;
	if (n < 0 || (size_t)n + sizeof "/esfs.log" > size || es_mkdirs(path, 0700) != 0)
		return -1;
	strcat(path, "/esfs.log");
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

void log_init(int foreground)
{
	struct stat st;
	char path[4096];

	dest = TO_STDERR;
	if (!foreground && stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode)) {
		dest = TO_SYSLOG;
		openlog("esfs", LOG_PID, LOG_DAEMON);
	} else if (!foreground) {
		if ((log_fd = open_log_file(path, sizeof path)) >= 0) {
			dest = TO_FILE;
			fprintf(stderr, "esfs: no syslog here (no /dev/log); log lines go to %s\n", path);
		} else {
			dest = TO_SYSLOG;
			fprintf(stderr, "esfs: no syslog here (no /dev/log) and no log file "
				"(set HOME or XDG_STATE_HOME): log lines are lost; use -f to see them\n");
		}
	}
	fuse_set_log_func(fuse_log_to_us);
}

void log_line(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, fmt, ap);
	va_end(ap);
}

/* progress.c — the progress line of esfsctl (see progress.h):
 *
 *   restoring [##########----------]  50%  500000/1000000 events  81234/s
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define REDRAW_NS 100000000u	/* at most ten times a second */
#define BAR 20

static struct {
	int checked, on;	/* isatty asked; its answer */
	const char *what, *unit;
	uint64_t start_ns, last_ns;
	int drawn;		/* length of the line on screen, 0 when none */
} p;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int progress_enabled(void)
{
	if (!p.checked) {
		p.on = isatty(STDERR_FILENO);
		p.checked = 1;
	}
	return p.on;
}

void progress_start(const char *what, const char *unit)
{
	progress_clear();
	p.what = what;
	p.unit = unit;
	p.start_ns = now_ns();
	p.last_ns = 0;
}

void progress_update(uint64_t done, uint64_t total)
{
	char line[160];
	int n;

	if (!progress_enabled() || !p.what)
		return;
	uint64_t now = now_ns();
	if (p.last_ns && now - p.last_ns < REDRAW_NS && !(total && done >= total))
		return;	/* the last state is always drawn */
	p.last_ns = now;
	if (total) {
		if (done > total)
			done = total;
		char bar[BAR + 1];
		int full = (int)(done * BAR / total);
		memset(bar, '#', (size_t)full);
		memset(bar + full, '-', (size_t)(BAR - full));
		bar[BAR] = '\0';
		n = snprintf(line, sizeof line, "%s [%s] %3d%%  %" PRIu64 "/%" PRIu64 " %s",
			     p.what, bar, (int)(done * 100 / total), done, total, p.unit);
	} else {
		n = snprintf(line, sizeof line, "%s  %" PRIu64 " %s", p.what, done, p.unit);
	}
	double secs = (double)(now - p.start_ns) / 1e9;
	if (secs >= 1 && n > 0 && (size_t)n < sizeof line)
		n += snprintf(line + n, sizeof line - (size_t)n, "  %.0f/s", (double)done / secs);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	/* Pad over a longer line drawn before. */
	fprintf(stderr, "\r%s%*s", line, p.drawn > n ? p.drawn - n : 0, "");
	fflush(stderr);
	p.drawn = n;
}

void progress_clear(void)
{
	if (p.drawn) {
		fprintf(stderr, "\r%*s\r", p.drawn, "");
		fflush(stderr);
		p.drawn = 0;
	}
}

/* progress.h — one progress line on stderr for long work, drawn only when
 * stderr is a terminal, redrawn at most ten times a second with '\r', and
 * erased when the work ends, so that what follows starts on a clean line.
 * There is one per process; progress_update may be called from any one
 * thread at a time. */
#ifndef ESFSCTL_PROGRESS_H
#define ESFSCTL_PROGRESS_H

#include <stdint.h>

/* Starts (or renames) the line: what is the work, unit what is counted
 * ("events", "bytes"). */
void progress_start(const char *what, const char *unit);

/* done of total (total 0: not known). Cheap when nothing is drawn. */
void progress_update(uint64_t done, uint64_t total);

/* Erases the line if it is drawn (before printing anything else). */
void progress_clear(void);

/* Whether a line would be drawn: stderr is a terminal. */
int progress_enabled(void);

#endif

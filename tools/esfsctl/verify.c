/* verify.c — esfsctl verify STORE: opens the store read-only (so that
 * it runs beside a mounted daemon) and checks every invariant with
 * es_verify, in one read view. Each problem is one line on stdout, then a
 * summary line. Exit 0 clean, 1 problems found, 2 it could not run.
 */
#include <inttypes.h>
#include <stdio.h>

#include "esfsctl.h"
#include "progress.h"
#include "store.h"

static void problem(void *arg, const char *line)
{
	(void)arg;
	progress_clear();
	printf("%s\n", line);
	fflush(stdout);
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	(void)arg;
	progress_update(done, total);
}

int cmd_verify(int argc, char **argv)
{
	int rc = ctl_args(argc, argv, 1, "STORE");
	if (rc >= 0)
		return rc;
	const char *dir = argv[argc - 1];
	es_store *s;
	es_stats st;
	uint64_t problems = 0;

	if (ctl_open_ro(dir, &s, &st))
		return 2;
	progress_start("verifying", "events");
	int err = es_verify(s, problem, progress, NULL, &problems);
	progress_clear();
	if (err) {
		ctl_error("%s: %s", dir, es_why());
		es_close(s);
		return 2;
	}
	es_close(s);
	if (problems)
		printf("%s: %" PRIu64 " problem%s found", dir, problems, plural(problems));
	else
		printf("%s: no problems", dir);
	printf(" (%" PRIu64 " event%s, %" PRIu64 " stream%s, %" PRIu64 " snapshot%s, %"
	       PRIu64 " checkpoint%s)\n", st.events, plural(st.events), st.streams,
	       plural(st.streams), st.snapshots, plural(st.snapshots), st.checkpoints,
	       plural(st.checkpoints));
	return problems ? 1 : 0;
}

/* stats.c — esfsctl stats STORE: counts and sizes of a store, read-only
 * (it runs beside a mounted daemon), one "key value" line each, for awk:
 *
 *   streams 12
 *   events 1000
 *   ...
 *   file_bytes 1073741824
 *
 * The sizes are the store's own: of a directory, its index (used_bytes,
 * map_bytes), its log (log_bytes, log_file_bytes) and its files
 * (file_bytes); of a PostgreSQL store, the bytes of its envelopes
 * (log_bytes) and its database (database_bytes), since it has no files
 * of its own (esfsctl(1)).
 */
#include <inttypes.h>
#include <stdio.h>

#include "esfsctl.h"
#include "store.h"

int cmd_stats(int argc, char **argv)
{
	int rc = ctl_args(argc, argv, 1, "STORE");
	if (rc >= 0)
		return rc;
	const char *dir = argv[argc - 1];
	es_stats st;
	uint64_t file_bytes = 0;

	if (ctl_open_ro(dir, NULL, &st))
		return 1;
	if (!st.database_bytes && es_file_bytes(dir, &file_bytes) != 0) {
		ctl_error("%s", es_why());
		return 1;
	}
	printf("streams %" PRIu64 "\n", st.streams);
	printf("events %" PRIu64 "\n", st.events);
	printf("head %" PRIu64 "\n", st.head);
	printf("snapshots %" PRIu64 "\n", st.snapshots);
	printf("checkpoints %" PRIu64 "\n", st.checkpoints);
	printf("categories %" PRIu64 "\n", st.categories);
	printf("types %" PRIu64 "\n", st.types);
	if (st.database_bytes) {	/* a PostgreSQL store */
		printf("log_bytes %" PRIu64 "\n", st.log_bytes);
		printf("database_bytes %" PRIu64 "\n", st.database_bytes);
		return 0;
	}
	printf("used_bytes %" PRIu64 "\n", st.used_bytes);
	printf("map_bytes %" PRIu64 "\n", st.map_bytes);
	printf("log_bytes %" PRIu64 "\n", st.log_bytes);
	printf("log_file_bytes %" PRIu64 "\n", st.log_file_bytes);
	printf("file_bytes %" PRIu64 "\n", file_bytes);
	return 0;
}

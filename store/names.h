/* names.h — the names of a mounted esfs tree, spelled once: the daemon
 * serves them (fs/) and esfsctl restore reads them back from a copy of a
 * mount (tools/esfsctl/). Only the names live here, no code. */
#ifndef ES_NAMES_H
#define ES_NAMES_H

#include <inttypes.h>

/* The top-level directories. */
#define ES_DIR_STREAMS "streams"
#define ES_DIR_ALL "all"
#define ES_DIR_SNAPSHOTS "snapshots"
#define ES_DIR_CHECKPOINTS "checkpoints"
#define ES_DIR_FEED "feed"
#define ES_DIR_SUBSCRIPTIONS "subscriptions"
#define ES_DIR_CATEGORIES "categories"
#define ES_DIR_TYPES "types"

/* The file of a stream's directory that appends are written to. */
#define ES_NEW "new"

/* An event file is named by its number (a version in streams/S/, else a
 * global position), zero-padded to ES_EVENT_NAME_LEN digits so that glob
 * order is event order: printf(ES_EVENT_NAME_FMT, (uint64_t)n). */
#define ES_EVENT_NAME_LEN 20
#define ES_EVENT_NAME_FMT "%020" PRIu64

#endif

/* event.c — an event to append, validated before any backend stores it:
 * its type a name, its data and metadata JSON objects made compact, its id
 * given or generated, no id twice in one batch (see common.h). */
#include "common.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

static int cmp_ids(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

int prepare_events(const es_event_in *in, size_t n, struct prepared *ev)
{
	unsigned char (*ids)[16] = NULL;
	size_t given = 0;
	char why[256];
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		struct prepared *p = &ev[i];
		p->type = in[i].type;
		p->type_len = in[i].type_len;
		p->schema_version = in[i].schema_version ? in[i].schema_version : 1;
		if (!in[i].type || es_name_check(in[i].type, in[i].type_len, why, sizeof why))
			return fail(EINVAL, "event %zu: bad event type: %s", i + 1,
				    in[i].type ? why : "missing");
		if (!in[i].data)
			return fail(EINVAL, "event %zu: no data", i + 1);
		err = es_json_check(in[i].data, in[i].data_len, 0, why, sizeof why,
				    &p->data, &p->data_len, NULL);
		if (err)
			return fail(err, "event %zu: data: %s", i + 1, why);
		if (in[i].metadata) {
			err = es_json_check(in[i].metadata, in[i].metadata_len, 0, why,
					    sizeof why, &p->meta, &p->meta_len, NULL);
		} else {
			p->meta = strdup("{}");
			p->meta_len = 2;
			err = p->meta ? 0 : ENOMEM;
		}
		if (err)
			return fail(err, "event %zu: metadata: %s", i + 1, why);
		p->given_id = in[i].id != NULL;
		if (p->given_id) {
			memcpy(p->id, in[i].id, 16);
			given++;
		} else {
			uuid_generate(p->id);
		}
	}
	if (given < 2)
		return 0;
	ids = malloc(given * 16);
	if (!ids)
		return fail(ENOMEM, "out of memory");
	given = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].given_id)
			memcpy(ids[given++], ev[i].id, 16);
	qsort(ids, given, 16, cmp_ids);
	for (size_t i = 1; i < given && !err; i++)
		if (memcmp(ids[i - 1], ids[i], 16) == 0) {
			char u[37];
			uuid_unparse_lower(ids[i], u);
			err = fail(EINVAL, "event id %s appears twice in the batch", u);
		}
	free(ids);
	return err;
}


size_t category_len(const char *name, size_t len)
{
	const char *dash = memchr(name, '-', len);

	return dash ? (size_t)(dash - name) : 0;
}

int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

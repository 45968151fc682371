/* logbytes.c — a placeholder: es_log_bytes as a walk of the log from
 * position 1, O(position), until the log format of doc/log.md gives it in
 * O(1) and this file goes. */
#include "internal.h"

#include <errno.h>

struct sum {
	uint64_t before;	/* the position to stop at */
	uint64_t bytes;
};

static int add_event(void *arg, const es_event *ev)
{
	struct sum *s = arg;

	if (ev->position >= s->before)
		return 1;
	s->bytes += ev->json_len;
	return 0;
}

int es_log_bytes(es_read *r, uint64_t position, uint64_t *bytes)
{
	struct sum s = {position, 0};
	uint64_t head;
	int64_t at;
	int err;

	if (position == 0)
		return fail(EINVAL, "no global position 0");
	if ((err = es_head(r, &head, &at)))
		return err;
	if (position > head + 1)
		return fail(ENOENT, "position %llu is past the head + 1 (%llu)",
			    (unsigned long long)position, (unsigned long long)head + 1);
	if (position > 1 && (err = es_log_walk(r, 1, add_event, &s)))
		return err;
	*bytes = s.bytes;
	return 0;
}

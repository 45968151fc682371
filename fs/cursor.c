/* cursor.c — filling a buffer from a place in the global log (see
 * cursor.h), with one cursor walk of the store. */
#include "cursor.h"

#include <string.h>

struct fill {
	struct log_cursor *c;
	uint64_t last;
	enum cursor_cut cut;
	char *buf;
	size_t size, used;
};

static int fill_event(void *arg, const es_event *ev)
{
	struct fill *f = arg;
	struct log_cursor *c = f->c;
	size_t n = ev->json_len - c->sent, room = f->size - f->used;

	if (ev->position > f->last)
		return 1;
	if (n > room) {
		if (f->cut == CUT_EVENTS && f->used > 0)
			return 1;
		n = room;
	}
	if (f->buf)
		memcpy(f->buf + f->used, ev->json + c->sent, n);
	f->used += n;
	c->sent += n;
	if (c->sent < ev->json_len)
		return 1;	/* full inside this event */
	c->sent = 0;
	c->next = ev->position + 1;
	return f->used == f->size;
}

int cursor_fill(es_read *rd, struct log_cursor *c, uint64_t last, enum cursor_cut cut,
		char *buf, size_t size, size_t *used)
{
	struct log_cursor was = *c;
	struct fill f = {c, last, cut, buf, size, 0};
	int err = size && c->next <= last ? es_log_walk(rd, c->next, size + c->sent, fill_event, &f) : 0;

	if (err) {
		*c = was;
		f.used = 0;
	}
	*used = f.used;
	return err;
}

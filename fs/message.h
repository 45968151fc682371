/* message.h — the message format written to streams/S/new and snapshots/S:
 * header lines, an empty line, and a JSON body (README.md, "The message
 * format", and esfs(1) are the contract).
 *
 * A msg_reader receives the bytes of one open file as they arrive, in any
 * pieces, and says when a whole message is there; msg_parse_append and
 * msg_parse_snapshot then turn it into what the store takes.
 */
#ifndef ESFS_MESSAGE_H
#define ESFS_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../store/json.h"
#include "../store/store.h"

/* Largest header block, in bytes. */
#define MSG_MAX_HEADERS (64 * 1024)

/* msg_feed's answers; errors are positive errno values. */
enum { MSG_MORE = 0, MSG_DONE = -1, MSG_SKIPPED = -2 };

typedef struct msg_reader {
	char *buf;		/* the message so far */
	size_t len, cap;
	size_t limit;		/* largest message; more is EFBIG */
	size_t line_start;	/* start of the header line being received */
	size_t body;		/* offset of the body, 0 while in the headers */
	es_json_frame frame;
	int skip;		/* discarding the rest of a failed message */
	int skip_line;		/* ... a body that is not JSON, to its line's end */
	size_t line_len;	/* ... bytes of the header line so far */
} msg_reader;

/* Feeds n bytes of p. Sets *used to the bytes taken, and returns:
 *   MSG_MORE     all taken, the message is not finished;
 *   MSG_DONE     a whole message is in m->buf (m->len bytes);
 *   an errno     (EINVAL, EFBIG, ENOMEM) the message is bad, the reason is
 *                in why; the reader now skips the rest of that message,
 *                framed as a message would be, keeping nothing;
 *   MSG_SKIPPED  the rest of a failed message has passed.
 * Blank space between messages is skipped. */
int msg_feed(msg_reader *m, const char *p, size_t n, size_t *used,
	     char *why, size_t why_size);

/* Forgets the message in progress, to start the next one. */
void msg_reset(msg_reader *m);

/* Whether part of a message has been received (not counting the rest of a
 * failed one). */
int msg_pending(const msg_reader *m);

void msg_free(msg_reader *m);

/* A parsed append message; pointers point into the message buffer or into
 * storage owned by the struct. */
typedef struct msg_append {
	int64_t expected;	/* a version or ES_ANY */
	es_event_in *ev;
	size_t n;
	void *owned;		/* storage freed by msg_append_free */
} msg_append;

/* Parses a whole append message (m->buf, m->len). Returns 0 or EINVAL
 * (reason in why) or ENOMEM. */
int msg_parse_append(const msg_reader *m, msg_append *out, char *why,
		     size_t why_size);
void msg_append_free(msg_append *a);

/* Parses a whole snapshot message: the one header Version: N and a JSON
 * object body. */
int msg_parse_snapshot(const msg_reader *m, uint64_t *version,
		       const char **data, size_t *data_len, char *why,
		       size_t why_size);

/* Parses a checkpoint write: a decimal position and at most one trailing
 * newline. Returns 0 or EINVAL. */
int msg_parse_position(const char *p, size_t n, uint64_t *pos, char *why,
		       size_t why_size);

#endif

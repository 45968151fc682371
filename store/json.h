/* json.h — JSON text handling shared by the store and the message parser.
 *
 * jansson decides whether text is valid JSON. These helpers never decide
 * that; they only frame, compact and slice text that is (or is about to be
 * checked to be) valid, so that what users appended is stored byte for byte
 * except for insignificant whitespace. jansson's own serialiser would
 * rewrite numbers (0.1 becomes 0.10000000000000001) and escapes, which the
 * contract forbids.
 */
#ifndef ES_JSON_H
#define ES_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Deepest nesting accepted anywhere (jansson's own limit is 2048). */
#define ES_JSON_MAX_DEPTH 512

/* Incremental framer: finds where one JSON object or array ends in a byte
 * stream delivered in pieces. Zero-initialise before the first byte. */
typedef struct es_json_frame {
	long depth;		/* open brackets */
	int in_string;		/* inside a string literal */
	int escape;		/* previous byte was a backslash in a string */
	int started;		/* the opening bracket was seen */
	int too_deep;		/* nested deeper than ES_JSON_MAX_DEPTH */
} es_json_frame;

/* Feeds n bytes. Returns:
 *   > 0  the value ended: the number of bytes of p that belong to it;
 *   0    all n bytes consumed, the value is not finished yet;
 *  -1    the text cannot be a JSON object or array: it does not start with
 *        '{' or '[' after whitespace.
 * Nesting deeper than ES_JSON_MAX_DEPTH sets too_deep and framing goes on,
 * so that the end of the value is still found. */
long es_json_frame_feed(es_json_frame *f, const char *p, size_t n);

/* Copies valid JSON text from in to out without insignificant whitespace and
 * returns the length written; out needs room for n bytes. */
size_t es_json_compact(const char *in, size_t n, char *out);

/* Length of the JSON value at the start of compact, valid text p. */
size_t es_json_skip(const char *p, size_t n);

/* Parses text of length n with jansson and checks that it is a JSON object
 * (or, with want_array, an array) with no duplicate keys and no raw NUL. On success returns
 * 0 and, when out is not NULL, a compact copy in *out (malloc'd, NUL
 * terminated) and its length in *out_len; when tree is not NULL, the parsed
 * value (the caller's reference). On failure returns EINVAL and writes
 * jansson's reason to why, or ENOMEM. */
int es_json_check(const char *p, size_t n, int want_array, char *why,
		  size_t why_size, char **out, size_t *out_len, json_t **tree);

/* One member of a compact JSON object: key and value as text (the key with
 * its quotes). */
typedef struct es_json_member {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
} es_json_member;

/* Walks the members of compact, valid object text. Call with *pos = 0;
 * returns 1 and fills m for each member, 0 after the last. */
int es_json_next_member(const char *obj, size_t n, size_t *pos,
			es_json_member *m);

/* The same for the elements of compact, valid array text. */
int es_json_next_element(const char *arr, size_t n, size_t *pos,
			 const char **value, size_t *value_len);

/* Writes s as a JSON string literal (quotes included) into out, which needs
 * room for 2 * n + 2 bytes; returns the length. s must be valid UTF-8 with
 * no control characters (see es_name_check), so only '"' and '\' need
 * escaping. */
size_t es_json_quote(const char *s, size_t n, char *out);

/* Checks a stream, checkpoint or event-type name: 1 to 255 bytes of valid
 * UTF-8, no '/', no control character (C0, DEL or C1), not starting with
 * '.'. Returns 0 or EINVAL, with the reason in why. */
int es_name_check(const char *s, size_t n, char *why, size_t why_size);

#endif

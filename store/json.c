/* json.c — framing, compaction and slicing of JSON text; validation by
 * jansson. See json.h for why the text itself is never re-serialised. */
#include "json.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Steps the string-literal state over byte c. Returns 1 when c belongs to
 * a string literal (its quotes included), 0 when it is structure. */
static int string_byte(int *in_string, int *escape, char c)
{
	if (!*in_string) {
		*in_string = c == '"';
		return *in_string;
	}
	if (*escape)
		*escape = 0;
	else if (c == '\\')
		*escape = 1;
	else if (c == '"')
		*in_string = 0;
	return 1;
}

long es_json_frame_feed(es_json_frame *f, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!f->started) {
			if (is_ws(c))
				continue;
			if (c != '{' && c != '[')
				return -1;
			f->started = 1;
		}
		if (string_byte(&f->in_string, &f->escape, c))
			continue;
		if (c == '{' || c == '[') {
			if (++f->depth > ES_JSON_MAX_DEPTH)
				f->too_deep = 1;
		} else if (c == '}' || c == ']') {
			if (--f->depth == 0)
				return (long)(i + 1);
		}
	}
	return 0;
}

size_t es_json_compact(const char *in, size_t n, char *out)
{
	size_t o = 0;
	int in_string = 0, escape = 0;

	for (size_t i = 0; i < n; i++)
		if (string_byte(&in_string, &escape, in[i]) || !is_ws(in[i]))
			out[o++] = in[i];
	return o;
}

size_t es_json_skip(const char *p, size_t n)
{
	size_t i = 0;
	int depth = 0, in_string = 0, escape = 0;

	if (n == 0)
		return 0;
	if (p[0] != '{' && p[0] != '[' && p[0] != '"') {
		while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']')
			i++;
		return i;
	}
	for (; i < n; i++) {
		char c = p[i];
		if (string_byte(&in_string, &escape, c)) {
			if (!in_string && depth == 0)
				return i + 1;	/* a string value ends */
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return n;
}

int es_json_check(const char *p, size_t n, int want_array, char *why,
		  size_t why_size, char **out, size_t *out_len, json_t **tree)
{
	json_error_t err;
	json_t *v;
	es_json_frame f = {0};
	long end = es_json_frame_feed(&f, p, n);

	if (end < 0 || f.too_deep) {
		snprintf(why, why_size, "not a JSON %s, or nested deeper than %d",
			 want_array ? "array" : "object", ES_JSON_MAX_DEPTH);
		return EINVAL;
	}
	/* A raw NUL is never JSON, but jansson 2.14 lets one pass after a
	 * number or a literal ({"a":1\0}). */
	if (memchr(p, '\0', n)) {
		snprintf(why, why_size, "a NUL byte in JSON text");
		return EINVAL;
	}
	v = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL |
		       JSON_ALLOW_NUL, &err);
	if (!v) {
		snprintf(why, why_size, "bad JSON at byte %d: %s", err.position,
			 err.text);
		return EINVAL;
	}
	if (!(want_array ? json_is_array(v) : json_is_object(v))) {
		json_decref(v);
		snprintf(why, why_size, "not a JSON %s",
			 want_array ? "array" : "object");
		return EINVAL;
	}
	if (out) {
		char *c = malloc(n + 1);
		if (!c) {
			json_decref(v);
			snprintf(why, why_size, "out of memory");
			return ENOMEM;
		}
		*out_len = es_json_compact(p, n, c);
		c[*out_len] = '\0';
		*out = c;
	}
	if (tree)
		*tree = v;
	else
		json_decref(v);
	return 0;
}

int es_json_next_member(const char *obj, size_t n, size_t *pos,
			es_json_member *m)
{
	size_t i = *pos;

	if (i == 0)
		i = 1;		/* past '{' */
	if (i >= n || obj[i] == '}')
		return 0;
	m->key = obj + i;
	m->key_len = es_json_skip(obj + i, n - i);
	i += m->key_len + 1;	/* past ':' */
	m->value = obj + i;
	m->value_len = es_json_skip(obj + i, n - i);
	i += m->value_len;
	if (i < n && obj[i] == ',')
		i++;
	*pos = i;
	return 1;
}

int es_json_next_element(const char *arr, size_t n, size_t *pos,
			 const char **value, size_t *value_len)
{
	size_t i = *pos;

	if (i == 0)
		i = 1;		/* past '[' */
	if (i >= n || arr[i] == ']')
		return 0;
	*value = arr + i;
	*value_len = es_json_skip(arr + i, n - i);
	i += *value_len;
	if (i < n && arr[i] == ',')
		i++;
	*pos = i;
	return 1;
}

size_t es_json_quote(const char *s, size_t n, char *out)
{
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			out[o++] = '\\';
		out[o++] = s[i];
	}
	out[o++] = '"';
	return o;
}

int es_name_check(const char *s, size_t n, char *why, size_t why_size)
{
	json_t *utf8;

	if (n == 0 || n > 255) {
		snprintf(why, why_size, "a name must be 1 to 255 bytes, not %zu", n);
		return EINVAL;
	}
	if (s[0] == '.') {
		snprintf(why, why_size, "a name must not start with '.'");
		return EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '/') {
			snprintf(why, why_size, "a name must not contain '/'");
			return EINVAL;
		}
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && i + 1 < n &&
		     (unsigned char)s[i + 1] >= 0x80 &&
		     (unsigned char)s[i + 1] <= 0x9f)) {
			snprintf(why, why_size,
				 "a name must not contain control characters");
			return EINVAL;
		}
	}
	utf8 = json_stringn(s, n);	/* jansson checks the UTF-8 */
	if (!utf8) {
		snprintf(why, why_size, "a name must be valid UTF-8");
		return EINVAL;
	}
	json_decref(utf8);
	return 0;
}

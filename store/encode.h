/* encode.h — inside the store (not part of its API): the fixed-width
 * integers of the store's records and of its log (log.c), one copy for
 * both. get64/put64 and get32/put32 are native byte order (as LMDB's
 * MDB_INTEGERKEY keys are); put_be64/get_be64 big-endian, so that memcmp
 * orders the keys they make. */
#ifndef ES_ENCODE_H
#define ES_ENCODE_H

#include <stdint.h>
#include <string.h>

static inline uint32_t get32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline void put32(void *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline uint64_t get64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline void put64(void *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static inline uint64_t get_be64(const void *p)
{
	const unsigned char *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

#endif

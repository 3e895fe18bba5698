/* utf8.c - the one place that decides what is well-formed UTF-8.
 *
 * Every string the shim sends out (OTLP JSON and protobuf, the exit report)
 * passes through ots_utf8_prefix on its way into the output, so a thread name
 * the kernel cut inside a character, or a service name in Latin-1, can never
 * make a whole batch undecodable. What is not well-formed is replaced as the
 * Unicode standard (chapter 3, "U+FFFD substitution of maximal subparts") and
 * the WHATWG decoder do it: each maximal subpart of an ill-formed sequence,
 * i.e. the longest run that could still begin a well-formed sequence, or else
 * one byte, becomes one U+FFFD. Overlong forms, surrogates (U+D800-DFFF) and
 * values above U+10FFFF are never well-formed; the ranges of the second byte
 * below (table 3-7) exclude them.
 *
 * Pure functions with no state: the OTLP plugin links its own copy.
 */
#include "ots.h"

#include <string.h>

/* The bytes of the well-formed sequence that starts at p (2 to 4, p[0] being
 * a lead byte), or 0 with *sub set to the length of its maximal subpart. */
static size_t sequence(const unsigned char *p, size_t n, size_t *sub)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, k = 1;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0; /* below: overlong */
		else if (c == 0xed)
			hi = 0x9f; /* above: surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90; /* below: overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above: past U+10FFFF */
	} else {
		*sub = 1; /* a continuation byte, C0, C1 or F5-FF: starts nothing */
		return 0;
	}
	if (k < n && p[k] >= lo && p[k] <= hi) {
		k++;
		while (k < need && k < n && (p[k] & 0xc0) == 0x80)
			k++;
	}
	if (k == need)
		return need;
	*sub = k;
	return 0;
}

/* 16 bytes as two words: GCC and clang make the OR below one SSE2 (NEON)
 * instruction per 16 bytes, with no intrinsics. */
typedef uint64_t v2_t __attribute__((vector_size(16)));
#define HIGH_BITS 0x8080808080808080ull

static int ascii8(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return !(w & HIGH_BITS);
}

static int ascii16(const unsigned char *p)
{
	v2_t v;
	memcpy(&v, p, 16);
	return !((v[0] | v[1]) & HIGH_BITS);
}

/* The ASCII bytes at the start of p[0..n): 64 at a time, then 16, the last
 * block overlapping the one before, so a string of 8 to 32 bytes costs two
 * loads; byte by byte only in a block that holds a byte above 0x7f, or
 * under 8 bytes. */
static inline __attribute__((always_inline)) size_t ascii_run(const unsigned char *p, size_t n)
{
	size_t i = 0;
	if (n >= 16) {
		for (; i + 64 <= n; i += 64) {
			v2_t a, b, c, d;
			memcpy(&a, p + i, 16);
			memcpy(&b, p + i + 16, 16);
			memcpy(&c, p + i + 32, 16);
			memcpy(&d, p + i + 48, 16);
			v2_t x = a | b | c | d;
			if ((x[0] | x[1]) & HIGH_BITS)
				break;
		}
		for (; i + 16 <= n && ascii16(p + i); i += 16)
			;
		if (i + 16 > n && ascii16(p + n - 16))
			return n;
	} else if (n >= 8 && ascii8(p) && ascii8(p + n - 8)) {
		return n;
	}
	while (i < n && p[i] < 0x80)
		i++;
	return i;
}

/* From the first byte above 0x7f on: sequences, and the ASCII between. */
static OTS_COLD size_t prefix_slow(const unsigned char *p, size_t n, size_t i, size_t *bad)
{
	size_t sub = 0;

	do {
		size_t k = sequence(p + i, n - i, &sub);
		if (!k) {
			if (bad)
				*bad = sub;
			return i;
		}
		i += k;
	} while ((i += ascii_run(p + i, n - i)) < n);
	return n;
}

size_t ots_utf8_prefix(const char *s, size_t n, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = ascii_run(p, n);

	if (ots_likely(i == n))
		return n;
	return prefix_slow(p, n, i, bad);
}

size_t ots_utf8_fixed_len(const char *s, size_t n)
{
	size_t len = 0, bad = 0, ok;

	while ((ok = ots_utf8_prefix(s, n, &bad)) < n) {
		len += ok + 3;
		s += ok + bad;
		n -= ok + bad;
	}
	return len + n;
}

char *ots_utf8_fix(char *dst, const char *s, size_t n)
{
	size_t bad = 0, ok;

	while ((ok = ots_utf8_prefix(s, n, &bad)) < n) {
		memcpy(dst, s, ok);
		memcpy(dst + ok, OTS_UTF8_REPLACEMENT, 3);
		dst += ok + 3;
		s += ok + bad;
		n -= ok + bad;
	}
	memcpy(dst, s, n);
	return dst + n;
}

size_t ots_utf8_clip(const char *s, size_t n)
{
	size_t m = n;

	while (m > 0 && n - m < 3 && ((unsigned char)s[m] & 0xc0) == 0x80)
		m--;
	return ((unsigned char)s[m] & 0xc0) == 0x80 ? n : m;
}

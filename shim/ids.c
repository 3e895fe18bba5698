/* ids.c - random trace and span ids, and the clock base.
 *
 * Ids come from a per-thread xoshiro256** generator seeded once per thread from
 * getrandom(2): no lock is shared between threads and no id repeats across
 * threads or processes. Zero is never returned (the OTLP "invalid" id). After
 * fork the child reseeds, or parent and child would mint the same ids.
 *
 * Timestamps: hooks read CLOCK_MONOTONIC (vDSO, immune to clock steps, so a
 * wait's duration is right); a fixed offset taken at init turns them into unix
 * time for export.
 */
#include "ots.h"

#include <string.h>
#include <sys/random.h>
#include <unistd.h>

uint64_t ots_mono_to_unix;

static OTS_TLS uint64_t rng[4];
static OTS_TLS int seeded;

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static OTS_COLD void seed(void)
{
	uint64_t s[4] = { 0 };
	if (getrandom(s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
		uint64_t x = ots_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)&s;
		for (int i = 0; i < 4; i++)
			s[i] = splitmix(&x);
	}
	if (!(s[0] | s[1] | s[2] | s[3]))
		s[0] = 1;
	memcpy(rng, s, sizeof rng);
	seeded = 1;
}

static uint64_t next64(void)
{
	if (ots_unlikely(!seeded))
		seed();
	uint64_t result = rotl(rng[1] * 5, 7) * 9;
	uint64_t t = rng[1] << 17;
	rng[2] ^= rng[0];
	rng[3] ^= rng[1];
	rng[1] ^= rng[2];
	rng[0] ^= rng[3];
	rng[2] ^= t;
	rng[3] = rotl(rng[3], 45);
	return result;
}

uint64_t ots_ids_span(void)
{
	uint64_t v;
	do
		v = next64();
	while (!v);
	return v;
}

void ots_ids_trace(uint8_t out[16])
{
	uint64_t a, b;
	do {
		a = next64();
		b = next64();
	} while (!(a | b));
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

void ots_ids_reseed(void)
{
	seeded = 0;
}

void ots_ids_clock_init(void)
{
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t mono = ots_mono_ns();
	uint64_t real = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	ots_mono_to_unix = real - mono;
}

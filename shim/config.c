/* config.c - every option of the shim, read once from the environment.
 *
 * The OpenTelemetry variables follow the SDK specification's rules: an empty
 * value is the same as unset; a value that does not parse gives one warning
 * and the default; booleans are "true"/"false" (case-insensitive); durations of
 * OTEL_* variables are integer milliseconds. OTCSHIM_* durations also accept a
 * unit (ns, us, ms, s, m); a bare number is milliseconds.
 *
 * Runs once during init, never on a hot path, so it may allocate.
 */
#include "ots.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

ots_config_t ots_cfg;

static const char *(*env)(const char *);

static const char *getenv_nonempty(const char *name)
{
	const char *v = env(name);
	return (v && *v) ? v : NULL;
}

int ots_config_parse_bool(const char *s, int *out)
{
	if (!strcasecmp(s, "true")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(s, "false")) {
		*out = 0;
		return 0;
	}
	return -EINVAL;
}

int ots_config_parse_flag(const char *s, int *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

int ots_config_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* What README documents, and nothing more: a whole number in the default
 * unit (the OpenTelemetry variables' milliseconds), or a number with a unit
 * (ns, us, µs, ms, s, m) whose fraction may have up to 9 digits ("1.5ms").
 * Hex, exponents, signs, inf/nan and a bare fraction are refused. */
int ots_config_parse_duration(const char *s, uint64_t default_unit_ns, uint64_t *out)
{
	while (isspace((unsigned char)*s))
		s++;
	const char *p = s;
	uint64_t whole = 0, frac = 0, scale = 1;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > 1000000000000000000ull / 10)
			return -EINVAL;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	int has_frac = 0;
	if (*p == '.') {
		p++;
		has_frac = 1;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (int n = 0; isdigit((unsigned char)*p); p++, n++) {
			if (n >= 9)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	}
	uint64_t unit = default_unit_ns;
	if (*p) {
		static const struct {
			const char *name;
			uint64_t ns;
		} units[] = { { "ns", 1 },
			      { "us", 1000 },
			      { "\xc2\xb5s", 1000 },
			      { "ms", 1000000 },
			      { "s", 1000000000ull },
			      { "m", 60000000000ull } };
		size_t i;
		for (i = 0; i < sizeof units / sizeof units[0]; i++)
			if (!strcmp(p, units[i].name))
				break;
		if (i == sizeof units / sizeof units[0])
			return -EINVAL;
		unit = units[i].ns;
	} else if (has_frac) {
		return -EINVAL; /* "1.5": say the unit */
	}
	if (whole > 1000000000000000000ull / unit)
		return -EINVAL;
	*out = whole * unit + frac * unit / scale;
	return 0;
}

static const struct {
	const char *name;
	uint32_t bit;
} families[] = {
	{ "mutex", OTS_FAM_MUTEX }, { "rwlock", OTS_FAM_RWLOCK },   { "cond", OTS_FAM_COND },
	{ "sem", OTS_FAM_SEM },     { "once", OTS_FAM_ONCE },       { "join", OTS_FAM_JOIN },
	{ "barrier", OTS_FAM_BARRIER }, { "spin", OTS_FAM_SPIN },   { "thread", OTS_FAM_THREAD },
	{ "all", OTS_FAM_ALL },     { "none", 0 },
};

int ots_config_parse_hooks(const char *s, uint32_t *out)
{
	uint32_t mask = 0;
	int bad = 0;
	const char *p = s;
	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != ',' && !isspace((unsigned char)*e))
			e++;
		size_t n = (size_t)(e - p), i;
		for (i = 0; i < sizeof families / sizeof families[0]; i++)
			if (strlen(families[i].name) == n && !strncasecmp(p, families[i].name, n))
				break;
		if (i == sizeof families / sizeof families[0])
			bad = 1;
		else
			mask |= families[i].bit;
		p = e;
	}
	if (bad)
		return -EINVAL;
	*out = mask;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *ots_config_pct_decode(const char *src, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '%') {
			int a = i + 1 < len ? hexval((unsigned char)src[i + 1]) : -1;
			int b = i + 2 < len ? hexval((unsigned char)src[i + 2]) : -1;
			if (a < 0 || b < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(a * 16 + b);
			i += 2;
		} else {
			out[o++] = src[i];
		}
	}
	out[o] = '\0';
	return out;
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && isspace((unsigned char)**b))
		(*b)++;
	while (*e > *b && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

int ots_config_parse_kv_list(const char *s, void (*cb)(const char *k, const char *v, void *arg),
			     void *arg)
{
	int count = 0, bad = 0;
	const char *p = s;
	while (*p) {
		const char *e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(e - p));
		const char *kb = p, *ke = eq ? eq : e;
		trim(&kb, &ke);
		if (kb == ke && !eq) {
			/* an empty member (",,"): ignore */
		} else if (!eq || kb == ke) {
			bad = 1;
		} else {
			const char *vb = eq + 1, *ve = e;
			trim(&vb, &ve);
			/* baggage properties (";...") are not part of the value */
			const char *semi = memchr(vb, ';', (size_t)(ve - vb));
			if (semi) {
				ve = semi;
				trim(&vb, &ve);
			}
			char *k = ots_config_pct_decode(kb, (size_t)(ke - kb));
			char *v = ots_config_pct_decode(vb, (size_t)(ve - vb));
			if (!k || !v || !*k) {
				bad = 1;
			} else {
				cb(k, v, arg);
				count++;
			}
			free(k);
			free(v);
		}
		p = *e ? e + 1 : e;
	}
	return bad ? -EINVAL : count;
}

/* --- TRACESTATE (W3C Trace Context, level 1) ----------------------------
 *
 *   list        = list-member 0*31( OWS "," OWS list-member )
 *   list-member = key "=" value / OWS           (an empty member is ignored)
 *   key         = lcalpha 0*255( keychr )
 *               / ( lcalpha / DIGIT ) 0*240( keychr ) "@" lcalpha 0*13( keychr )
 *   keychr      = lcalpha / DIGIT / "_" / "-" / "*" / "/"
 *   value       = 0*255( %x20 / nblk ) nblk,  nblk = %x21-7E but "," and "="
 *
 * and the whole at most 512 characters, each key once. */
#define TS_MAX_LEN 512
#define TS_MAX_MEMBERS 32

static int is_lcalpha(int c)
{
	return c >= 'a' && c <= 'z';
}

static int is_keychr(int c)
{
	return is_lcalpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
	       c == '/';
}

/* A run of keychr of 1 to max characters whose first satisfies first(). */
static int key_part(const char *p, size_t n, size_t max, int (*first)(int))
{
	if (!n || n > max || !first((unsigned char)p[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_keychr((unsigned char)p[i]))
			return 0;
	return 1;
}

static int is_tenant_first(int c)
{
	return is_lcalpha(c) || (c >= '0' && c <= '9');
}

static int ts_key(const char *k, size_t n)
{
	const char *at = memchr(k, '@', n);
	if (!at)
		return key_part(k, n, 256, is_lcalpha);
	size_t t = (size_t)(at - k);
	return key_part(k, t, 241, is_tenant_first) &&
	       key_part(at + 1, n - t - 1, 14, is_lcalpha);
}

static int ts_value(const char *v, size_t n)
{
	if (!n || n > 256 || v[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
			return 0;
	}
	return 1;
}

static int is_ows(int c)
{
	return c == ' ' || c == '\t';
}

int ots_config_parse_tracestate(const char *s, const char **why)
{
	struct {
		const char *p;
		size_t n;
	} keys[TS_MAX_MEMBERS];
	int nkeys = 0;
	const char *dummy;
	if (!why)
		why = &dummy;
	if (strlen(s) > TS_MAX_LEN) {
		*why = "longer than 512 characters";
		return -EINVAL;
	}
	for (const char *p = s;; p++) {
		const char *e = strchrnul(p, ',');
		const char *b = p;
		while (b < e && is_ows((unsigned char)*b))
			b++;
		while (e > b && is_ows((unsigned char)e[-1]))
			e--;
		if (b < e) {
			const char *eq = memchr(b, '=', (size_t)(e - b));
			size_t kn = eq ? (size_t)(eq - b) : 0;
			if (!eq || !ts_key(b, kn)) {
				*why = "a key is not lowercase key or tenant@system";
				return -EINVAL;
			}
			if (!ts_value(eq + 1, (size_t)(e - eq - 1))) {
				*why = "a value is not 1 to 256 printable characters";
				return -EINVAL;
			}
			if (nkeys == TS_MAX_MEMBERS) {
				*why = "more than 32 list-members";
				return -EINVAL;
			}
			for (int i = 0; i < nkeys; i++)
				if (keys[i].n == kn && !memcmp(keys[i].p, b, kn)) {
					*why = "a key appears twice";
					return -EINVAL;
				}
			keys[nkeys].p = b;
			keys[nkeys++].n = kn;
		}
		p = strchrnul(p, ',');
		if (!*p)
			return 0;
	}
}

static void count_cb(const char *k, const char *v, void *arg)
{
	(void)k;
	(void)v;
	(*(int *)arg)++;
}

/* --- readers: one warning per bad variable, default kept ------------------ */

/* The OpenTelemetry variables are true or false, as the specification says;
 * ours also take 1/0, yes/no and on/off, as people type them. */
static void read_bool(const char *name, int *dst)
{
	const char *v = getenv_nonempty(name);
	if (!v)
		return;
	int ours = !strncmp(name, "OTCSHIM_", 8);
	if ((ours ? ots_config_parse_flag(v, dst) : ots_config_parse_bool(v, dst)) < 0) {
		OTS_WARN("%s=\"%s\" is not %s; using false", name, v,
			 ours ? "true or false (1/0, yes/no, on/off)" : "true or false");
		*dst = 0;
	}
}

static void read_u32(const char *name, uint32_t min, uint32_t max, uint32_t *dst)
{
	const char *v = getenv_nonempty(name);
	if (v && ots_config_parse_u32(v, min, max, dst) < 0)
		OTS_WARN("%s=\"%s\" is not a whole number from %u to %u; using %u", name, v, min,
			 max, *dst);
}

/* OTEL_* durations: integer milliseconds. */
static void read_ms(const char *name, uint64_t *dst)
{
	const char *v = getenv_nonempty(name);
	uint32_t ms;
	if (!v)
		return;
	if (ots_config_parse_u32(v, 0, 0x7fffffff, &ms) < 0) {
		OTS_WARN("%s=\"%s\" is not a duration in milliseconds; using %llu", name, v,
			 (unsigned long long)(*dst / 1000000));
		return;
	}
	*dst = (uint64_t)ms * 1000000ull;
}

/* OTCSHIM_* durations: with a unit, bare = ms. */
static void read_duration(const char *name, uint64_t *dst)
{
	const char *v = getenv_nonempty(name);
	if (v && ots_config_parse_duration(v, 1000000ull, dst) < 0)
		OTS_WARN("%s=\"%s\" is not a duration (such as 100us, 2ms, 1s); using %lluus",
			 name, v, (unsigned long long)(*dst / 1000));
}

/* The configuration's strings are kept in a static arena: reading the
 * configuration at start allocates nothing through the host's allocator (a
 * host whose malloc is set up in main, or that counts its allocations, sees
 * none of ours). Past the arena's 8 KB (long header lists, many endpoints),
 * malloc. Released all at once by ots_config_free. */
static char cfg_arena[8192] __attribute__((aligned(16)));
static size_t cfg_used;

static void *cfg_alloc(size_t n)
{
	size_t at = (cfg_used + 15) & ~(size_t)15;
	if (n <= sizeof cfg_arena && at <= sizeof cfg_arena - n) {
		cfg_used = at + n;
		return memset(cfg_arena + at, 0, n);
	}
	return calloc(1, n);
}

static char *cfg_strndup(const char *v, size_t n)
{
	char *p = cfg_alloc(n + 1);
	if (p) {
		memcpy(p, v, n);
		p[n] = '\0';
	}
	return p;
}

static char *cfg_strdup(const char *v)
{
	return cfg_strndup(v, strlen(v));
}

static void cfg_release(void *p)
{
	if (p && ((char *)p < cfg_arena || (char *)p >= cfg_arena + sizeof cfg_arena))
		free(p);
}

static char *dup_or_null(const char *v)
{
	return v ? cfg_strdup(v) : NULL;
}

/* The signal-specific variable wins over the general one. The name of the
 * one that was read is kept in var_name, for the warnings about its value. */
static char var_name[96];

static const char *otlp_var(const char *suffix)
{
	char b[96];
	snprintf(var_name, sizeof var_name, "OTEL_EXPORTER_OTLP_TRACES_%s", suffix);
	const char *v = getenv_nonempty(var_name);
	if (v)
		return v;
	snprintf(b, sizeof b, "OTEL_EXPORTER_OTLP_%s", suffix);
	memcpy(var_name, b, sizeof b);
	return getenv_nonempty(var_name);
}

static int valid_url(const char *u)
{
	if (strncasecmp(u, "http://", 7) && strncasecmp(u, "https://", 8))
		return 0;
	const char *host = strstr(u, "//") + 2;
	return *host && *host != '/' && !strpbrk(u, " \t\r\n");
}

/* Spec: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is; the general
 * OTEL_EXPORTER_OTLP_ENDPOINT gets "v1/traces" appended after exactly one '/'. */
static char *resolve_endpoint(int *set)
{
	const char *t = getenv_nonempty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	const char *g = getenv_nonempty("OTEL_EXPORTER_OTLP_ENDPOINT");
	*set = 0;
	if (t) {
		if (valid_url(t)) {
			*set = 1;
			return cfg_strdup(t);
		}
		OTS_WARN("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=\"%s\" is not an http(s) URL; ignored",
			 t);
	}
	if (g) {
		if (valid_url(g)) {
			/* "base", "base/" and "base//" all give "base/v1/traces" */
			size_t n = strlen(g);
			while (n > 0 && g[n - 1] == '/')
				n--;
			char *u = cfg_alloc(n + 12);
			if (!u)
				return NULL;
			memcpy(u, g, n);
			memcpy(u + n, "/v1/traces", 11);
			*set = 1;
			return u;
		}
		OTS_WARN("OTEL_EXPORTER_OTLP_ENDPOINT=\"%s\" is not an http(s) URL; ignored", g);
	}
	return cfg_strdup("http://localhost:4318/v1/traces");
}

static char **split_endpoints(const char *s)
{
	size_t n = 1;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	char **v = cfg_alloc((n + 1) * sizeof *v);
	if (!v)
		return NULL;
	size_t k = 0;
	const char *p = s;
	while (*p) {
		const char *e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		const char *b = p, *ee = e;
		trim(&b, &ee);
		if (ee > b) {
			char *u = cfg_strndup(b, (size_t)(ee - b));
			if (u && valid_url(u))
				v[k++] = u;
			else {
				OTS_WARN("OTCSHIM_ENDPOINTS: \"%s\" is not an http(s) URL; skipped",
					 u ? u : "?");
				cfg_release(u);
			}
		}
		p = *e ? e + 1 : e;
	}
	if (!k) {
		cfg_release(v);
		return NULL;
	}
	return v;
}

/* secure_getenv: a second line of defence behind init's AT_SECURE check */
static const char *default_getenv(const char *name)
{
	return secure_getenv(name);
}

void ots_config_load(const char *(*getenv_fn)(const char *))
{
	env = getenv_fn ? getenv_fn : default_getenv;
	ots_config_free();
	ots_config_t *c = &ots_cfg;
	memset(c, 0, sizeof *c);
	c->traces_exporter_otlp = 1;
	c->min_wait_ns = 100000;
	c->stall_ns = 5000000000ull;
	c->pool_size = 512;
	c->shutdown_timeout_ns = 2000000000ull;
	c->hooks = OTS_FAM_ALL;
	c->stack_depth = 16;
	c->segment_ns = 60000000000ull;
	c->otlp_timeout_ns = 10000000000ull;
	c->bsp_schedule_delay_ns = 5000000000ull;
	c->bsp_export_timeout_ns = 30000000000ull;
	c->bsp_max_queue = 2048;
	c->bsp_max_batch = 512;

	/* OTCSHIM_DEBUG first, so later warnings can be accompanied by debug lines */
	read_bool("OTCSHIM_DEBUG", &c->debug);
	read_bool("OTEL_SDK_DISABLED", &c->sdk_disabled);

	const char *v;
	if ((v = getenv_nonempty("OTEL_SERVICE_NAME")))
		c->service_name = cfg_strdup(v);
	if ((v = getenv_nonempty("OTEL_RESOURCE_ATTRIBUTES"))) {
		int n = 0;
		if (ots_config_parse_kv_list(v, count_cb, &n) < 0)
			OTS_WARN("OTEL_RESOURCE_ATTRIBUTES is not a list of key=value pairs "
				 "(percent-encoded); ignored");
		else
			c->resource_attrs = cfg_strdup(v);
	}
	if ((v = getenv_nonempty("OTEL_TRACES_EXPORTER"))) {
		int otlp = 0, none = 0;
		char *copy = cfg_strdup(v), *save = NULL;
		for (char *t = copy ? strtok_r(copy, ", ", &save) : NULL; t;
		     t = strtok_r(NULL, ", ", &save)) {
			if (!strcasecmp(t, "otlp"))
				otlp = 1;
			else if (!strcasecmp(t, "none"))
				none = 1;
			else
				OTS_WARN("OTEL_TRACES_EXPORTER: \"%s\" is not supported (otlp, none); "
					 "ignored",
					 t);
		}
		cfg_release(copy);
		c->traces_exporter_otlp = none ? 0 : (otlp ? 1 : c->traces_exporter_otlp);
	}
	if ((v = getenv_nonempty("OTCSHIM_OUTPUT")))
		c->output_path = cfg_strdup(v);
	read_duration("OTCSHIM_MIN_WAIT", &c->min_wait_ns);
	read_duration("OTCSHIM_STALL", &c->stall_ns);
	if ((v = getenv_nonempty("OTCSHIM_ON_DEADLOCK"))) {
		if (!strcasecmp(v, "abort"))
			c->on_deadlock_abort = 1;
		else if (strcasecmp(v, "report"))
			OTS_WARN("OTCSHIM_ON_DEADLOCK=\"%s\" is not report or abort; using report", v);
	}
	read_u32("OTCSHIM_POOL_SIZE", 16, 1u << 20, &c->pool_size);
	read_duration("OTCSHIM_SHUTDOWN_TIMEOUT", &c->shutdown_timeout_ns);
	read_u32("OTCSHIM_STACK_DEPTH", 0, OTS_MAX_FRAMES, &c->stack_depth);
	read_duration("OTCSHIM_SEGMENT", &c->segment_ns);
	if ((v = getenv_nonempty("OTCSHIM_HOOKS")) && ots_config_parse_hooks(v, &c->hooks) < 0)
		OTS_WARN("OTCSHIM_HOOKS=\"%s\": unknown family (mutex, rwlock, cond, sem, once, "
			 "join, barrier, spin, thread, all, none); using all",
			 v);
	if ((v = getenv_nonempty("OTCSHIM_REPORT"))) {
		int off = 0;
		if (!strcasecmp(v, "0") || (ots_config_parse_bool(v, &off) == 0 && !off) ||
		    !strcasecmp(v, "none") || !strcasecmp(v, "off"))
			c->report = NULL;
		else if (!strcasecmp(v, "1") || !strcasecmp(v, "true"))
			c->report = cfg_strdup("stderr");
		else
			c->report = cfg_strdup(v);
	}
	if ((v = getenv_nonempty("OTCSHIM_REPORT_FORMAT"))) {
		if (!strcasecmp(v, "json"))
			c->report_json = 1;
		else if (strcasecmp(v, "text"))
			OTS_WARN("OTCSHIM_REPORT_FORMAT=\"%s\" is not text or json; using text", v);
	}

	/* OTLP exporter */
	c->endpoint = resolve_endpoint(&c->endpoint_set);
	if ((v = getenv_nonempty("OTCSHIM_ENDPOINTS")))
		c->endpoints = split_endpoints(v);
	if ((v = otlp_var("HEADERS"))) {
		int n = 0;
		if (ots_config_parse_kv_list(v, count_cb, &n) < 0)
			OTS_WARN("%s: a member is not key=value; the well-formed ones are used",
				 var_name);
		c->headers = cfg_strdup(v);
		snprintf(c->headers_var, sizeof c->headers_var, "%s", var_name);
	}
	if ((v = otlp_var("TIMEOUT"))) {
		uint32_t ms;
		if (ots_config_parse_u32(v, 0, 0x7fffffff, &ms) < 0)
			OTS_WARN("%s=\"%s\" is not milliseconds; using 10000", var_name, v);
		else
			c->otlp_timeout_ns = (uint64_t)ms * 1000000ull;
	}
	if ((v = otlp_var("COMPRESSION"))) {
		if (!strcasecmp(v, "gzip"))
			c->compression_gzip = 1;
		else if (strcasecmp(v, "none"))
			OTS_WARN("%s=\"%s\" is not gzip or none; using none", var_name, v);
	}
	if ((v = otlp_var("PROTOCOL"))) {
		if (!strcasecmp(v, "http/json"))
			c->protocol_json = 1;
		else if (!strcasecmp(v, "grpc"))
			OTS_WARN("%s=grpc is not supported; using "
				 "http/protobuf (point the endpoint at the collector's port 4318)",
				 var_name);
		else if (strcasecmp(v, "http/protobuf"))
			OTS_WARN("%s=\"%s\" is not http/protobuf or http/json; using http/protobuf",
				 var_name,
				 v);
	}
	c->certificate = dup_or_null(otlp_var("CERTIFICATE"));
	c->client_key = dup_or_null(otlp_var("CLIENT_KEY"));
	c->client_certificate = dup_or_null(otlp_var("CLIENT_CERTIFICATE"));
	read_ms("OTEL_BSP_SCHEDULE_DELAY", &c->bsp_schedule_delay_ns);
	read_ms("OTEL_BSP_EXPORT_TIMEOUT", &c->bsp_export_timeout_ns);
	read_u32("OTEL_BSP_MAX_QUEUE_SIZE", 1, 1u << 24, &c->bsp_max_queue);
	read_u32("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, 1u << 24, &c->bsp_max_batch);
	if (c->bsp_max_batch > c->bsp_max_queue) {
		OTS_WARN("OTEL_BSP_MAX_EXPORT_BATCH_SIZE (%u) exceeds OTEL_BSP_MAX_QUEUE_SIZE (%u); "
			 "using %u",
			 c->bsp_max_batch, c->bsp_max_queue, c->bsp_max_queue);
		c->bsp_max_batch = c->bsp_max_queue;
	}
	c->traceparent = dup_or_null(getenv_nonempty("TRACEPARENT"));
	if ((v = getenv_nonempty("TRACESTATE"))) {
		const char *why;
		if (ots_config_parse_tracestate(v, &why) < 0)
			OTS_WARN("TRACESTATE is not a W3C tracestate (%s); dropped: \"%s\"", why,
				 v);
		else
			c->tracestate = cfg_strdup(v);
	}
}

void ots_config_free(void)
{
	ots_config_t *c = &ots_cfg;
	cfg_release(c->service_name);
	cfg_release(c->resource_attrs);
	cfg_release(c->output_path);
	cfg_release(c->report);
	cfg_release(c->endpoint);
	if (c->endpoints)
		for (char **p = c->endpoints; *p; p++)
			cfg_release(*p);
	cfg_release(c->endpoints);
	cfg_release(c->headers);
	cfg_release(c->certificate);
	cfg_release(c->client_key);
	cfg_release(c->client_certificate);
	cfg_release(c->traceparent);
	cfg_release(c->tracestate);
	memset(c, 0, sizeof *c);
	cfg_used = 0;
}

/* resource.c - the process resource: who produced these spans.
 *
 * service.name comes from OTEL_SERVICE_NAME, else from service.name in
 * OTEL_RESOURCE_ATTRIBUTES, else unknown_service:<exe> as the specification
 * says. Our own attributes (process.*, host.name, telemetry.sdk.*) win over
 * OTEL_RESOURCE_ATTRIBUTES except for service.name.
 */
#include "exp.h"

#include <string.h>
#include <unistd.h>

static ots_attr_t *find(ots_resource_t *r, const char *key)
{
	for (int i = 0; i < r->nattrs; i++)
		if (!strcmp(r->attrs[i].key, key))
			return &r->attrs[i];
	return NULL;
}

static ots_attr_t *slot(ots_resource_t *r, const char *key)
{
	ots_attr_t *a = find(r, key);
	if (a)
		return a;
	if (r->nattrs >= OTS_RESOURCE_MAX_ATTRS)
		return NULL;
	a = &r->attrs[r->nattrs++];
	memset(a, 0, sizeof *a);
	a->key = ots_arena_strdup(&r->arena, key);
	return a;
}

static void put_str(ots_resource_t *r, const char *k, const char *v)
{
	ots_attr_t *a = slot(r, k);
	if (a) {
		a->type = OTS_AV_STR;
		a->s = ots_arena_strdup(&r->arena, v);
	}
}

static void put_int(ots_resource_t *r, const char *k, int64_t v)
{
	ots_attr_t *a = slot(r, k);
	if (a) {
		a->type = OTS_AV_INT;
		a->i = v;
	}
}

static void from_env_cb(const char *k, const char *v, void *arg)
{
	put_str(arg, k, v);
}

void ots_resource_build(ots_resource_t *r)
{
	ots_resource_free(r);
	if (ots_cfg.resource_attrs)
		ots_config_parse_kv_list(ots_cfg.resource_attrs, from_env_cb, r);
	if (ots_cfg.service_name)
		put_str(r, "service.name", ots_cfg.service_name);
	else if (!find(r, "service.name"))
		put_str(r, "service.name",
			ots_arena_printf(&r->arena, "unknown_service:%s", ots_g.exe_name));
	put_int(r, "process.pid", ots_g.pid);
	put_str(r, "process.executable.name", ots_g.exe_name);
	put_str(r, "process.executable.path", ots_g.exe_path);
	if (ots_g.command[0])
		put_str(r, "process.command", ots_g.command);
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) == 0 && host[0])
		put_str(r, "host.name", host);
	put_str(r, "telemetry.sdk.name", "otcshim");
	put_str(r, "telemetry.sdk.language", "cpp");
	put_str(r, "telemetry.sdk.version", OTS_VERSION);
}

void ots_resource_free(ots_resource_t *r)
{
	ots_arena_free(&r->arena);
	memset(r, 0, sizeof *r);
}

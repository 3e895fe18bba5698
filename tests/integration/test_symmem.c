/* What naming stacks costs the host (issue 9, "Memory"): after its first
 * export a server's RSS grew by 20-35 MB, libdw having decompressed and
 * parsed libc6-dbg's DWARF. tests/progs/symmem_host contends in a few
 * functions of its own (so stacks run through the program and libc), notes
 * VmRSS and VmHWM before any wait and again once a batch with stacks is in
 * its output, natively and under the shim. The growth under the shim, less
 * the native growth, must stay within a few MB (main's code: 19 MB), no
 * descriptor on an ELF or debug file may stay open after the pass, and the
 * names and lines must be those main gave. */
#include <link.h>
#include <unistd.h>

#include "h4_util.h"

#define LIMIT 20.0
/* kB over the native run's growth */
#define RSS_BOUND 4096
#define HWM_BOUND 6144

typedef struct vm {
	long before_rss, before_hwm, after_rss, after_hwm, spans, elf_fds;
} vm_t;

static vm_t vm_of(const char *out)
{
	vm_t v = { num_after(out, "before_rss="), num_after(out, "before_hwm="),
		   num_after(out, "after_rss="),  num_after(out, "after_hwm="),
		   num_after(out, "spans="),      num_after(out, "elf_fds=") };
	return v;
}

static const char *const env[] = { "OTEL_BSP_SCHEDULE_DELAY=100", NULL };

static void run_host(trun_t *r, int preload)
{
	const char *argv[] = { "progs/symmem_host", NULL };
	cr_assert_eq(trun_bounded(r, argv, env, preload, LIMIT), 0, "could not run symmem_host");
	cr_assert(!r->timed_out && r->exit_code == 0, "symmem_host %s: %s\n%s",
		  preload ? "under the shim" : "natively", trun_status(r), r->err);
}

Test(symmem, naming_stacks_costs_the_host_a_few_mb, .timeout = 120)
{
	if (under_sanitizer())
		cr_skip_test("a sanitizer's shadow memory and quarantine swamp the figures");
	trun_t n, s;
	run_host(&n, 0);
	run_host(&s, 1);
	vm_t vn = vm_of(n.out), vs = vm_of(s.out);
	cr_assert_eq(vs.spans, 1, "no span with a stack in the output in 10 s\n%s", s.out);
	long rss = (vs.after_rss - vs.before_rss) - (vn.after_rss - vn.before_rss);
	long hwm = (vs.after_hwm - vs.before_hwm) - (vn.after_hwm - vn.before_hwm);
	cr_log_info("symmem_host: RSS +%ld kB, peak +%ld kB over native (native %s; shim %s)", rss,
		    hwm, n.out, s.out);
	cr_assert_leq(rss, RSS_BOUND,
		      "RSS grew %ld kB more than natively (bound %d)\nnative %s shim %s", rss,
		      RSS_BOUND, n.out, s.out);
	cr_assert_leq(hwm, HWM_BOUND,
		      "peak RSS grew %ld kB more than natively (bound %d)\nnative %s shim %s", hwm,
		      HWM_BOUND, n.out, s.out);
	cr_assert_eq(vs.elf_fds, vn.elf_fds, "descriptors left open on ELF or debug files: %ld\n%s",
		     vs.elf_fds, s.out);
	trun_free(&n);
	trun_free(&s);
}

/* The file of libc's separate debug file, by its build id, if installed. */
static int libc_id_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	char *path = arg;
	if (!info->dlpi_name || !strstr(info->dlpi_name, "libc.so"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		const char *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const unsigned char *name = (const unsigned char *)(nh + 1);
			const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4) && nh->n_descsz > 1) {
				int k = sprintf(path, "/usr/lib/debug/.build-id/%02x/", desc[0]);
				for (unsigned j = 1; j < nh->n_descsz && j < 40; j++)
					k += sprintf(path + k, "%02x", desc[j]);
				strcpy(path + k, ".debug");
				return 1;
			}
			p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
	return 0;
}

static int has_frame(const trun_t *r, const char *frame)
{
	for (int i = 0; i < r->nspans; i++) {
		const char *st = tspan_attr_str(&r->spans[i], "code.stacktrace");
		if (st && strstr(st, frame))
			return 1;
	}
	return 0;
}

static int has_lock(const trun_t *r, const char *name)
{
	for (int i = 0; i < r->nspans; i++) {
		const char *l = tspan_attr_str(&r->spans[i], "otcshim.lock.name");
		if (l && !strcmp(l, name))
			return 1;
	}
	return 0;
}

Test(symmem, names_and_lines_as_before, .timeout = 60)
{
	trun_t s;
	run_host(&s, 1);
	/* the program's functions with their lines (symmem_host.c) */
	cr_assert(has_frame(&s, "table_update+0x"), "%s", s.out);
	cr_assert(has_frame(&s, "(symmem_host) tests/progs/symmem_host.c:"), "no program line");
	cr_assert(has_frame(&s, "worker+0x"), "no worker frame");
	/* locks: a static one, an array element, a heap one by its waiter */
	cr_assert(has_lock(&s, "table_lock"), "no table_lock");
	cr_assert(has_lock(&s, "@heap_update"), "no @heap_update");
	cr_assert(has_frame(&s, "start_thread+0x"), "no start_thread frame");
	char dbg[256] = "";
	dl_iterate_phdr(libc_id_cb, dbg);
	if (*dbg && access(dbg, R_OK) == 0) {
		/* libc6-dbg: libc's lines come from its separate debug file */
		cr_assert(has_frame(&s, "(libc.so.6) ./nptl/pthread_create.c:"),
			  "no line for start_thread from %s", dbg);
		cr_assert(has_frame(&s, "clone3+0x"), "no clone3 frame");
	}
	trun_free(&s);
}

/* The report, at exit, after the export passes have dropped their line
 * tables: frames with their lines, locks by name. */
Test(symmem, report_after_export_still_has_lines, .timeout = 60)
{
	const char *argv[] = { "progs/symmem_host", NULL };
	const char *renv[] = { "OTEL_BSP_SCHEDULE_DELAY=100", "OTCSHIM_REPORT=stderr", NULL };
	trun_t s;
	cr_assert_eq(trun_bounded(&s, argv, renv, 1, LIMIT), 0);
	cr_assert(!s.timed_out && s.exit_code == 0, "%s\n%s", trun_status(&s), s.err);
	cr_assert(strstr(s.err, "symmem_host.c:"), "no line in the report:\n%s", s.err);
	cr_assert(strstr(s.err, "table_lock"), "no table_lock in the report:\n%s", s.err);
	trun_free(&s);
}

# otcshim - plain Makefile.
#
#   make                      build/libotcshim.so, its plugins (libotcshim-sym.so,
#                             libotcshim-otlp.so) and the static core for tests
#   make test                 install deps if missing, build, run every test
#   make demo                 run the bundled demo under the shim, show the trace
#   make bench                native vs shim, side by side, as ratios
#   make SANITIZER=address test   (or thread, undefined): builds into build-<san>/
#   make install PREFIX=/usr/local DESTDIR=
#   make check-exports        only the hooks are exported
#   make symmem               what naming stacks costs a host's RSS (native vs shim)
#   make format               clang-format every source

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZER ?=
WERROR   ?= $(if $(CI),-Werror,)

BUILD    := build$(if $(SANITIZER),-$(SANITIZER),)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
            -Wno-format-nonliteral $(WERROR)
OPT      ?= -O2 -g
SANFLAGS := $(if $(SANITIZER),-fsanitize=$(SANITIZER) -fno-omit-frame-pointer,)
CFLAGS   ?=
CFLAGS_ALL := -std=gnu11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -pthread $(SANFLAGS) \
              -D_GNU_SOURCE -I$(BUILD)/gen -I. $(CFLAGS)
# libotcshim.so links nothing but libc. libunwind is not linked: shim/stack.c
# opens it RTLD_LOCAL at init, so its _Unwind_* symbols never enter the global
# scope (they would capture libgcc_s's). libdw and libcurl are linked only by
# the plugins that exporter/load.c opens when first needed (exporter/plugin.h).
SYM_LIBS := -ldw -lelf -lz
OTLP_LIBS := -lcurl -lz
LIBS     := $(OTLP_LIBS) $(SYM_LIBS)
# protobuf-c is linked in statically and kept local, so a host program that
# carries its own protobuf-c never meets ours.
PBC_A    := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libprotobuf-c.a /usr/lib/*/libprotobuf-c.a))
comma    := ,
PBC_LINK := $(if $(PBC_A),-Wl$(comma)--whole-archive $(PBC_A) -Wl$(comma)--no-whole-archive,-lprotobuf-c)

PROTOS   := $(wildcard proto/*.proto proto/*/*.proto proto/*/*/*.proto proto/*/*/*/*.proto \
            proto/*/*/*/*/*.proto proto/*/*/*/*/*/*.proto)
PB_C     := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PB_H     := $(PB_C:.c=.h)

SHIM_SRC := $(wildcard shim/*.c)
HOOK_SRC := $(wildcard hooks/*.c)
# the plugins' sources (exporter/plugin.h), and the glue of each side
SYM_SRC  := exporter/symbols.c exporter/symtab.c exporter/lines.c
OTLP_SRC := exporter/http.c exporter/otlp_pb.c
# (shim/utf8.c has no state: each plugin carries its own copy, for buf.c)
PLUG_COMMON := exporter/buf.c exporter/plugin.c shim/utf8.c
EXP_SRC  := $(filter-out exporter/load.c exporter/plugin.c exporter/send.c,$(wildcard exporter/*.c))
LIGHT_EXP := $(filter-out $(SYM_SRC) $(OTLP_SRC),$(EXP_SRC)) exporter/load.c
PB_OBJ   := $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(PB_C))
CORE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(SHIM_SRC) $(EXP_SRC)) $(PB_OBJ)
LIGHT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(SHIM_SRC) $(LIGHT_EXP))
HOOK_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(HOOK_SRC))
SYM_OBJ  := $(patsubst %.c,$(BUILD)/obj-sym/%.o,$(SYM_SRC) $(PLUG_COMMON))
OTLP_OBJ := $(patsubst %.c,$(BUILD)/obj-otlp/%.o,$(OTLP_SRC) exporter/json.c $(PLUG_COMMON)) \
            $(PB_OBJ)
HDRS     := $(wildcard shim/*.h exporter/*.h hooks/*.h)

LIB      := $(BUILD)/libotcshim.so
SYM_SO   := $(BUILD)/libotcshim-sym.so
OTLP_SO  := $(BUILD)/libotcshim-otlp.so
SENDER   := $(BUILD)/otcshim-send
# the helper that sends a single-threaded process's last spans (exporter/relay.c)
SEND_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,exporter/send.c exporter/wire.c exporter/buf.c \
            shim/config.c shim/utf8.c)
PLUGINS  := $(SYM_SO) $(OTLP_SO) $(SENDER)
# every undefined symbol is an error, except in sanitizer builds (the
# runtime's symbols come from the preloaded runtime)
NO_UNDEF := $(if $(SANITIZER),,-Wl$(comma)--no-undefined)
CORE_A   := $(BUILD)/libotcshim_core.a
EXPORTS  := $(BUILD)/exports.map

TEST_SRC := $(wildcard tests/unit/*.c tests/integration/*.c)
TEST_BIN := $(BUILD)/tests/otcshim_tests
PROG_SRC := $(wildcard tests/progs/*.c)
PROGS    := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(PROG_SRC))
DEMO     := $(BUILD)/demo
BENCH_SRC := $(wildcard bench/*.c)
BENCHES  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all test test-build bench demo install uninstall clean check-exports format deps symmem

all: $(LIB) $(PLUGINS) $(CORE_A)

deps:
	@scripts/install-deps

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -w -c $< -o $@

$(BUILD)/obj/%.o: %.c $(HDRS) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj-sym/%.o: %.c $(HDRS) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DOTS_PLUGIN -DOTS_PLUGIN_SYM -c $< -o $@

$(BUILD)/obj-otlp/%.o: %.c $(HDRS) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DOTS_PLUGIN -DOTS_PLUGIN_OTLP -c $< -o $@

$(EXPORTS): $(wildcard hooks/*.sym)
	@mkdir -p $(BUILD)
	@{ echo '{ global:'; cat hooks/*.sym | sed -e 's/#.*//' -e '/^[[:space:]]*$$/d' -e 's/.*/  &;/'; \
	   echo 'local: *; };'; } > $@

$(LIB): $(LIGHT_OBJ) $(HOOK_OBJ) $(EXPORTS)
	$(CC) -shared -o $@ $(LIGHT_OBJ) $(HOOK_OBJ) $(SANFLAGS) -pthread \
	  -Wl,--version-script=$(EXPORTS) -Wl,-z,now $(NO_UNDEF)

$(BUILD)/plugin.map: Makefile
	@mkdir -p $(BUILD)
	@echo '{ global: ots_plugin_entry; open; open64; socket; socketpair; pipe; pipe2; dup; malloc; free; calloc; realloc; posix_memalign; aligned_alloc; memalign; malloc_usable_size; local: *; };' > $@

$(SYM_SO): $(SYM_OBJ) $(BUILD)/plugin.map
	$(CC) -shared -o $@ $(SYM_OBJ) $(SANFLAGS) -pthread -Wl,--version-script=$(BUILD)/plugin.map \
	  -Wl,-z,now $(NO_UNDEF) $(SYM_LIBS)

$(OTLP_SO): $(OTLP_OBJ) $(BUILD)/plugin.map
	$(CC) -shared -o $@ $(OTLP_OBJ) $(SANFLAGS) -pthread -Wl,--version-script=$(BUILD)/plugin.map \
	  -Wl,--exclude-libs,ALL -Wl,-z,now $(NO_UNDEF) $(PBC_LINK) $(OTLP_LIBS)

$(SENDER): $(SEND_OBJ)
	$(CC) -o $@ $(SEND_OBJ) $(SANFLAGS) -pthread -ldl

$(CORE_A): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/progs/%: tests/progs/%.c
	@mkdir -p $(BUILD)/progs
	$(CC) -std=gnu11 -O1 -g -Wall -pthread -D_GNU_SOURCE $(SANFLAGS) $< -o $@ -lrt

$(DEMO): examples/demo.c
	@mkdir -p $(BUILD)
	$(CC) -std=gnu11 -O2 -g -Wall -pthread -D_GNU_SOURCE $(SANFLAGS) $< -o $@

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(BUILD)/bench
	$(CC) -std=gnu11 -O2 -g -Wall -pthread -D_GNU_SOURCE $< -o $@

$(TEST_BIN): $(TEST_SRC) $(wildcard tests/*.h tests/*/*.h) $(CORE_A)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $(TEST_SRC) $(CORE_A) \
	  $(PBC_LINK) $(LIBS) -lcriterion -lcjson

test-build: $(LIB) $(PLUGINS) $(CORE_A) $(PROGS) $(DEMO) $(TEST_BIN)

test: deps
	@$(MAKE) --no-print-directory test-build
	@scripts/run-tests $(BUILD) $(SANITIZER)

bench: deps
	@$(MAKE) --no-print-directory $(LIB) $(PLUGINS) $(BENCHES) $(PROGS)
	@scripts/bench $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory $(LIB) $(PLUGINS) $(DEMO)
	@scripts/demo $(BUILD)

check-exports: $(LIB)
	@scripts/check-exports $(LIB)

install: $(LIB) $(PLUGINS)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libotcshim.so
	install -m 0755 $(SYM_SO) $(DESTDIR)$(PREFIX)/lib/libotcshim-sym.so
	install -m 0755 $(SENDER) $(DESTDIR)$(PREFIX)/lib/otcshim-send
	install -m 0755 $(OTLP_SO) $(DESTDIR)$(PREFIX)/lib/libotcshim-otlp.so
	install -m 0755 scripts/otcshim $(DESTDIR)$(PREFIX)/bin/otcshim
	install -m 0644 doc/otcshim.1 $(DESTDIR)$(PREFIX)/share/man/man1/otcshim.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libotcshim.so $(DESTDIR)$(PREFIX)/lib/libotcshim-sym.so \
	  $(DESTDIR)$(PREFIX)/lib/libotcshim-otlp.so $(DESTDIR)$(PREFIX)/lib/otcshim-send \
	  $(DESTDIR)$(PREFIX)/bin/otcshim \
	  $(DESTDIR)$(PREFIX)/share/man/man1/otcshim.1

format:
	clang-format -i $(wildcard shim/*.[ch] hooks/*.[ch] exporter/*.[ch] tests/*/*.[ch] \
	  examples/*.c bench/*.c)

clean:
	rm -rf build build-address build-thread build-undefined

# issue 5 ----------------------------------------------------------------------
# Extra builds of test programs: the two shared objects the dlopen tests load
# (from the dlopen_churn program's own source), and static and ASan builds of
# report_exit for the launcher's refusal and ASan-ordering tests.
ISSUE5_EXTRA := $(BUILD)/progs/dlopen_a.so $(BUILD)/progs/dlopen_b.so \
                $(BUILD)/progs/report_exit_static $(BUILD)/progs/report_exit_asan

$(BUILD)/progs/dlopen_%.so: tests/progs/dlopen_churn.c
	@mkdir -p $(BUILD)/progs
	$(CC) -std=gnu11 -O1 -g -Wall -pthread -D_GNU_SOURCE -fPIC -shared $(SANFLAGS) \
	  -DOTS_DLOPEN_MODULE=$* $< -o $@

$(BUILD)/progs/report_exit_static: tests/progs/report_exit.c
	@mkdir -p $(BUILD)/progs
	$(CC) -std=gnu11 -O1 -g -Wall -pthread -D_GNU_SOURCE -static $< -o $@

$(BUILD)/progs/report_exit_asan: tests/progs/report_exit.c
	@mkdir -p $(BUILD)/progs
	$(CC) -std=gnu11 -O1 -g -Wall -pthread -D_GNU_SOURCE -fsanitize=address $< -o $@

test-build: $(ISSUE5_EXTRA)

# issue 3 ----------------------------------------------------------------------
# The generated protobuf-c sources are prerequisites through pattern rules
# only, which makes them intermediate: keep them, or every make regenerates
# them and rebuilds every object.
.SECONDARY: $(PB_C) $(PB_H)

# The exporter's own benches (encoding, end-to-end export) link the core
# archive (no hooks) and the generated protobuf code.
OTLP_BENCH := $(BUILD)/bench/core_encode $(BUILD)/bench/core_export
$(OTLP_BENCH): $(BUILD)/bench/%: bench/%.c $(CORE_A)
	@mkdir -p $(BUILD)/bench
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes $< -o $@ $(CORE_A) $(PBC_LINK) $(LIBS)

# issue 8 ----------------------------------------------------------------------
# Real hosts (tests/integration/test_realhosts.c): the jemalloc host links
# Debian's jemalloc (libjemalloc-dev); the Java host is compiled by the test
# itself (javac, into $(BUILD)/java) the first time it runs.
$(BUILD)/progs/jemalloc_threads: tests/progs/jemalloc_threads.c
	@mkdir -p $(BUILD)/progs
	$(CC) -std=gnu11 -O1 -g -Wall -pthread -D_GNU_SOURCE $(SANFLAGS) $< -o $@ -ljemalloc

# issue 8 (lifetime) -----------------------------------------------------------
# A host that links libunwind itself (its first unw_backtrace meets the shim's).
$(BUILD)/progs/host_unwind: tests/progs/host_unwind.c
	@mkdir -p $(BUILD)/progs
	$(CC) -std=gnu11 -O1 -g -Wall -pthread -D_GNU_SOURCE $(SANFLAGS) $< -o $@ -lunwind

# issue 8 (stacks) -------------------------------------------------------------
# A host with its own malloc (tests/integration/test_stacks.c): built without
# the sanitizer, whose runtime would own malloc.
$(BUILD)/progs/host_alloc: tests/progs/host_alloc.c
	@mkdir -p $(BUILD)/progs
	$(CC) -std=gnu11 -O1 -g -Wall -pthread -D_GNU_SOURCE -rdynamic $< -o $@ -ldl

# issue 9 (a lean host) ----------------------------------------------------------
# A host that exports zlib- and OpenSSL-named functions of its own
# (tests/integration/test_lean.c): the shim's libraries must never bind to them.
$(BUILD)/progs/lean_host: tests/progs/lean_host.c
	@mkdir -p $(BUILD)/progs
	$(CC) -std=gnu11 -O1 -g -Wall -pthread -D_GNU_SOURCE $(SANFLAGS) -rdynamic $< -o $@

# issue 9 (memory) --------------------------------------------------------------
# The symmem suite (tests/integration/test_symmem.c) bounds what symbolisation
# costs symmem_host's RSS; `make symmem` prints the figures of symmem_host,
# memcached and named (when installed), natively and under the shim.
symmem: $(LIB) $(PLUGINS) $(BUILD)/progs/symmem_host $(BUILD)/progs/mixed_memclient
	@scripts/symmem-rss $(BUILD)

# otcshim - plain Makefile.
#
#   make                      build/libotcshim.so (and the static core for tests)
#   make test                 install deps if missing, build, run every test
#   make demo                 run the bundled demo under the shim, show the trace
#   make bench                native vs shim, side by side, as ratios
#   make SANITIZER=address test   (or thread, undefined): builds into build-<san>/
#   make install PREFIX=/usr/local DESTDIR=
#   make check-exports        only the hooks are exported
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
# libunwind is not linked: shim/record.c opens it RTLD_LOCAL at init, so its
# _Unwind_* symbols never enter the global scope (they would capture libgcc_s's).
LIBS     := -ldl -lcurl -lz -ldw -lelf
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
EXP_SRC  := $(wildcard exporter/*.c)
CORE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(SHIM_SRC) $(EXP_SRC)) \
            $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(PB_C))
HOOK_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(HOOK_SRC))
HDRS     := $(wildcard shim/*.h exporter/*.h hooks/*.h)

LIB      := $(BUILD)/libotcshim.so
CORE_A   := $(BUILD)/libotcshim_core.a
EXPORTS  := $(BUILD)/exports.map

TEST_SRC := $(wildcard tests/unit/*.c tests/integration/*.c)
TEST_BIN := $(BUILD)/tests/otcshim_tests
PROG_SRC := $(wildcard tests/progs/*.c)
PROGS    := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(PROG_SRC))
DEMO     := $(BUILD)/demo
BENCH_SRC := $(wildcard bench/*.c)
BENCHES  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all test test-build bench demo install uninstall clean check-exports format deps

all: $(LIB) $(CORE_A)

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

$(EXPORTS): $(wildcard hooks/*.sym)
	@mkdir -p $(BUILD)
	@{ echo '{ global:'; cat hooks/*.sym | sed -e 's/#.*//' -e '/^[[:space:]]*$$/d' -e 's/.*/  &;/'; \
	   echo 'local: *; };'; } > $@

$(LIB): $(CORE_OBJ) $(HOOK_OBJ) $(EXPORTS)
	$(CC) -shared -o $@ $(CORE_OBJ) $(HOOK_OBJ) $(SANFLAGS) -pthread \
	  -Wl,--version-script=$(EXPORTS) -Wl,--exclude-libs,ALL -Wl,-z,now \
	  $(PBC_LINK) $(LIBS)

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

test-build: $(LIB) $(CORE_A) $(PROGS) $(DEMO) $(TEST_BIN)

test: deps
	@$(MAKE) --no-print-directory test-build
	@scripts/run-tests $(BUILD) $(SANITIZER)

bench: deps
	@$(MAKE) --no-print-directory $(LIB) $(BENCHES) $(PROGS)
	@scripts/bench $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory $(LIB) $(DEMO)
	@scripts/demo $(BUILD)

check-exports: $(LIB)
	@scripts/check-exports $(LIB)

install: $(LIB)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libotcshim.so
	install -m 0755 scripts/otcshim $(DESTDIR)$(PREFIX)/bin/otcshim
	install -m 0644 doc/otcshim.1 $(DESTDIR)$(PREFIX)/share/man/man1/otcshim.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libotcshim.so $(DESTDIR)$(PREFIX)/bin/otcshim \
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

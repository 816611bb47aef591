# Berth: one GNU Makefile for the whole suite.
#
# Layout: common/ is a static library (libcommon.a) that every process links; each other
# top-level directory is one process whose sources are the *.c files in it (main.c holds
# main(), the rest is logic that unit tests link too). berth-shim lives in taskd/shim/ and is
# linked statically so that one copy per container costs as little memory as possible.
#
# Targets: all test run install install-systemd uninstall clean format check-format
#          asan / check-asan (sanitizer build in build-asan/ and its test run)
#          fuzz (libFuzzer binaries in build-fuzz/, clang)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= /lib/systemd/system
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

PKG_CONFIG ?= pkg-config
CC ?= cc
CLANG_FORMAT ?= clang-format
BUILD ?= build

VERSION := 0.1.0
PKGS := libuv libcurl libcrypto libarchive yajl sqlite3 msgpack

# pkg-config runs when a recipe first needs its answer, not when make reads this file: the
# first `make test` or `make run` on a fresh machine installs the -dev packages (deps) before
# anything compiles, and must not print pkg-config errors before that. Each answer is asked
# for once (the variable replaces itself with its value on first use).
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell $$(PKG_CONFIG) --cflags $$(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $$(shell $$(PKG_CONFIG) --libs $$(PKGS) 2>/dev/null))$(PKG_LIBS)

BR_CPPFLAGS = -I. -D_GNU_SOURCE -DBR_VERSION='"$(VERSION)"' \
	-DBR_LIBEXECDIR='"$(LIBEXECDIR)"' $(PKG_CFLAGS)
BR_CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-fno-strict-aliasing $(WERROR)
BR_LDLIBS = $(PKG_LIBS) -lnng -lpthread

ALL_CPPFLAGS = $(BR_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS = $(BR_CFLAGS) $(SAN_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SAN_CFLAGS) $(LDFLAGS)

DAEMONS := contentd snapshotd imaged taskd netd gatewayd

COMMON_SRCS := $(wildcard common/*.c common/proto/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
LIBCOMMON := $(BUILD)/libcommon.a

# libberth (libberth/): the client library, static and shared, with the common/ objects it
# needs inside, so that an agent links it alone (plus its system libraries). The shared one is
# built from a second, position-independent compile in $(BUILD)/pic/ and exports only berth_*
# (libberth/libberth.map). Only libberth/berth.h is installed.
LIBBERTH_SRCS := $(wildcard libberth/*.c)
LIBBERTH_COMMON_SRCS := common/err.c common/msg.c common/rpc.c common/rpc_client.c \
	common/loop.c common/log.c common/xalloc.c common/proto/types.c common/proto/gateway.c \
	common/proto/images.c common/proto/tasks.c common/proto/networks.c common/proto/events.c \
	common/stream.c
LIBBERTH_OBJS := $(LIBBERTH_SRCS:%.c=$(BUILD)/%.o) $(LIBBERTH_COMMON_SRCS:%.c=$(BUILD)/%.o)
LIBBERTH_PIC_OBJS := $(LIBBERTH_OBJS:$(BUILD)/%=$(BUILD)/pic/%)
LIBBERTH_A := $(BUILD)/libberth.a
LIBBERTH_SO := $(BUILD)/libberth.so.0
LIBBERTH_LDLIBS = $(shell $(PKG_CONFIG) --libs msgpack libuv 2>/dev/null) -lnng -lpthread

# objs_of(dir): every object of a process directory; lib_objs_of(dir): the same minus main.o,
# which is what unit tests and fuzz targets of that directory link.
objs_of = $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(1)/*.c))
lib_objs_of = $(filter-out $(BUILD)/$(1)/main.o,$(call objs_of,$(1)))

BINS := $(DAEMONS:%=$(BUILD)/berth-%) $(BUILD)/berth $(BUILD)/berth-shim $(BUILD)/berth-init

UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_REPLAY_BINS := $(FUZZ_SRCS:test/fuzz/%.c=$(BUILD)/test/fuzz/replay_%)
HELPER_SRCS := $(wildcard test/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:test/helpers/%.c=$(BUILD)/test/helpers/%)

.PHONY: all test run deps install install-systemd uninstall clean format check-format asan \
	check-asan fuzz
.DEFAULT_GOAL := all

all: $(BINS) $(UNIT_BINS) $(FUZZ_REPLAY_BINS) $(HELPER_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

define daemon_rule
$(BUILD)/berth-$(1): $(call objs_of,$(1)) $(LIBCOMMON)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $(call objs_of,$(1)) $(LIBCOMMON) $$(BR_LDLIBS) $$(LDLIBS)
endef
$(foreach d,$(DAEMONS),$(eval $(call daemon_rule,$(d))))

$(BUILD)/berth: $(call objs_of,ctl) $(LIBBERTH_A) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $(call objs_of,ctl) $(LIBBERTH_A) $(LIBCOMMON) $(BR_LDLIBS) $(LDLIBS)

all: $(LIBBERTH_A) $(LIBBERTH_SO) $(BUILD)/examples/agent $(BUILD)/examples/exec

$(LIBBERTH_A): $(LIBBERTH_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(LIBBERTH_SO): $(LIBBERTH_PIC_OBJS) libberth/libberth.map
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libberth.so.0 \
		-Wl,--version-script=libberth/libberth.map $(if $(SAN_CFLAGS),,-Wl,--no-undefined) \
		-o $@ $(LIBBERTH_PIC_OBJS) $(LIBBERTH_LDLIBS) $(LDLIBS)
	ln -sf libberth.so.0 $(BUILD)/libberth.so

# The examples see only the installed interface: berth.h and the library.
$(BUILD)/examples/%: examples/%.c libberth/berth.h $(LIBBERTH_A)
	@mkdir -p $(@D)
	$(CC) -Ilibberth $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
		$(LIBBERTH_A) $(LIBBERTH_LDLIBS) $(LDLIBS)

# Unit tests of the CLI and of libberth link the library too (after the rest: it holds the
# common/ objects it needs itself).
$(filter $(BUILD)/test/unit/test_ctl_% $(BUILD)/test/unit/test_libberth,$(UNIT_BINS)): $(LIBBERTH_A)

# The shim is linked statically against glibc and msgpack-c only: it must not pull nng, libuv
# or SQLite, and the objects it takes from libcommon.a must not either.
SHIM_STATIC ?= -static
$(BUILD)/berth-shim: $(call objs_of,taskd/shim) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) $(if $(SAN_CFLAGS),,$(SHIM_STATIC)) -o $@ $(call objs_of,taskd/shim) \
		$(LIBCOMMON) -l:libmsgpackc.a $(LDLIBS)

# berth-init (run --init) runs inside containers of any image: static, libc only, and never
# instrumented (a sanitizer runtime is not in the image).
$(BUILD)/berth-init: taskd/init/main.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(BR_CFLAGS) $(CFLAGS) $(LDFLAGS) -static -o $@ $<

# A unit test named test_<dir>_<topic>.c links that process directory's objects (minus main.o).
test_dir_of = $(firstword $(filter $(DAEMONS) ctl shim,$(word 2,$(subst _, ,$(notdir $(1))))))
test_objs_of = $(if $(filter shim,$(call test_dir_of,$(1))),$(call lib_objs_of,taskd/shim),$(if $(call test_dir_of,$(1)),$(call lib_objs_of,$(call test_dir_of,$(1)))))

define unit_rule
$(BUILD)/test/unit/$(1): $(BUILD)/test/unit/$(1).o $(call test_objs_of,$(1)) $(LIBCOMMON)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(BR_LDLIBS) $$(LDLIBS)
endef
$(foreach t,$(UNIT_SRCS:test/unit/%.c=%),$(eval $(call unit_rule,$(t))))

define fuzz_rule
$(BUILD)/test/fuzz/replay_$(1): $(BUILD)/test/fuzz/$(1).o $(BUILD)/test/fuzz/replay.o $(call test_objs_of,$(1)) $(LIBCOMMON)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(BR_LDLIBS) $$(LDLIBS)
endef
$(foreach t,$(FUZZ_SRCS:test/fuzz/%.c=%),$(eval $(call fuzz_rule,$(t))))

$(BUILD)/test/helpers/%: $(BUILD)/test/helpers/%.o $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BR_LDLIBS) $(LDLIBS)

# libFuzzer builds (clang): make fuzz, then build-fuzz/fuzz_<target> test/fuzz/corpus/<target>
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang SAN_CFLAGS="-fsanitize=address,undefined,fuzzer-no-link" \
		build-fuzz/libcommon.a
	@for f in $(FUZZ_SRCS:test/fuzz/%.c=%); do \
		$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
			SAN_CFLAGS="-fsanitize=address,undefined,fuzzer-no-link" build-fuzz/test/fuzz/$$f.o \
			$$($(MAKE) -s --no-print-directory print-objs T=$$f BUILD=build-fuzz) || exit 1; \
		clang -fsanitize=address,undefined,fuzzer -o build-fuzz/$$f build-fuzz/test/fuzz/$$f.o \
			$$($(MAKE) -s --no-print-directory print-objs T=$$f BUILD=build-fuzz) \
			build-fuzz/libcommon.a $(BR_LDLIBS) || exit 1; \
	done

print-objs:
	@echo $(call test_objs_of,$(T))

# Sanitizer build: everything in build-asan/; check-asan runs every test against it.
asan:
	$(MAKE) BUILD=build-asan WERROR=-Werror \
		SAN_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all

check-asan: deps asan
	@bash test/run.sh build-asan

deps:
	@bash .ci/deps.sh

test: deps
	$(MAKE) WERROR=-Werror all
	@bash test/run.sh $(BUILD)

run: deps
	$(MAKE) all
	@bash test/demo.sh $(BUILD)

install: $(BINS) $(LIBBERTH_A) $(LIBBERTH_SO)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)/berth $(DESTDIR)$(SYSCONFDIR)/berth
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 libberth/berth.h $(DESTDIR)$(INCLUDEDIR)/berth.h
	install -m 0644 $(LIBBERTH_A) $(DESTDIR)$(LIBDIR)/libberth.a
	install -m 0755 $(LIBBERTH_SO) $(DESTDIR)$(LIBDIR)/libberth.so.0
	ln -sf libberth.so.0 $(DESTDIR)$(LIBDIR)/libberth.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
		-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
		libberth/berth.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/berth.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/berth.pc
	install -m 0755 $(BUILD)/berth $(DAEMONS:%=$(BUILD)/berth-%) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/berth-shim $(BUILD)/berth-init $(DESTDIR)$(LIBEXECDIR)/berth/
	test -e $(DESTDIR)$(SYSCONFDIR)/berth/berth.json || \
		install -m 0644 systemd/berth.json $(DESTDIR)$(SYSCONFDIR)/berth/berth.json
	$(MAKE) install-systemd

install-systemd:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	for u in systemd/*.service systemd/*.target; do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$u \
			> $(DESTDIR)$(SYSTEMDUNITDIR)/$$(basename $$u); \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$(basename $$u); \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/berth $(DAEMONS:%=$(DESTDIR)$(BINDIR)/berth-%)
	rm -f $(DESTDIR)$(LIBEXECDIR)/berth/berth-shim $(DESTDIR)$(LIBEXECDIR)/berth/berth-init
	rm -f $(DESTDIR)$(INCLUDEDIR)/berth.h $(DESTDIR)$(PKGCONFIGDIR)/berth.pc
	rm -f $(DESTDIR)$(LIBDIR)/libberth.a $(DESTDIR)$(LIBDIR)/libberth.so \
		$(DESTDIR)$(LIBDIR)/libberth.so.0
	for u in systemd/*.service systemd/*.target; do rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$$(basename $$u); done

# Every C file of the tree, new ones not yet added included (build output is ignored by git).
FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null)
format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

check-format:
	@out=$$($(CLANG_FORMAT) --dry-run $(FORMAT_FILES) 2>&1); \
	if [ -n "$$out" ]; then echo "$$out" | head -40; echo "check-format: run 'make format'"; exit 1; fi

clean:
	rm -rf $(BUILD) build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

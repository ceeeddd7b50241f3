# smimegate: one plain Makefile.
#
#   make                 build smimegate and smimectl
#   make check           build and run every test (unit, miltertest, Postfix,
#                        fuzz smoke runs) under address,undefined sanitizers
#   make run             build and run the gateway in the foreground on its
#                        embedded defaults (state under ./var)
#   make bench           measure the gateway against Postfix alone, a do-nothing
#                        milter and OpenSSL (a few minutes; tests/out/bench.json)
#   make install         PREFIX=/usr/local DESTDIR=
#   make check CHECK_SANITIZE=   the same without sanitizers
#   make fuzz FUZZ_SECONDS=600    each libFuzzer harness for that long
#   make screenshots     the pickup page in chromium (99-browser-pickup), its
#                        phone and desktop screenshots copied into docs/img
#
# The README's commands go through contrib/bootstrap, which installs the
# Debian packages of contrib/debian-packages.txt (and the browser tests'
# npm packages) first.

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR    ?=

CC         ?= cc
PKGS        = gmime-3.0 libcrypto libssl ldap hiredis libevent json-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
MILTER_LIBS = -lmilter -pthread

WARN        = -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith \
              -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(CI),true)
WERROR     ?= -Werror
endif
OPT        ?= -O2 -g
ifneq ($(SANITIZE),)
SAN_FLAGS   = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif
# TemplateDirectory's default: the tree's templates for a build run from
# the tree; a package builds with TEMPLATEDIR=/etc/smimegate/templates.
TEMPLATEDIR ?= $(CURDIR)/conf/templates
CPPFLAGS   += -I. -D_GNU_SOURCE -DSMIMEGATE_TEMPLATEDIR='"$(TEMPLATEDIR)"'
CFLAGS     += -std=c11 $(OPT) $(WARN) $(WERROR) $(SAN_FLAGS) $(PKG_CFLAGS) \
              -pthread -MMD -MP
LDFLAGS    += $(SAN_FLAGS) -pthread

# One archive per folder, top to bottom (make layers checks the arrows):
# the daemon's folders, then the libraries, which never log or exit.
# milter/ and ctl/ hold the two programs' mains (smimegate.c, smimectl.c).
DAEMON_DIRS = milter ctl mail enroll ca ops conf
LIB_DIRS    = smime keystore directory audit policy queue net util
SRC_OF      = $(filter-out milter/smimegate.c ctl/smimectl.c,$(wildcard $(1)/*.c))
ALL_SRC     = $(foreach d,$(DAEMON_DIRS) $(LIB_DIRS),$(call SRC_OF,$(d)))
LIBS_A      = $(foreach d,$(DAEMON_DIRS) $(LIB_DIRS),$(d)/lib$(d).a)
ALL_LIBS    = -Wl,--start-group $(LIBS_A) -Wl,--end-group $(PKG_LIBS) $(MILTER_LIBS)

UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(UNIT_SRC:.c=)

# Test-only programs the integration scripts drive (never installed).
TOOLS_BIN = tests/tools/mimetool tests/tools/pickuptool tests/tools/cmpserver

PROGS = smimegate smimectl

.PHONY: all check unit tools run install clean deps layers bench fuzz fuzzers FORCE
all: $(PROGS)

# Objects are rebuilt when the flags change (SANITIZE=..., CI=true), so
# that objects built with different flags are never linked together.
BUILD_FLAGS := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
.build-flags: FORCE
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@

%.o: %.c .build-flags
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(foreach d,$(DAEMON_DIRS) $(LIB_DIRS),$(eval $(d)/lib$(d).a: $(patsubst %.c,%.o,$(call SRC_OF,$(d)))))
$(LIBS_A):
	rm -f $@
	$(AR) rcs $@ $^

# The version --version prints: debian/changelog's, without the Debian
# revision (its one place; a release adds a changelog entry).
VERSION    := $(shell awk 'NR == 1 { v = $$2; gsub(/[()]/, "", v); \
              sub(/-[^-]*$$/, "", v); print v; exit }' debian/changelog)
milter/smimegate.o ctl/smimectl.o: CPPFLAGS += -DSMIMEGATE_VERSION='"$(VERSION)"'
milter/smimegate.o ctl/smimectl.o: debian/changelog

smimegate: milter/smimegate.o $(LIBS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS)

smimectl: ctl/smimectl.o $(LIBS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS)

tests/unit/test_%: tests/unit/test_%.o tests/unit/unit_util.o $(LIBS_A)
	$(CC) $(LDFLAGS) -o $@ $< tests/unit/unit_util.o $(ALL_LIBS) $(TEST_LIBS) -lcmocka

# Test-only: libxml2 parses the HTML audit report.
tests/unit/test_audit.o: CFLAGS += $(shell pkg-config --cflags libxml-2.0)
tests/unit/test_audit: TEST_LIBS = $(shell pkg-config --libs libxml-2.0)

unit: $(UNIT_BIN)

# mimetool: GMime takes delivered messages apart for tests/lib/mime.sh.
tests/tools/mimetool: tests/tools/mimetool.o
	$(CC) $(LDFLAGS) -o $@ $< $(PKG_LIBS)

# pickuptool: a pickup link without the mail flow (86-http-limits).
tests/tools/pickuptool: tests/tools/pickuptool.o $(LIBS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS)

# cmpserver: a CMP CA that issues to the requested key (94-renew-cmp, 95-shared-cmp).
tests/tools/cmpserver: tests/tools/cmpserver.o
	$(CC) $(LDFLAGS) -o $@ $< $(PKG_LIBS)

tools: $(TOOLS_BIN)

# The benchmark's instruments, never installed: a do-nothing milter (the
# row that costs only the milter protocol), OpenSSL's floor per message and
# a driver of the certificate lookup.
BENCH_BIN = tests/bench/nullmilter tests/bench/floor tests/bench/lookup
tests/bench/nullmilter: tests/bench/nullmilter.o
	$(CC) $(LDFLAGS) -o $@ $< $(MILTER_LIBS)
tests/bench/floor: tests/bench/floor.o
	$(CC) $(LDFLAGS) -o $@ $< $(PKG_LIBS)
tests/bench/lookup: tests/bench/lookup.o $(LIBS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS)

bench: deps all $(BENCH_BIN)
	sh tests/bench/bench.sh

# ---- fuzzing: libFuzzer harnesses tests/fuzz/fuzz_*.c -------
# Built with clang, -fsanitize=fuzzer,address,undefined, from objects of
# their own under tests/fuzz/obj/ (the programs' objects stay as they are).
#   make fuzz FUZZ_SECONDS=60     each harness for that long (tests/fuzz/run)
# make check runs each briefly (tests/integration/90-fuzz.sh).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_OBJDIR   = tests/fuzz/obj
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -O1 -g $(WARN) -Wno-format-nonliteral $(WERROR) $(FUZZ_SAN) \
                -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -pthread -MMD -MP
FUZZ_SRC      = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN      = $(patsubst tests/fuzz/%.c,tests/fuzz/bin/%,$(filter-out tests/fuzz/fuzz_util.c,$(FUZZ_SRC)))
FUZZ_LIB_OBJ  = $(patsubst %.c,$(FUZZ_OBJDIR)/%.o,$(ALL_SRC) tests/unit/unit_util.c tests/fuzz/fuzz_util.c)

$(FUZZ_OBJDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

tests/fuzz/bin/%: $(FUZZ_OBJDIR)/tests/fuzz/%.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -pthread -o $@ $^ $(PKG_LIBS) $(MILTER_LIBS)

fuzzers: $(FUZZ_BIN)

fuzz: fuzzers
	sh tests/fuzz/run $(FUZZ_SECONDS)

# Only milter/milt_mfapi.c knows libmilter; the libraries never log or
# exit (style.md 1); tests/layers checks every arrow between files and
# folders against its table and refuses circles (it reads the objects).
layers: $(patsubst %.c,%.o,$(ALL_SRC))
	@bad=$$(grep -ln 'libmilter/mfapi.h' $(foreach d,$(DAEMON_DIRS) $(LIB_DIRS),$(d)/*.[ch]) \
	        | grep -v '^milter/milt_mfapi.c$$' || true); \
	 if [ -n "$$bad" ]; then echo "layers: libmilter outside milter/milt_mfapi.c: $$bad"; exit 1; fi
	@bad=$$(grep -lnE '\<(syslog|exit|abort)[[:space:]]*\(' $(foreach d,$(LIB_DIRS),$(d)/*.c) || true); \
	 if [ -n "$$bad" ]; then echo "layers: a library logs or exits: $$bad"; exit 1; fi
	@sh tests/layers

# make check builds and runs everything under the sanitizers:
# CHECK_SANITIZE (default address,undefined, or SANITIZE when given; empty
# for a plain build).  The objects are rebuilt for it, and again by a
# later plain `make` (.build-flags).  tests/run fails on any sanitizer report.
ifeq ($(SANITIZE),)
CHECK_SANITIZE ?= address,undefined
else
CHECK_SANITIZE ?= $(SANITIZE)
endif
check: deps
	$(MAKE) SANITIZE=$(CHECK_SANITIZE) all unit tools layers
	$(MAKE) fuzzers || echo "check: no fuzzers (clang?); 90-fuzz will skip"
	SMIMEGATE_SANITIZE=$(CHECK_SANITIZE) sh tests/run

deps:
	sh contrib/bootstrap

run: deps all
	sh contrib/run-embedded

# The admin guide's pictures of the pickup page: the browser test takes
# them (under tests/out); a maintainer copies them in and commits them.
.PHONY: screenshots
screenshots: deps all tools
	sh tests/run 99-browser-pickup
	mkdir -p docs/img
	cp tests/out/99-browser-pickup/pickup-phone.png docs/img/pickup-phone.png
	cp tests/out/99-browser-pickup/pickup-desktop.png docs/img/pickup-desktop.png

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	           $(DESTDIR)$(SYSCONFDIR)/smimegate
	install -m 0755 smimegate smimectl $(DESTDIR)$(SBINDIR)/
	install -m 0644 docs/smimegate.conf.5 docs/smimegate-audit.5 docs/smimegate-policy.5 \
	    $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 docs/smimegate.8 docs/smimectl.8 $(DESTDIR)$(MANDIR)/man8/
	[ -e $(DESTDIR)$(SYSCONFDIR)/smimegate/smimegate.conf ] || \
	  install -m 0644 conf/smimegate.conf $(DESTDIR)$(SYSCONFDIR)/smimegate/smimegate.conf
	# The templates (build with TEMPLATEDIR=$(SYSCONFDIR)/smimegate/templates
	# to make them the default); an administrator's edited set is kept.
	[ -e $(DESTDIR)$(SYSCONFDIR)/smimegate/templates ] || \
	  cp -R conf/templates $(DESTDIR)$(SYSCONFDIR)/smimegate/templates

clean:
	rm -f $(PROGS) $(LIBS_A) $(UNIT_BIN) $(BENCH_BIN) $(TOOLS_BIN) .build-flags */*.o */*/*.o */*.d */*/*.d
	rm -rf tests/out tests/fuzz/obj tests/fuzz/bin

-include $(wildcard */*.d */*/*.d) $(shell find tests/fuzz/obj -name '*.d' 2>/dev/null)

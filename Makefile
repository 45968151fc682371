# Makefile — builds esfs, runs its tests, installs it. See README.md.
#
#   make            build bin/esfs and bin/esfsctl
#   make check      build and run every test through prove: the C tests
#                   first, then the shell tests (see tests/README.md)
#   make check-asan the same under AddressSanitizer and UBSan
#   make check-valgrind  the C tests under valgrind
#   make fuzz       build the message fuzzer with clang, run it FUZZ_SECONDS
#   make install    install to $(DESTDIR)$(PREFIX) (default /usr/local)
#   make deps       install the Debian packages to build and test (as root)
#   make bench      build bin/esfs-bench, the benchmark (tools/bench.c; needs
#                   libpq-dev; not part of all or check). See esfs-bench(1).
#   make bench-deps install what the benchmark needs: PostgreSQL, libpq-dev,
#                   gnuplot, strace (as root)
#   make lossyfs    build bin/lossyfs, the lossy disk of esfs-soak --power-cut
#   make unsafe     build build/unsafe/esfs, whose store does not sync (for
#                   the power-cut soak to catch; never installed)

VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
UNITDIR = $(PREFIX)/lib/systemd/system
DOCDIR = $(PREFIX)/share/doc/esfs
PKGS = fuse3 lmdb jansson uuid zlib libpq

# Debian packages: to build, to run, and to test.
DEPS = build-essential pkg-config libfuse3-dev liblmdb-dev libjansson-dev \
	uuid-dev zlib1g-dev libpq-dev postgresql fuse3 perl jq rsync procps util-linux valgrind \
	clang libclang-rt-14-dev python3 systemd nodejs strace

CFLAGS ?= -O2 -g
override CFLAGS += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror \
	$(shell pkg-config --cflags $(PKGS)) -DESFS_VERSION='"$(VERSION)"'
LDLIBS = $(shell pkg-config --libs $(PKGS)) -lpthread

# Objects go to $(O), so that a sanitizer build lives beside the normal one.
O ?= build
ESFS_BIN ?= bin/esfs
CTL_BIN ?= bin/esfsctl
STORE_OBJ = $(patsubst %.c,$(O)/%.o,$(wildcard store/*.c store/pg/*.c)) \
	$(O)/store/pg/schema.o $(O)/store/pg/functions.o
FS_OBJ = $(patsubst %.c,$(O)/%.o,$(wildcard fs/*.c))
CTL_OBJ = $(patsubst %.c,$(O)/%.o,$(wildcard tools/esfsctl/*.c))
# The C tests: each tests/NAME.c is one TAP program, $(O)/tests/NAME.t.
C_TESTS = $(patsubst tests/%.c,$(O)/tests/%.t,$(wildcard tests/*.c))

all: $(ESFS_BIN) $(CTL_BIN)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(O)/libstore.a: $(STORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(ESFS_BIN): $(FS_OBJ) $(O)/libstore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(CTL_BIN): $(CTL_OBJ) $(O)/libstore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(STORE_OBJ): $(wildcard store/*.h store/pg/*.h)

# The PostgreSQL backend's schema (store/pg/schema.sql, functions.sql),
# each as a C string, pg_NAME_sql.
$(O)/store/pg/schema.c $(O)/store/pg/functions.c: $(O)/store/pg/%.c: store/pg/%.sql
	@mkdir -p $(dir $@)
	{ echo '/* made from $< by the Makefile */'; \
	  echo 'const char pg_$*_sql[] ='; \
	  sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$$/\\n"/' $<; echo ';'; } > $@

$(O)/store/pg/schema.o $(O)/store/pg/functions.o: %.o: %.c
	$(CC) $(CFLAGS) -c -o $@ $<
$(FS_OBJ): $(wildcard fs/*.h) store/store.h store/json.h store/names.h
$(CTL_OBJ): $(wildcard tools/esfsctl/*.h) store/store.h store/names.h
$(CTL_OBJ): override CFLAGS += -Istore

# A C test links the store library (the store's tests, tests/store-*.c,
# share tests/store-fixture.h); tests/message.c links the message reader
# and parsers of the daemon (fs/message.o) and store/json.c.
$(O)/tests/%.t: tests/%.c tests/store-fixture.h tests/tap.h store/store.h \
		store/json.h $(O)/libstore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Istore -o $@ $< $(O)/libstore.a $(LDLIBS)

$(O)/tests/store-log.t: store/log.h

$(O)/tests/message.t: tests/message.c tests/tap.h fs/message.h store/json.h \
		store/store.h $(O)/fs/message.o $(O)/libstore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(O)/fs/message.o $(O)/libstore.a $(LDLIBS)

# The C tests run first: they need no mount, and a broken store or message
# reader shows there before the shell tests fail in its wake. Then the
# contract's shell tests run again on the PostgreSQL backend (check-pg).
check: $(ESFS_BIN) $(CTL_BIN) $(C_TESTS)
	ESFS=$(abspath $(ESFS_BIN)) ESFSCTL=$(abspath $(CTL_BIN)) \
		prove -f $(C_TESTS) tests/*.t
	$(MAKE) check-pg

# The contract's shell tests with a PostgreSQL store: a private cluster
# (tests/pg-cluster) in a temporary directory, a database of its own for
# each test (tests/lib.sh). The tests left out look at a local store's
# files (its log, data.mdb, esfsctl's backup and verify, a full disk, the
# power-cut and kill -9 soaks of the log) or at the installed tree.
PG_TESTS = $(filter-out tests/05-readme.t tests/82-soak.t tests/83-powercut.t \
	tests/88-full-disk.t tests/91-store-lock.t tests/95-backup.t tests/96-esfsctl.t \
	tests/98-dist.t, $(wildcard tests/*.t))
PG_ASAN_TESTS = tests/10-tree.t tests/20-append.t tests/67-subscriptions.t \
	tests/87-pg-outage.t tests/89-pg-failover.t
check-pg: $(ESFS_BIN) $(CTL_BIN)
	d=$$(mktemp -d /tmp/esfs-pg.XXXXXX) || exit 1; \
	uri=$$(tests/pg-cluster start $$d) || { rm -rf $$d; exit 1; }; \
	ESFS_TEST_PG=$$uri ESFS=$(abspath $(ESFS_BIN)) ESFSCTL=$(abspath $(CTL_BIN)) \
		prove -f $(PG_TESTS); rc=$$?; \
	tests/pg-cluster stop $$d; rm -rf $$d; exit $$rc

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer: any
# report aborts the daemon or the test, and fails the run. Of check-pg's
# tests it runs those of appends, subscriptions, an outage and a failover
# (PG_ASAN_TESTS): the PostgreSQL backend's changes, reads, walks and
# watch, with the daemon's paths over them; all of check-pg would make CI
# run longer than its limit.
SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all
check-asan:
	$(MAKE) O=build/asan ESFS_BIN=build/asan/esfs CTL_BIN=build/asan/esfsctl \
		CFLAGS="-O1 -g -fno-omit-frame-pointer $(SANITIZE)" \
		LDFLAGS="$(SANITIZE)" PG_TESTS="$(PG_ASAN_TESTS)" check

# The C tests under valgrind's memcheck: a leak or an invalid access fails
# the test it happens in.
VALGRIND = valgrind -q --leak-check=full --error-exitcode=1 --child-silent-after-fork=yes
check-valgrind: $(C_TESTS)
	prove -f --exec '$(VALGRIND)' $(C_TESTS)

# libFuzzer on the message reader and parsers (tests/fuzz/message.c), built
# with clang from the sources, run for FUZZ_SECONDS on a scratch copy of the
# seed corpus so that the committed one does not grow.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE
$(O)/fuzz/message: tests/fuzz/message.c fs/message.c store/json.c \
		fs/message.h store/json.h store/store.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell pkg-config --cflags $(PKGS)) -o $@ \
		tests/fuzz/message.c fs/message.c store/json.c $(LDLIBS)

fuzz: $(O)/fuzz/message
	rm -rf $(O)/fuzz/corpus && mkdir -p $(O)/fuzz/corpus
	cp tests/fuzz/corpus/* $(O)/fuzz/corpus/
	$(O)/fuzz/message -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-max_len=65536 -artifact_prefix=$(O)/fuzz/ $(O)/fuzz/corpus

# The benchmark: esfs against plain files, tmpfs, the store library and
# PostgreSQL (tools/bench.c, man/esfs-bench.1). Linked with the store
# library and libpq; not built by all, not run by check.
BENCH_BIN = bin/esfs-bench
BENCH_DEPS = postgresql libpq-dev gnuplot-nox strace
BENCH_CFLAGS = $(shell pkg-config --cflags libpq 2>/dev/null || echo -I`pg_config --includedir`)
BENCH_LIBS = $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)

bench: $(BENCH_BIN)

$(BENCH_BIN): tools/bench.c store/store.h $(O)/libstore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BENCH_CFLAGS) $(LDFLAGS) -Istore -o $@ tools/bench.c \
		$(O)/libstore.a $(LDLIBS) $(BENCH_LIBS)

bench-deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(BENCH_DEPS)

# The power-cut soak's tools (tools/esfs-soak --power-cut, tests/83): the
# lossy disk (tools/lossyfs, lossyfs(1)), and an esfs built with
# -DES_UNSAFE_NOSYNC, whose log is never flushed (store/log.c), to show that
# the soak catches a store that does not sync.
LOSSYFS_BIN = bin/lossyfs
lossyfs: $(LOSSYFS_BIN)

$(LOSSYFS_BIN): tools/lossyfs/lossyfs.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs fuse3)

unsafe:
	$(MAKE) O=build/unsafe ESFS_BIN=build/unsafe/esfs CFLAGS="-O2 -g -DES_UNSAFE_NOSYNC" \
		LDFLAGS= build/unsafe/esfs

check: $(LOSSYFS_BIN) unsafe

install: $(ESFS_BIN) $(CTL_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(ESFS_BIN) $(DESTDIR)$(BINDIR)/esfs
	install -m 755 $(CTL_BIN) $(DESTDIR)$(BINDIR)/esfsctl
	install -m 644 man/esfs.1 man/esfsctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/projections
	install -m 644 dist/esfs@.service $(DESTDIR)$(UNITDIR)/
	install -m 644 dist/fstab.example $(DESTDIR)$(DOCDIR)/
	install -m 644 tools/projections/README.md $(DESTDIR)$(DOCDIR)/projections/
	install -m 755 tools/projections/*.sh tools/projections/*.awk $(DESTDIR)$(DOCDIR)/projections/

deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEPS)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/esfs $(DESTDIR)$(BINDIR)/esfsctl \
		$(DESTDIR)$(MANDIR)/man1/esfs.1 $(DESTDIR)$(MANDIR)/man1/esfsctl.1 \
		$(DESTDIR)$(UNITDIR)/esfs@.service
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf bin build


.PHONY: all check check-pg check-asan check-valgrind fuzz install deps uninstall clean \
	bench bench-deps lossyfs unsafe

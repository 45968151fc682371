# Makefile — builds esfs, runs its tests, installs it. See README.md.
#
#   make            build bin/esfs
#   make check      build and run every test through prove
#   make install    install to $(DESTDIR)$(PREFIX) (default /usr/local)
#   make deps       install the Debian packages to build and test (as root)

VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
PKGS = fuse3 lmdb jansson uuid

# Debian packages: to build, to run, and to test.
DEPS = build-essential pkg-config libfuse3-dev liblmdb-dev libjansson-dev \
	uuid-dev fuse3 perl jq rsync procps util-linux

CFLAGS ?= -O2 -g
override CFLAGS += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror \
	$(shell pkg-config --cflags $(PKGS)) -DESFS_VERSION='"$(VERSION)"'
LDLIBS = $(shell pkg-config --libs $(PKGS)) -lpthread

STORE_OBJ = store/store.o store/json.o
FS_OBJ = fs/main.o fs/ops.o fs/message.o fs/log.o
TEST_BIN = tests/store.t

all: bin/esfs

store/libstore.a: $(STORE_OBJ)
	$(AR) rcs $@ $^

bin/esfs: $(FS_OBJ) store/libstore.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(STORE_OBJ): store/store.h store/json.h
$(FS_OBJ): fs/esfs.h fs/message.h store/store.h store/json.h

tests/%.t: tests/%.c tests/tap.h store/libstore.a
	$(CC) $(CFLAGS) $(LDFLAGS) -Istore -o $@ $< store/libstore.a $(LDLIBS)

check: all $(TEST_BIN)
	prove -f tests/

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 bin/esfs $(DESTDIR)$(BINDIR)/esfs
	install -m 644 man/esfs.1 $(DESTDIR)$(MANDIR)/man1/esfs.1

deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEPS)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/esfs $(DESTDIR)$(MANDIR)/man1/esfs.1

clean:
	rm -rf bin $(STORE_OBJ) $(FS_OBJ) store/libstore.a $(TEST_BIN)

.PHONY: all check install deps uninstall clean

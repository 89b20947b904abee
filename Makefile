# twpool - connection pooling for unmodified programs (LD_PRELOAD).
#
#   make            build/libtwpool.so and the bundled demo programs
#   make test       unit + integration tests (installs packages as root)
#   make demo       without/with the shim, side by side
#   make bench      benchmarks (issue-grade numbers, medians and ratios)
#   make asan|tsan  sanitizer builds in build-asan/ and build-tsan/, tested
#   make fuzz       libFuzzer campaign on the configuration parser
#   make install    PREFIX=/usr/local DESTDIR=
#   make deb        Debian packages in build/deb/ (scripts/deb-test tries them)

CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
MANDIR ?= $(PREFIX)/share/man
INCLUDEDIR ?= $(PREFIX)/include
DOCDIR ?= $(PREFIX)/share/doc/twpool
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
USERUNITDIR ?= $(PREFIX)/lib/systemd/user
BUILD ?= build
CFLAGS ?= -O2 -g
WERROR ?=
SAN ?=
# Sanitizer flags for the test programs; the tsan target leaves them out
# (Criterion cannot run under TSan) and preloads TSan with the shim.
TEST_SAN ?= $(SAN)

SONAME = libtwpool.so.0
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes $(if $(WERROR),-Werror)
BASE_CFLAGS = -std=gnu11 -D_GNU_SOURCE -fPIC -Iinclude -Ishim $(WARN) $(CPPFLAGS) $(CFLAGS)
ALL_CFLAGS = $(BASE_CFLAGS) $(TEST_SAN)
LIB_CFLAGS = $(BASE_CFLAGS) $(SAN) -fvisibility=hidden
LDLIBS_LIB = -ldl -lpthread

SHIM_SRC = $(wildcard shim/*.c)
SHIM_OBJ = $(SHIM_SRC:shim/%.c=$(BUILD)/obj/%.o)
# Internals for unit tests: everything but the interposed entry points.
INT_OBJ = $(filter-out $(BUILD)/obj/hooks.o,$(SHIM_OBJ))

LIB = $(BUILD)/libtwpool.so
PROGS = $(patsubst tests/progs/%.c,$(BUILD)/%,$(wildcard tests/progs/twpool-*.c)) $(BUILD)/twpool-hazards
# A library loaded with RTLD_DEEPBIND, lazy and bind-now (its GOT in RELRO),
# and a copy found only through the loading program's RUNPATH.
DEEP = $(BUILD)/deepbind-main $(BUILD)/deepbind-lib.so $(BUILD)/deepbind-lib-now.so \
	$(BUILD)/deepbind-runpath/libtwpdeep.so
UNIT_SRC = $(wildcard tests/unit/*.c)
INTEG_SRC = $(wildcard tests/integration/test_*.c)
TEST_BINS = $(BUILD)/unit-tests $(BUILD)/integration-tests
# The twpool command links the library's own parser (config.c, key.c).
CMD = $(BUILD)/twpool
CMD_OBJ = $(patsubst cmd/%.c,$(BUILD)/cmd/%.o,$(wildcard cmd/*.c))

.PHONY: all test check demo bench asan tsan fuzz install uninstall clean deps deb

all: $(LIB) $(PROGS) $(DEEP) $(BUILD)/twpool-broker
all: $(CMD)

# -MMD -MP: each object depends on exactly the headers it includes.
$(BUILD)/obj/%.o: shim/%.c | $(BUILD)/obj
	$(CC) $(LIB_CFLAGS) -MMD -MP -c -o $@ $<

-include $(SHIM_OBJ:.o=.d)

$(BUILD)/obj:
	mkdir -p $@

$(LIB): $(SHIM_OBJ)
	$(CC) $(LIB_CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,-z,defs -o $@ $^ $(LDLIBS_LIB)

$(BUILD)/cmd/%.o: cmd/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(SAN) -DTWPOOL_LIBDIR='"$(LIBDIR)"' -MMD -MP -c -o $@ $<

-include $(CMD_OBJ:.o=.d)

# The command judges its options with the shim's own parser, which knows
# the protocols' codecs by name.
CMD_SHIM_OBJ = $(addprefix $(BUILD)/obj/,config.o key.o codec.o codec_auto.o codec_http.o \
	codec_resp.o codec_memcache.o codec_mysql.o hoststats.o real.o reason.o)
$(CMD): $(CMD_OBJ) $(CMD_SHIM_OBJ)
	$(CC) $(BASE_CFLAGS) $(SAN) $(LDFLAGS) -o $@ $^ -lm

$(BUILD)/twpool-%: tests/progs/twpool-%.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -o $@ $< -lpthread

# The connection broker: its own program, sharing the shim's key code and
# message format (shim/broker.h).
BROKER_SRC = cmd/broker.c cmd/broker_hold.c shim/key.c
$(BUILD)/twpool-broker: $(BROKER_SRC) cmd/broker_int.h shim/broker.h shim/key.h | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -DTWP_BROKER_PROGRAM -o $@ $(BROKER_SRC)

# The hazard scenarios: one file per area over a shared common.c.
HAZARDS_SRC = $(wildcard tests/progs/hazards/*.c)
$(BUILD)/twpool-hazards: $(HAZARDS_SRC) tests/progs/hazards/common.h | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -o $@ $(HAZARDS_SRC) -lpthread

$(BUILD)/deepbind-main: tests/progs/deepbind-main.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -Wl,--enable-new-dtags,-rpath,'$$ORIGIN/deepbind-runpath' -o $@ $< -ldl

$(BUILD)/deepbind-lib.so: tests/progs/deepbind-lib.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -shared -o $@ $<

$(BUILD)/deepbind-lib-now.so: tests/progs/deepbind-lib.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -shared -Wl,-z,relro,-z,now -o $@ $<

$(BUILD)/deepbind-runpath/libtwpdeep.so: $(BUILD)/deepbind-lib.so
	mkdir -p $(@D) && cp $< $@

# Benchmark programs: scripts/bench runs them from $(BUILD) (make bench, and
# the suite's short run); bench-pool and bench-codec link shim code directly.
BENCH_PROGS = $(BUILD)/bench-io $(BUILD)/bench-pool $(BUILD)/bench-codec $(BUILD)/bench-hoststats
.PHONY: bench-progs
bench-progs: $(BENCH_PROGS)
test: bench-progs

$(BUILD)/bench-io: tests/progs/bench-io.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -o $@ $<

$(BUILD)/bench-pool: tests/progs/bench-pool.c $(INT_OBJ)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< $(INT_OBJ) $(LDLIBS_LIB)

$(BUILD)/bench-codec: tests/progs/bench-codec.c $(INT_OBJ)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< $(INT_OBJ) $(LDLIBS_LIB)

$(BUILD)/bench-hoststats: tests/progs/bench-hoststats.c $(INT_OBJ)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< $(INT_OBJ) $(LDLIBS_LIB)

$(BUILD)/unit-tests: $(UNIT_SRC) $(INT_OBJ) cmd/broker_hold.c
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $(UNIT_SRC) cmd/broker_hold.c $(INT_OBJ) -lcriterion $(LDLIBS_LIB)

$(BUILD)/integration-tests: $(INTEG_SRC) tests/integration/harness.c tests/integration/harness.h
	$(CC) $(ALL_CFLAGS) -Itests/integration -o $@ $(INTEG_SRC) tests/integration/harness.c -lcriterion -lpthread

# A C client on libmariadb for test_mysql_clients; only the tests need it.
$(BUILD)/mysql-cycle-c: tests/progs/mysql-cycle-c.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) $$(mariadb_config --cflags) -o $@ $< $$(mariadb_config --libs)
test: $(BUILD)/mysql-cycle-c

deps:
	scripts/deps build

test: deps-test all $(TEST_BINS) check-modules
	TWPOOL_TEST_SAN="$(SAN)" scripts/run-tests $(BUILD)

# The shim's module graph (from nm) must have no cycle.
.PHONY: check-modules
check-modules: $(LIB)
	scripts/modgraph $(BUILD)

.PHONY: deps-test
deps-test:
	scripts/deps test

check: test

demo:
	scripts/deps demo
	$(MAKE) all
	scripts/demo $(BUILD)

bench: all bench-progs
	scripts/deps bench
	scripts/bench $(BUILD)

asan:
	$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" CFLAGS="-O1 -g" test

tsan:
	$(MAKE) BUILD=build-tsan SAN="-fsanitize=thread" TEST_SAN= CFLAGS="-O1 -g" test

fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

EXAMPLES = $(wildcard cmd/examples/*)
USERUNITS = cmd/examples/twpool-broker.service cmd/examples/twpool-broker.socket

install: $(LIB) $(CMD) $(BUILD)/twpool-broker
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(USERUNITDIR)
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/$(SONAME)
	install -m 0755 $(BUILD)/twpool-broker $(DESTDIR)$(LIBDIR)/twpool-broker
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtwpool.so
	install -m 0755 $(CMD) $(DESTDIR)$(BINDIR)/twpool
	install -m 0644 cmd/twpool.1 $(DESTDIR)$(MANDIR)/man1/twpool.1
	install -m 0644 cmd/twpool.conf.5 $(DESTDIR)$(MANDIR)/man5/twpool.conf.5
	install -m 0644 include/twpool.h $(DESTDIR)$(INCLUDEDIR)/twpool.h
	install -m 0644 cmd/twpool.bash-completion $(DESTDIR)$(BASHCOMPDIR)/twpool
	install -m 0644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 $(USERUNITS) $(DESTDIR)$(USERUNITDIR)/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libtwpool.so $(DESTDIR)$(LIBDIR)/twpool-broker
	rm -f $(DESTDIR)$(BINDIR)/twpool $(DESTDIR)$(MANDIR)/man1/twpool.1
	rm -f $(DESTDIR)$(MANDIR)/man5/twpool.conf.5 $(DESTDIR)$(INCLUDEDIR)/twpool.h
	rm -f $(DESTDIR)$(BASHCOMPDIR)/twpool
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(EXAMPLES)))
	rm -f $(addprefix $(DESTDIR)$(USERUNITDIR)/,$(notdir $(USERUNITS)))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

# The packages are built in a copy of the tree, so that the package
# build's `make clean` leaves build/, build-asan/... alone; dpkg-buildpackage
# writes them next to the copy, in $(DEB_DIR).
DEB_DIR = $(BUILD)/deb

deb:
	scripts/deps deb
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	tar -c --exclude=./.git --exclude='./build*' --exclude=./results --exclude='./$(BUILD)' . \
		| tar -x -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

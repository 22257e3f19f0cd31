# pggate build: `make` builds ./pggate; `make check` installs what is missing,
# builds and runs every test (also under ASan+UBSan); `make demo` starts a
# throwaway primary + replica with pggate in front of them; `make bench` runs
# the benchmarks (docs/benchmarks.md); `make check-clients` runs the client
# driver workloads (tests/clients) through a release build; `make fuzz` runs
# the libFuzzer targets of tests/fuzz for FUZZ_SECONDS each (README, "Read more");
# `make check-install` checks `make install` (tests/install-test.sh).

.DEFAULT_GOAL := all
# Cleaning needs no configuration (a package build cleans a fresh tree first).
ifeq ($(filter-out clean distclean,$(MAKECMDGOALS)),$(MAKECMDGOALS))
-include config.mk
endif

# config.mk comes from ./configure, which comes from configure.ac; on a fresh
# clone the missing packages are installed first so configure can find them.
config.mk: configure config.mk.in
	./configure
configure: configure.ac
	contrib/install-deps.sh
	autoconf

BUILD ?= release
NPROC := $(shell nproc 2>/dev/null || echo 2)
OUT := build/$(BUILD)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast \
        -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference -Wformat=2
CXXSTD := -std=c++20
ifeq ($(BUILD),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDOPT := -fsanitize=address,undefined
else
  OPT := -O2 -g
  LDOPT :=
endif
# CPPFLAGS, CXXFLAGS and LDFLAGS from the environment, make's command line or
# ./configure's come last, so that a packager's flags (dpkg-buildflags'
# -D_FORTIFY_SOURCE=2, -fstack-protector-strong, -z relro ...) hold.
CPPFLAGS_ALL := -Isrc -DPGGATE_VERSION='"$(VERSION)"' -DPG_BINDIR='"$(PG_BINDIR)"' $(DEPS_CFLAGS) $(CPPFLAGS)
CXXFLAGS_ALL := $(CXXSTD) $(WARN) $(OPT) -MMD -MP $(CXXFLAGS)

LIB_SRC := $(filter-out src/main.cpp,$(shell find src -name '*.cpp' | sort))
UNIT_SRC := $(shell find tests/unit -name '*.cpp' | sort)
INTEG_SRC := $(shell find tests/integration -name '*.cpp' | sort)
# The driver suite shares the integration harness (everything there but the
# test_*.cpp files).
CLIENT_SRC := $(shell find tests/clients -name '*.cpp' | sort) \
              $(filter-out tests/integration/test_%,$(INTEG_SRC))

LIB_OBJ := $(LIB_SRC:%.cpp=$(OUT)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.cpp=$(OUT)/%.o)
INTEG_OBJ := $(INTEG_SRC:%.cpp=$(OUT)/%.o)
CLIENT_OBJ := $(CLIENT_SRC:%.cpp=$(OUT)/%.o)

ifeq ($(BUILD),release)
  BIN := pggate
else
  BIN := $(OUT)/pggate
endif

.PHONY: all check check-asan check-clients check-install unit integration demo demo-stop bench bench-classifier bench-proxies clean distclean install
all: $(BIN)

$(OUT)/%.o: %.cpp config.mk
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS_ALL) $(CXXFLAGS_ALL) -c $< -o $@

$(OUT)/libpggate.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(OUT)/src/main.o $(OUT)/libpggate.a
	$(CXX) $(LDOPT) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

$(OUT)/unit_tests: $(UNIT_OBJ) $(OUT)/libpggate.a
	$(CXX) $(LDOPT) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

$(OUT)/integration_tests: $(INTEG_OBJ) $(OUT)/libpggate.a
	$(CXX) $(LDOPT) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

$(OUT)/tests/clients/%.o: CPPFLAGS_ALL += -Itests/integration
$(OUT)/client_tests: $(CLIENT_OBJ) $(OUT)/libpggate.a
	$(CXX) $(LDOPT) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

tests: $(BIN) $(OUT)/unit_tests $(OUT)/integration_tests $(OUT)/client_tests

# Runs both suites against this build; tests/run.sh prints the totals.
unit integration: tests
check-one: $(BIN) $(OUT)/unit_tests $(OUT)/integration_tests
	tests/run.sh $(OUT) $(abspath $(BIN))

check: config.mk
	rm -rf build/results
	-$(MAKE) -j$(NPROC) BUILD=release check-one
	-$(MAKE) -j$(NPROC) BUILD=asan check-one
	-$(MAKE) check-clients
	-$(MAKE) check-install
	tests/run.sh --summary

# `make install` into a staging directory (tests/install-test.sh).
check-install: config.mk
	$(MAKE) -j$(NPROC) BUILD=release pggate
	tests/install-test.sh

# Real drivers (psql, pgbench, libpq pipelines, psycopg 2 and 3, asyncpg,
# SQLAlchemy, JDBC, node-postgres) through a release build, in session
# pooling and in transaction pooling with read/write splitting; `check` runs
# them once, with the release build, after both builds' suites. Their counts go to
# build/results/release-client_tests.count, which `tests/run.sh --summary`
# adds to the rest.
check-clients: config.mk
	$(MAKE) -j$(NPROC) BUILD=release pggate build/release/client_tests
	tests/run.sh build/release $(abspath pggate) client_tests

# Benchmarks, one target per part so each can be run alone; `bench` runs
# them all. They always build with the release flags, and neither `all` nor
# `check` builds them.
BENCH_DIR := build/bench

# The parts run one after the other even under -j, so that neither disturbs
# the other's timings.
bench:
	$(MAKE) bench-classifier
	$(MAKE) bench-proxies

bench-classifier: config.mk
	$(MAKE) -j$(NPROC) BUILD=release $(BENCH_DIR)/classifier_bench
	$(BENCH_DIR)/classifier_bench

# pggate against a direct connection, PgBouncer and Pgpool-II with pgbench
# (tests/bench/proxies.sh, as root: it installs the two poolers when they
# are missing); the results go into docs/benchmarks.md.
bench-proxies: config.mk
	$(MAKE) -j$(NPROC) BUILD=release all
	tests/bench/proxies.sh

$(BENCH_DIR)/classifier_bench: $(OUT)/tests/bench/classifier_bench.o $(OUT)/libpggate.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDOPT) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

# Fuzzing: one libFuzzer target per tests/fuzz/*_fuzz.cpp, built by clang
# with ASan+UBSan in build/fuzz (never mixed with the other builds); `fuzz`
# runs each for FUZZ_SECONDS on a copy of its seed corpus (tests/fuzz/run.sh).
# Not part of `check`.
FUZZ_DIR := build/fuzz
FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%_fuzz.cpp,%,$(sort $(wildcard tests/fuzz/*_fuzz.cpp)))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CXXFLAGS := $(CXXSTD) $(WARN) -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%_fuzz)

.PHONY: fuzz fuzz-build
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: config.mk
	$(MAKE) -j$(NPROC) $(FUZZ_BINS)

.PRECIOUS: $(FUZZ_DIR)/obj/%.o
$(FUZZ_DIR)/obj/%.o: %.cpp config.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CPPFLAGS_ALL) $(FUZZ_CXXFLAGS) -c $< -o $@

$(FUZZ_DIR)/libpggate.a: $(LIB_SRC:%.cpp=$(FUZZ_DIR)/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/%_fuzz: $(FUZZ_DIR)/obj/tests/fuzz/%_fuzz.o $(FUZZ_DIR)/libpggate.a
	$(FUZZ_CXX) -fsanitize=fuzzer $(FUZZ_SAN) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

demo: config.mk
	$(MAKE) BUILD=release all
	contrib/demo.sh start

demo-stop:
	contrib/demo.sh stop

# An existing pggate.ini is the admin's: only a missing one gets the sample.
install: $(BIN)
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(sysconfdir)/pggate $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5
	install -m 755 $(BIN) $(DESTDIR)$(sbindir)/pggate
	test -e $(DESTDIR)$(sysconfdir)/pggate/pggate.ini || \
	  install -m 644 etc/pggate.ini $(DESTDIR)$(sysconfdir)/pggate/pggate.ini
	install -m 644 man/pggate.1 $(DESTDIR)$(mandir)/man1/pggate.1
	install -m 644 man/pggate.ini.5 $(DESTDIR)$(mandir)/man5/pggate.ini.5

clean:
	rm -rf build pggate

distclean: clean
	rm -rf config.mk config.log config.status configure autom4te.cache

-include $(shell find build -name '*.d' 2>/dev/null)

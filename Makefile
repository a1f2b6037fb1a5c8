# oponn — build, run, test.
#
#   make            build the library, the executables and the unit tests
#   make run        install what is missing, build, start the local stack, load data
#   make stop       stop what `make run` started
#   make test       the whole suite through prove (unit, ASan/UBSan unit, integration)
#   make test-clang build with clang (-Werror) and run its unit programs
#   make fresh-check  clone, make run, make test in a clean Debian 12 container
#   make image-check  build the image (podman), run it, check it
#   make fuzz       libFuzzer targets, bounded (FUZZ_SECONDS each)
#   make perf       load tests; writes perf/REPORT.md
#
# Layout: lib/*.c -> build/liboponn.a; each fcgi/*.c is one executable
# build/<name>; each t/unit/*.c is one TAP program build/t/unit/<name>.

CC      ?= cc
BUILD   ?= build
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -fno-strict-aliasing
PKGS    := libmongoc-1.0 libbson-1.0 hiredis libcjson libcurl
# Read when make starts: on a fresh machine the -dev packages arrive only with
# `deps`, so targets that install them (run, test, perf) build through a
# second make, which reads these after the install.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -Ilib -It $(PKG_CFLAGS) -MMD -MP
# libunistring ships no pkg-config file in Debian 12.
LDLIBS  += $(PKG_LIBS) -lunistring -lm

ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# Lua scripts are embedded as C strings generated at build time.
GEN      := $(BUILD)/gen
CPPFLAGS += -I$(GEN)
LUA_SRC  := $(wildcard lib/cache_lua/*.lua)

LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
BIN_SRC  := $(wildcard fcgi/*.c)
BINS     := $(BIN_SRC:fcgi/%.c=$(BUILD)/%)
# The admin CLI's subcommands (fcgi/cmd/*.c) are linked into build/oponn only.
CMD_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard fcgi/cmd/*.c))
UNIT_SRC := $(wildcard t/unit/*.c)
UNITS    := $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/unit/%)
# Helper programs that integration tests (t/*.t) drive; not TAP themselves.
PROG_SRC := $(wildcard t/prog/*.c)
PROGS    := $(PROG_SRC:t/prog/%.c=$(BUILD)/t/prog/%)

# Load-test helpers (perf/*.c): each one is an executable build/perf/<name>.
PERF_SRC := $(wildcard perf/*.c)
PERF_BINS := $(PERF_SRC:perf/%.c=$(BUILD)/perf/%)

# GraphiQL, served by nginx as static files at GET /graphql (Accept: text/html)
# and /graphiql/*: our page (etc/graphiql/) plus the npm packages' prebuilt
# bundles, copied from node_modules (installed by `make deps`). Never a CDN.
GRAPHIQL_DIR := $(BUILD)/graphiql
GRAPHIQL_NPM := node_modules/react/umd/react.production.min.js \
                node_modules/react-dom/umd/react-dom.production.min.js \
                node_modules/graphiql/graphiql.min.js \
                node_modules/graphiql/graphiql.min.css
GRAPHIQL_OURS := $(wildcard etc/graphiql/*)
GRAPHIQL_FILES := $(addprefix $(GRAPHIQL_DIR)/,$(notdir $(GRAPHIQL_NPM) $(GRAPHIQL_OURS)))

# Keep objects of executables (make would delete them as intermediates).
.SECONDARY:

.PHONY: all deps run stop test test-unit test-clang fresh-check image-check buildspec-check test-asan test-integration fuzz perf perf-report clean format graphiql
all: $(BUILD)/liboponn.a $(BINS) $(UNITS) $(PROGS) $(PERF_BINS) graphiql

deps:
	@etc/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(GEN)/cache_lua.h: $(LUA_SRC) etc/lua2c.sh
	@mkdir -p $(dir $@)
	etc/lua2c.sh $(LUA_SRC) > $@

$(BUILD)/lib/cache.o $(BUILD)/t/unit/kind.o: $(GEN)/cache_lua.h

$(BUILD)/liboponn.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/oponn: $(BUILD)/fcgi/oponn.o $(CMD_OBJ) $(BUILD)/liboponn.a
	$(CC) $(LDFLAGS) $< $(CMD_OBJ) $(BUILD)/liboponn.a $(LDLIBS) -o $@

$(BUILD)/%: $(BUILD)/fcgi/%.o $(BUILD)/liboponn.a
	$(CC) $(LDFLAGS) $< $(BUILD)/liboponn.a $(LDLIBS) -o $@

$(BUILD)/t/unit/%: $(BUILD)/t/unit/%.o $(BUILD)/liboponn.a
	$(CC) $(LDFLAGS) $< $(BUILD)/liboponn.a $(LDLIBS) -o $@

$(BUILD)/perf/%: $(BUILD)/perf/%.o $(BUILD)/liboponn.a
	$(CC) $(LDFLAGS) $< $(BUILD)/liboponn.a $(LDLIBS) -o $@

$(BUILD)/t/prog/%: $(BUILD)/t/prog/%.o $(BUILD)/liboponn.a
	$(CC) $(LDFLAGS) $< $(BUILD)/liboponn.a $(LDLIBS) -o $@

# Without node_modules (a plain `make` before `make deps`) the page is skipped
# with a note; `make run` and `make test` install the packages first.
graphiql:
	@if [ -f node_modules/graphiql/graphiql.min.js ]; then \
	  $(MAKE) --no-print-directory $(GRAPHIQL_FILES); \
	else \
	  echo "graphiql: node_modules missing, page not built (run: make deps)" >&2; \
	fi

$(GRAPHIQL_DIR)/%: etc/graphiql/%
	@mkdir -p $(dir $@)
	cp $< $@

$(GRAPHIQL_DIR)/%: node_modules/react/umd/%
	@mkdir -p $(dir $@)
	cp $< $@

$(GRAPHIQL_DIR)/%: node_modules/react-dom/umd/%
	@mkdir -p $(dir $@)
	cp $< $@

$(GRAPHIQL_DIR)/%: node_modules/graphiql/%
	@mkdir -p $(dir $@)
	cp $< $@

run: deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 etc/stack.py start

stop:
	@/usr/bin/python3 etc/stack.py stop

# Unit tests twice: the normal build and an AddressSanitizer/UBSan build.
# Integration tests (t/*.t) start their own services on free loopback ports;
# the ones that drive the worker through the stack (t/1x, t/4x-t/6x) run first
# against the sanitizer build too (a report in any service log fails them).
PROVE ?= prove
ASAN_IT := $(filter t/1% t/4% t/5% t/6%,$(wildcard t/*.t))
test: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory BUILD=build/asan SAN=1 all
	OPONN_BUILD_DIR=build/asan ASAN_OPTIONS=detect_leaks=1 $(PROVE) $(PROVE_FLAGS) $(ASAN_IT)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(PROVE) $(PROVE_FLAGS) $(UNITS) $(UNITS:$(BUILD)/%=build/asan/%) t/*.t

test-unit: all
	$(PROVE) $(PROVE_FLAGS) $(UNITS)

# The unit programs built by clang (-Werror too), so a clang-only warning
# fails CI as a gcc one does.
CLANG ?= clang
test-clang:
	$(MAKE) --no-print-directory BUILD=build/clang CC=$(CLANG) all
	$(PROVE) $(PROVE_FLAGS) $(UNITS:$(BUILD)/%=build/clang/%)

test-integration: all
	$(PROVE) $(PROVE_FLAGS) t/*.t

# A newcomer's first minutes in a clean Debian 12 container (podman): clone,
# make run, /healthz, make test. Long (installs everything); .ci/run runs it.
fresh-check:
	@etc/fresh-check.sh

# The Dockerfile's image, built with podman on the same local base, run against
# a Redis and a MongoDB endpoint and checked (etc/image-check.py). On the host.
image-check:
	@etc/image-check.sh

# The pipeline's test step (buildspec.yml's docker run … make test), run with
# podman on a bare Debian 12 against a separately started MongoDB endpoint
# (MONGODB_URI, else the stand-in). Long (a whole suite); not in .ci/run.
buildspec-check:
	@etc/buildspec-check.sh

clean:
	rm -rf $(BUILD)

format:
	clang-format -i lib/*.c lib/*.h fcgi/*.c fcgi/cmd/*.[ch] t/unit/*.c t/prog/*.c t/*.h

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Rewrites README.md's configuration table from lib/cfg.h.
readme-config: $(BUILD)/oponn
	@/usr/bin/python3 -c 'import re,subprocess,sys; p="README.md"; s=open(p).read(); \
	t=subprocess.run(["$(BUILD)/oponn","config","--markdown"],capture_output=True,text=True,check=True).stdout; \
	open(p,"w").write(re.sub(r"<!-- config:begin -->.*<!-- config:end -->","<!-- config:begin -->\n"+t+"<!-- config:end -->",s,flags=re.S))'

# ---- load tests (perf/): `make perf` measures (perf/run.py, bounded, loopback
# only, its own stack on free ports) and writes perf/REPORT.md, perf/results/
# (CSV, PNG). PERF_QUICK=1 is a 2-minute smoke on a smaller data set;
# MONGODB_URI=... runs it against a real MongoDB. perf-report redraws the
# report from the results without measuring.
perf: deps
	$(MAKE) --no-print-directory all
	/usr/bin/python3 perf/run.py
	/usr/bin/python3 perf/report.py

perf-report:
	/usr/bin/python3 perf/report.py

# ---- GraphQL engine: microbenchmark and fuzzing ------------------------------------------
# `make bench-gql`: parse+validate+execute ops/s/core in CPU time, median of 5 runs of
# BENCH_SECONDS each, with the document cache off and on (perf/gql_bench.c).
BENCH_SECONDS ?= 1
.PHONY: bench-gql
bench-gql: $(BUILD)/perf/gql_bench
	$(BUILD)/perf/gql_bench schema/schema.graphql $(BENCH_SECONDS)

# `make fuzz`: each fuzz/*.c is a libFuzzer target built with clang and
# ASan/UBSan, run FUZZ_SECONDS (default 60) from its seeds. A crash leaves
# fuzz/out/crash-*; copy it to fuzz/regress/<target>/ so `make test` replays it.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_SRC := $(wildcard fuzz/*.c)
FUZZ_BINS := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
build/fuzz/%: fuzz/%.c $(wildcard fuzz/*.h) $(LIB_SRC) $(wildcard lib/*.h) $(GEN)/cache_lua.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	  -Ilib -I$(GEN) $(PKG_CFLAGS) $< $(LIB_SRC) $(LDLIBS) -o $@
fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_SRC:fuzz/%.c=%); do \
	  mkdir -p fuzz/out/$$t fuzz/regress/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	    -dict=fuzz/$$t.dict -artifact_prefix=fuzz/out/ -print_final_stats=1 \
	    fuzz/out/$$t fuzz/regress/$$t $$(cat fuzz/$$t.seeds 2>/dev/null) || exit 1; \
	done

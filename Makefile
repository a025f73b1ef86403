# Sandforge build.  `make` builds bin/sandforge; `make test` runs every test
# (unit + integration, plain and ASan/UBSan builds); `make run` starts the
# supervisor with the example receiver on embedded defaults.
#
# BUILD selects the output directory so several builds (plain, sanitizer,
# a developer's scratch build) can live side by side without racing.

BUILD    ?= build
SAN      ?= 0
CC       ?= gcc
PKGS     := libmicrohttpd libcurl jansson sqlite3 libcrypto libseccomp inih libcap
CSTD     := -std=c17 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
OPT      ?= -O2 -g
ifeq ($(SAN),1)
  OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN  := -fsanitize=address,undefined
endif
# SAN=fuzz: clang with coverage instrumentation for libFuzzer targets (fuzz/*_fuzz.c).
ifneq ($(SAN),fuzz)
  # Paths are bounded by PATH_MAX buffers on purpose; gcc's guesses are noise.
  WARN   += -Wno-format-truncation
endif
ifeq ($(SAN),fuzz)
  CC     := clang
  OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
  LDSAN  := -fsanitize=address,undefined
endif
CFLAGS   += $(CSTD) $(WARN) $(OPT) -pthread -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
LDFLAGS  += $(LDSAN) -pthread

CORE_SRCS := $(sort $(wildcard src/common/*.c src/runtime/*.c src/store/*.c src/lifecycle/*.c \
                               src/api/*.c src/webhook/*.c))
CLI_SRCS  := $(sort $(wildcard src/cli/*.c))
INIT_SRC  := src/init/sandforge-init.c
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS := $(sort $(wildcard fuzz/*_fuzz.c))

CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%)
LIB       := $(BUILD)/libsandforge.a
BIN       := $(BUILD)/bin/sandforge
INIT_BIN  := $(BUILD)/bin/sandforge-init

.PHONY: all clean test test-unit test-integration test-asan run deps format check-format bench valgrind fuzz fuzz-build

all: $(BIN) $(INIT_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

# The init is PID 1 of every sandbox.  It is static and tiny on purpose: it
# runs inside the sandbox root where the host's libraries may not exist, and
# never gets sanitizer instrumentation (it must not depend on the runtime).
$(INIT_BIN): $(INIT_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -Wall -Wextra -Werror -Os -static -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/fuzz/%: fuzz/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# `make fuzz` builds every libFuzzer target and runs each for FUZZ_SECONDS
# from its committed seed corpus (fuzz/corpus/<name>/).
FUZZ_SECONDS ?= 20
fuzz:
	$(MAKE) BUILD=build-fuzz SAN=fuzz fuzz-build
	@set -e; for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); mkdir -p build-fuzz/corpus/$$n build-fuzz/artifacts; \
	  echo "== fuzz $$n ($(FUZZ_SECONDS)s)"; \
	  if ! build-fuzz/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      -artifact_prefix=build-fuzz/artifacts/$$n- build-fuzz/corpus/$$n \
	      $$( [ -d fuzz/corpus/$$n ] && echo fuzz/corpus/$$n ) > build-fuzz/$$n.log 2>&1; then \
	    tail -40 build-fuzz/$$n.log; echo "fuzz $$n FAILED: input saved in build-fuzz/artifacts/"; exit 1; fi; \
	  grep -E 'stat::number_of_executed_units|stat::new_units_added' build-fuzz/$$n.log; done
fuzz-build: $(FUZZ_BINS)

# Unit tests under valgrind (memcheck, leaks are errors).  test_runtime and
# test_seccomp are left to ASan: valgrind virtualizes RLIMIT_NOFILE (the
# sandbox children's setrlimit fails) and emulates the syscalls a seccomp
# filter would see (clone3, bpf, ...), so their results are not the kernel's.
VALGRIND_BINS := $(filter-out $(BUILD)/tests/test_runtime $(BUILD)/tests/test_seccomp,$(UNIT_BINS))
valgrind: $(UNIT_BINS)
	@set -e; for t in $(VALGRIND_BINS); do echo "== valgrind $$t"; \
	  valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite $$t >/dev/null; done

test-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

test-integration: all examples
	SANDFORGE_BIN=$(abspath $(BIN)) SANDFORGE_EXAMPLE_RECEIVER=$(abspath $(EXAMPLE_RECEIVER)) /usr/bin/python3 -m pytest -q tests/integration

test:
	./tests/run-all.sh

deps:
	./scripts/install-deps.sh

run:
	./scripts/run.sh

bench: all
	./bench/run-all.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-*

-include $(CORE_OBJS:.o=.d) $(CLI_OBJS:.o=.d)

# The example C webhook receiver (examples/c), kept out of `all` so the main
# build needs nothing extra; `make examples` builds it for the tests and by hand.
EXAMPLE_RECEIVER := $(BUILD)/bin/sandforge-example-receiver
.PHONY: examples
examples: $(EXAMPLE_RECEIVER)
$(EXAMPLE_RECEIVER): examples/c/receiver.c examples/c/Makefile
	$(MAKE) -C examples/c OUT=$(abspath $@) SANITIZE="$(LDSAN)"

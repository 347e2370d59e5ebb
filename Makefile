# tgs3 — one non-recursive Makefile, out-of-tree build.
#
#   make            build/tgs3 and build/tgs3-botapi (optimised)
#   make run        install missing packages, build, start the gateway (embedded emulator)
#   make test       install missing packages, build with ASan/UBSan into build/san, run every test
#   make bench      build optimised and run the benchmark program
#   make tsan       ThreadSanitizer build into build/tsan (BUILD=build/tsan tests/run_all.sh runs the tests on it)
#   make fuzz       build the libFuzzer targets (clang, ASan/UBSan) into build/fuzz and run each for
#                   FUZZ_SECONDS (default 60) on a copy of its corpus; fails if any crashed
#   make unit-bins  the unit test programs, and build/tests/test_fuzz_<name>: each fuzz target linked
#                   with tests/fuzz/replay.c (gcc), which replays tests/fuzz/corpus/<name>/ in make test
#
# Sources are found by wildcard, so adding a file to a module needs no edit here; a new
# tests/fuzz/fuzz_<name>.c is a new fuzz target (its seeds go in tests/fuzz/corpus/<name>/).

CC      ?= gcc
BUILD   ?= build
PKGS    := libh2o libuv libcurl sqlite3 jansson openssl expat
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wimplicit-fallthrough -Wconversion -Wno-sign-conversion \
           -Wundef -Wcast-align -Wwrite-strings -Wnull-dereference -Werror=implicit-function-declaration
OPT     ?= -O2 -g
SANFLAGS :=
ifeq ($(SAN),1)
OPT      := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
endif
ifeq ($(SAN),thread)
OPT      := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=thread
endif
# make fuzz builds with CC=clang SAN=fuzz: coverage for libFuzzer, whose runtime the targets add at link.
ifeq ($(SAN),fuzz)
OPT      := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif
CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(SANFLAGS) $(WARN) \
           -I. $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
# Programs that link the blocks objects also need ISA-L's erasure code (gateway/blocks/shard.c),
# and those that link s3/ its CRCs (s3/crc.c).
BLK_LDLIBS := -lisal $(LDLIBS)
LDFLAGS := $(SANFLAGS)

COMMON_SRC  := $(wildcard common/*.c)
S3_SRC      := $(wildcard s3/*.c)
TG_SRC      := $(wildcard telegram/*.c)
EMU_SRC     := $(wildcard telegram/emulator/*.c)
STORE_SRC   := $(wildcard gateway/store/*.c)
BLOCKS_SRC  := $(wildcard gateway/blocks/*.c)
# The gateway's layers (DESIGN.md): the program's top floor, then http/, ops/, engine/, safety/.
GW_DIRS     := gateway gateway/http gateway/ops gateway/engine gateway/safety
GW_SRC      := $(filter-out gateway/main.c,$(wildcard $(addsuffix /*.c,$(GW_DIRS))))
LIB_SRC     := $(COMMON_SRC) $(S3_SRC) $(TG_SRC) $(STORE_SRC) $(BLOCKS_SRC)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
BENCH_SRC   := $(wildcard tests/bench/*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ   := $(call obj,$(LIB_SRC))
GW_OBJ    := $(call obj,$(GW_SRC))
EMU_OBJ   := $(call obj,$(EMU_SRC)) $(call obj,$(COMMON_SRC))
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
# What a fuzz target links besides its own file: the libraries, the gateway's non-main
# objects (the config parser) and the emulator's parameter parser.
FUZZ_DEP_OBJ := $(LIB_OBJ) $(GW_OBJ) $(call obj,telegram/emulator/params.c)
FUZZ_REPLAY  := $(patsubst %,$(BUILD)/tests/test_fuzz_%,$(FUZZ_NAMES))
FUZZ_BIN     := $(patsubst %,$(BUILD)/fuzz_%,$(FUZZ_NAMES))

.PHONY: all run test unit integration bench deps clean tsan unit-bins fuzz fuzz-bins
all: $(BUILD)/tgs3 $(BUILD)/tgs3-botapi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tgs3: $(call obj,gateway/main.c) $(GW_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(BLK_LDLIBS)

$(BUILD)/tgs3-botapi: $(EMU_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Each unit test links the libraries and the gateway's non-main objects.
$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(GW_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(GW_OBJ) $(BLK_LDLIBS)

# A fuzz target with the replay driver: an ordinary test program for make test.
$(FUZZ_REPLAY): $(BUILD)/tests/test_fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o \
                $(FUZZ_DEP_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(BLK_LDLIBS)

# A fuzz target with libFuzzer's main (only in the make fuzz build: CC=clang SAN=fuzz).
$(FUZZ_BIN): $(BUILD)/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_DEP_OBJ)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(BLK_LDLIBS)

$(BUILD)/tgs3-bench: $(call obj,$(BENCH_SRC)) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(BLK_LDLIBS)

deps:
	@tests/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh

# make test: sanitizer build in build/san, then every unit and integration test.
test: deps
	@$(MAKE) --no-print-directory BUILD=build/san SAN=1 WERROR=1 all unit-bins
	@BUILD=build/san tests/run_all.sh

unit-bins: $(UNIT_BIN) $(FUZZ_REPLAY)

# make fuzz: clang + libFuzzer + ASan/UBSan in build/fuzz; new inputs go to build/fuzz/corpus/<name>.
fuzz:
	@tests/deps.sh fuzz
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang SAN=fuzz fuzz-bins
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build/fuzz $(FUZZ_NAMES)

fuzz-bins: $(FUZZ_BIN)

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tgs3-bench
	@$(BUILD)/tgs3-bench

tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan SAN=thread all unit-bins

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

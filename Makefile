# tgs3 — one non-recursive Makefile, out-of-tree build.
#
#   make            build/tgs3 and build/tgs3-botapi (optimised)
#   make run        install missing packages, build, start the gateway (embedded emulator)
#   make test       install missing packages, build with ASan/UBSan into build/san, run every test
#   make bench      build optimised and run the benchmark program
#   make tsan       ThreadSanitizer build into build/tsan (BUILD=build/tsan tests/run_all.sh runs the tests on it)
#
# Sources are found by wildcard, so adding a file to a module needs no edit here.

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
ifeq ($(WERROR),1)
WARN += -Werror
endif
CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(SANFLAGS) $(WARN) \
           -I. $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
LDFLAGS := $(SANFLAGS)

COMMON_SRC  := $(wildcard common/*.c)
S3_SRC      := $(wildcard s3/*.c)
TG_SRC      := $(wildcard telegram/*.c)
EMU_SRC     := $(wildcard telegram/emulator/*.c)
STORE_SRC   := $(wildcard gateway/store/*.c)
BLOCKS_SRC  := $(wildcard gateway/blocks/*.c)
GW_SRC      := $(filter-out gateway/main.c,$(wildcard gateway/*.c))
LIB_SRC     := $(COMMON_SRC) $(S3_SRC) $(TG_SRC) $(STORE_SRC) $(BLOCKS_SRC)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
BENCH_SRC   := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ   := $(call obj,$(LIB_SRC))
GW_OBJ    := $(call obj,$(GW_SRC))
EMU_OBJ   := $(call obj,$(EMU_SRC)) $(call obj,$(COMMON_SRC))
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all run test unit integration bench deps clean tsan
all: $(BUILD)/tgs3 $(BUILD)/tgs3-botapi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tgs3: $(call obj,gateway/main.c) $(GW_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tgs3-botapi: $(EMU_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Each unit test links the libraries and the gateway's non-main objects.
$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(GW_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(GW_OBJ) $(LDLIBS)

$(BUILD)/tgs3-bench: $(call obj,$(BENCH_SRC)) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@tests/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh

# make test: sanitizer build in build/san, then every unit and integration test.
test: deps
	@$(MAKE) --no-print-directory BUILD=build/san SAN=1 WERROR=1 all unit-bins
	@BUILD=build/san tests/run_all.sh

unit-bins: $(UNIT_BIN)

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tgs3-bench
	@$(BUILD)/tgs3-bench

tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan SAN=thread all unit-bins

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

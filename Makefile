# Piston build. One Makefile: pattern rules, -MMD -MP dependencies, -Werror on our code.
#   make            bin/piston
#   make test       deps, build, C unit tests (plain and ASan/UBSan), pytest end to end
#   make asan       C unit tests built with AddressSanitizer + UBSan
#   make serve      deps, build, fetch the default model, serve it on 127.0.0.1:8000 (SERVE_ARGS=...)
#   make bench      pp512/tg128 side by side with llama.cpp (needs llama-cpp-python)
# SIMD kernels use per-function target attributes and runtime dispatch, so the
# binary runs on any x86-64 (or other) CPU; no -march=native needed.

CC      ?= cc
OPT     ?= -O2
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter \
           -fno-strict-aliasing -I. -MMD -MP -pthread
LDLIBS  += -luv -lhttp_parser -lcjson -lpcre2-8 -lm -pthread
BUILD   ?= build

LIB_SRC  := $(sort $(wildcard engine/*.c http/*.c kernels/*.c kernels/cpu/*.c models/*.c scheduler/*.c server/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c bench/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
OPS_SRC  := $(sort $(wildcard tests/unit/ops/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
OPS_OBJ  := $(OPS_SRC:%.c=$(BUILD)/%.o)
LIBA     := $(BUILD)/libpiston.a

.PHONY: all test test-unit test-py asan deps model serve bench clean format
all: bin/piston

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

bin/piston: $(CLI_OBJ) $(LIBA)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBA) tests/unit/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

# the op harness: its suites in tests/unit/ops/
$(BUILD)/tests/test_backend_ops: tests/unit/test_backend_ops.c $(OPS_OBJ) $(LIBA) tests/unit/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(OPS_OBJ) $(LIBA) $(LDLIBS)

unit: $(TEST_BIN)

test-unit: $(TEST_BIN)
	@tests/run-unit.sh $(TEST_BIN)

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDLIBS="-luv -lhttp_parser -lcjson -lpcre2-8 -lm -pthread -fsanitize=address,undefined" test-unit

test-py: bin/piston model
	python3 -m pytest -q tests/e2e

test: deps
	$(MAKE) model
	$(MAKE) all unit
	$(MAKE) test-unit
	$(MAKE) asan
	$(MAKE) test-py

deps:
	@scripts/deps.sh

model:
	@scripts/fetch-model.sh >/dev/null

serve: deps all model
	./bin/piston serve smollm2 $(SERVE_ARGS)

bench: all model
	python3 bench/compare-llamacpp.py

clean:
	rm -rf build build-asan bin

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(wildcard */*.h kernels/cpu/*.h)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(OPS_OBJ:.o=.d)

include tests/simt/simt.mk
# The emulator's tests (plain and ASan) run with the unit tests, once: not again inside
# `make asan`, whose OPT carries the sanitizer.
ifeq ($(findstring -fsanitize,$(OPT)),)
test-unit: test-simt
endif

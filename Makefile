# Piston build. One Makefile: pattern rules, -MMD -MP dependencies, -Werror on our code.
#   make            bin/piston (with the CUDA backend when nvcc is found; CUDA=0 leaves it out)
#   make test       deps, build, C unit tests (plain and ASan/UBSan), the CUDA kernels on the
#                   SIMT emulator (test-cuda-emu), pytest end to end
#   make asan       C unit tests built with AddressSanitizer + UBSan, and the fuzz targets over
#                   their corpora (fuzz-regress)
#   make fuzz       libFuzzer campaigns, FUZZ_SECONDS each (tests/fuzz/fuzz.mk; needs clang)
#   make test-cuda-emu  the CUDA backend built against tests/simt and run on the CPU: the op
#                   harness against the CPU reference, a whole forward, plain and under ASan
#   make test-gpu   the op harness and the end-to-end comparison on a real GPU (skipped without)
#   make gpu-check  scripts/gpu-check.sh: build here, run everything on a lent GPU machine
#   make serve      deps, build, fetch the default model, serve it on 127.0.0.1:8000 (SERVE_ARGS=...)
#   make soak       tests/soak/soak.py: 256 clients for 10 minutes on every dialect against one
#                   piston serve, with hang-ups, slow readers, pipelining, garbage, slowloris
#                   (SOAK_SECONDS=600 SOAK_CLIENTS=256 SOAK_ARGS=...); not part of make test
#   make soak-asan  the same, shorter (SOAK_ASAN_SECONDS=120 SOAK_ASAN_CLIENTS=64: ~8x slower),
#                   on build-asan/bin/piston
#   make bench      pp512/tg128 side by side with llama.cpp (llama-bench, built once from the
#                   llama-cpp-python sdist into ~/.cache/piston/llama.cpp: see bench/llamacpp_build.py)
#   make bench-serve-overhead  the server path's cost at concurrency 1: bench latency tg128 ms/token,
#                   bench serve c=1 mean TPOT and their ratio (bench/serve-overhead; OVERHEAD_ARGS=...)
# SIMD kernels use per-function target attributes and runtime dispatch, so the
# binary runs on any x86-64 (or other) CPU; no -march=native needed.

CC      ?= cc
OPT     ?= -O2
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter \
           -fno-strict-aliasing -I. -MMD -MP -pthread
# the libraries from Debian (scripts/deps.sh); the sanitizer and emulator builds reuse them.
# libcurl is not linked: `piston pull` loads it when it runs, so the binary starts without it.
DEP_LIBS := -luv -lhttp_parser -lcjson -lpcre2-8 -ledit -lutf8proc -lcrypto -lm -ldl -pthread
LDLIBS  += $(DEP_LIBS)
BUILD   ?= build
BIN     ?= bin

# CUDA: nvcc for the product (CUDA=1, the default where nvcc exists), the host C++ compiler
# against the SIMT emulator for tests (CUDA=emu, used by test-cuda-emu), or none (CUDA=0).
NVCC      ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
CUDA      ?= $(if $(NVCC),1,0)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# sm_90a (Hopper's full instruction set), sm_90, and PTX that newer GPUs compile at load
CUARCH    ?= -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=[sm_90,compute_90]
NVFLAGS   ?= -std=c++17 -O3 -I. -Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter -Werror all-warnings \
             -Xptxas -v
CUDA_SRC  := $(sort $(wildcard kernels/cuda/*.cu))
ifeq ($(CUDA),1)
CUDA_OBJ  := $(CUDA_SRC:%.cu=$(BUILD)/%.cu.o)
CFLAGS    += -DPISTON_HAVE_CUDA
# cudart static: bin/piston starts where there is no driver; cuBLAS is dlopen'ed at run time
LDLIBS    += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
else ifeq ($(CUDA),emu)
CUDA_OBJ  := $(CUDA_SRC:%.cu=$(BUILD)/simt/%.o)
CFLAGS    += -DPISTON_HAVE_CUDA
LDLIBS    += $(BUILD)/libsimt.a -rdynamic -ldl -lstdc++
endif

LIB_SRC  := $(sort $(wildcard base/*.c engine/*.c http/*.c kernels/*.c kernels/cpu/*.c models/*.c scheduler/*.c server/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c bench/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
OPS_SRC  := $(sort $(wildcard tests/unit/ops/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
OPS_OBJ  := $(OPS_SRC:%.c=$(BUILD)/%.o)
LIBA     := $(BUILD)/libpiston.a

.PHONY: soak soak-asan bench-structured bench-serve-overhead all test test-unit test-py asan deps model serve bench clean format test-cuda-emu emu-run test-gpu gpu-check
all: $(BIN)/piston

# objects depend on a stamp named by their flags: changing CUDA=, OPT= or CFLAGS rebuilds
FLAGS_STAMP := $(BUILD)/flags-$(shell echo '$(CC) $(CFLAGS) $(CUDA) $(NVFLAGS) $(CUARCH)' | cksum | cut -d' ' -f1)
$(FLAGS_STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/flags-*
	@touch $@

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# nvcc's -Xptxas -v report (registers, spills, shared memory per kernel) goes to
# $(BUILD)/kernels/cuda/*.ptxas; kernels that spill are named in the build log.
$(BUILD)/%.cu.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) $(CUARCH) -MMD -MP -MF $(@:.o=.d) -c $< -o $@ 2> $(@:.o=.ptxas) || { cat $(@:.o=.ptxas); exit 1; }
	@grep -B2 -E "[1-9][0-9]* bytes spill stores" $(@:.o=.ptxas) | grep -o "properties for [^ ]*" | sort -u | sed "s|^|ptxas: spills in |" || true

$(LIBA): $(LIB_OBJ) $(CUDA_OBJ) $(if $(filter emu,$(CUDA)),$(BUILD)/libsimt.a)
	@rm -f $@
	ar rcs $@ $(LIB_OBJ) $(CUDA_OBJ)

$(BIN)/piston: $(CLI_OBJ) $(LIBA)
	@mkdir -p $(BIN)
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

# the sanitizers do not see device code: the CPU build here, the emulated kernels in test-cuda-emu
# and the load generator (bench serve: a client of servers it does not trust) end to end, with
# the server it talks to built the same way
# (the fuzz targets too: each over its corpus and regress inputs, tests/fuzz/fuzz.mk)
SAN_OPT := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_MAKE := BUILD=build-asan BIN=build-asan/bin CUDA=0 OPT="$(SAN_OPT)" LDLIBS="$(DEP_LIBS) -fsanitize=address,undefined"
asan: model
	$(MAKE) $(ASAN_MAKE) test-unit build-asan/bin/piston fuzz-regress-run
	PISTON_BIN=build-asan/bin/piston python3 -m pytest -q tests/e2e/test_bench_serve.py

# The soak (tests/soak/soak.py): the server it starts is $(BIN)/piston, or the ASan/UBSan build
# of `make asan` (the binary only) for soak-asan. Not part of `make test`: it takes minutes.
SOAK_SECONDS ?= 600
SOAK_ASAN_SECONDS ?= 120
SOAK_CLIENTS ?= 256
SOAK_ASAN_CLIENTS ?= 64
soak: all model
	python3 tests/soak/soak.py --bin $(BIN)/piston --seconds $(SOAK_SECONDS) --clients $(SOAK_CLIENTS) $(SOAK_ARGS)

soak-asan: model
	$(MAKE) $(ASAN_MAKE) build-asan/bin/piston
	python3 tests/soak/soak.py --bin build-asan/bin/piston --seconds $(SOAK_ASAN_SECONDS) \
	  --clients $(SOAK_ASAN_CLIENTS) --answer-timeout 900 --sanitized $(SOAK_ARGS)

test-py: bin/piston model
	python3 -m pytest -q tests/e2e

test: deps
	$(MAKE) model
	$(MAKE) all unit
	$(MAKE) test-unit
	$(MAKE) asan
	$(MAKE) test-cuda-emu
	$(MAKE) test-py

# The CUDA backend on the SIMT emulator: built as C++ against tests/simt (BUILD=build-emu),
# then the same again under ASan/UBSan (fewer shapes, no whole forward: ~20x slower), then
# the bugs of tests/cuda_mutants.txt planted one at a time: the harness must catch each.
EMU_TESTS := $(BUILD)/tests/test_backend_ops $(BUILD)/tests/test_cuda_forward
test-cuda-emu:
	$(MAKE) --no-print-directory BUILD=build-emu CUDA=emu emu-run
	$(MAKE) --no-print-directory BUILD=build-emu-asan CUDA=emu \
	  OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  SIMT_SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDLIBS="$(DEP_LIBS) -fsanitize=address,undefined build-emu-asan/libsimt.a -rdynamic -ldl -lstdc++" \
	  emu-run
	@tests/run-cuda-mutants.sh build-emu

emu-run: $(EMU_TESTS)
	@tests/run-cuda-emu.sh $(EMU_TESTS)

test-gpu: all unit
	@scripts/test-gpu.sh

gpu-check:
	@scripts/gpu-check.sh

deps:
	@scripts/deps.sh

model:
	@scripts/fetch-model.sh >/dev/null

serve: deps all model
	./bin/piston serve smollm2 $(SERVE_ARGS)

bench: all model
	python3 bench/compare-llamacpp.py

bench-serve-overhead: all model
	python3 bench/serve-overhead $(OVERHEAD_ARGS)

# Structured outputs: the sampler's cost with and without masks (bench/tools/sampler_cost.c),
# compile times of the schema corpus and the per-token cost of the masks
# (bench/tools/structured_cost.c), then the end-to-end per-token cost of constrained
# decoding against unconstrained at batch 1 and 32 (bench/structured_bench.py; --llamacpp URL
# adds a llama.cpp server on the same GGUF)
bench-structured: all model $(BUILD)/bench/structured_cost $(BUILD)/bench/sampler_cost
	$(BUILD)/bench/sampler_cost
	$(BUILD)/bench/structured_cost
	python3 bench/structured_bench.py

$(BUILD)/bench/%: bench/tools/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

clean:
	rm -rf build build-asan build-emu build-emu-asan build-gpu build-fuzz bin

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(wildcard */*.h kernels/cpu/*.h)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(OPS_OBJ:.o=.d) $(CUDA_OBJ:.o=.d) $(wildcard $(BUILD)/fuzz/*.d)

include tests/simt/simt.mk
include tests/fuzz/fuzz.mk
# The emulator's tests (plain and ASan) run with the unit tests, once: not again inside
# `make asan`, whose OPT carries the sanitizer.
ifeq ($(findstring -fsanitize,$(OPT)),)
ifneq ($(CUDA),emu)
test-unit: test-simt
endif
endif

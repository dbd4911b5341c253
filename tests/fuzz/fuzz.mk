# Fuzzing (included by the Makefile). Every tests/fuzz/fuzz_<name>.c is a target: it defines
# LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize); a new file is picked up by
# the wildcard, nothing to register. Its seeds are tests/fuzz/corpus/<name>/, its dictionary
# tests/fuzz/<name>.dict (optional), the inputs that once crashed tests/fuzz/regress/<name>/.
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="gguf api"]
#                   clang (installed when missing: make fuzz-deps)
#                   -fsanitize=fuzzer,address,undefined into build-fuzz/, then each
#                   target for FUZZ_SECONDS, one at a time; crashes under build-fuzz/crashes/
#   make fuzz-regress  every target under gcc ASan/UBSan with tests/fuzz/driver.c as main,
#                   over its corpus and its regress inputs (no clang needed; `make asan` runs it)
# A target that needs other link flags names them in FUZZ_LDFLAGS_<name>.

FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
# driver: tests/fuzz/driver.c is main (the regression runs); libfuzzer: clang's -fsanitize=fuzzer
FUZZ_ENGINE  ?= driver
FUZZ_MAIN    := $(if $(filter driver,$(FUZZ_ENGINE)),tests/fuzz/driver.c)
FUZZ_BIN     := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# the dialect target runs the real route handlers with the connection and the engine bridge
# replaced by the target's own (tests/fuzz/fuzz_api.c): calls from server/ to these reach
# __wrap_<name> there
FUZZ_API_WRAP := http_respond http_stream_begin http_stream_send http_stream_end http_conn_access \
                 http_conn_add_header http_conn_set_user http_conn_user bridge_submit bridge_abort \
                 bridge_num_waiting bridge_render_metrics bridge_stats uv_queue_work
FUZZ_LDFLAGS_api := $(FUZZ_API_WRAP:%=-Wl,--wrap=%)

ifeq ($(FUZZ_ENGINE),libfuzzer)
# clang 14 refuses some __builtin_cpu_supports features the CPU kernels test ("f16c"), and
# no target fuzzes a kernel: gcc builds kernels/ here, uninstrumented
$(BUILD)/kernels/%.o: kernels/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	gcc $(filter-out -fsanitize=% -fno-sanitize-recover=% -Wno-unknown-warning-option,$(CFLAGS)) -c $< -o $@
endif

.PHONY: fuzz fuzz-deps fuzz-build fuzz-regress fuzz-regress-run
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_MAIN) tests/fuzz/fuzz.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(FUZZ_MAIN) $(FUZZ_LDFLAGS_$*) $(LIBA) $(LDLIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

# clang and libFuzzer's runtime, installed when missing (scripts/deps.sh fuzz); only make
# fuzz needs them
fuzz-deps:
	@scripts/deps.sh fuzz
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz: $(FUZZ_CC) not found (FUZZ_CC=...)"; exit 1; }

fuzz: fuzz-deps model
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CUDA=0 CC=$(FUZZ_CC) FUZZ_ENGINE=libfuzzer \
	  OPT="-O1 -Wno-unknown-warning-option -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	  LDLIBS="$(DEP_LIBS) -fsanitize=fuzzer $(FUZZ_SAN)" FUZZ_TARGETS="$(FUZZ_TARGETS)" fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-regress-run: $(FUZZ_BIN)
	@tests/fuzz/regress.sh $(FUZZ_BIN)

fuzz-regress: model
	$(MAKE) --no-print-directory $(ASAN_MAKE) fuzz-regress-run

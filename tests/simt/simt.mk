# SIMT emulator: Piston's CUDA kernels built as C++ against tests/simt so CI checks their
# logic without a GPU. Included by the top-level Makefile.
#   make test-simt       builds and runs the emulator's tests, plain and with ASan/UBSan, and
#                        compiles port_check.cu with nvcc when one is installed
#   make test-simt-nvcc  only the nvcc compile check (SIMT_CUARCH, default sm_90a)
# kernels/cuda/*.cu compile for the emulator through the $(SIMT_DIR)/%.o: %.cu rule; link
# them with $(SIMT_LIB).
BUILD           ?= build
SIMT_CXX        ?= $(CXX)
SIMT_CC         ?= $(CC)
SIMT_CXXFLAGS   ?= -std=c++17 -DPISTON_SIMT_EMU -Itests/simt -I. -O1 -g -Wall -Wextra -Werror \
                   -Wno-unknown-pragmas -Wno-unused-parameter -MMD -MP
SIMT_CFLAGS     ?= -std=c11 -DPISTON_SIMT_EMU -Itests/simt -I. -O1 -g -Wall -Wextra -Werror -MMD -MP
SIMT_SAN        ?=
SIMT_ASAN_FLAGS ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# -rdynamic lets deadlock reports name non-static kernels through dladdr.
SIMT_LDFLAGS    ?= -rdynamic
SIMT_LDLIBS     ?= -ldl -pthread
SIMT_DIR        ?= $(BUILD)/simt
SIMT_LIB        ?= $(BUILD)/libsimt.a
SIMT_TEST_BIN   ?= $(BUILD)/tests/test_simt
SIMT_NVCC       ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
SIMT_CUARCH     ?= sm_90a

SIMT_SRC      := $(filter-out tests/simt/test_%.cpp,$(sort $(wildcard tests/simt/*.cpp)))
SIMT_OBJ      := $(SIMT_SRC:%.cpp=$(SIMT_DIR)/%.o)
SIMT_TEST_SRC := $(sort $(wildcard tests/simt/test_*.cpp)) tests/simt/port_check.cu tests/simt/c_api_check.c
SIMT_TEST_OBJ := $(addprefix $(SIMT_DIR)/,$(addsuffix .o,$(basename $(SIMT_TEST_SRC))))

$(SIMT_DIR)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(SIMT_CXX) $(SIMT_CXXFLAGS) $(SIMT_SAN) -c $< -o $@

$(SIMT_DIR)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(SIMT_CXX) $(SIMT_CXXFLAGS) $(SIMT_SAN) -x c++ -c $< -o $@

$(SIMT_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(SIMT_CC) $(SIMT_CFLAGS) $(SIMT_SAN) -c $< -o $@

$(SIMT_LIB): $(SIMT_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(SIMT_TEST_BIN): $(SIMT_TEST_OBJ) $(SIMT_LIB)
	@mkdir -p $(dir $@)
	$(SIMT_CXX) $(SIMT_SAN) $(SIMT_LDFLAGS) -o $@ $(SIMT_TEST_OBJ) $(SIMT_LIB) $(SIMT_LDLIBS)

.PHONY: test-simt test-simt-run test-simt-nvcc
test-simt-run: $(SIMT_TEST_BIN)
	@tests/run-unit.sh $(SIMT_TEST_BIN)

# cuda_port.h must also build for the GPU: compile (no GPU needed) the file that uses all of it.
test-simt-nvcc:
	@if [ -z "$(SIMT_NVCC)" ]; then echo "test-simt-nvcc: skipped (no nvcc)"; else \
	  mkdir -p $(SIMT_DIR) && \
	  $(SIMT_NVCC) -std=c++17 -arch=$(SIMT_CUARCH) -I. -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror \
	    -c tests/simt/port_check.cu -o $(SIMT_DIR)/port_check_nvcc.o && \
	  echo "test-simt-nvcc: port_check.cu builds for $(SIMT_CUARCH)"; fi

# The sanitized build gets its own object directory: flags are not part of make's view
# of an object, so sharing one would silently reuse unsanitized objects.
test-simt: test-simt-run test-simt-nvcc
	@$(MAKE) --no-print-directory SIMT_DIR=$(BUILD)/simt-asan SIMT_LIB=$(BUILD)/libsimt-asan.a \
	  SIMT_TEST_BIN=$(BUILD)/tests/test_simt-asan SIMT_SAN="$(SIMT_ASAN_FLAGS)" test-simt-run

-include $(SIMT_OBJ:.o=.d) $(SIMT_TEST_OBJ:.o=.d)

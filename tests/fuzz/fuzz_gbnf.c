/* A GBNF grammar (start rule root) from arbitrary bytes through constraint_compile: the front
 * end, the grammar IR, the per-rule DFAs, the token tables, under small limits; then a walk
 * that checks the masks against accept (tests/fuzz/fuzz_constraint.h). */
#include "tests/fuzz/fuzz_constraint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_constraint(CONSTRAINT_GRAMMAR, data, size);
    return 0;
}

/* Warp collectives of the SIMT emulator as rendezvous. A lane arriving at a collective
 * records its operands and waits; the lane that completes the mask (every lane of the
 * mask waiting at a collective with the same mask) checks that all of them called the
 * same operation, computes every lane's result at once and wakes them. Shuffle sources
 * follow PTX's shfl.sync rules (segment mask from `width`, out-of-segment sources read
 * the lane's own value). Lanes that never arrive are found by the deadlock report.
 * __activemask is a convergence point: see simt_warp_settle. */
#include "simt_internal.h"

static bool is_shuffle(int op) { return op >= SIMT_OP_SHFL_IDX && op <= SIMT_OP_SHFL_XOR; }

static unsigned existing_lanes(const SimtBlockRun *run, unsigned warp) {
    unsigned left = run->n - warp * 32;
    return left >= 32 ? 0xffffffffu : (1u << left) - 1;
}

/* Source lane of a shuffle for `lane`, per shfl.sync's segment rules. */
static unsigned shuffle_source(int op, unsigned lane, int arg, int width) {
    unsigned seg = ~(unsigned)(width - 1) & 31u, b = (unsigned)arg & 31u;
    unsigned lo = lane & seg, hi = lo | (31u & ~seg);
    int j;
    switch (op) {
    case SIMT_OP_SHFL_IDX: return lo | (b & ~seg);
    case SIMT_OP_SHFL_UP: j = (int)lane - (int)b; return j >= (int)lo ? (unsigned)j : lane;
    case SIMT_OP_SHFL_DOWN: j = (int)(lane + b); return j <= (int)hi ? (unsigned)j : lane;
    default: j = (int)(lane ^ b); return j <= (int)hi ? (unsigned)j : lane;
    }
}

static uint64_t reduce(int op, SimtFiber *const *lanes, unsigned mask) {
    uint32_t acc = op == SIMT_OP_REDUCE_AND || op == SIMT_OP_REDUCE_MIN_U ? 0xffffffffu
                 : op == SIMT_OP_REDUCE_MIN_S ? 0x7fffffffu : op == SIMT_OP_REDUCE_MAX_S ? 0x80000000u : 0;
    for (unsigned l = 0; l < 32; l++) {
        if (!(mask >> l & 1)) continue;
        uint32_t v = (uint32_t)lanes[l]->value;
        switch (op) {
        case SIMT_OP_REDUCE_ADD: acc += v; break;
        case SIMT_OP_REDUCE_MIN_U: acc = v < acc ? v : acc; break;
        case SIMT_OP_REDUCE_MAX_U: acc = v > acc ? v : acc; break;
        case SIMT_OP_REDUCE_MIN_S: acc = (int32_t)v < (int32_t)acc ? v : acc; break;
        case SIMT_OP_REDUCE_MAX_S: acc = (int32_t)v > (int32_t)acc ? v : acc; break;
        case SIMT_OP_REDUCE_AND: acc &= v; break;
        case SIMT_OP_REDUCE_OR: acc |= v; break;
        default: acc ^= v; break;
        }
    }
    return acc;
}

static uint64_t lane_result(int op, SimtFiber *const *lanes, unsigned mask, unsigned l, unsigned ballot) {
    const SimtFiber *g = lanes[l];
    switch (op) {
    case SIMT_OP_SYNCWARP: return 0;
    case SIMT_OP_BALLOT: return ballot;
    case SIMT_OP_ANY: return ballot != 0;
    case SIMT_OP_ALL: return ballot == mask;
    case SIMT_OP_MATCH_ANY:
    case SIMT_OP_MATCH_ALL: {
        unsigned same = 0;
        for (unsigned j = 0; j < 32; j++)
            if ((mask >> j & 1) && lanes[j]->value == g->value) same |= 1u << j;
        if (op == SIMT_OP_MATCH_ANY) return same;
        return same == mask ? ((uint64_t)1 << 32) | mask : 0;
    }
    default: break;
    }
    if (is_shuffle(op)) {
        unsigned src = shuffle_source(op, l, g->arg, g->width);
        if (mask >> src & 1) return lanes[src]->value;
        /* CUDA leaves reading a lane outside the mask undefined: all-ones bytes (NaN). */
        return g->size >= 8 ? ~0ULL : (1ULL << (8 * g->size)) - 1;
    }
    return reduce(op, lanes, mask);
}

static void resolve(SimtBlockRun *run, SimtFiber *const *lanes, unsigned mask, const SimtFiber *f) {
    unsigned ballot = 0;
    for (unsigned l = 0; l < 32; l++) {
        if (!(mask >> l & 1)) continue;
        const SimtFiber *g = lanes[l];
        bool agree = g->op == f->op && g->size == f->size && (!is_shuffle(f->op) || g->width == f->width) &&
                     (f->op != SIMT_OP_ALLGATHER || g->value == f->value);
        if (!agree)
            simt_fail(run, false, "warp %u lanes meet with mask 0x%08x at different collectives: lane %u "
                      "at %s(size %u, width %d) at %s:%d, lane %u at %s(size %u, width %d) at %s:%d",
                      f->regs.warp, mask, f->regs.lane, simt_op_name(f->op), f->size, f->width,
                      f->file, f->line, l, simt_op_name(g->op), g->size, g->width, g->file, g->line);
        if (g->value) ballot |= 1u << l;
    }
    if (f->op == SIMT_OP_ALLGATHER) {
        size_t bytes = (size_t)f->value;
        for (unsigned l = 0; l < 32; l++) {
            if (!(mask >> l & 1)) continue;
            char *dst = (char *)lanes[l]->gather_dst;
            for (unsigned j = 0; j < 32; j++) {
                if (mask >> j & 1) memcpy(dst + j * bytes, lanes[j]->gather_src, bytes);
                else memset(dst + j * bytes, 0, bytes);
            }
        }
    }
    for (unsigned l = 0; l < 32; l++)
        if (mask >> l & 1) lanes[l]->result = f->op == SIMT_OP_ALLGATHER ? 0 : lane_result(f->op, lanes, mask, l, ballot);
    run->warps[f->regs.warp].at_collective &= ~mask;
    for (unsigned l = 0; l < 32; l++)
        if (mask >> l & 1) simt_wake(run, lanes[l]);
}

static uint64_t collective(SimtBlockRun *run, SimtFiber *f, unsigned mask) {
    unsigned warp = f->regs.warp, lane = f->regs.lane;
    if (!(mask >> lane & 1))
        simt_fail(run, false, "thread %u (lane %u of warp %u) calls %s with mask 0x%08x, which leaves out "
                  "its own lane, at %s:%d", f->regs.linear, lane, warp, simt_op_name(f->op), mask,
                  f->file, f->line);
    unsigned exist = existing_lanes(run, warp);
    if (mask & ~exist)
        simt_fail(run, false, "thread %u calls %s with mask 0x%08x at %s:%d, but lanes 0x%08x of warp %u do "
                  "not exist (the block has %u threads)", f->regs.linear, simt_op_name(f->op), mask,
                  f->file, f->line, mask & ~exist, warp, run->n);
    if (is_shuffle(f->op) && (f->width < 1 || f->width > 32 || (f->width & (f->width - 1))))
        simt_fail(run, false, "thread %u calls %s with width %d at %s:%d: width must be a power of two in "
                  "[1, 32]", f->regs.linear, simt_op_name(f->op), f->width, f->file, f->line);
    f->mask = mask;
    f->state = SIMT_AT_WARP;
    SimtWarpState *ws = &run->warps[warp];
    ws->at_collective |= 1u << lane;
    if ((ws->at_collective & mask) != mask) { /* someone has not arrived yet */
        simt_wait(run, f);
        return f->result;
    }
    SimtFiber *lanes[32] = {};
    bool complete = true;
    for (unsigned l = 0; l < 32 && complete; l++) {
        if (!(mask >> l & 1)) continue;
        lanes[l] = &run->fibers[warp * 32 + l];
        complete = lanes[l]->state == SIMT_AT_WARP && lanes[l]->mask == mask;
    }
    if (complete) resolve(run, lanes, mask, f);
    simt_wait(run, f);
    return f->result;
}

uint64_t simt_warp_collective(int op, unsigned mask, uint64_t value, unsigned size, int arg, int width,
                              const char *file, int line) {
    SimtBlockRun *run = simt_current_run(simt_op_name(op), file, line);
    SimtFiber *f = run->current;
    f->op = op;
    f->value = value;
    f->size = size;
    f->arg = arg;
    f->width = width;
    f->file = file;
    f->line = line;
    return collective(run, f, mask);
}

void simt_warp_allgather(unsigned mask, const void *mine, void *all, size_t bytes_per_lane, const char *file,
                         int line) {
    SimtBlockRun *run = simt_current_run("simt_warp_allgather", file, line);
    SimtFiber *f = run->current;
    f->op = SIMT_OP_ALLGATHER;
    f->value = bytes_per_lane;
    f->size = 0;
    f->width = 32;
    f->gather_src = mine;
    f->gather_dst = all;
    f->file = file;
    f->line = line;
    collective(run, f, mask);
}

void simt_warp_settle(SimtBlockRun *run, unsigned warp) {
    if (!run->warps[warp].activemask_waiting) return;
    SimtFiber *lanes = &run->fibers[warp * 32];
    unsigned n = run->n - warp * 32 < 32 ? run->n - warp * 32 : 32, pending = 0;
    for (unsigned l = 0; l < n; l++) {
        if (lanes[l].state == SIMT_READY) return; /* a lane may still arrive */
        if (lanes[l].state == SIMT_AT_WARP && lanes[l].op == SIMT_OP_ACTIVEMASK) pending |= 1u << l;
    }
    while (pending) {
        const SimtFiber *first = &lanes[__builtin_ctz(pending)];
        unsigned group = 0;
        for (unsigned l = 0; l < n; l++)
            if ((pending >> l & 1) && lanes[l].line == first->line && !strcmp(lanes[l].file, first->file))
                group |= 1u << l;
        for (unsigned l = 0; l < n; l++)
            if (group >> l & 1) {
                lanes[l].result = group;
                simt_wake(run, &lanes[l]);
            }
        pending &= ~group;
        run->warps[warp].activemask_waiting &= ~group;
    }
}

unsigned __activemask(const char *file, int line) {
    SimtBlockRun *run = simt_current_run("__activemask", file, line);
    SimtFiber *f = run->current;
    f->op = SIMT_OP_ACTIVEMASK;
    f->mask = 0; /* matches no collective: real masks include the caller */
    f->file = file;
    f->line = line;
    f->state = SIMT_AT_WARP;
    run->warps[f->regs.warp].activemask_waiting |= 1u << f->regs.lane;
    simt_wait(run, f);
    return (unsigned)f->result;
}

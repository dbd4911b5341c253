/* Messages of the SIMT emulator: names of barriers and collectives, the launch a failure
 * belongs to (kernel symbol when the dynamic symbol table has it, grid, block, block
 * index), and the one-line summary of who waits where that a deadlock report prints:
 * threads grouped by what they wait at, as ranges of linear thread ids. */
#include "simt_internal.h"
#include <cxxabi.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

std::string simt_fmt(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

const char *simt_op_name(int op) {
    static const char *const names[SIMT_OP_COUNT_] = {
        "__syncwarp", "__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync",
        "__ballot_sync", "__any_sync", "__all_sync", "__match_any_sync", "__match_all_sync",
        "__reduce_add_sync", "__reduce_min_sync", "__reduce_max_sync", "__reduce_min_sync",
        "__reduce_max_sync", "__reduce_and_sync", "__reduce_or_sync", "__reduce_xor_sync",
        "simt_warp_allgather", "__activemask"};
    return op >= 0 && op < SIMT_OP_COUNT_ ? names[op] : "?";
}

const char *simt_barrier_name(int kind) {
    static const char *const names[] = {"__syncthreads", "__syncthreads_count", "__syncthreads_and",
                                        "__syncthreads_or"};
    return kind >= 0 && kind <= SIMT_BAR_OR ? names[kind] : "?";
}

static std::string kernel_name(const void *kernel) {
    Dl_info info;
    if (kernel && dladdr(kernel, &info) && info.dli_sname && info.dli_saddr == kernel) {
        int status = 0;
        char *d = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
        std::string name = status == 0 && d ? d : info.dli_sname;
        free(d);
        return name;
    }
    return simt_fmt("%p", kernel);
}

std::string simt_launch_desc(const SimtBlockRun *run) {
    const SimtLaunch *l = run->launch;
    const SimtBlockRegs *r = &run->regs;
    return simt_fmt("simt: kernel %s <<<(%u,%u,%u), (%u,%u,%u)>>> block (%u,%u,%u)",
                    kernel_name(l->kernel).c_str(), l->grid.x, l->grid.y, l->grid.z, l->block.x, l->block.y,
                    l->block.z, r->block_idx.x, r->block_idx.y, r->block_idx.z);
}

static std::string ranges(const std::vector<unsigned> &ids) {
    std::string s = ids.size() == 1 ? "thread " : "threads ";
    for (size_t i = 0; i < ids.size();) {
        size_t j = i;
        while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) j++;
        if (i) s += ",";
        s += j == i ? simt_fmt("%u", ids[i]) : simt_fmt("%u-%u", ids[i], ids[j]);
        i = j + 1;
        if (s.size() > 160 && i < ids.size()) {
            s += simt_fmt(",... (%zu in all)", ids.size());
            break;
        }
    }
    return s;
}

static bool same_wait(const SimtFiber *a, const SimtFiber *b) {
    if (a->state != b->state) return false;
    if (a->state == SIMT_EXITED || a->state == SIMT_READY) return true;
    if (a->op != b->op || a->line != b->line || strcmp(a->file, b->file)) return false;
    return a->state == SIMT_AT_BARRIER || (a->mask == b->mask && a->regs.warp == b->regs.warp);
}

static std::string wait_what(const SimtFiber *f) {
    switch (f->state) {
    case SIMT_EXITED: return "exited";
    case SIMT_READY: return "runnable";
    case SIMT_AT_BARRIER: return simt_fmt("wait at %s() at %s:%d", simt_barrier_name(f->op), f->file, f->line);
    default:
        return simt_fmt("(warp %u) wait at %s(mask 0x%08x) at %s:%d", f->regs.warp, simt_op_name(f->op),
                        f->mask, f->file, f->line);
    }
}

std::string simt_wait_desc(const SimtBlockRun *run) {
    struct Group {
        const SimtFiber *first;
        std::vector<unsigned> ids;
    };
    std::vector<Group> groups;
    for (unsigned i = 0; i < run->n; i++) {
        const SimtFiber *f = &run->fibers[i];
        size_t g = 0;
        while (g < groups.size() && !same_wait(groups[g].first, f)) g++;
        if (g == groups.size()) groups.push_back(Group{f, {}});
        groups[g].ids.push_back(i);
    }
    std::string s;
    for (const Group &g : groups) {
        if (!s.empty()) s += "; ";
        s += ranges(g.ids) + " " + wait_what(g.first);
    }
    const SimtLaunch *l = run->launch;
    if (l->block.y > 1 || l->block.z > 1) s += " (thread numbers are x + y*blockDim.x + z*blockDim.x*blockDim.y)";
    return s;
}

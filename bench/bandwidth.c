/* `piston bench bandwidth [--device D] [--size BYTES] [-r N]`: the memory bandwidth of the
 * backend's own device-to-device copy (the CPU's memmove, cudaMemcpy on a GPU), counted as
 * bytes read plus bytes written, best of N. Decode is bound by reading weights and KV cache,
 * so a decode step's bytes over its time, as a share of this, says how close a forward comes
 * to what the memory allows (bench latency reports that share with --copy-bandwidth). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

static const char usage[] = "usage: piston bench bandwidth [--device auto|cpu|cuda] [--size 1G] [-r 10] [--json]\n";

typedef struct BandwidthArgs {
    BackendOptions o;
    int64_t size;
    int reps, json;
} BandwidthArgs;

static int parse_device(const char *v, void *base, char *err, size_t n) {
    if (strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda"))
        return snprintf(err, n, "--device expects auto, cpu or cuda, got '%s'", v), -1;
    ((BandwidthArgs *)base)->o.device = v;
    return 0;
}

#define OFF(f) offsetof(BandwidthArgs, f)
static const FlagSpec bandwidth_flags[] = {
    {"--device", NULL, FLAG_FN, 0, 0, 0, parse_device, "auto|cpu|cuda", "the backend", "auto"},
    {"--threads", "-t", FLAG_INT, OFF(o.n_threads), 1, 1024, NULL, "N", "CPU threads", "all cores"},
    {"--size", NULL, FLAG_BYTES, OFF(size), 0, 0, NULL, "BYTES", "bytes copied each time", "1G"},
    {"--repetitions", "-r", FLAG_INT, OFF(reps), 1, 1000, NULL, "N", "copies, the best reported", "10"},
    {"--json", NULL, FLAG_BOOL, OFF(json), 0, 0, NULL, NULL, "one JSON line", "off"},
};
#undef OFF

int bench_bandwidth(int argc, char **argv) {
    BandwidthArgs b0 = {.size = (int64_t)1 << 30, .reps = 10};
    backend_options_default(&b0.o);
    FlagGroup g[1] = {FLAG_GROUP("bench bandwidth", bandwidth_flags, &b0)};
    const char *pos[1];
    int n_pos = 0, prc = flags_parse(g, 1, argc, argv, pos, 0, &n_pos, usage);
    if (prc) return prc < 0;
    BackendOptions o = b0.o;
    int64_t size = b0.size;
    int reps = b0.reps, json = b0.json;
    char err[512];
    Backend *be;
    if (backend_create(&o, &be, err, sizeof err)) return cli_error("%s", err), 1;
    void *a = backend_alloc(be, (size_t)size, err, sizeof err), *b = a ? backend_alloc(be, (size_t)size, err, sizeof err) : NULL;
    int rc = 1;
    double best = 0;
    if (!b) goto out;
    /* touch both first: the CPU maps pages on first use, and that is not bandwidth */
    if (be->ops->fill_random(be, a, size / 4, DT_F32, 1, 0, 1) || be->ops->copy(be, b, a, (size_t)size) ||
        backend_synchronize(be, err, sizeof err))
        goto out;
    for (int r = 0; r < reps; r++) {
        double t0 = engine_now();
        if (be->ops->copy(be, b, a, (size_t)size) || backend_synchronize(be, err, sizeof err)) goto out;
        double gbs = 2.0 * size / (engine_now() - t0) / 1e9;
        best = gbs > best ? gbs : best;
    }
    if (json) printf("{\"backend\": \"%s\", \"device\": \"%s\", \"bytes\": %lld, \"copy_gbs\": %.1f}\n", be->name,
                     be->device_name, (long long)size, best);
    else printf("%s (%s): device-to-device copy of %.2f GiB: %.1f GB/s (read + write, best of %d)\n", be->name,
                be->device_name, size / 1073741824.0, best, reps);
    rc = 0;
out:
    if (rc) cli_error("%s", be->err[0] ? be->err : err);
    backend_free(be, a);
    backend_free(be, b);
    backend_destroy(be);
    return rc;
}

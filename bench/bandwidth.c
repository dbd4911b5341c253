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

int bench_bandwidth(int argc, char **argv) {
    BackendOptions o;
    backend_options_default(&o);
    int64_t size = (int64_t)1 << 30;
    int reps = 10, json = 0;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return printf("%s", usage), 0;
        if (!strcmp(f, "--json")) { json = 1; continue; }
        if (!v) return cli_error("%s needs a value", f), 1;
        if (!strcmp(f, "--device")) o.device = argv[++i];
        else if (!strcmp(f, "--threads")) { if (cli_parse_int(f, argv[++i], 1, 1024, &o.n_threads)) return 1; }
        else if (!strcmp(f, "--size")) {
            if ((size = cli_parse_bytes(argv[++i])) <= 0) return cli_error("--size expects bytes, e.g. 1G"), 1;
        } else if (!strcmp(f, "-r")) { if (cli_parse_int(f, argv[++i], 1, 1000, &reps)) return 1; }
        else return cli_error("bench bandwidth: unknown flag %s (see --help)", f), 1;
    }
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

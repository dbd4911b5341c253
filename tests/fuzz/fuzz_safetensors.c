/* A Hugging Face model directory from hostile bytes: the input is up to five files split by
 * the separator "\0PFZ\0": config.json, model.safetensors.index.json (none when empty),
 * model.safetensors, s1.safetensors and s2.safetensors (shards an index may name). They are
 * written into a directory of this process's own, then read as a loader reads them:
 * hf_config_read (config.json), st_open of the directory, of the index and of each file,
 * every tensor's first and last data byte, and model_load_hf (config, index, shards, the
 * binding of the weights by their names and shapes, the conversion). The readers take paths
 * and map files; writing the files keeps that path, mmap included, under the fuzzer. */
#include "tests/fuzz/fuzz.h"

#include <sys/stat.h>
#include <unistd.h>

#include "models/model.h"
#include "models/safetensors.h"

#define SEP "\0PFZ\0"
static const char *const k_files[] = {"config.json", "model.safetensors.index.json", "model.safetensors",
                                      "s1.safetensors", "s2.safetensors"};
#define N_FILES (int)(sizeof k_files / sizeof *k_files)

static char g_dir[256];
static pid_t g_owner;
static volatile uint64_t g_sink;

static void path_of(char *buf, size_t cap, int i) { snprintf(buf, cap, "%s/%s", g_dir, k_files[i]); }

static void clear_dir(void) {
    char p[512];
    for (int i = 0; i < N_FILES; i++) path_of(p, sizeof p, i), unlink(p);
}

static void remove_dir(void) {
    if (getpid() != g_owner) return; /* a driver's child: the parent still uses it */
    clear_dir();
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/piston-fuzz-st-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) perror("mkdtemp"), abort();
    g_owner = getpid();
    atexit(remove_dir);
    return 0;
}

static void walk(const SafeTensors *st) {
    for (int64_t i = 0; i < st_n_tensors(st); i++) {
        const StTensor *t = st_tensor(st, i);
        if (st_find(st, t->name) != t) abort(); /* names are unique */
        if (t->nbytes) g_sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        g_sink += (uint64_t)st_dtype_compute(t->dtype) + strlen(st_dtype_name(t->dtype)) + (uint64_t)t->shard;
    }
    for (int i = 0; i < st_n_shards(st); i++) g_sink += strlen(st_shard_path(st, i));
    g_sink += (uint64_t)st_total_bytes(st);
}

static void open_walk(const char *path) {
    SafeTensors *st = NULL;
    char err[1024] = "";
    if (st_open(path, &st, err, sizeof err) == 0) walk(st), st_close(st);
    else if (!err[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzIn in = {data, size};
    int present[N_FILES] = {0};
    clear_dir();
    for (int i = 0; i < N_FILES; i++) { /* the separator holds NULs: split by its length */
        size_t k = sizeof SEP - 1, j = 0;
        while (j < in.n && !(in.n - j >= k && memcmp(in.p + j, SEP, k) == 0)) j++;
        if (i != 1 || j) { /* an empty index piece: no index file */
            char p[512];
            path_of(p, sizeof p, i);
            FILE *f = fopen(p, "wb");
            if (!f) abort();
            if (j && fwrite(in.p, 1, j, f) != j) abort();
            fclose(f);
            present[i] = 1;
        }
        if (j == in.n) break; /* no separator left: the files after this one are absent */
        in.p += j + k, in.n -= j + k;
    }
    char p[512], err[1024] = "";
    ModelConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    if (hf_config_read(g_dir, &cfg, err, sizeof err) != 0 && !err[0]) abort();
    open_walk(g_dir);
    for (int i = 1; i < N_FILES; i++)
        if (present[i]) path_of(p, sizeof p, i), open_walk(p);
    Model *m = NULL;
    err[0] = 0;
    if (model_load_hf(g_dir, DT_COUNT, &m, err, sizeof err) == 0) model_free(m);
    else if (!err[0]) abort();
    return 0;
}

/* Tests of the safetensors reader (models/safetensors*.c): a valid file and a sharded model
 * read back exactly, and hostile files, each of which must fail with a message naming the
 * problem and never read out of range (the ASan run proves it): a header length past the
 * file, a header that is not JSON, offsets past the end, overlapping tensors, holes and
 * trailing bytes, unknown dtypes, sizes that do not match the shape, every truncation of a
 * valid file, and indexes with a missing shard, a tensor the shard lacks, a path for a shard
 * name and a tensor in two shards. Files are written into a mkdtemp directory. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/safetensors.h"
#include "tests/unit/test.h"

static char g_dir[256];

static void write_file(const char *name, const void *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* header JSON + data bytes -> a safetensors file image in *out (malloc'd); returns its size */
static size_t make_st(const char *hdr, const void *data, size_t n_data, uint8_t **out) {
    size_t h = strlen(hdr), n = 8 + h + n_data;
    uint8_t *b = malloc(n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, hdr, h);
    if (n_data) memcpy(b + 8 + h, data, n_data);
    *out = b;
    return n;
}

static void write_st(const char *name, const char *hdr, const void *data, size_t n_data) {
    uint8_t *b;
    size_t n = make_st(hdr, data, n_data, &b);
    write_file(name, b, n);
    free(b);
}

/* opens name in g_dir, expecting failure with a message containing want */
static void expect_fail(const char *name, const char *want, const char *what) {
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    SafeTensors *st = NULL;
    int rc = st_open(path, &st, err, sizeof err);
    CHECK(rc < 0 && st == NULL, "%s: opened", what);
    CHECK(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", what, err, want);
}

#define VALID_HDR                                                                                    \
    "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]}," \
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}  "

static void test_valid(void) {
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint8_t data[28];
    memcpy(data, a, 24);
    uint16_t bf[2] = {0x3F80, 0xC000}; /* 1.0, -2.0 */
    memcpy(data + 24, bf, 4);
    write_st("ok.safetensors", VALID_HDR, data, sizeof data);
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/ok.safetensors", g_dir);
    SafeTensors *st;
    CHECK(st_open(path, &st, err, sizeof err) == 0, "open: %s", err);
    if (!st) return;
    CHECK(st_n_tensors(st) == 2 && st_n_shards(st) == 1, "counts");
    const StTensor *ta = st_find(st, "a"), *tb = st_find(st, "b");
    CHECK(ta && ta->dtype == ST_F32 && ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && ta->ne[0] == 3 &&
              ta->ne[1] == 2 && ta->nbytes == 24 && !memcmp(ta->data, a, 24), "tensor a");
    CHECK(tb && tb->dtype == ST_BF16 && tb->ne[0] == 2 && !memcmp(tb->data, bf, 4), "tensor b");
    CHECK(st_find(st, "c") == NULL && st_dtype_compute(ST_BF16) == DT_BF16 && st_dtype_compute(ST_I8) < 0, "lookup");
    st_close(st);

    /* every truncation of the valid file fails cleanly */
    uint8_t *img;
    size_t n = make_st(VALID_HDR, data, sizeof data, &img);
    int all = 1;
    for (size_t cut = 0; cut < n; cut++) {
        write_file("cut.safetensors", img, cut);
        snprintf(path, sizeof path, "%s/cut.safetensors", g_dir);
        st = NULL;
        if (st_open(path, &st, err, sizeof err) == 0 || st) all = 0, st_close(st);
    }
    CHECK(all, "a truncated file was accepted");
    free(img);
}

static void test_hostile(void) {
    uint8_t d[32] = {0};
    uint8_t big[16] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, '{', '}'};
    write_file("hlen.safetensors", big, sizeof big);
    expect_fail("hlen.safetensors", "header length", "header length past the file");
    write_st("nojson.safetensors", "{\"a\": [1, 2", d, 0);
    expect_fail("nojson.safetensors", "not a JSON object", "header not JSON");
    write_st("nobrace.safetensors", "[1]", d, 0);
    expect_fail("nobrace.safetensors", "does not start with '{'", "header not an object");
    write_st("past.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 8);
    expect_fail("past.safetensors", "run past the end", "offsets past the end");
    write_st("overlap.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12);
    expect_fail("overlap.safetensors", "overlap", "overlapping tensors");
    write_st("hole.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", d, 12);
    expect_fail("hole.safetensors", "belong to no tensor", "a hole between tensors");
    write_st("tail.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 8);
    expect_fail("tail.safetensors", "after the last tensor", "trailing bytes");
    write_st("dtype.safetensors", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4);
    expect_fail("dtype.safetensors", "does not define", "unknown dtype");
    write_st("size.safetensors", "{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,4]}}", d, 4);
    expect_fail("size.safetensors", "bytes of data for 3 elements", "size not the shape's");
    write_st("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", d, 4);
    expect_fail("neg.safetensors", "not a dimension", "negative dimension");
    write_st("dims.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,1]}}", d, 1);
    expect_fail("dims.safetensors", "dimensions", "five dimensions");
    write_st("rev.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", d, 4);
    expect_fail("rev.safetensors", "begin <= end", "end before begin");
    write_file("tiny.safetensors", d, 5);
    expect_fail("tiny.safetensors", "too short", "five bytes");
    expect_fail("absent.safetensors", "cannot open", "no file");
}

static void test_shards(void) {
    float x[2] = {7, 8}, y[1] = {9};
    const char *h1 = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const char *h2 = "{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    write_st("model-00001-of-00002.safetensors", h1, x, 8);
    write_st("model-00002-of-00002.safetensors", h2, y, 4);
    const char *idx = "{\"metadata\":{\"total_size\":12},\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                      "\"y\":\"model-00002-of-00002.safetensors\"}}";
    write_file("model.safetensors.index.json", idx, strlen(idx));
    SafeTensors *st;
    char err[512] = "";
    CHECK(st_open(g_dir, &st, err, sizeof err) == 0, "open the directory: %s", err);
    if (st) {
        const StTensor *ty = st_find(st, "y");
        float yv = 0; /* the data may be unaligned: this header's length is not a multiple of 4 */
        if (ty) memcpy(&yv, ty->data, 4);
        CHECK(st_n_shards(st) == 2 && st_n_tensors(st) == 2 && ty && ty->shard == 1 && yv == 9, "two shards");
        CHECK(st_total_bytes(st) == (int64_t)(8 + strlen(h1) + 8 + 8 + strlen(h2) + 4), "total bytes %lld", (long long)st_total_bytes(st));
        st_close(st);
    }
    const char *miss = "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\",\"y\":\"model-00003.safetensors\"}}";
    write_file("missing.index.json", miss, strlen(miss));
    expect_fail("missing.index.json", "which is missing", "a missing shard");
    const char *lack = "{\"weight_map\":{\"z\":\"model-00001-of-00002.safetensors\"}}";
    write_file("lack.index.json", lack, strlen(lack));
    expect_fail("lack.index.json", "does not hold it", "an index naming a tensor its shard lacks");
    const char *path = "{\"weight_map\":{\"x\":\"../model-00001-of-00002.safetensors\"}}";
    write_file("path.index.json", path, strlen(path));
    expect_fail("path.index.json", "not a shard file name", "a path as shard name");
    write_st("dup.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", y, 4);
    const char *dup = "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\",\"y\":\"model-00002-of-00002.safetensors\","
                      "\"x2\":\"dup.safetensors\"}}";
    write_file("dup.index.json", dup, strlen(dup));
    expect_fail("dup.index.json", "does not hold it", "x2 not in dup.safetensors");
    const char *dup2 = "{\"weight_map\":{\"x\":\"dup.safetensors\",\"y\":\"model-00001-of-00002.safetensors\"}}";
    write_file("dup2.index.json", dup2, strlen(dup2));
    expect_fail("dup2.index.json", "does not hold it", "y not in shard 1");
    const char *dup3 = "{\"weight_map\":{\"x\":\"dup.safetensors\",\"x \":\"model-00001-of-00002.safetensors\"}}";
    write_file("dup3.index.json", dup3, strlen(dup3));
    expect_fail("dup3.index.json", "does not hold it", "x in two shards (named once)");
    const char *bad = "{\"weight_map\": 3}";
    write_file("bad.index.json", bad, strlen(bad));
    expect_fail("bad.index.json", "weight_map", "weight_map not an object");
}

static void test_duplicate_across_shards(void) {
    /* the index maps x to dup.safetensors; x2.safetensors holds an x too */
    float v = 1;
    write_st("x2.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", &v, 4);
    const char *ok = "{\"weight_map\":{\"x\":\"dup.safetensors\",\"y\":\"model-00002-of-00002.safetensors\"}}";
    write_file("dupok.index.json", ok, strlen(ok));
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/dupok.index.json", g_dir);
    SafeTensors *st = NULL;
    CHECK(st_open(path, &st, err, sizeof err) == 0, "dupok: %s", err);
    st_close(st);
    const char *twice = "{\"weight_map\":{\"x\":\"dup.safetensors\",\"x\":\"x2.safetensors\"}}";
    write_file("twice.index.json", twice, strlen(twice));
    expect_fail("twice.index.json", "appears twice", "a tensor in two shards");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/piston-st-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    test_valid();
    test_hostile();
    test_shards();
    test_duplicate_across_shards();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    return TEST_SUMMARY();
}

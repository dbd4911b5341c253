/* One safetensors file (see safetensors.h): map it, read the 8-byte little-endian header
 * length, parse the JSON header with cJSON and check every entry before it becomes an
 * StTensor. The rules are those of the format's own reference implementation: the header
 * is at most 100 MB and starts with '{'; each tensor has a known dtype, a shape of
 * non-negative dims, and data_offsets [begin, end) relative to the data section whose
 * length is exactly the dims' product times the element size; sorted by begin, the tensors
 * tile the data section with no overlap and no hole, and the last one ends at the end of
 * the file (a hole could hide another file's bytes; an overlap aliases two tensors). The
 * index and the lookup across shards are in safetensors_index.c. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "models/safetensors_internal.h"

/* the reference implementation's limit: a larger header is an attack, not a model */
#define ST_MAX_HEADER (100u * 1000 * 1000)

static const struct { const char *name; int size; int compute; } k_dtypes[ST_DTYPE_COUNT] = {
    [ST_F32] = {"F32", 4, DT_F32},   [ST_F16] = {"F16", 2, DT_F16},   [ST_BF16] = {"BF16", 2, DT_BF16},
    [ST_F64] = {"F64", 8, -1},       [ST_I64] = {"I64", 8, -1},       [ST_I32] = {"I32", 4, -1},
    [ST_I16] = {"I16", 2, -1},       [ST_I8] = {"I8", 1, -1},         [ST_U8] = {"U8", 1, -1},
    [ST_U16] = {"U16", 2, -1},       [ST_U32] = {"U32", 4, -1},       [ST_U64] = {"U64", 8, -1},
    [ST_BOOL] = {"BOOL", 1, -1},     [ST_F8_E4M3] = {"F8_E4M3", 1, -1}, [ST_F8_E5M2] = {"F8_E5M2", 1, -1},
};

const char *st_dtype_name(StDType t) { return (unsigned)t < ST_DTYPE_COUNT ? k_dtypes[t].name : "unknown"; }
int st_dtype_compute(StDType t) { return (unsigned)t < ST_DTYPE_COUNT ? k_dtypes[t].compute : -1; }

static int dtype_parse(const char *s) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (!strcmp(s, k_dtypes[i].name)) return i;
    return -1;
}

/* An exact non-negative integer from a JSON number (cJSON keeps a double): up to 2^53. */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static int by_begin(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    uintptr_t p = (uintptr_t)x->data, q = (uintptr_t)y->data;
    return p < q ? -1 : p > q;
}

/* One header entry into t; data is the start of the data section of n bytes. */
static int parse_entry(const char *path, const cJSON *e, const uint8_t *data, uint64_t n, StTensor *t, char *err,
                       size_t errlen) {
    const char *name = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) ||
        cJSON_GetArraySize(off) != 2)
        return err_set(err, errlen, -EINVAL, "%s: tensor %.80s: header entry needs dtype, shape and data_offsets [begin, end]",
                       path, name);
    int d = dtype_parse(dt->valuestring);
    if (d < 0)
        return err_set(err, errlen, -EINVAL, "%s: tensor %.80s has dtype '%.16s', which safetensors does not define", path,
                       name, dt->valuestring);
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > ST_MAX_DIMS)
        return err_set(err, errlen, -EINVAL, "%s: tensor %.80s has %d dimensions (Piston reads at most %d)", path, name,
                       ndim, ST_MAX_DIMS);
    uint64_t elems = 1, begin, end;
    t->ndim = ndim;
    for (int i = 0; i < ST_MAX_DIMS; i++) t->shape[i] = t->ne[i] = 1;
    for (int i = 0; i < ndim; i++) {
        uint64_t v;
        if (json_u64(cJSON_GetArrayItem(sh, i), &v) || v > (1ull << 40))
            return err_set(err, errlen, -EINVAL, "%s: tensor %.80s: shape[%d] is not a dimension", path, name, i);
        if (v && elems > UINT64_MAX / 2 / v)
            return err_set(err, errlen, -EINVAL, "%s: tensor %.80s: shape overflows", path, name);
        elems *= v;
        t->shape[i] = (int64_t)v;
        t->ne[ndim - 1 - i] = (int64_t)v;
    }
    if (json_u64(cJSON_GetArrayItem(off, 0), &begin) || json_u64(cJSON_GetArrayItem(off, 1), &end) || begin > end)
        return err_set(err, errlen, -EINVAL, "%s: tensor %.80s: data_offsets are not [begin, end] with begin <= end", path,
                       name);
    if (end > n)
        return err_set(err, errlen, -EINVAL, "%s: tensor %.80s: data_offsets [%llu, %llu) run past the end of the data "
                       "(%llu bytes): the file is truncated or corrupt", path, name, (unsigned long long)begin,
                       (unsigned long long)end, (unsigned long long)n);
    if (elems > UINT64_MAX / 8 || end - begin != elems * (uint64_t)k_dtypes[d].size)
        return err_set(err, errlen, -EINVAL, "%s: tensor %.80s: %llu bytes of data for %llu elements of %s", path, name,
                       (unsigned long long)(end - begin), (unsigned long long)elems, k_dtypes[d].name);
    t->dtype = (StDType)d;
    t->data = data + begin;
    t->nbytes = end - begin;
    t->name = strdup(name);
    return t->name ? 0 : err_set(err, errlen, -ENOMEM, "out of memory");
}

static int parse_header(StFile *f, const char *hdr, uint64_t hlen, char *err, size_t errlen) {
    const char *path = f->path;
    if (hlen == 0 || hdr[0] != '{')
        return err_set(err, errlen, -EINVAL, "%s: the header does not start with '{': not a safetensors file", path);
    cJSON *j = cJSON_ParseWithLength(hdr, (size_t)hlen);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return err_set(err, errlen, -EINVAL, "%s: the header (%llu bytes) is not a JSON object", path,
                       (unsigned long long)hlen);
    }
    const uint8_t *data = f->map + 8 + hlen;
    uint64_t n = f->size - 8 - hlen;
    int count = 0, rc = 0;
    for (cJSON *e = j->child; e; e = e->next) count += strcmp(e->string, "__metadata__") != 0;
    f->tensors = calloc(count ? (size_t)count : 1, sizeof *f->tensors);
    if (!f->tensors) rc = err_set(err, errlen, -ENOMEM, "out of memory");
    for (cJSON *e = j->child; e && !rc; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        rc = parse_entry(path, e, data, n, &f->tensors[f->n], err, errlen);
        if (!rc) f->n++;
    }
    cJSON_Delete(j);
    if (rc) return rc;
    /* sorted by offset the tensors must tile [0, n) exactly */
    StTensor *s = malloc((f->n ? (size_t)f->n : 1) * sizeof *s);
    if (!s) return err_set(err, errlen, -ENOMEM, "out of memory");
    memcpy(s, f->tensors, (size_t)f->n * sizeof *s);
    qsort(s, (size_t)f->n, sizeof *s, by_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->n && !rc; i++) {
        uint64_t b = (uint64_t)((const uint8_t *)s[i].data - data);
        if (b < at)
            rc = err_set(err, errlen, -EINVAL, "%s: tensors %.80s and %.80s overlap", path, s[i - 1].name, s[i].name);
        else if (b > at)
            rc = err_set(err, errlen, -EINVAL, "%s: %llu bytes before tensor %.80s belong to no tensor", path,
                         (unsigned long long)(b - at), s[i].name);
        at = b + s[i].nbytes;
    }
    if (!rc && at != n)
        rc = err_set(err, errlen, -EINVAL, "%s: %llu bytes after the last tensor belong to no tensor", path,
                     (unsigned long long)(n - at));
    free(s);
    return rc;
}

int st_file_open(const char *path, StFile *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, errlen, -errno, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return err_set(err, errlen, -EINVAL, "%s: not a regular file", path);
    }
    f->size = (uint64_t)sb.st_size;
    if (f->size < 8) {
        close(fd);
        return err_set(err, errlen, -EINVAL, "%s: %llu bytes: too short for a safetensors file", path,
                       (unsigned long long)f->size);
    }
    void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return err_set(err, errlen, -errno, "%s: mmap failed: %s", path, strerror(errno));
    f->map = m;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->map[i];
    if (hlen > ST_MAX_HEADER || hlen > f->size - 8)
        return err_set(err, errlen, -EINVAL, "%s: header length %llu does not fit the file (%llu bytes)%s", path,
                       (unsigned long long)hlen, (unsigned long long)f->size,
                       hlen > ST_MAX_HEADER ? " or the 100 MB limit" : "");
    return parse_header(f, (const char *)f->map + 8, hlen, err, errlen);
}

void st_file_close(StFile *f) {
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->map) munmap(f->map, (size_t)f->size);
    memset(f, 0, sizeof *f);
}

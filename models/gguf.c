/* GGUF v2/v3 reader. gguf_open maps the file read-only and walks the metadata twice: the
 * first walk validates every count, string, value, array and nested array against the bytes
 * that are left and counts the array elements to index; the second fills one GgufStr table
 * (elements of all string arrays) and one GgufArr table (elements of all arrays of arrays),
 * so element access is O(1). Tensor infos are then checked (shape, type, block size, offset,
 * alignment, end within the file) and keys and tensor names go into hash tables that also
 * reject duplicates. Only then does anything else read the file, so every accessor (in
 * gguf_get.c) is bounds-safe. Values are read with memcpy as little-endian: Piston runs on
 * little-endian hosts, and big-endian GGUF files are refused at the version check. */
#include "models/gguf_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { GGUF_EIO = -1, GGUF_EFORMAT = -2, GGUF_ENOMEM = -3 };
#define GGUF_MAX_DEPTH 8    /* arrays nested in arrays; real files use 1, recursion stays bounded */
#define GGUF_MAX_NAME 65535 /* longest key or tensor name accepted */
#define GGUF_DEFAULT_ALIGNMENT 32

/* Cursor over the mapping. `where` names what is being read, for messages. strs/arrs are
 * NULL on the validating walk, which only counts n_strs/n_arrs. */
typedef struct Cur {
    const uint8_t *p;
    uint64_t size, pos;
    const char *path;
    char *err;
    size_t errlen;
    char where[160];
    GgufStr *strs;
    GgufArr *arrs;
    uint64_t n_strs, n_arrs;
} Cur;

typedef unsigned long long ull;
static const uint8_t type_size[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
static const char *const type_names[GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool",  "string", "array", "uint64", "int64", "float64"};

static int fail(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s: ", path);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return GGUF_EFORMAT;
}
#define CFAIL(c, ...) fail((c)->err, (c)->errlen, (c)->path, __VA_ARGS__)

/* Names come from the file: print at most 64 bytes, control and non-ASCII bytes as '?'. */
static void safe_name(char *dst, size_t cap, GgufStr s) {
    size_t n = s.len < cap - 4 ? (size_t)s.len : cap - 4, i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        dst[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    strcpy(dst + i, n < s.len ? "..." : "");
}

static const uint8_t *take(Cur *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos) {
        CFAIL(c, "truncated: %s: %s needs %llu bytes at offset %llu, but the file ends %llu bytes later",
              c->where, what, (ull)n, (ull)c->pos, (ull)(c->size - c->pos));
        return NULL;
    }
    const uint8_t *p = c->p + c->pos;
    c->pos += n;
    return p;
}

static int rd_u32(Cur *c, uint32_t *v, const char *what) {
    const uint8_t *p = take(c, 4, what);
    if (!p) return GGUF_EFORMAT;
    memcpy(v, p, 4);
    return 0;
}

static int rd_u64(Cur *c, uint64_t *v, const char *what) {
    const uint8_t *p = take(c, 8, what);
    if (!p) return GGUF_EFORMAT;
    memcpy(v, p, 8);
    return 0;
}

static int rd_str(Cur *c, GgufStr *s, const char *what) {
    uint64_t len;
    const uint8_t *p;
    if (rd_u64(c, &len, what) || !(p = take(c, len, what))) return GGUF_EFORMAT;
    s->ptr = (const char *)p;
    s->len = len;
    return 0;
}

/* One array: element type, count, body (a key's value is depth 1). Every element takes at
 * least type_size[] bytes (8 for a string's length, 12 for a nested array's header), so the
 * count is checked against the bytes left before anything is reserved: that keeps n * size
 * from overflowing and bounds every index table by the file size. */
static int parse_array(Cur *c, int depth, GgufArr *a) {
    uint32_t et;
    uint64_t n;
    if (depth > GGUF_MAX_DEPTH) return CFAIL(c, "%s: arrays nested deeper than %d levels", c->where, GGUF_MAX_DEPTH);
    if (rd_u32(c, &et, "array element type") || rd_u64(c, &n, "array length")) return GGUF_EFORMAT;
    if (et >= GGUF_TYPE_COUNT) return CFAIL(c, "%s: array element type %u is not a GGUF type", c->where, et);
    if (n > (c->size - c->pos) / type_size[et])
        return CFAIL(c, "truncated: %s: array of %llu %s values runs past the end of the file "
                     "(%llu bytes left at offset %llu)",
                     c->where, (ull)n, type_names[et], (ull)(c->size - c->pos), (ull)c->pos);
    a->elem_type = (GgufType)et;
    a->n = n;
    a->data = c->p + c->pos;
    a->index_ = NULL;
    if (et == GGUF_TYPE_STRING) {
        GgufStr *tab = c->strs ? c->strs + c->n_strs : NULL;
        c->n_strs += n;
        if (tab && n) a->index_ = tab;
        for (uint64_t i = 0; i < n; i++) {
            GgufStr s;
            if (rd_str(c, &s, "string in array")) return GGUF_EFORMAT;
            if (tab) tab[i] = s;
        }
    } else if (et == GGUF_TYPE_ARRAY) {
        GgufArr *tab = c->arrs ? c->arrs + c->n_arrs : NULL;
        c->n_arrs += n; /* reserved before recursing, so each array's elements stay contiguous */
        if (tab && n) a->index_ = tab;
        for (uint64_t i = 0; i < n; i++) {
            GgufArr sub;
            if (parse_array(c, depth + 1, &sub)) return GGUF_EFORMAT;
            if (tab) tab[i] = sub;
        }
    } else {
        c->pos += n * type_size[et];
    }
    return 0;
}

static int parse_kvs(Cur *c, GgufKv *kvs, int64_t n_kv) {
    char nm[72];
    for (int64_t i = 0; i < n_kv; i++) {
        GgufKv kv = {0};
        uint32_t t;
        snprintf(c->where, sizeof c->where, "metadata entry %lld of %lld", (long long)i, (long long)n_kv);
        if (rd_str(c, &kv.key, "key")) return GGUF_EFORMAT;
        if (kv.key.len == 0 || kv.key.len > GGUF_MAX_NAME)
            return CFAIL(c, "%s: key of %llu bytes (must be 1 to %d)", c->where, (ull)kv.key.len, GGUF_MAX_NAME);
        safe_name(nm, sizeof nm, kv.key);
        snprintf(c->where, sizeof c->where, "metadata key '%s'", nm);
        if (rd_u32(c, &t, "value type")) return GGUF_EFORMAT;
        if (t >= GGUF_TYPE_COUNT) return CFAIL(c, "%s has value type %u, which is not a GGUF type", c->where, t);
        kv.type = (GgufType)t;
        if (t == GGUF_TYPE_STRING) {
            if (rd_str(c, &kv.str, "string value")) return GGUF_EFORMAT;
        } else if (t == GGUF_TYPE_ARRAY) {
            if (parse_array(c, 1, &kv.arr)) return GGUF_EFORMAT;
        } else if (!(kv.val = take(c, type_size[t], "value"))) {
            return GGUF_EFORMAT;
        }
        if (kvs) kvs[i] = kv;
    }
    return 0;
}

static uint64_t hash_bytes(const char *p, uint64_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static GgufStr hash_name(const NameHash *h, int64_t i) {
    GgufStr s;
    memcpy(&s, h->items + (size_t)i * h->stride, sizeof s);
    return s;
}

int64_t gguf_hash_find_(const NameHash *h, const char *p, uint64_t n) {
    if (!h->slot) return -1;
    for (uint64_t j = hash_bytes(p, n) & h->mask;; j = (j + 1) & h->mask) {
        int64_t i = h->slot[j];
        if (i < 0) return -1;
        GgufStr s = hash_name(h, i);
        if (s.len == n && memcmp(s.ptr, p, n) == 0) return i;
    }
}

/* Builds the table; returns 0, GGUF_ENOMEM, or 1 with *dup the index of a repeated name. */
static int hash_build(NameHash *h, const void *items, size_t stride, int64_t n, int64_t *dup) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n) cap *= 2; /* n <= file size / 13, so this cannot overflow */
    h->items = items;
    h->stride = stride;
    h->mask = cap - 1;
    if (!(h->slot = malloc(cap * sizeof *h->slot))) return GGUF_ENOMEM;
    memset(h->slot, 0xff, cap * sizeof *h->slot);
    for (int64_t i = 0; i < n; i++) {
        GgufStr s = hash_name(h, i);
        uint64_t j = hash_bytes(s.ptr, s.len) & h->mask;
        for (; h->slot[j] >= 0; j = (j + 1) & h->mask) {
            GgufStr o = hash_name(h, h->slot[j]);
            if (o.len == s.len && memcmp(o.ptr, s.ptr, s.len) == 0) return *dup = i, 1;
        }
        h->slot[j] = i;
    }
    return 0;
}

static int parse_tensor_info(Cur *c, GgufTensor *t) {
    char nm[72];
    uint32_t nd, ty;
    int64_t elems = 1;
    if (rd_str(c, &t->name, "name")) return GGUF_EFORMAT;
    if (t->name.len == 0 || t->name.len > GGUF_MAX_NAME)
        return CFAIL(c, "%s: name of %llu bytes (must be 1 to %d)", c->where, (ull)t->name.len, GGUF_MAX_NAME);
    safe_name(nm, sizeof nm, t->name);
    snprintf(c->where, sizeof c->where, "tensor %s", nm);
    if (rd_u32(c, &nd, "dimension count")) return GGUF_EFORMAT;
    if (nd < 1 || nd > 4) return CFAIL(c, "tensor %s has %u dimensions (Piston reads 1 to 4)", nm, nd);
    t->ndim = (int)nd;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if (rd_u64(c, &v, "dimensions")) return GGUF_EFORMAT;
        if (v == 0) return CFAIL(c, "tensor %s has dimension %u of size 0", nm, d);
        if (v > (uint64_t)(INT64_MAX / elems))
            return CFAIL(c, "tensor %s has dimensions whose product overflows 64 bits", nm);
        elems *= (int64_t)v;
        t->ne[d] = (int64_t)v;
    }
    if (rd_u32(c, &ty, "type")) return GGUF_EFORMAT;
    if (!dtype_supported((int)ty))
        return CFAIL(c, "tensor %s has type %u (%s), which Piston does not support (supported: %s)", nm, ty,
                     dtype_name((int)ty), dtype_supported_list());
    t->type = (DType)ty;
    int64_t be = dtype_block_elems(t->type), bb = dtype_block_bytes(t->type), rows = elems / t->ne[0];
    if (t->ne[0] % be)
        return CFAIL(c, "tensor %s: row length %lld is not a multiple of the %s block size %lld", nm,
                     (long long)t->ne[0], dtype_name((int)ty), (long long)be);
    /* blocks * block bytes is checked here: a hostile ne[0] must not overflow dtype_row_bytes */
    if (t->ne[0] / be > INT64_MAX / bb) return CFAIL(c, "tensor %s has rows too large to address", nm);
    int64_t rb = dtype_row_bytes(t->type, t->ne[0]);
    if (rb <= 0 || rows > INT64_MAX / rb)
        return CFAIL(c, "tensor %s is too large (%lld rows of %lld bytes)", nm, (long long)rows, (long long)rb);
    t->nbytes = (uint64_t)(rb * rows);
    return rd_u64(c, &t->offset, "data offset");
}

/* Tensor infos, then the data section at the next multiple of the alignment. */
static int parse_tensors(GgufFile *f, Cur *c) {
    char nm[72];
    int64_t dup;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        snprintf(c->where, sizeof c->where, "tensor info %lld of %lld", (long long)i, (long long)f->n_tensors);
        if (parse_tensor_info(c, &f->tensors[i])) return GGUF_EFORMAT;
    }
    int rc = hash_build(&f->tensor_hash, f->tensors, sizeof *f->tensors, f->n_tensors, &dup);
    if (rc < 0) return CFAIL(c, "out of memory indexing %lld tensors", (long long)f->n_tensors), GGUF_ENOMEM;
    if (rc) {
        safe_name(nm, sizeof nm, f->tensors[dup].name);
        return CFAIL(c, "duplicate tensor name '%s' (tensor info %lld)", nm, (long long)dup);
    }
    /* alignment <= 2^31 and pos <= size, so this cannot overflow */
    uint64_t start = (c->pos + f->alignment - 1) / f->alignment * f->alignment;
    uint64_t avail = start <= f->size ? f->size - start : 0;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        GgufTensor *t = &f->tensors[i];
        safe_name(nm, sizeof nm, t->name);
        if (t->offset % f->alignment)
            return CFAIL(c, "tensor %s: data offset %llu is not a multiple of the alignment %llu", nm,
                         (ull)t->offset, (ull)f->alignment);
        if (start > f->size || t->offset > avail || t->nbytes > avail - t->offset)
            return CFAIL(c, "truncated: tensor %s: %llu bytes of data at offset %llu of the data section "
                         "run past the end of the file (the data section starts at %llu and holds %llu bytes)",
                         nm, (ull)t->nbytes, (ull)t->offset, (ull)start, (ull)avail);
        t->data = f->map + start + t->offset;
    }
    return 0;
}

static int parse(GgufFile *f, char *err, size_t errlen) {
    Cur c = {.p = f->map, .size = f->size, .path = f->path, .err = err, .errlen = errlen, .where = "header"};
    const uint8_t *m = f->map;
    uint64_t n_kv, n_tensors;
    int64_t dup;
    if (memcmp(m, "GGUF", 4))
        return CFAIL(&c, "not a GGUF file (magic bytes %02x %02x %02x %02x, expected \"GGUF\")", m[0], m[1],
                     m[2], m[3]);
    c.pos = 4;
    if (rd_u32(&c, &f->version, "version")) return GGUF_EFORMAT;
    if (f->version == 0x02000000u || f->version == 0x03000000u)
        return CFAIL(&c, "big-endian GGUF file, which Piston does not read (convert it little-endian)");
    if (f->version != 2 && f->version != 3)
        return CFAIL(&c, "GGUF version %u is not supported (Piston reads versions 2 and 3; re-convert the model)",
                     f->version);
    if (rd_u64(&c, &n_tensors, "tensor count") || rd_u64(&c, &n_kv, "metadata count")) return GGUF_EFORMAT;
    /* a metadata entry takes at least 13 bytes, a tensor info 32: bounds both counts (and every
     * allocation below) by the file size */
    uint64_t left = c.size - c.pos;
    if (n_kv > left / 13 || n_tensors > left / 32 || n_kv * 13 + n_tensors * 32 > left)
        return CFAIL(&c, "truncated: header claims %llu metadata entries and %llu tensors, "
                     "more than the %llu bytes after it can hold",
                     (ull)n_kv, (ull)n_tensors, (ull)left);
    f->n_kv = (int64_t)n_kv;
    f->n_tensors = (int64_t)n_tensors;
    uint64_t kv_start = c.pos;
    if (parse_kvs(&c, NULL, f->n_kv)) return GGUF_EFORMAT;
    f->kv = calloc(n_kv ? n_kv : 1, sizeof *f->kv);
    f->strs = calloc(c.n_strs ? c.n_strs : 1, sizeof *f->strs);
    f->arrs = calloc(c.n_arrs ? c.n_arrs : 1, sizeof *f->arrs);
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    if (!f->kv || !f->strs || !f->arrs || !f->tensors)
        return CFAIL(&c, "out of memory reading the header"), GGUF_ENOMEM;
    c.pos = kv_start;
    c.strs = f->strs;
    c.arrs = f->arrs;
    c.n_strs = c.n_arrs = 0;
    if (parse_kvs(&c, f->kv, f->n_kv)) return GGUF_EFORMAT;
    int rc = hash_build(&f->key_hash, f->kv, sizeof *f->kv, f->n_kv, &dup);
    if (rc < 0) return CFAIL(&c, "out of memory indexing %lld keys", (long long)f->n_kv), GGUF_ENOMEM;
    if (rc) {
        char nm[72];
        safe_name(nm, sizeof nm, f->kv[dup].key);
        return CFAIL(&c, "duplicate metadata key '%s' (entry %lld)", nm, (long long)dup);
    }
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gguf_find_key(f, "general.alignment");
    if (ai >= 0) {
        uint32_t a = 0;
        if (f->kv[ai].type != GGUF_TYPE_UINT32)
            return CFAIL(&c, "general.alignment has type %s; it must be uint32", type_names[f->kv[ai].type]);
        memcpy(&a, f->kv[ai].val, 4);
        if (a == 0 || (a & (a - 1)))
            return CFAIL(&c, "general.alignment is %u; it must be a nonzero power of two", a);
        f->alignment = a;
    }
    return parse_tensors(f, &c);
}

int gguf_open(const char *path, GgufFile **out, char *err, size_t errlen) {
    struct stat st;
    *out = NULL;
    if (err && errlen) err[0] = '\0';
    GgufFile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return fail(err, errlen, path, "out of memory"), GGUF_ENOMEM;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = GGUF_EIO;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fail(err, errlen, path, "cannot open: %s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        fail(err, errlen, path, "not a regular file");
    } else if (st.st_size < 4) {
        rc = fail(err, errlen, path, "not a GGUF file (the file is %s)",
                  st.st_size ? "shorter than the magic" : "empty");
    } else if ((uint64_t)st.st_size > SIZE_MAX) {
        fail(err, errlen, path, "too large to map on this machine (%lld bytes)", (long long)st.st_size);
    } else {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            fail(err, errlen, path, "cannot map: %s", strerror(errno));
        } else {
            f->map = m;
            f->size = (uint64_t)st.st_size;
            rc = parse(f, err, errlen);
        }
    }
    if (fd >= 0) close(fd); /* the mapping outlives the descriptor */
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int gguf_open_buffer(const void *data, size_t size, const char *name, GgufFile **out, char *err, size_t errlen) {
    *out = NULL;
    if (err && errlen) err[0] = '\0';
    GgufFile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(name))) {
        free(f);
        return fail(err, errlen, name, "out of memory"), GGUF_ENOMEM;
    }
    f->borrowed = 1;
    int rc = size < 4 ? fail(err, errlen, name, "not a GGUF file (%s)", size ? "shorter than the magic" : "empty")
                      : (f->map = data, f->size = size, parse(f, err, errlen));
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void gguf_close(GgufFile *f) {
    if (!f) return;
    if (f->map && !f->borrowed) munmap((void *)f->map, (size_t)f->size);
    free(f->key_hash.slot);
    free(f->tensor_hash.slot);
    free(f->kv);
    free(f->strs);
    free(f->arrs);
    free(f->tensors);
    free(f->path);
    free(f);
}

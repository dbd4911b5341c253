/* The safetensors of a model as a whole (see safetensors.h): one file, or the shards that
 * model.safetensors.index.json's weight_map names. Shard names in an index are file names in
 * its directory, never paths (an index must not reach outside the model), each shard is
 * validated as one file (safetensors.c), every tensor the index names must be in the shard
 * it names, and no tensor name may appear twice. Lookup is a binary search over the names. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/file.h"
#include "models/safetensors_internal.h"

struct SafeTensors {
    StFile *shards;
    int n_shards;
    const StTensor **sorted; /* every tensor of every shard, by name */
    int64_t n;
};

static int by_name(const void *a, const void *b) {
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}


static int shard_index(SafeTensors *st, const char *dir, const char *file, char *err, size_t errlen) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return err_set(err, errlen, -ENAMETOOLONG, "%s: shard path too long", dir);
    for (int i = 0; i < st->n_shards; i++)
        if (!strcmp(st->shards[i].path, path)) return i;
    StFile *ns = realloc(st->shards, (size_t)(st->n_shards + 1) * sizeof *ns);
    if (!ns) return err_set(err, errlen, -ENOMEM, "out of memory");
    st->shards = ns;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return err_set(err, errlen, -ENOENT, "%s: the index names shard %s, which is missing", dir, file);
    int rc = st_file_open(path, &st->shards[st->n_shards], err, errlen);
    st->n_shards++; /* counted either way: a failed open still has memory to release */
    return rc ? rc : st->n_shards - 1;
}

static int open_index(SafeTensors *st, const char *index_path, char *err, size_t errlen) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", index_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    char *text;
    if (base_read_file(index_path, 64u << 20, &text, NULL, err, errlen)) return -EINVAL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    int rc = 0;
    if (!cJSON_IsObject(wm))
        rc = err_set(err, errlen, -EINVAL, "%s: not JSON with a weight_map object", index_path);
    for (const cJSON *e = wm ? wm->child : NULL; e && !rc; e = e->next) {
        const char *f = cJSON_IsString(e) ? e->valuestring : NULL;
        if (!f || !*f || strchr(f, '/') || f[0] == '.') {
            rc = err_set(err, errlen, -EINVAL, "%s: weight_map[%.80s] is not a shard file name in the model's directory",
                         index_path, e->string);
            break;
        }
        int s = shard_index(st, dir, f, err, errlen);
        if (s < 0) {
            rc = s;
            break;
        }
        int found = 0;
        for (int i = 0; i < st->shards[s].n && !found; i++) found = !strcmp(st->shards[s].tensors[i].name, e->string);
        if (!found)
            rc = err_set(err, errlen, -EINVAL, "%s: the index puts tensor %.80s in %s, which does not hold it", index_path,
                         e->string, f);
    }
    if (!rc && st->n_shards == 0) rc = err_set(err, errlen, -EINVAL, "%s: weight_map names no tensor", index_path);
    cJSON_Delete(j);
    return rc;
}

int st_open(const char *path, SafeTensors **out, char *err, size_t errlen) {
    *out = NULL;
    SafeTensors *st = calloc(1, sizeof *st);
    if (!st) return err_set(err, errlen, -ENOMEM, "out of memory");
    char p[4096];
    struct stat sb;
    int rc = 0;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
        if (stat(p, &sb) != 0) snprintf(p, sizeof p, "%s/model.safetensors", path);
        if (stat(p, &sb) != 0)
            rc = err_set(err, errlen, -ENOENT, "%s: no model.safetensors or model.safetensors.index.json", path);
    } else {
        snprintf(p, sizeof p, "%s", path);
    }
    if (!rc && strlen(p) >= 5 && !strcmp(p + strlen(p) - 5, ".json")) {
        rc = open_index(st, p, err, errlen);
    } else if (!rc) {
        st->shards = calloc(1, sizeof *st->shards);
        if (!st->shards) rc = err_set(err, errlen, -ENOMEM, "out of memory");
        else st->n_shards = 1, rc = st_file_open(p, &st->shards[0], err, errlen);
    }
    for (int i = 0; !rc && i < st->n_shards; i++) st->n += st->shards[i].n;
    if (!rc && !(st->sorted = malloc((st->n ? (size_t)st->n : 1) * sizeof *st->sorted)))
        rc = err_set(err, errlen, -ENOMEM, "out of memory");
    int64_t k = 0;
    for (int i = 0; !rc && i < st->n_shards; i++)
        for (int t = 0; t < st->shards[i].n; t++) {
            st->shards[i].tensors[t].shard = i;
            st->sorted[k++] = &st->shards[i].tensors[t];
        }
    if (!rc) qsort(st->sorted, (size_t)st->n, sizeof *st->sorted, by_name);
    for (int64_t i = 1; !rc && i < st->n; i++)
        if (!strcmp(st->sorted[i]->name, st->sorted[i - 1]->name))
            rc = err_set(err, errlen, -EINVAL, "%s: tensor %.80s appears twice (%s and %s)", path, st->sorted[i]->name,
                         st->shards[st->sorted[i - 1]->shard].path, st->shards[st->sorted[i]->shard].path);
    if (rc) {
        st_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void st_close(SafeTensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_shards; i++) st_file_close(&st->shards[i]);
    free(st->shards);
    free(st->sorted);
    free(st);
}

int64_t st_n_tensors(const SafeTensors *st) { return st->n; }
const StTensor *st_tensor(const SafeTensors *st, int64_t i) { return i >= 0 && i < st->n ? st->sorted[i] : NULL; }
int st_n_shards(const SafeTensors *st) { return st->n_shards; }
const char *st_shard_path(const SafeTensors *st, int i) { return i >= 0 && i < st->n_shards ? st->shards[i].path : ""; }

int64_t st_total_bytes(const SafeTensors *st) {
    int64_t n = 0;
    for (int i = 0; i < st->n_shards; i++) n += (int64_t)st->shards[i].size;
    return n;
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    StTensor key = {.name = (char *)name};
    const StTensor *kp = &key;
    const StTensor **hit = bsearch(&kp, st->sorted, (size_t)st->n, sizeof *st->sorted, by_name);
    return hit ? *hit : NULL;
}

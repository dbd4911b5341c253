/* Putting a model's weights where the backend computes (model_upload in model.h): in place
 * for the CPU backend, which reads the mapped file; one device buffer with every tensor at a
 * 256-byte aligned offset for a device backend, filled tensor by tensor behind a progress
 * line. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "base/err.h"
#include "models/model.h"

/* Every distinct tensor the forward reads, into a malloc'd list (the tied head is the
 * embedding, listed once). Returns the count, or -1 when out of memory. */
static int model_tensors(Model *m, Tensor ***out) {
    Tensor **list = malloc((4 + 14 * (size_t)m->cfg.n_layers) * sizeof *list);
    *out = list;
    if (!list) return -1;
    int n = 0;
    list[n++] = &m->tok_embd;
    list[n++] = &m->out_norm;
    if (!m->cfg.tied_output) list[n++] = &m->output;
    if (m->rope_freqs.ndim > 0) list[n++] = &m->rope_freqs;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        LayerWeights *L = &m->layers[l];
        Tensor *t[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->bq, &L->bk, &L->bv, &L->q_norm,
                       &L->k_norm, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof t / sizeof *t; i++)
            if (t[i]->ndim > 0) list[n++] = t[i]; /* absent (optional) tensors have no shape */
    }
    return n;
}

/* 256 bytes: the alignment cudaMalloc gives, and what vectorized device loads want */
#define WEIGHT_ALIGN 256

static int64_t tensor_bytes(const Tensor *t) {
    int64_t rows = 1;
    for (int d = 1; d < t->ndim; d++) rows *= t->ne[d];
    return dtype_row_bytes(t->type, t->ne[0]) * rows;
}

static int64_t aligned_bytes(const Tensor *t) {
    return (tensor_bytes(t) + WEIGHT_ALIGN - 1) / WEIGHT_ALIGN * WEIGHT_ALIGN;
}

int64_t model_weight_bytes(const Model *m) {
    Tensor **list;
    int n = model_tensors((Model *)m, &list);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += aligned_bytes(list[i]);
    free(list);
    return total;
}

int model_upload(Model *m, Backend *be, char *err, size_t errlen) {
    if (m->uploaded) return m->uploaded == be ? 0 : err_set(err, errlen, -EINVAL, "the model is on another backend");
    m->uploaded = be;
    if (be->host_visible && !m->dummy) return 0; /* the CPU computes from the mapping as it is */
    Tensor **list;
    int n = model_tensors(m, &list);
    if (n < 0) return err_set(err, errlen, -ENOMEM, "out of memory");
    int64_t total = model_weight_bytes(m), done = 0;
    int rc = 0;
    m->weights_buf = be->ops->alloc(be, (size_t)total);
    if (!m->weights_buf)
        rc = err_set(err, errlen, -ENOMEM, "not enough %s memory for the weights (%.2f GiB): %s", be->name,
                     total / 1073741824.0, be->err);
    if (!rc && m->dummy) { /* place every tensor, then let the backend make their values */
        for (int i = 0; i < n; i++) {
            list[i]->data = (char *)m->weights_buf + done;
            done += aligned_bytes(list[i]);
        }
        if (m->cfg.tied_output) m->output = m->tok_embd;
        rc = model_dummy_fill(m, be, list, n, err, errlen);
        if (!rc) rc = backend_synchronize(be, err, errlen);
        if (!rc) log_line(LOG_INFO, "dummy weights on %s: %.2f GiB in %d tensors (%lld bytes)", be->name,
                         total / 1073741824.0, n, (long long)total);
        free(list);
        return rc;
    }
    int tty = isatty(2) && !log_is_json(), last_pct = -1; /* a bar is for a person, not a log shipper */
    for (int i = 0; !rc && i < n; i++) {
        char *dst = (char *)m->weights_buf + done;
        rc = backend_upload(be, dst, list[i]->data, (size_t)tensor_bytes(list[i]), err, errlen);
        list[i]->data = dst;
        done += aligned_bytes(list[i]);
        int pct = (int)(100 * done / (total ? total : 1));
        if (tty && pct != last_pct)
            fprintf(stderr, "\rpiston: loading weights to %s: %3d%% of %.2f GiB", be->name, pct, total / 1073741824.0);
        last_pct = pct;
    }
    if (!rc) rc = backend_synchronize(be, err, errlen);
    if (tty) fputc('\n', stderr);
    if (!rc) log_line(LOG_INFO, "weights on %s: %.2f GiB in %d tensors", be->name, total / 1073741824.0, n);
    if (m->cfg.tied_output) m->output = m->tok_embd;
    free(list);
    return rc;
}

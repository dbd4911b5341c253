/* A loaded model: its config from the GGUF metadata, its weights as Tensors (in the mapped
 * file, then where the backend computes), and its forward pass written against
 * kernels/backend.h. One architecture
 * family for now: Llama and its GGUF cousins (llama, mistral, qwen2): RMSNorm, RoPE, GQA,
 * SwiGLU, optional QKV bias, tied or separate output embedding. */
#ifndef PISTON_MODEL_H
#define PISTON_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "models/gguf.h"
#include "models/kv_cache.h"

typedef struct ModelConfig {
    char arch[32];      /* general.architecture */
    char name[128];     /* general.name, for logs */
    int n_layers;
    int dim;            /* embedding_length */
    int ffn_dim;        /* feed_forward_length */
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int rot_dim;        /* rope.dimension_count, <= head_dim */
    int vocab_size;
    int context_len;    /* context_length: the trained maximum */
    float rope_theta;
    float norm_eps;
    int rope_style;     /* enum RopeStyle */
    int qkv_bias;       /* qwen2 */
    int tied_output;    /* output.weight absent: token_embd is the head */
} ModelConfig;

typedef struct LayerWeights {
    Tensor attn_norm, wq, wk, wv, wo;
    Tensor bq, bk, bv; /* data NULL when the architecture has no bias */
    Tensor ffn_norm, w_gate, w_up, w_down;
} LayerWeights;

typedef struct Model {
    ModelConfig cfg;
    GgufFile *gguf;
    Backend *uploaded;   /* the backend model_upload put the weights on, or NULL */
    int dummy;           /* --load-format dummy: no file, weights made by model_upload */
    uint64_t dummy_seed;
    void *weights_buf;   /* on a device backend: the buffer holding every tensor */
    Tensor tok_embd; /* [vocab, dim] */
    Tensor out_norm; /* [dim] f32 */
    Tensor output;   /* [vocab, dim]: tok_embd when tied */
    LayerWeights *layers;
} Model;

/* Load a GGUF model. The tensors point into the mapping until model_upload. */
int model_load(const char *path, Model **out, char *err, size_t errlen);
/* Put the weights where `be` computes: the CPU backend reads them in place from the mapping
 * (no copy); a device backend gets one buffer holding every tensor, copied tensor by tensor
 * with a progress line on stderr, and the Tensors then point there. Once per model. */
int model_upload(Model *m, Backend *be, char *err, size_t errlen);
/* A dummy model of a built-in config ("llama-3-8b", ... model_dummy_names()): shapes only,
 * matrices of dtype (DT_BF16, DT_F16 or DT_F32); model_upload makes the weights from seed. */
int model_dummy_create(const char *name, DType dtype, uint64_t seed, Model **out, char *err, size_t errlen);
int model_is_dummy_name(const char *name);
const char *model_dummy_names(void);
/* model_upload's half for dummies: fill each listed tensor (their data already placed). */
int model_dummy_fill(Model *m, Backend *be, Tensor **list, int n, char *err, size_t errlen);
/* Bytes of weights (what model_upload puts on a device). */
int64_t model_weight_bytes(const Model *m);
void model_free(Model *m);

/* Scratch buffers for a forward pass of up to max_tokens tokens and max_seqs sequences: one
 * backend buffer carved into the pieces below (all backend memory). */
typedef struct ForwardScratch {
    int max_tokens, max_seqs;
    void *buf;     /* the one allocation */
    float *x;      /* [T, dim] residual stream */
    float *xn;     /* [T, dim] normed, and each branch's output */
    float *q;      /* [T, n_heads * head_dim] */
    float *k;      /* [T, kv_dim] */
    float *v;      /* [T, kv_dim] */
    float *attn;   /* [T, n_heads * head_dim] */
    float *gate;   /* [T, ffn_dim] */
    float *up;     /* [T, ffn_dim] */
    float *last;   /* [B, dim] the last token of each sequence */
    float *last_b; /* [B, dim] the last layer's branch output at those tokens */
} ForwardScratch;

/* Bytes forward_scratch_init allocates (for memory planning). */
int64_t forward_scratch_bytes(const ModelConfig *c, int max_tokens, int max_seqs);
int forward_scratch_init(ForwardScratch *s, Backend *be, const ModelConfig *c, int max_tokens, int max_seqs,
                         char *err, size_t errlen);
void forward_scratch_free(ForwardScratch *s, Backend *be);

/* One flat batch (see AttnBatch in kernels/backend.h): T tokens from B sequences, every
 * array in backend memory (the runner's step buffers). */
typedef struct Batch {
    const int32_t *tokens;    /* [T] */
    const int32_t *positions; /* [T] */
    AttnBatch attn;
} Batch;

/* Writes the new tokens' K/V into the cache and the logits of the last token of every
 * sequence into logits [B, vocab] (backend memory). Never reads a batch array on the host.
 * 0, or negative with err set (a failed op: the step fails, the model stays usable). */
int model_forward(const Model *m, Backend *be, KvCache *kv, const Batch *b, ForwardScratch *s, float *logits,
                  char *err, size_t errlen);
/* After model_forward: the logits of rows[0, n) of its batch (any rows, n <= the scratch's
 * max_seqs) into logits [n, vocab], from the last layer's state the forward leaves in the
 * scratch: what prompt logprobs need. rows is backend memory. */
int model_forward_rows(const Model *m, Backend *be, ForwardScratch *s, const int32_t *rows, int n, float *logits,
                       char *err, size_t errlen);

#endif

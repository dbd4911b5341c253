/* A loaded model: its config from the GGUF metadata, its weights as Tensors pointing into the
 * mapped file, and its forward pass written against kernels/backend.h. One architecture
 * family for now: Llama and its GGUF cousins (llama, mistral, qwen2): RMSNorm, RoPE, GQA,
 * SwiGLU, optional QKV bias, tied or separate output embedding. */
#ifndef PISTON_MODEL_H
#define PISTON_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "models/gguf.h"

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
    Tensor tok_embd; /* [vocab, dim] */
    Tensor out_norm; /* [dim] f32 */
    Tensor output;   /* [vocab, dim]: tok_embd when tied */
    LayerWeights *layers;
} Model;

/* Load a GGUF model. Weights stay in the mapping (the CPU backend reads them in place). */
int model_load(const char *path, Model **out, char *err, size_t errlen);
void model_free(Model *m);

/* Bytes of KV cache per token across all layers (K and V of dtype DT_F32 or DT_F16). */
int64_t model_kv_bytes_per_token(const ModelConfig *c, DType dtype);

/* Scratch buffers for a forward pass of up to max_tokens tokens and max_seqs sequences. */
typedef struct ForwardScratch {
    int max_tokens, max_seqs;
    float *x;      /* [T, dim] residual stream */
    float *xn;     /* [T, dim] normed */
    float *q;      /* [T, n_heads * head_dim] */
    float *k;      /* [T, kv_dim] */
    float *v;      /* [T, kv_dim] */
    float *attn;   /* [T, n_heads * head_dim] */
    float *gate;   /* [T, ffn_dim] */
    float *up;     /* [T, ffn_dim] */
    float *last;   /* [B, dim] the last token of each sequence */
    int32_t *rows; /* [B] the row of each sequence's last token */
} ForwardScratch;

int forward_scratch_init(ForwardScratch *s, const ModelConfig *c, int max_tokens, int max_seqs);
void forward_scratch_free(ForwardScratch *s);

/* KV cache of num_blocks blocks of block_size tokens, per layer, of dtype DT_F32 or DT_F16. */
int kv_cache_init(KvCache *kv, const ModelConfig *c, int64_t num_blocks, int block_size, DType dtype);
/* The cache element type for a --kv-cache-dtype request: KV_CACHE_DTYPE_AUTO picks f16 with
 * the q8 matmuls (llama.cpp's default cache type) and f32 with the exact f32 path. */
#define KV_CACHE_DTYPE_AUTO (-1)
DType kv_cache_dtype_resolve(int requested, MatmulPrecision precision);
void kv_cache_free(KvCache *kv);

/* One flat batch (see AttnBatch in kernels/backend.h): T tokens from B sequences.
 * Writes the new tokens' K/V into the cache and the logits of the last token of every
 * sequence into logits [B, vocab]. Returns 0 or a negative code. */
typedef struct Batch {
    const int32_t *tokens;    /* [T] */
    const int32_t *positions; /* [T] */
    AttnBatch attn;
} Batch;

int model_forward(const Model *m, Backend *be, KvCache *kv, const Batch *b, ForwardScratch *s, float *logits);

#endif

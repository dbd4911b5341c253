/* A loaded model: its config (GGUF metadata, or a Hugging Face config.json), its weights as
 * Tensors (in the mapped GGUF or safetensors files, or converted to --dtype in host memory,
 * then where the backend computes), and its forward pass written against kernels/backend.h.
 * One architecture family: Llama and its cousins (llama, mistral, qwen2, qwen3): RMSNorm,
 * RoPE (with optional frequency factors), GQA, SwiGLU, optional QKV bias, optional per-head
 * q/k RMSNorm (Qwen3), tied or separate output embedding. */
#ifndef PISTON_MODEL_H
#define PISTON_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "models/gguf.h"
#include "models/kv_cache.h"
#include "models/safetensors.h"

/* Where a model's weights came from (piston show, /api/show). */
typedef enum ModelFormat { MODEL_FORMAT_GGUF = 0, MODEL_FORMAT_SAFETENSORS, MODEL_FORMAT_DUMMY } ModelFormat;

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
    int qk_norm;        /* qwen3: RMSNorm over each head of q and k before RoPE */
    int tied_output;    /* output.weight absent: token_embd is the head */
    /* rope_scaling: "llama3" (Llama-3.1's), "linear", or "" for none; the parameters of
     * llama3's (factor, low/high frequency factors, the original context) */
    char rope_scaling[16];
    float rope_factor, rope_low_freq, rope_high_freq;
    int rope_orig_ctx;
    char hf_arch[48];   /* config.json's architectures[0], e.g. "LlamaForCausalLM"; "" for GGUF */
    int torch_dtype;    /* config.json's torch_dtype as a DType, or -1 */
} ModelConfig;

typedef struct LayerWeights {
    Tensor attn_norm, wq, wk, wv, wo;
    Tensor bq, bk, bv; /* data NULL when the architecture has no bias */
    Tensor q_norm, k_norm; /* [head_dim] f32 (qwen3); data NULL otherwise */
    Tensor ffn_norm, w_gate, w_up, w_down;
} LayerWeights;

typedef struct Model {
    ModelConfig cfg;
    ModelFormat format;
    char path[4096];     /* the file or directory it was loaded from (or the dummy's name) */
    GgufFile *gguf;      /* MODEL_FORMAT_GGUF */
    SafeTensors *st;     /* MODEL_FORMAT_SAFETENSORS */
    void *host_buf;      /* tensors converted at load (--dtype, f32 norms, rope_freqs): malloc'd */
    int weight_dtype;    /* the matrices' DType once loaded (the one of tok_embd); -1 when mixed */
    Backend *uploaded;   /* the backend model_upload put the weights on, or NULL */
    int dummy;           /* --load-format dummy: no file, weights made by model_upload */
    uint64_t dummy_seed;
    void *weights_buf;   /* on a device backend: the buffer holding every tensor */
    Tensor tok_embd; /* [vocab, dim] */
    Tensor out_norm; /* [dim] f32 */
    Tensor output;   /* [vocab, dim]: tok_embd when tied */
    Tensor rope_freqs; /* [rot_dim / 2] f32 frequency factors, or data NULL (ndim 0) */
    LayerWeights *layers;
} Model;

/* Load a GGUF file, or a Hugging Face directory (config.json + safetensors; path may also be
 * its config.json). dtype: what the matrices become (DT_F32, DT_F16, DT_BF16), or DT_COUNT
 * for auto (a GGUF's as stored; a directory's torch_dtype, else as stored); a GGUF takes
 * only auto. The tensors point into the mapping (or host_buf) until model_upload. */
int model_load(const char *path, int dtype, Model **out, char *err, size_t errlen);
/* models/hf_model.c: the directory half of model_load. */
int model_load_hf(const char *path, int dtype, Model **out, char *err, size_t errlen);
/* models/hf_config.c: config.json (a file, or the directory holding it) into c, which the
 * caller zeroed. The architectures Piston runs are listed in the error for any other. */
int hf_config_read(const char *path, ModelConfig *c, char *err, size_t errlen);
/* The directory of a model path (itself when a directory, else its parent), into out. */
void model_dir_of(const char *path, char *out, size_t cap);
/* models/rope_freqs.c: rope_scaling's per-pair frequency factors for c, into ff [rot_dim/2].
 * 0 when c has none (ff untouched), 1 when written, negative with err for a type Piston
 * does not implement. */
int rope_freqs_compute(const ModelConfig *c, float *ff, char *err, size_t errlen);
/* Parameter count of the architecture (what piston show and /api/show report). */
int64_t model_param_count(const ModelConfig *c);
/* Put the weights where `be` computes: the CPU backend reads them in place from the mapping
 * (no copy); a device backend gets one buffer holding every tensor, copied tensor by tensor
 * with a progress line on stderr, and the Tensors then point there. Once per model. */
int model_upload(Model *m, Backend *be, char *err, size_t errlen);
/* A dummy model of a built-in config ("llama-3-8b", ... model_dummy_names()) or of a
 * config.json (a path to it, or a directory holding it): shapes only, matrices of dtype
 * (DT_BF16, DT_F16 or DT_F32); model_upload makes the weights from seed. */
int model_dummy_create(const char *name, DType dtype, uint64_t seed, Model **out, char *err, size_t errlen);
/* The same from a config already read (what model_dummy_create does after looking it up). */
int model_dummy_from_config(const ModelConfig *c, DType dtype, uint64_t seed, Model **out, char *err, size_t errlen);
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

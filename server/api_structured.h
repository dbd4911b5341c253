/* Structured outputs in every dialect: the fields that ask for a constraint, read into one
 * spec (OpenAI's response_format, vLLM's structured_outputs and its older guided_* names,
 * TGI's parameters.grammar, Ollama's format), and the submission of a job whose prompts must
 * first be tokenized and constraint compiled (api_prepare.c), with a 400 naming the problem
 * or the limit when compilation fails. */
#ifndef PISTON_API_STRUCTURED_H
#define PISTON_API_STRUCTURED_H

#include <cjson/cJSON.h>

#include "server/api_common.h"

typedef struct StructSpec {
    int kind;    /* a ConstraintKind, or -1: none */
    char *text;  /* malloc'd */
    size_t len;
} StructSpec;

void struct_spec_free(StructSpec *s);
/* Set a spec (kind, a copy of text). 0, or 500 out of memory. */
int struct_spec_set(StructSpec *s, int kind, const char *text);

/* Each reads its dialect's fields into *out (kind -1 when none asked). 0, or the HTTP status
 * (400) with err set, naming the field. */
int api_structured_openai(const cJSON *body, StructSpec *out, char *err, size_t n);
int api_structured_tgi(const cJSON *params, StructSpec *out, char *err, size_t n);
int api_structured_ollama(const cJSON *body, StructSpec *out, char *err, size_t n);

/* Which route's fields an object holds (api_fields.c). */
typedef enum ApiFieldSet {
    FIELDS_OAI_COMPLETION, FIELDS_OAI_CHAT, /* OpenAI's, with vLLM's extensions */
    FIELDS_TGI, FIELDS_TGI_PARAMS,          /* TGI's body, its parameters */
    FIELDS_OLLAMA_GENERATE, FIELDS_OLLAMA_CHAT, FIELDS_OLLAMA_OPTIONS,
} ApiFieldSet;

/* Every field of o (an object; anything else passes, for the caller to refuse) must be one
 * the route implements, or harmless metadata, or at its neutral value: otherwise 400 with
 * err naming the field ('name' first, as the OpenAI error's param is read from it) and what
 * to do. Null values pass, as absent. */
int api_check_fields(const cJSON *o, ApiFieldSet set, char *err, size_t n);

/* OpenAI's logit_bias ({"token id": bias}) into m. 0, or 400 with err set. */
int api_logit_bias(Server *s, const cJSON *body, InMsg *m, char *err, size_t n);

/* Submit m for j (as job_submit) once its prompts are tokens and its constraint compiled
 * (api_prepare.c): tokenization of long texts and compilations that miss the cache run on
 * libuv's worker pool, never on the loop or engine thread; takes spec's text. Then, on the
 * loop thread: prompt ids kept (j->keep_prompt_ids), the dialect's on_prompts, the length
 * check (check_max_tokens, length_status), and the engine, or the job's answer.
 * 0: submitted, queued, or answered; the job then answers for itself. -1: the queue is
 * full and nothing was taken (answer 503/429). > 0: an HTTP status with err set (a prompt
 * that does not fit, ...), nothing taken. */
int api_submit(Job *j, InMsg *m, StructSpec *spec, char *err, size_t n);

#endif

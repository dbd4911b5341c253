/* The OpenAI dialect's answers (see api_openai.c): text_completion and chat.completion
 * objects, their SSE chunks, logprobs in both shapes (completions: tokens / token_logprobs /
 * top_logprobs / text_offset; chat: content[{token, logprob, bytes, top_logprobs}]) and
 * usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_common.h"

enum { OAI_COMPLETION = 0, OAI_CHAT = 1 };
enum { OPT_ECHO = 0, OPT_USAGE = 1, OPT_CHAT_LOGPROBS = 2, OPT_PROMPT_LP = 3 };

cJSON *api_oai_prompt_logprobs(Job *j, const SampleResult *plp, int n, int top); /* api_openai_lp.c */
/* api_openai_tools.c: a chat choice's tool calls, streamed / in the whole message */
int api_oai_tool_chunks(Job *j, int idx, Choice *ch, const OutMsg *m);
const char *api_oai_tool_message(Job *j, int idx, Choice *ch, cJSON *msg);

cJSON *api_oai_head(Job *j, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", j->model_name);
    return o;
}

static cJSON *bytes_of(const char *p, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((unsigned char)p[i]));
    return a;
}

/* A model without a tokenizer has no text: its choices carry the ids (text ""), as vLLM's
 * do under --skip-tokenizer-init (its token_ids field). */
static void add_token_ids(Job *j, cJSON *c, const int32_t *ids, int n) {
    if (j->srv->model.tok) return;
    cJSON *a = cJSON_AddArrayToObject(c, "token_ids");
    for (int i = 0; ids && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
}

/* Chat logprobs entries for n tokens, appended to content. */
static void chat_logprobs(Job *j, cJSON *content, const int32_t *ids, const SampleResult *lp, int n) {
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        size_t len;
        const char *raw = tokenizer_piece(j->srv->model.tok, ids[i], &len);
        char *t = api_token_text(j->srv, ids[i]);
        cJSON_AddStringToObject(e, "token", t ? t : "");
        free(t);
        cJSON_AddNumberToObject(e, "logprob", lp ? lp[i].logprob : 0);
        cJSON_AddItemToObject(e, "bytes", bytes_of(raw, len));
        cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
        for (int k = 0; lp && k < lp[i].n_top && k < j->logprobs; k++) {
            cJSON *te = cJSON_CreateObject();
            raw = tokenizer_piece(j->srv->model.tok, lp[i].top[k].id, &len);
            t = api_token_text(j->srv, lp[i].top[k].id);
            cJSON_AddStringToObject(te, "token", t ? t : "");
            free(t);
            cJSON_AddNumberToObject(te, "logprob", lp[i].top[k].logprob);
            cJSON_AddItemToObject(te, "bytes", bytes_of(raw, len));
            cJSON_AddItemToArray(top, te);
        }
        cJSON_AddItemToArray(content, e);
    }
}

/* Completion logprobs for n tokens, appended to lp_obj's four lists; *offset advances by the
 * tokens' texts. lp NULL, or an entry with a NaN logprob (the prompt's first token): null. */
static void completion_logprobs(Job *j, cJSON *lo, const int32_t *ids, const SampleResult *lp, int n, size_t *offset) {
    cJSON *toks = cJSON_GetObjectItem(lo, "tokens"), *tlp = cJSON_GetObjectItem(lo, "token_logprobs");
    cJSON *top = cJSON_GetObjectItem(lo, "top_logprobs"), *off = cJSON_GetObjectItem(lo, "text_offset");
    for (int i = 0; i < n; i++) {
        char *t = api_token_text(j->srv, ids[i]);
        cJSON_AddItemToArray(toks, cJSON_CreateString(t ? t : ""));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)*offset));
        *offset += t ? strlen(t) : 0;
        free(t);
        int none = !lp || isnan(lp[i].logprob);
        cJSON_AddItemToArray(tlp, none ? cJSON_CreateNull() : cJSON_CreateNumber(lp[i].logprob));
        if (none) {
            cJSON_AddItemToArray(top, cJSON_CreateNull());
            continue;
        }
        cJSON *d = cJSON_CreateObject();
        for (int k = 0; k < lp[i].n_top && k < j->logprobs; k++) {
            char *tt = api_token_text(j->srv, lp[i].top[k].id);
            if (tt && !cJSON_GetObjectItemCaseSensitive(d, tt)) cJSON_AddNumberToObject(d, tt, lp[i].top[k].logprob);
            free(tt);
        }
        cJSON_AddItemToArray(top, d);
    }
}

static cJSON *completion_lp_new(void) {
    cJSON *lo = cJSON_CreateObject();
    cJSON_AddArrayToObject(lo, "tokens");
    cJSON_AddArrayToObject(lo, "token_logprobs");
    cJSON_AddArrayToObject(lo, "top_logprobs");
    cJSON_AddArrayToObject(lo, "text_offset");
    return lo;
}

static void add_finish(const Job *j, cJSON *choice, const Choice *ch, int done) {
    const char *fr = done ? finish_reason_openai(ch->finish) : NULL;
    if (fr) cJSON_AddStringToObject(choice, "finish_reason", fr);
    else cJSON_AddNullToObject(choice, "finish_reason");
    /* vLLM's stop_reason: the stop string or stop token id that ended it, null for EOS */
    if (done && ch->stop_reason) cJSON_AddStringToObject(choice, "stop_reason", ch->stop_reason);
    else if (done && ch->stop_token >= 0 && ch->finish == FINISH_STOP && !tokenizer_is_eog(j->srv->model.tok, ch->stop_token))
        cJSON_AddNumberToObject(choice, "stop_reason", ch->stop_token);
    else cJSON_AddNullToObject(choice, "stop_reason");
}

static cJSON *usage(Job *j) {
    int prompt = 0, completion = 0, cached = 0;
    for (int i = 0; i < j->n_prompts; i++) prompt += j->prompt_lens[i];
    for (int i = 0; i < j->n_choices; i++) completion += j->choices[i].n_output;
    for (int i = 0; i < j->n_prompts; i++) cached += j->choices[i * j->n].n_cached;
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
    cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
    cJSON_AddNumberToObject(u, "completion_tokens", completion);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", cached);
    return u;
}

void api_oai_send(Job *j, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return;
    size_t n = strlen(s);
    char *ev = malloc(n + 9);
    if (ev) {
        memcpy(ev, "data: ", 6);
        memcpy(ev + 6, s, n);
        memcpy(ev + 6 + n, "\n\n", 2);
        job_stream_send(j, ev, n + 8);
        free(ev);
    }
    free(s);
}

void api_oai_chunks(Job *j, int idx, Choice *ch, const OutMsg *m) {
    if (!j->stream) return;
    int chat = j->kind == OAI_CHAT, done = m->finish != FINISH_NONE;
    int with_lp = m->lps && j->logprobs >= 0 && m->n_tokens > 0;
    if (chat && !ch->opened) { /* the first chunk of a chat choice names the role */
        cJSON *o = api_oai_head(j, "chat.completion.chunk");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", idx);
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        cJSON_AddNullToObject(c, "logprobs");
        cJSON_AddNullToObject(c, "finish_reason");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
        if (j->opt[OPT_USAGE]) cJSON_AddNullToObject(o, "usage");
        api_oai_send(j, o);
    }
    if (!chat && !ch->opened && j->opt[OPT_ECHO] && j->prompt_texts) { /* echo: the prompt comes first */
        cJSON *o = api_oai_head(j, "text_completion");
        cJSON *c = cJSON_CreateObject();
        int p = idx / j->n;
        cJSON_AddNumberToObject(c, "index", idx);
        cJSON_AddStringToObject(c, "text", j->prompt_texts[p]);
        if (j->logprobs >= 0 && j->prompt_ids && j->prompt_ids[p]) {
            cJSON *lo = completion_lp_new();
            size_t off = 0;
            completion_logprobs(j, lo, j->prompt_ids[p], j->choices[p * j->n].prompt_lps, j->prompt_lens[p], &off);
            cJSON_AddItemToObject(c, "logprobs", lo);
        } else {
            cJSON_AddNullToObject(c, "logprobs");
        }
        cJSON_AddNullToObject(c, "finish_reason");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
        api_oai_send(j, o);
    }
    ch->opened = 1;
    if (chat && j->ext && api_oai_tool_chunks(j, idx, ch, m)) return; /* tools: content and calls as deltas */
    int ids_only = !j->srv->model.tok && m->n_tokens > 0;
    if (m->text_len == 0 && !done && !with_lp && !ids_only && !(j->opt[OPT_PROMPT_LP] && m->prompt_lps)) return;
    cJSON *o = api_oai_head(j, chat ? "chat.completion.chunk" : "text_completion");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", idx);
    if (chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (m->text_len || !done) cJSON_AddStringToObject(d, "content", m->text);
    } else {
        cJSON_AddStringToObject(c, "text", m->text);
        add_token_ids(j, c, m->tokens, m->n_tokens);
    }
    if (!with_lp) {
        cJSON_AddNullToObject(c, "logprobs");
    } else if (chat) {
        chat_logprobs(j, cJSON_AddArrayToObject(cJSON_AddObjectToObject(c, "logprobs"), "content"), m->tokens, m->lps,
                      m->n_tokens);
    } else { /* text_offset continues from the tokens sent before */
        size_t off = j->opt[OPT_ECHO] && j->prompt_texts ? strlen(j->prompt_texts[idx / j->n]) : 0;
        for (int i = 0; i < ch->n_tokens - m->n_tokens; i++) {
            char *t = api_token_text(j->srv, ch->tokens[i]);
            off += t ? strlen(t) : 0;
            free(t);
        }
        cJSON *lo = completion_lp_new();
        completion_logprobs(j, lo, m->tokens, m->lps, m->n_tokens, &off);
        cJSON_AddItemToObject(c, "logprobs", lo);
    }
    add_finish(j, c, ch, done);
    if (j->opt[OPT_PROMPT_LP] && m->prompt_lps) /* vLLM sends them with a choice's first tokens */
        cJSON_AddItemToObject(chat ? o : c, "prompt_logprobs", api_oai_prompt_logprobs(j, m->prompt_lps, m->n_prompt_tokens,
                                                                                       j->opt[OPT_PROMPT_LP] - 1));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
    if (j->opt[OPT_USAGE]) cJSON_AddNullToObject(o, "usage");
    api_oai_send(j, o);
}

void api_oai_finish(Job *j) {
    int chat = j->kind == OAI_CHAT;
    if (j->stream) {
        if (j->opt[OPT_USAGE]) {
            cJSON *o = api_oai_head(j, chat ? "chat.completion.chunk" : "text_completion");
            cJSON_AddArrayToObject(o, "choices");
            cJSON_AddItemToObject(o, "usage", usage(j));
            api_oai_send(j, o);
        }
        job_stream_send(j, "data: [DONE]\n\n", 14);
        job_end_stream(j);
        return;
    }
    cJSON *o = api_oai_head(j, chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    for (int i = 0; i < j->n_choices; i++) {
        Choice *ch = &j->choices[i];
        int p = i / j->n;
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", i);
        const char *fr = NULL;
        if (chat) {
            cJSON *msg = cJSON_AddObjectToObject(c, "message");
            cJSON_AddStringToObject(msg, "role", "assistant");
            if (j->ext) fr = api_oai_tool_message(j, i, ch, msg);
            else cJSON_AddStringToObject(msg, "content", ch->text ? ch->text : "");
            if (j->logprobs >= 0)
                chat_logprobs(j, cJSON_AddArrayToObject(cJSON_AddObjectToObject(c, "logprobs"), "content"), ch->tokens,
                              ch->lps, ch->n_tokens);
            else cJSON_AddNullToObject(c, "logprobs");
        } else {
            const char *echo = j->opt[OPT_ECHO] && j->prompt_texts ? j->prompt_texts[p] : "";
            size_t el = strlen(echo), tl = ch->text_len;
            char *t = malloc(el + tl + 1);
            if (t) memcpy(t, echo, el), memcpy(t + el, ch->text ? ch->text : "", tl), t[el + tl] = 0;
            cJSON_AddStringToObject(c, "text", t ? t : "");
            free(t);
            add_token_ids(j, c, ch->tokens, ch->n_tokens);
            if (j->logprobs >= 0) {
                cJSON *lo = completion_lp_new();
                size_t off = 0;
                if (j->opt[OPT_ECHO] && j->prompt_ids && j->prompt_ids[p]) /* the prompt's tokens first */
                    completion_logprobs(j, lo, j->prompt_ids[p], j->choices[p * j->n].prompt_lps, j->prompt_lens[p], &off);
                completion_logprobs(j, lo, ch->tokens, ch->lps, ch->n_tokens, &off);
                cJSON_AddItemToObject(c, "logprobs", lo);
            } else {
                cJSON_AddNullToObject(c, "logprobs");
            }
        }
        add_finish(j, c, ch, 1);
        if (fr) cJSON_ReplaceItemInObject(c, "finish_reason", cJSON_CreateString(fr));
        if (!chat && j->opt[OPT_PROMPT_LP])
            cJSON_AddItemToObject(c, "prompt_logprobs", api_oai_prompt_logprobs(j, j->choices[p * j->n].prompt_lps,
                                                                                j->prompt_lens[p], j->opt[OPT_PROMPT_LP] - 1));
        cJSON_AddItemToArray(choices, c);
    }
    if (chat && j->opt[OPT_PROMPT_LP])
        cJSON_AddItemToObject(o, "prompt_logprobs", api_oai_prompt_logprobs(j, j->choices[0].prompt_lps, j->prompt_lens[0],
                                                                            j->opt[OPT_PROMPT_LP] - 1));
    cJSON_AddItemToObject(o, "usage", usage(j));
    job_respond_json(j, o);
}

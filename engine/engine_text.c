/* A sequence's tokens becoming text: taking a sampled token (counts, first-token time, the
 * EOS and stop-token checks) and absorbing it into the output text (incremental
 * detokenization, stop strings found across token boundaries and cut from the text). */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

/* Room for one more token's text (and a flush) at the end of s->text. */
static int text_reserve(Engine *e, EngineSeq *s) {
    size_t need = s->text_len + detok_max_bytes(e->tm.tok) + 16;
    if (need <= s->text_cap) return 0;
    size_t cap = s->text_cap ? s->text_cap : 256;
    while (cap < need) cap *= 2;
    char *t = realloc(s->text, cap);
    if (!t) return -1;
    s->text = t, s->text_cap = cap;
    return 0;
}

int engine_absorb_text(Engine *e, EngineSeq *s, int32_t id) {
    if (!e->tm.tok) return 0; /* a dummy model: token ids only */
    if (text_reserve(e, s)) return 0;
    size_t old = s->text_len;
    if (s->stop_token < 0) { /* a stop token id is not part of the text; a constraint's terminal is */
        int as_text = s->matcher && constraint_matcher_is_terminal(s->matcher, id);
        s->text_len += (as_text ? detok_push_text : detok_push)(e->tm.tok, &s->detok, id, s->text + s->text_len,
                                                               s->text_cap - s->text_len - 1);
    }
    if (s->finish) s->text_len += detok_flush(&s->detok, s->text + s->text_len, s->text_cap - s->text_len - 1);
    s->text[s->text_len] = 0;
    if (s->finish == FINISH_STOP || s->finish == FINISH_ABORT || s->params.n_stop == 0 ||
        s->n_out < s->params.min_tokens)
        return 0;
    /* only the part of the text that the new bytes could complete */
    size_t from = old > s->max_stop_len ? old - s->max_stop_len + 1 : 0;
    size_t best = (size_t)-1;
    const char *which = NULL;
    for (int i = 0; i < s->params.n_stop; i++) {
        const char *hit = strstr(s->text + from, s->params.stop[i]);
        if (hit && (size_t)(hit - s->text) < best) best = (size_t)(hit - s->text), which = s->params.stop[i];
    }
    if (!which) return 0;
    s->text_len = best < s->emitted ? s->emitted : best; /* the stop string is not emitted */
    s->text[s->text_len] = 0;
    s->finish = FINISH_STOP;
    s->stop_reason = which;
    return 1;
}

static int is_stop(const Engine *e, EngineSeq *s, int32_t id) {
    for (int j = 0; j < s->params.n_stop_token_ids; j++)
        if (s->params.stop_token_ids[j] == id) {
            s->stop_token = id;
            return 1;
        }
    return !s->params.ignore_eos && e->tm.tok && tokenizer_is_eog(e->tm.tok, id);
}

int engine_take_token(Engine *e, EngineSeq *s, int32_t id, double now) {
    s->step_tokens[0] = id;
    s->n_step = 1;
    if (s->n_out++ == 0) s->t_first_token = now;
    e->stats.generation_tokens_total++;
    return is_stop(e, s, id);
}

/* Compiling a constraint (see constraint.h): the spec's front end builds a grammar, which is
 * compiled to DFAs, whose states get their token tables; every phase runs against one
 * deadline and one memory budget, and a limit that is hit is named in the error. Choices
 * are built here (an alternation of literals); the other kinds have a front end each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/clock.h"
#include "base/err.h"
#include "engine/constraint_internal.h"
#include "engine/tool_call.h"

static const char *const k_names[CONSTRAINT_KIND_COUNT] = {"json_schema", "json_object", "regex", "choice", "grammar",
                                                           "tools"};

const char *constraint_kind_name(ConstraintKind k) { return (unsigned)k < CONSTRAINT_KIND_COUNT ? k_names[k] : "?"; }

void constraint_limits_default(ConstraintLimits *l) {
    l->max_seconds = 10.0;
    l->eager_seconds = 0.2;
    l->max_bytes = (size_t)512 << 20;
    l->max_states = 200000;
    l->what = "the structured-output limits";
}

static int choice_build(Grammar *g, const char *text, size_t len, char *err, size_t errlen) {
    cJSON *a = cJSON_ParseWithLength(text, len);
    int rc = 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) == 0) {
        rc = err_set(err, errlen, -EINVAL, "a choice must be a non-empty list of strings");
        goto done;
    }
    int n = cJSON_GetArraySize(a), k = 0;
    int *alts = malloc((size_t)n * sizeof *alts);
    if (!alts) {
        rc = err_set(err, errlen, -ENOMEM, "out of memory");
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsString(e)) {
            free(alts);
            rc = err_set(err, errlen, -EINVAL, "a choice must be a non-empty list of strings");
            goto done;
        }
        alts[k++] = grammar_str(g, e->valuestring);
    }
    int root = grammar_rule_new(g, "root");
    grammar_rule_set(g, root, grammar_alt(g, alts, n));
    free(alts);
done:
    cJSON_Delete(a);
    return rc;
}

/* The control tokens whose text is exactly one of the tool format's literals (the trigger,
 * Mistral's [ARGS]; never an end-of-generation token). */
static void find_terminals(Constraint *c, const ConstraintVocab *v, const char *spec, size_t len) {
    const char *lit[2];
    int n_lit = tool_spec_controls(spec, len, lit);
    for (int32_t id = 0; id < v->n_vocab && c->n_terminal < 4; id++) {
        int eog = 0, hit = 0;
        for (int k = 0; k < v->n_eog; k++) eog |= v->eog[k] == id;
        for (int k = 0; k < n_lit; k++)
            hit |= v->len[id] == strlen(lit[k]) && !memcmp(v->bytes + v->off[id], lit[k], v->len[id]);
        if (!v->usable[id] && !eog && hit) c->terminal[c->n_terminal++] = id;
    }
}

int constraint_compile(const ConstraintVocab *v, const ConstraintSpec *spec, const ConstraintLimits *lim,
                       Constraint **out, char *err, size_t errlen) {
    *out = NULL;
    double t0 = base_now();
    Grammar g;
    grammar_init(&g, lim->max_bytes / 4);
    int rc;
    const char *text = spec->text ? spec->text : "";
    switch (spec->kind) {
    case CONSTRAINT_JSON_SCHEMA: rc = json_schema_build(&g, text, spec->len, err, errlen); break;
    case CONSTRAINT_JSON_OBJECT: rc = json_object_build(&g); break;
    case CONSTRAINT_REGEX: rc = regex_build(&g, text, spec->len, err, errlen); break;
    case CONSTRAINT_CHOICE: rc = choice_build(&g, text, spec->len, err, errlen); break;
    case CONSTRAINT_GRAMMAR: rc = gbnf_build(&g, text, spec->len, err, errlen); break;
    case CONSTRAINT_TOOLS: rc = tool_grammar_build(&g, text, spec->len, err, errlen); break;
    default: rc = err_set(err, errlen, -EINVAL, "unknown constraint kind %d", (int)spec->kind);
    }
    if (!rc && g.err) rc = err_set(err, errlen, g.err, "%s", g.msg);
    Constraint *c = rc ? NULL : calloc(1, sizeof *c);
    if (!rc && !c) rc = err_set(err, errlen, -ENOMEM, "out of memory");
    if (rc) {
        grammar_free(&g);
        return rc;
    }
    atomic_init(&c->refs, 1);
    c->n_vocab = v->n_vocab, c->words = v->words;
    c->max_bytes = lim->max_bytes;
    GrammarLimits gl;
    grammar_limits_default(&gl);
    gl.max_states = lim->max_states;
    gl.max_nfa_states = lim->max_states * 2;
    gl.max_bytes = lim->max_bytes;
    gl.deadline = t0 + lim->max_seconds;
    gl.what = lim->what;
    rc = grammar_compile(&g, &gl, &c->dfa, err, errlen);
    grammar_free(&g);
    if (!rc) {
        atomic_store(&c->bytes, c->dfa.bytes);
        double soft = t0 + (lim->eager_seconds < lim->max_seconds ? lim->eager_seconds : lim->max_seconds);
        rc = constraint_ci_build(c, v, soft, err, errlen);
    }
    if (rc) {
        constraint_unref(c);
        return rc;
    }
    if (spec->kind == CONSTRAINT_TOOLS) find_terminals(c, v, text, spec->len);
    c->compile_seconds = base_now() - t0;
    *out = c;
    return 0;
}

Constraint *constraint_ref(Constraint *c) {
    if (c) atomic_fetch_add(&c->refs, 1);
    return c;
}

void constraint_unref(Constraint *c) {
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
    constraint_tables_free(c);
    grammar_dfa_free(&c->dfa);
    free(c);
}

void constraint_info(const Constraint *c, ConstraintInfo *info) {
    info->n_rules = c->dfa.n_rules;
    info->n_states = c->dfa.n_states;
    info->bytes = atomic_load(&c->bytes);
    info->compile_seconds = c->compile_seconds;
    info->ci_tokens = atomic_load(&((Constraint *)c)->ci_tokens);
    info->cd_tokens = atomic_load(&((Constraint *)c)->cd_tokens);
    info->eager_tables = c->n_eager;
    info->lazy_tables = atomic_load(&((Constraint *)c)->n_lazy);
}

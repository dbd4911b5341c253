/* Chat templates rendered natively. chat_template_init recognises the family of the
 * model's Jinja template (tokenizer.chat_template) by markers only that family's template
 * contains, or takes the family the user named with --chat-template; chat_template_apply
 * then writes exactly what Jinja2 makes of the official template of that family (tests/ref/
 * make_chat_fixture.py renders them with jinja2 the way transformers does: trim_blocks and
 * lstrip_blocks on, so the newlines after block tags vanish). A system prompt the template
 * hard-codes (SmolLM2 and Qwen2 add one when the conversation has none) is read out of the
 * template's source, so it is not tied to one model. */
#include "engine/chat_template.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "engine/chat_template_internal.h"

static const char *const k_kind_names[CHAT_TEMPLATE_COUNT] = {"chatml", "llama3", "llama2", "mistral", "zephyr",
                                                              "mistral-nemo"};

const char *chat_template_kind_name(ChatTemplateKind k) {
    return (unsigned)k < CHAT_TEMPLATE_COUNT ? k_kind_names[k] : "unknown";
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* The literal text of a hard-coded ChatML system turn: what follows "<|im_start|>system" and
 * a newline (a real one, or the escape \n inside a Jinja string) up to "<|im_end|>", when that
 * stretch is plain string-literal text: no quote ends the literal and no expression is spliced
 * in. Escapes are undone. NULL when the template has no such literal. */
static char *find_default_system(const char *src) {
    static const char open[] = "<|im_start|>system", close[] = "<|im_end|>";
    for (const char *p = strstr(src, open); p; p = strstr(p + 1, open)) {
        const char *s = p + sizeof open - 1;
        if (s[0] == '\n') s += 1;
        else if (s[0] == '\\' && s[1] == 'n') s += 2;
        else continue;
        const char *e = strstr(s, close);
        if (!e || e == s) continue;
        char *out = malloc((size_t)(e - s) + 1);
        if (!out) return NULL;
        size_t o = 0;
        int ok = 1;
        for (const char *c = s; c < e && ok; c++) {
            if (*c == '\'' || *c == '"' || *c == '{' || *c == '}') ok = 0;
            else if (*c == '\\' && c + 1 < e) {
                c++;
                out[o++] = *c == 'n' ? '\n' : *c == 't' ? '\t' : *c;
            } else out[o++] = *c;
        }
        out[o] = 0;
        if (ok) return out;
        free(out);
    }
    return NULL;
}

/* bos/eos may point at the current texts, so the copies are made before the frees. */
static int set_texts(ChatTemplate *ct, const char *bos, const char *eos) {
    char *b = dup_str(bos), *e = dup_str(eos);
    if ((bos && !b) || (eos && !e)) { free(b); free(e); return -1; }
    free(ct->bos_text);
    free(ct->eos_text);
    ct->bos_text = b;
    ct->eos_text = e;
    return 0;
}

/* Llama-3.1 and later always open with a system turn that starts "Cutting Knowledge Date:
 * <cutoff>\nToday Date: <date>\n\n". Both come from the template: the cutoff line as
 * written, the date from its `set date_string = "..."` default, or today's date where the
 * template asks for strftime_now (Llama-3.2), as transformers would fill it in. */
static char *find_date_preamble(const char *src) {
    const char *k = strstr(src, "Cutting Knowledge Date:");
    if (!k) return NULL;
    size_t kl = 0;
    while (k[kl] && k[kl] != '\n' && k[kl] != '\\' && k[kl] != '"' && k[kl] != '\'') kl++;
    char date[64] = "26 Jul 2024";
    const char *d = strstr(src, "date_string = \"");
    if (strstr(src, "strftime_now")) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(date, sizeof date, "%d %b %Y", &tm);
    } else if (d) {
        d += strlen("date_string = \"");
        const char *e = strchr(d, '"');
        if (e && e - d < (long)sizeof date) snprintf(date, sizeof date, "%.*s", (int)(e - d), d);
    }
    size_t n = kl + strlen(date) + 32;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%.*s\nToday Date: %s\n\n", (int)kl, k, date);
    return out;
}

/* The variant of the family, by markers only its template has. */
static ChatFlavor find_flavor(ChatTemplateKind kind, const char *src) {
    if (kind == CHAT_TEMPLATE_CHATML) {
        if (strstr(src, "multi_step_tool") && strstr(src, "last_query_index")) return CHAT_FLAVOR_QWEN3;
        if (strstr(src, "json_to_python_type") && strstr(src, "You are a function calling AI model"))
            return CHAT_FLAVOR_HERMES;
        if (strstr(src, "Reasoning Mode: ") && strstr(src, "SmolLM")) return CHAT_FLAVOR_SMOLLM3;
    }
    if (kind == CHAT_TEMPLATE_MISTRAL && strstr(src, "[SYSTEM_PROMPT]") && strstr(src, "[TOOL_CALLS]")) {
        if (strstr(src, "[CALL_ID]") && strstr(src, "[TOOL_CONTENT]")) return CHAT_FLAVOR_MISTRAL_SMALL;
        if (strstr(src, "[THINK]") && strstr(src, "tools_definition")) return CHAT_FLAVOR_MINISTRAL;
        if (strstr(src, "tools_description")) return CHAT_FLAVOR_DEVSTRAL;
        return CHAT_FLAVOR_MISTRAL_V7;
    }
    return CHAT_FLAVOR_DEFAULT;
}

int chat_template_set_tokens(ChatTemplate *ct, const char *bos_text, const char *eos_text) {
    /* Only the texts the family's template actually writes are kept. */
    int uses_bos = ct->flavor == CHAT_FLAVOR_HERMES || ct->kind == CHAT_TEMPLATE_LLAMA3 ||
                   ct->kind == CHAT_TEMPLATE_LLAMA2 || ct->kind == CHAT_TEMPLATE_MISTRAL ||
                   ct->kind == CHAT_TEMPLATE_MISTRAL_NEMO;
    int uses_eos = ct->kind == CHAT_TEMPLATE_LLAMA2 || ct->kind == CHAT_TEMPLATE_MISTRAL || ct->kind == CHAT_TEMPLATE_ZEPHYR ||
                   ct->kind == CHAT_TEMPLATE_MISTRAL_NEMO;
    return set_texts(ct, uses_bos ? (bos_text ? bos_text : ct->bos_text) : NULL,
                     uses_eos ? (eos_text ? eos_text : ct->eos_text) : NULL);
}

int chat_template_init(ChatTemplate *ct, const char *jinja_src, const char *name, char *err, size_t errlen) {
    memset(ct, 0, sizeof *ct);
    int kind = -1;
    if (name) {
        for (int k = 0; k < CHAT_TEMPLATE_COUNT; k++)
            if (strcmp(name, k_kind_names[k]) == 0) kind = k;
        if (kind < 0) {
            return err_set(err, errlen, -EINVAL, "--chat-template %s: unknown template name (known: chatml, llama3, llama2, mistral, "
                     "zephyr, mistral-nemo)", name);
        }
    } else if (!jinja_src || !*jinja_src) {
        snprintf(err, errlen, "the model has no chat template (tokenizer.chat_template); choose one with "
                 "--chat-template chatml|llama3|llama2|mistral|zephyr|mistral-nemo");
        return -1;
    } else if (strstr(jinja_src, "<|im_start|>")) {
        kind = CHAT_TEMPLATE_CHATML;
    } else if (strstr(jinja_src, "<|start_header_id|>")) {
        kind = CHAT_TEMPLATE_LLAMA3;
    } else if (strstr(jinja_src, "[INST]") && strstr(jinja_src, "<<SYS>>")) {
        kind = CHAT_TEMPLATE_LLAMA2;
    } else if (strstr(jinja_src, "[AVAILABLE_TOOLS]") && !strstr(jinja_src, "[SYSTEM_PROMPT]")) {
        kind = CHAT_TEMPLATE_MISTRAL_NEMO;
    } else if (strstr(jinja_src, "[INST]")) {
        kind = CHAT_TEMPLATE_MISTRAL;
    } else if (strstr(jinja_src, "<|user|>") && strstr(jinja_src, "eos_token") && !strstr(jinja_src, "<|end|>")) {
        kind = CHAT_TEMPLATE_ZEPHYR;
    } else {
        snprintf(err, errlen, "the model's chat template is not one Piston recognises (ChatML, Llama-3, Llama-2, "
                 "Mistral, Zephyr, Mistral-Nemo); choose one with --chat-template chatml|llama3|llama2|mistral|zephyr|mistral-nemo");
        return -1;
    }
    ct->kind = (ChatTemplateKind)kind;
    static const char *const bos[CHAT_TEMPLATE_COUNT] = {NULL, "<|begin_of_text|>", "<s>", "<s>", NULL, "<s>"};
    static const char *const eos[CHAT_TEMPLATE_COUNT] = {NULL, NULL, "</s>", "</s>", "</s>", "</s>"};
    if (set_texts(ct, bos[kind], eos[kind]) != 0) goto oom;
    if (!name && kind == CHAT_TEMPLATE_CHATML) ct->default_system = find_default_system(jinja_src);
    if (!name && kind == CHAT_TEMPLATE_LLAMA3) ct->system_preamble = find_date_preamble(jinja_src);
    if (!name) ct->flavor = find_flavor(ct->kind, jinja_src);
    if (chat_flavor_mistral_args(ct->flavor) && !(ct->default_system = chat_mistral_default_system(jinja_src)))
        ct->flavor = CHAT_FLAVOR_MISTRAL_V7; /* its default system prompt is written some way Piston cannot read */
    return 0;
oom:
    chat_template_free(ct);
    return err_set(err, errlen, -ENOMEM, "out of memory");
}

void chat_template_free(ChatTemplate *ct) {
    free(ct->default_system);
    free(ct->system_preamble);
    free(ct->bos_text);
    free(ct->eos_text);
    memset(ct, 0, sizeof *ct);
}

/* ---- rendering ---- */

typedef struct Buf {
    char *p;
    size_t n, cap;
    int oom;
    ChatSpans *sp; /* where message text is marked, or NULL */
} Buf;

static void put_n(Buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put(Buf *b, const char *s) {
    if (s) put_n(b, s, strlen(s));
}

/* Message text (content, a system prompt): plain text to the tokenizer. */
static void put_text(Buf *b, const char *s) {
    size_t start = b->n;
    put(b, s);
    if (b->sp) chat_spans_mark(b->sp, start, b->n);
}

void chat_spans_mark(ChatSpans *s, size_t start, size_t end) {
    if (s->oom || end <= start) return;
    if (s->n > 0 && s->v[s->n - 1].end >= start) { /* touches the last one */
        if (end > s->v[s->n - 1].end) s->v[s->n - 1].end = end;
        return;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        TokSpan *v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) { s->oom = 1; return; }
        s->v = v, s->cap = cap;
    }
    s->v[s->n++] = (TokSpan){start, end};
}

/* Python's str.isspace() for one code point: what Jinja's trim filter and str.strip() remove. */
static int py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Decodes the code point starting at s[i] (of n); its length in *len (1 for a stray byte). */
static uint32_t cp_at(const unsigned char *s, size_t i, size_t n, size_t *len) {
    unsigned c = s[i];
    size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + l > n) l = 1;
    uint32_t v = l == 1 ? c : l == 2 ? (c & 0x1F) : l == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < l; k++) v = (v << 6) | (s[i + k] & 0x3F);
    *len = l;
    return l == 1 && c >= 0x80 ? 0xFFFD : v;
}

/* The span of s without its leading and trailing white space (Python's strip(), which is
 * what Jinja's trim does): [*start, *end). */
void chat_trim_span(const char *str, size_t *start_out, size_t *end_out) {
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t n = strlen((const char *)s), start = 0, end = n, l;
    while (start < n && py_space(cp_at(s, start, n, &l))) start += l;
    /* From the right: step back to the start of each code point. */
    while (end > start) {
        size_t p = end - 1;
        while (p > start && (s[p] & 0xC0) == 0x80 && end - p < 4) p--;
        if (!py_space(cp_at(s, p, end, &l)) || p + l != end) break;
        end = p;
    }
    *start_out = start, *end_out = end;
}

/* Appends message text s with leading and trailing white space removed. */
static void put_trimmed(Buf *b, const char *str) {
    size_t start, end, at = b->n;
    chat_trim_span(str, &start, &end);
    put_n(b, (str ? str : "") + start, end - start);
    if (b->sp) chat_spans_mark(b->sp, at, b->n);
}

static int is_role(const ChatMessage *m, const char *role) {
    return m->role && strcmp(m->role, role) == 0;
}

static int render_chatml(const ChatTemplate *ct, const ChatMessage *m, int n, int gen, Buf *b) {
    for (int i = 0; i < n; i++) {
        if (i == 0 && ct->default_system && !is_role(&m[0], "system")) {
            put(b, "<|im_start|>system\n");
            put(b, ct->default_system);
            put(b, "<|im_end|>\n");
        }
        put(b, "<|im_start|>");
        put(b, m[i].role); /* a role is one the server checked (system, user, assistant, tool) */
        put(b, "\n");
        put_text(b, m[i].content);
        put(b, "<|im_end|>\n");
    }
    if (gen) put(b, "<|im_start|>assistant\n");
    return 0;
}

static int render_llama3(const ChatTemplate *ct, const ChatMessage *m, int n, int gen, Buf *b) {
    if (ct->system_preamble) {
        /* Llama-3.1: BOS, then always a system turn, the given system prompt trimmed after
         * the dates; the other turns follow as in Llama-3. */
        put(b, ct->bos_text);
        put(b, "<|start_header_id|>system<|end_header_id|>\n\n");
        put(b, ct->system_preamble);
        if (n > 0 && is_role(&m[0], "system")) {
            put_trimmed(b, m[0].content);
            m++;
            n--;
        }
        put(b, "<|eot_id|>");
    }
    for (int i = 0; i < n; i++) {
        if (i == 0 && !ct->system_preamble) put(b, ct->bos_text);
        put(b, "<|start_header_id|>");
        put(b, m[i].role);
        put(b, "<|end_header_id|>\n\n");
        put_trimmed(b, m[i].content);
        put(b, "<|eot_id|>");
    }
    if (gen) put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return 0;
}

/* Llama-2 and Mistral: after an optional leading system message (Llama-2 only), user and
 * assistant must alternate, starting with the user, as their templates demand. */
static int check_alternation(const ChatMessage *m, int n, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "user") != (i % 2 == 0)) {
            return err_set(err, errlen, -EINVAL, "Conversation roles must alternate user/assistant/user/assistant/...");
        }
    }
    return 0;
}

static int render_llama2(const ChatTemplate *ct, const ChatMessage *m, int n, Buf *b, char *err, size_t errlen) {
    const char *sys = NULL;
    if (n > 0 && is_role(&m[0], "system")) {
        sys = m[0].content ? m[0].content : "";
        m++;
        n--;
    }
    if (check_alternation(m, n, err, errlen) != 0) return -1;
    for (int i = 0; i < n; i++) {
        /* The template strips the whole content, the <<SYS>> block included (so a system
         * prompt with leading spaces keeps them, and an empty user turn loses the "\n\n"). */
        Buf c = {0}; /* message text as a whole: <<SYS>> is no control token */
        if (i == 0 && sys) {
            put(&c, "<<SYS>>\n");
            put(&c, sys);
            put(&c, "\n<</SYS>>\n\n");
        }
        put(&c, m[i].content);
        if (c.oom) { free(c.p); return -2; }
        if (is_role(&m[i], "user")) {
            put(b, ct->bos_text);
            put(b, "[INST] ");
            put_trimmed(b, c.p);
            put(b, " [/INST]");
        } else if (is_role(&m[i], "assistant")) {
            put(b, " ");
            put_trimmed(b, c.p);
            put(b, " ");
            put(b, ct->eos_text);
        }
        free(c.p);
    }
    return 0;
}

static int render_mistral(const ChatTemplate *ct, const ChatMessage *m, int n, Buf *b, char *err, size_t errlen) {
    put(b, ct->bos_text);
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "user") != (i % 2 == 0)) return check_alternation(m, n, err, errlen);
        if (is_role(&m[i], "user")) {
            put(b, "[INST] ");
            put_text(b, m[i].content);
            put(b, " [/INST]");
        } else if (is_role(&m[i], "assistant")) {
            put_text(b, m[i].content);
            put(b, ct->eos_text);
        } else {
            return err_set(err, errlen, -EINVAL, "Only user and assistant roles are supported!");
        }
    }
    return 0;
}

static int render_zephyr(const ChatTemplate *ct, const ChatMessage *m, int n, int gen, Buf *b) {
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "user") || is_role(&m[i], "system") || is_role(&m[i], "assistant")) {
            put(b, "<|");
            put(b, m[i].role);
            put(b, "|>\n");
            put_text(b, m[i].content);
            put(b, ct->eos_text);
            put(b, "\n");
        }
        if (i == n - 1 && gen) put(b, "<|assistant|>\n");
    }
    return 0;
}

int chat_template_apply(const ChatTemplate *ct, const ChatMessage *msgs, int n, int add_generation_prompt,
                        char **out, char *err, size_t errlen) {
    return chat_render_basic(ct, msgs, n, add_generation_prompt, out, NULL, err, errlen);
}

int chat_render_basic(const ChatTemplate *ct, const ChatMessage *msgs, int n, int add_generation_prompt, char **out,
                      ChatSpans *sp, char *err, size_t errlen) {
    *out = NULL;
    for (int i = 0; i < n; i++) {
        if (!msgs[i].role) {
            return err_set(err, errlen, -EINVAL, "message %d has no role", i);
        }
    }
    Buf b = {.sp = sp};
    int rc;
    put(&b, ""); /* an empty conversation still gives a string */
    switch (ct->kind) {
    case CHAT_TEMPLATE_CHATML:
        if (ct->flavor != CHAT_FLAVOR_DEFAULT) { /* the variants' plain turns are theirs too */
            free(b.p);
            return chat_render_tools(ct, msgs, n, NULL, add_generation_prompt, out, sp, err, errlen);
        }
        rc = render_chatml(ct, msgs, n, add_generation_prompt, &b);
        break;
    case CHAT_TEMPLATE_LLAMA3: rc = render_llama3(ct, msgs, n, add_generation_prompt, &b); break;
    case CHAT_TEMPLATE_LLAMA2: rc = render_llama2(ct, msgs, n, &b, err, errlen); break;
    case CHAT_TEMPLATE_MISTRAL:
        if (chat_flavor_mistral_args(ct->flavor)) { /* their plain turns are theirs too */
            free(b.p);
            return chat_render_tools(ct, msgs, n, NULL, add_generation_prompt, out, sp, err, errlen);
        }
        rc = render_mistral(ct, msgs, n, &b, err, errlen);
        break;
    case CHAT_TEMPLATE_ZEPHYR: rc = render_zephyr(ct, msgs, n, add_generation_prompt, &b); break;
    case CHAT_TEMPLATE_MISTRAL_NEMO: free(b.p); return chat_render_tools(ct, msgs, n, NULL, add_generation_prompt, out, sp, err, errlen);
    default: snprintf(err, errlen, "chat template kind %d is not known", (int)ct->kind); rc = -1;
    }
    if (rc == 0 && b.oom) {
        snprintf(err, errlen, "out of memory rendering the chat template");
        rc = -1;
    }
    if (rc != 0) {
        if (rc == -2) snprintf(err, errlen, "out of memory rendering the chat template");
        free(b.p);
        return -1;
    }
    *out = b.p;
    return 0;
}

/* ---- prompts with their message spans ---- */

static int has_tool_messages(const ChatMessage *m, int n) {
    for (int i = 0; i < n; i++)
        if (m[i].n_tool_calls || (m[i].role && !strcmp(m[i].role, "tool"))) return 1;
    return 0;
}

int chat_template_render(const ChatTemplate *ct, const ChatMessage *msgs, int n, const cJSON *tools, int gen,
                         ChatPrompt *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    ChatSpans sp = {0};
    int with_tools = tools && cJSON_GetArraySize(tools) > 0, rc;
    if (with_tools || has_tool_messages(msgs, n))
        rc = chat_render_tools(ct, msgs, n, with_tools ? tools : NULL, gen, &out->text, &sp, err, errlen);
    else
        rc = chat_render_basic(ct, msgs, n, gen, &out->text, &sp, err, errlen);
    if (rc == 0 && sp.oom) rc = err_set(err, errlen, -ENOMEM, "out of memory rendering the chat template");
    if (rc != 0) {
        free(out->text), free(sp.v);
        memset(out, 0, sizeof *out);
        return rc < 0 ? rc : -1;
    }
    out->len = strlen(out->text);
    out->plain = sp.v, out->n_plain = sp.n;
    return 0;
}

void chat_prompt_free(ChatPrompt *p) {
    free(p->text), free(p->plain);
    memset(p, 0, sizeof *p);
}

int chat_prompt_encode(const ChatTemplate *ct, const Tokenizer *tok, const ChatPrompt *p, int32_t **ids) {
    /* the template writes BOS itself where it has one (bos_text) */
    return tokenizer_encode_spans_alloc(tok, p->text, p->len, ct->bos_text == NULL, 1, p->plain, p->n_plain, ids);
}

/* Chat templates over arbitrary message lists. The input is a header byte, then pieces
 * split by 0x1e: the header's low 3 bits pick the family by name (chatml, llama3, llama2,
 * mistral, zephyr, mistral-nemo) or, 6 and 7, take the first piece as the Jinja source to
 * recognise (a GGUF's tokenizer.chat_template is outside bytes); bit 3 adds the generation
 * prompt, bit 4 takes the next piece as the tools JSON (rendering with tools), bit 5 sets
 * the model's own BOS/EOS texts from the next piece. Every other piece is a message: its
 * first byte the role (system, user, assistant, tool, or the piece's text up to ':' as a role
 * no family knows; bit 7: content null), the rest the content, and after 0x1f separators an
 * assistant's tool calls (name, arguments JSON, ...) or a tool message's call id. Rendering
 * must succeed or fail with a message; what it renders must be a C string of its length. */
#include "tests/fuzz/fuzz.h"

#include <cjson/cJSON.h>

#include "engine/chat_template.h"

#define MAX_MSGS 64
#define MAX_CALLS 8

static const char *const k_families[] = {"chatml", "llama3", "llama2", "mistral", "zephyr", "mistral-nemo"};
static const char *const k_roles[] = {"system", "user", "assistant", "tool"};

typedef struct Msgs {
    ChatMessage m[MAX_MSGS];
    ChatToolCall calls[MAX_MSGS][MAX_CALLS];
    cJSON *args[MAX_MSGS * MAX_CALLS];
    char *pieces[MAX_MSGS * 2];
    int n, n_args, n_pieces;
} Msgs;

static char *keep(Msgs *ms, char *s) {
    if (s && ms->n_pieces < (int)(sizeof ms->pieces / sizeof *ms->pieces)) ms->pieces[ms->n_pieces++] = s;
    else free(s), s = NULL;
    return s;
}

/* One message from piece p[0, n) (NUL-terminated, may hold NULs: the C view ends there). */
static void add_message(Msgs *ms, char *p, size_t n) {
    if (ms->n == MAX_MSGS || n == 0) return;
    ChatMessage *m = &ms->m[ms->n];
    memset(m, 0, sizeof *m);
    unsigned r = (unsigned char)p[0];
    char *body = p + 1;
    if ((r & 0x7f) < 4) {
        m->role = k_roles[r & 0x7f];
    } else { /* a role of the input's own */
        char *colon = strchr(body, ':');
        if (colon) *colon = 0;
        m->role = body;
        body = colon ? colon + 1 : body + strlen(body);
    }
    char *sep = strchr(body, 0x1f);
    if (sep) *sep++ = 0;
    m->content = (r & 0x80) ? NULL : body;
    if (!strcmp(m->role, "tool")) m->tool_call_id = sep;
    ChatToolCall *calls = ms->calls[ms->n];
    while (sep && !strcmp(m->role, "assistant") && m->n_tool_calls < MAX_CALLS) {
        char *name = sep, *args = strchr(name, 0x1f);
        if (args) *args++ = 0;
        sep = args ? strchr(args, 0x1f) : NULL;
        if (sep) *sep++ = 0;
        cJSON *a = args ? cJSON_Parse(args) : NULL;
        if (a) ms->args[ms->n_args++] = a;
        calls[m->n_tool_calls++] = (ChatToolCall){m->n_tool_calls % 2 ? "call_1" : NULL, name, a};
    }
    m->tool_calls = m->n_tool_calls ? calls : NULL;
    ms->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    FuzzIn in = {data + 1, size - 1};
    unsigned h = data[0];
    Msgs *ms = calloc(1, sizeof *ms);
    if (!ms) return 0;
    char err[512] = "";
    ChatTemplate ct;
    char *jinja = (h & 7) >= 6 ? keep(ms, fuzz_piece(&in, "\x1e", NULL)) : NULL;
    int rc = chat_template_init(&ct, jinja, (h & 7) < 6 ? k_families[h & 7] : NULL, err, sizeof err);
    if (rc) {
        if (!err[0]) abort(); /* a refusal says why */
        goto done;
    }
    cJSON *tools = NULL;
    if (h & 0x10) {
        char *t = keep(ms, fuzz_piece(&in, "\x1e", NULL));
        tools = t ? cJSON_Parse(t) : NULL;
    }
    if (h & 0x20) {
        char *t = keep(ms, fuzz_piece(&in, "\x1e", NULL));
        char *eos = t ? strchr(t, 0x1f) : NULL;
        if (eos) *eos++ = 0;
        if (t && chat_template_set_tokens(&ct, t, eos)) goto free_ct;
    }
    while (in.n && ms->n < MAX_MSGS) {
        size_t n;
        char *p = keep(ms, fuzz_piece(&in, "\x1e", &n));
        if (!p) break;
        add_message(ms, p, n);
    }
    for (int with_tools = 0; with_tools < 2; with_tools++) {
        char *out = NULL;
        err[0] = 0;
        rc = with_tools ? chat_template_apply_tools(&ct, ms->m, ms->n, tools, (h >> 3) & 1, &out, err, sizeof err)
                        : chat_template_apply(&ct, ms->m, ms->n, (h >> 3) & 1, &out, err, sizeof err);
        if (rc == 0 && !out) abort();
        if (rc != 0 && !err[0]) abort();
        if (out && strlen(out) > (size_t)1 << 30) abort();
        free(out);
    }
    (void)chat_template_tool_format(&ct);
free_ct:
    cJSON_Delete(tools);
    chat_template_free(&ct);
done:
    for (int i = 0; i < ms->n_args; i++) cJSON_Delete(ms->args[i]);
    for (int i = 0; i < ms->n_pieces; i++) free(ms->pieces[i]);
    free(ms);
    return 0;
}

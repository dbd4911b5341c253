/* A conversation through the model's chat template, as the OpenAI, Ollama and Anthropic
 * dialects send it: content as a string or a list of text parts (joined with newlines, as
 * vLLM does), OpenAI's developer role as system, assistant messages with tool_calls (OpenAI:
 * arguments as JSON text, parsed here, since the templates write them with tojson; Ollama:
 * arguments as an object), and tool results (role "tool", with tool_call_id). Tools, when
 * given, are rendered by the family's own tool prompt (chat_template_tools.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "server/api_tools.h"

typedef struct Conv {
    ChatMessage *msgs;
    ChatToolCall *calls;
    char **owned;   /* joined contents */
    cJSON **parsed; /* parsed arguments */
    int n, n_calls, n_owned, n_parsed;
} Conv;

static void conv_free(Conv *c) {
    for (int i = 0; i < c->n_owned; i++) free(c->owned[i]);
    for (int i = 0; i < c->n_parsed; i++) cJSON_Delete(c->parsed[i]);
    free(c->msgs), free(c->calls), free(c->owned), free(c->parsed);
}

/* A message's content as one string (NULL on error, with err set). */
static const char *content_text(Conv *c, const cJSON *content, int k, char *err, size_t n) {
    if (!content || cJSON_IsNull(content)) return "";
    if (cJSON_IsString(content)) return content->valuestring;
    if (!cJSON_IsArray(content)) return snprintf(err, n, "messages[%d].content must be a string or a list of text parts", k), NULL;
    size_t total = 1;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text"), *ty = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsString(t) || (ty && !(cJSON_IsString(ty) && !strcmp(ty->valuestring, "text"))))
            return snprintf(err, n, "messages[%d].content: only text parts are supported (this is a text model)", k), NULL;
        total += strlen(t->valuestring) + 1;
    }
    char *joined = c->owned[c->n_owned++] = calloc(1, total);
    if (!joined) return snprintf(err, n, "out of memory"), NULL;
    size_t len = 0; /* appended at an offset: strcat per part would be quadratic in the parts */
    cJSON_ArrayForEach(part, content) {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t tl = strlen(t);
        if (len) joined[len++] = '\n';
        memcpy(joined + len, t, tl + 1), len += tl;
    }
    return joined;
}

static int tool_calls(Conv *c, const cJSON *calls, int k, char *err, size_t n) {
    const cJSON *tc;
    cJSON_ArrayForEach(tc, calls) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function"), *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
        const cJSON *name = f ? cJSON_GetObjectItemCaseSensitive(f, "name") : NULL;
        const cJSON *args = f ? cJSON_GetObjectItemCaseSensitive(f, "arguments") : NULL;
        if (!cJSON_IsString(name))
            return err_set(err, n, -EINVAL, "messages[%d].tool_calls: each needs function.name", k);
        const cJSON *a = args;
        if (cJSON_IsString(args)) { /* OpenAI: JSON text */
            cJSON *p = cJSON_ParseWithOpts(args->valuestring, NULL, 1); /* nothing after the value */
            if (!p) return err_set(err, n, -EINVAL, "messages[%d].tool_calls: function.arguments is not valid JSON", k);
            c->parsed[c->n_parsed++] = p;
            a = p;
        } else if (!args || cJSON_IsNull(args)) {
            cJSON *p = cJSON_CreateObject();
            c->parsed[c->n_parsed++] = p;
            a = p;
        }
        c->calls[c->n_calls++] = (ChatToolCall){cJSON_IsString(id) ? id->valuestring : NULL, name->valuestring, a};
    }
    return 0;
}

/* ASCII whitespace, as Python's str.strip sees it */
static int is_space(char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); }

/* Cut p after the final message's text, as transformers does for continue_final_message: the
 * last place its stripped text occurs, kept whole when the template wrote its leading part as
 * given, else up to the stripped end. The spans are cut with it. 0, or -EINVAL with err set. */
static int open_final(ChatPrompt *p, const char *content, char *err, size_t n) {
    const char *a = content, *z = content + strlen(content);
    while (a < z && is_space(*a)) a++;
    while (z > a && is_space(z[-1])) z--;
    size_t m = (size_t)(z - a), lead = strlen(a), cut = 0;
    int found = 0;
    for (size_t at = p->len >= m ? p->len - m + 1 : 0; at-- > 0 && !found;)
        if (!memcmp(p->text + at, a, m))
            found = 1, cut = at + (at + lead <= p->len && !memcmp(p->text + at, a, lead) ? lead : m);
    if (!found)
        return err_set(err, n, -EINVAL,
                       "the final message's text is not in the rendered prompt: it cannot be continued");
    p->text[cut] = 0, p->len = cut;
    int k = 0;
    for (int i = 0; i < p->n_plain; i++) {
        if (p->plain[i].start >= cut) continue;
        p->plain[k] = p->plain[i];
        if (p->plain[k].end > cut) p->plain[k].end = cut;
        k++;
    }
    p->n_plain = k;
    return 0;
}

int api_conversation_end(const cJSON *b, ConvEnd *end, char *err, size_t n) {
    int cont = 0, gen = -1; /* absent: vLLM's defaults, continue false and add true */
    if (json_opt_bool(b, "continue_final_message", &cont, err, n) ||
        json_opt_bool(b, "add_generation_prompt", &gen, err, n))
        return 400;
    if (cont && gen == 1)
        return snprintf(err, n, "'continue_final_message' and 'add_generation_prompt' cannot both be true"), 400;
    *end = cont ? CONV_CONTINUE : gen == 0 ? CONV_AS_IS : CONV_GENERATE;
    return 0;
}

int api_render_conversation(Server *s, const cJSON *messages, const char *system, const cJSON *tools, ChatPrompt *out,
                            char *err, size_t n) {
    return api_render_conversation_end(s, messages, system, tools, CONV_GENERATE, out, err, n);
}

int api_render_conversation_end(Server *s, const cJSON *messages, const char *system, const cJSON *tools, ConvEnd end,
                                ChatPrompt *out, char *err, size_t n) {
    memset(out, 0, sizeof *out);
    if (!s->model.chat)
        return err_set(err, n, -EINVAL, "this model has no usable chat template: %s", s->model.chat_err);
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0)
        return err_set(err, n, -EINVAL, "'messages' must be a non-empty list of {role, content}");
    int count = cJSON_GetArraySize(messages) + 1, n_calls = 0, rc = -EINVAL;
    const cJSON *e;
    cJSON_ArrayForEach(e, messages) n_calls += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "tool_calls"));
    Conv c = {calloc((size_t)count, sizeof(ChatMessage)), calloc((size_t)n_calls + 1, sizeof(ChatToolCall)),
              calloc((size_t)count, sizeof(char *)), calloc((size_t)n_calls + 1, sizeof(cJSON *)), 0, 0, 0, 0};
    if (!c.msgs || !c.calls || !c.owned || !c.parsed) {
        rc = err_set(err, n, -ENOMEM, "out of memory");
        goto done;
    }
    if (system && *system) c.msgs[c.n++] = (ChatMessage){.role = "system", .content = system};
    int k = 0;
    cJSON_ArrayForEach(e, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(e, "role");
        if (!cJSON_IsObject(e) || !cJSON_IsString(role)) {
            snprintf(err, n, "messages[%d] must be an object with a string 'role'", k);
            goto done;
        }
        const char *r = role->valuestring;
        if (!strcmp(r, "developer")) r = "system"; /* OpenAI's newer name for the system role */
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "tool")) {
            snprintf(err, n, "messages[%d]: role '%s' is not supported (system, user, assistant, tool)", k, r);
            goto done;
        }
        ChatMessage *m = &c.msgs[c.n];
        *m = (ChatMessage){.role = r};
        if (!(m->content = content_text(&c, cJSON_GetObjectItemCaseSensitive(e, "content"), k, err, n))) goto done;
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(e, "tool_calls"), *tcid = cJSON_GetObjectItemCaseSensitive(e, "tool_call_id");
        if (cJSON_IsArray(calls) && cJSON_GetArraySize(calls) > 0) {
            if (strcmp(r, "assistant")) {
                snprintf(err, n, "messages[%d]: only assistant messages have tool_calls", k);
                goto done;
            }
            m->tool_calls = c.calls + c.n_calls;
            m->n_tool_calls = cJSON_GetArraySize(calls);
            if (tool_calls(&c, calls, k, err, n)) goto done;
        }
        if (cJSON_IsString(tcid)) m->tool_call_id = tcid->valuestring;
        c.n++, k++;
    }
    int has_tools = tools && cJSON_GetArraySize(tools) > 0, has_tool_msgs = n_calls > 0;
    for (int i = 0; i < c.n; i++) {
        if (strcmp(c.msgs[i].role, "tool")) continue;
        /* as OpenAI requires: a tool result answers the assistant's tool calls before it */
        int j = i - 1;
        while (j >= 0 && !strcmp(c.msgs[j].role, "tool")) j--;
        if (j < 0 || !c.msgs[j].n_tool_calls) {
            snprintf(err, n, "messages[%d]: a message with role 'tool' must answer a preceding assistant message with "
                     "'tool_calls'", i - (system && *system ? 1 : 0));
            goto done;
        }
        has_tool_msgs = 1;
    }
    (void)has_tool_msgs; /* chat_template_render takes the tool template for tools or tool messages */
    const char *final = c.msgs[c.n - 1].content, *t = final;
    while (is_space(*t)) t++;
    if (end == CONV_CONTINUE && !*t && !c.msgs[c.n - 1].n_tool_calls) /* nothing to continue: a new turn */
        c.n--, end = CONV_GENERATE;
    rc = chat_template_render(s->model.chat, c.msgs, c.n, has_tools ? tools : NULL, end == CONV_GENERATE, out, err, n);
    if (!rc && end == CONV_CONTINUE && (rc = open_final(out, final, err, n))) chat_prompt_free(out);
done:
    conv_free(&c);
    return rc;
}

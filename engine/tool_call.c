/* The tool-call spec and its grammar (see tool_call.h). The spec is JSON so that it can be a
 * constraint's cache key: {"format", "mode", "parallel", "tools": [{"name", "parameters"}]}.
 * Function names are literals of the grammar and must be what OpenAI allows (letters,
 * digits, '_', '-', '.', at most 64), so they never need escaping; parameters must describe
 * an object (or be absent: no arguments, "{}"). */
#include "engine/tool_call.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/constraint_internal.h"
#include "engine/tool_call_internal.h"

static const char *const k_formats[] = {"none", "hermes", "llama3", "mistral", "mistral-args"};

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int tool_spec_build(ToolFormat fmt, ToolMode mode, int parallel, const cJSON *tools, const char *only_name, char **out,
                    char *err, size_t errlen) {
    *out = NULL;
    if (fmt == TOOL_FORMAT_NONE) return err_set(err, errlen, -EINVAL, "this model's chat template has no tool-call format");
    if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0) return err_set(err, errlen, -EINVAL, "'tools' must be a non-empty list");
    cJSON *spec = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(spec, "tools");
    cJSON_AddStringToObject(spec, "format", k_formats[fmt]);
    cJSON_AddStringToObject(spec, "mode", mode == TOOL_MODE_AUTO ? "auto" : "required");
    cJSON_AddBoolToObject(spec, "parallel", parallel && k_tool_syntax[fmt].multi);
    int rc = 0, i = 0, found = !only_name;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type"), *f = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *name = f ? cJSON_GetObjectItemCaseSensitive(f, "name") : NULL;
        const cJSON *params = f ? cJSON_GetObjectItemCaseSensitive(f, "parameters") : NULL;
        if ((type && !(cJSON_IsString(type) && !strcmp(type->valuestring, "function"))) || !cJSON_IsObject(f)) {
            rc = err_set(err, errlen, -EINVAL, "tools[%d]: only {\"type\": \"function\", \"function\": {...}} tools are supported", i);
            break;
        }
        if (!cJSON_IsString(name) || !valid_name(name->valuestring)) {
            rc = err_set(err, errlen, -EINVAL, "tools[%d].function.name must be 1 to 64 letters, digits, '_', '-' or '.'", i);
            break;
        }
        const cJSON *ptype = cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "type") : NULL;
        if ((params && !cJSON_IsNull(params) && !cJSON_IsObject(params)) ||
            (ptype && !(cJSON_IsString(ptype) && !strcmp(ptype->valuestring, "object")))) {
            rc = err_set(err, errlen, -EINVAL, "tools[%d].function.parameters must be a JSON Schema of an object", i);
            break;
        }
        i++;
        if (only_name && strcmp(only_name, name->valuestring)) continue;
        found = 1;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", name->valuestring);
        if (cJSON_IsObject(params) && cJSON_GetArraySize(params) > 0)
            cJSON_AddItemToObject(e, "parameters", cJSON_Duplicate(params, 1));
        cJSON_AddItemToArray(list, e);
    }
    if (!rc && !found) rc = err_set(err, errlen, -EINVAL, "tool_choice names the function '%s', which is not in 'tools'", only_name);
    if (!rc && !(*out = cJSON_PrintUnformatted(spec))) rc = err_set(err, errlen, -ENOMEM, "out of memory");
    cJSON_Delete(spec);
    return rc;
}

static int spec_format(const cJSON *spec) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(spec, "format");
    for (int i = 1; i < TOOL_FORMAT_COUNT; i++)
        if (cJSON_IsString(fmt) && !strcmp(fmt->valuestring, k_formats[i])) return i;
    return 0;
}

int tool_spec_controls(const char *text, size_t len, const char *out[2]) {
    cJSON *spec = cJSON_ParseWithLength(text, len);
    const ToolSyntax *sx = &k_tool_syntax[spec_format(spec)];
    cJSON_Delete(spec);
    int n = 0;
    if (*sx->trigger) out[n++] = sx->trigger;
    if (sx->control) out[n++] = sx->control;
    return n;
}

/* One call of function t: head NAME mid ARGS tail. */
static int one_call(Grammar *g, const ToolSyntax *sx, const cJSON *t, char *err, size_t errlen, int *rc) {
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "parameters");
    int args;
    if (params) {
        if ((*rc = json_schema_expr(g, params, &args, err, errlen))) return -1;
    } else {
        args = grammar_str(g, "{}");
    }
    int r = grammar_rule_new(g, cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring);
    int parts[] = {grammar_str(g, sx->head), grammar_str(g, cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring),
                   grammar_str(g, sx->mid), args, grammar_str(g, sx->tail)};
    grammar_rule_set(g, r, grammar_seq(g, parts, 5));
    return grammar_ref(g, r);
}

int tool_grammar_build(Grammar *g, const char *text, size_t len, char *err, size_t errlen) {
    cJSON *spec = cJSON_ParseWithLength(text, len);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(spec, "tools");
    int f = spec_format(spec), rc = 0;
    if (!f || !cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0) {
        cJSON_Delete(spec);
        return err_set(err, errlen, -EINVAL, "a tool-call spec needs a format and tools");
    }
    const ToolSyntax *sx = &k_tool_syntax[f];
    int is_auto = !strcmp(cJSON_GetObjectItemCaseSensitive(spec, "mode")->valuestring, "auto");
    int parallel = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "parallel"));
    int root = grammar_rule_new(g, "root"), n = cJSON_GetArraySize(tools), k = 0;
    int *calls = malloc((size_t)n * sizeof *calls);
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        if (calls && !rc) calls[k++] = one_call(g, sx, t, err, errlen, &rc);
    }
    if (!calls) rc = err_set(err, errlen, -ENOMEM, "out of memory");
    if (!rc) {
        int call = grammar_alt(g, calls, k);
        int list = parallel ? grammar_seq2(g, call, grammar_repeat(g, grammar_seq2(g, grammar_str(g, sx->sep), call), 0, -1)) : call;
        list = grammar_seq3(g, grammar_str(g, sx->open), list, grammar_str(g, sx->close));
        int body = list;
        if (is_auto && *sx->trigger) { /* free text without the trigger, then perhaps the calls */
            body = grammar_seq2(g, grammar_text_without(g, sx->trigger), grammar_opt(g, list));
        } else if (is_auto) { /* Llama-3: a call is a whole turn that starts with "{"; anything else is text */
            ByteSet not_brace = {{0}}, any = {{0}};
            for (unsigned b = 0; b < 256; b++) byteset_add(&any, b), b != '{' ? byteset_add(&not_brace, b) : (void)0;
            int text_turn = grammar_opt(g, grammar_seq2(g, grammar_byteset(g, &not_brace), grammar_repeat(g, grammar_byteset(g, &any), 0, -1)));
            body = grammar_alt2(g, list, text_turn);
        }
        grammar_rule_set(g, root, body);
    }
    free(calls);
    cJSON_Delete(spec);
    return rc;
}

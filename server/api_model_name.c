/* The model as requests name it and as the server reports it: the served names and the
 * argument of `piston serve`, each also in Ollama's full forms ([registry.ollama.ai/]
 * [library/]NAME[:latest]), and the placeholders huggingface_hub sends on the OpenAI routes
 * that TGI serves too (see api_common.h). Pure functions of the options. */
#include <string.h>

#include "server/api_common.h"

/* A name as Ollama spells it in full, [registry.ollama.ai/][library/]NAME[:latest], reduced to
 * NAME (and its tag when it is not the default one): *len gets the reduced length. */
static const char *ollama_short(const char *name, size_t *len) {
    static const char *const prefixes[] = {"registry.ollama.ai/", "library/"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t p = strlen(prefixes[i]);
        if (!strncmp(name, prefixes[i], p) && name[p]) name += p;
    }
    size_t n = strlen(name);
    if (n > 7 && !strcmp(name + n - 7, ":latest")) n -= 7;
    *len = n;
    return name;
}

int api_model_name_is(const char *want, const char *have) {
    if (!want || !have) return 0;
    if (!strcmp(want, have)) return 1;
    size_t nw, nh;
    const char *w = ollama_short(want, &nw), *h = ollama_short(have, &nh);
    return nw == nh && !memcmp(w, h, nw);
}

const char *api_model_ref(const Server *s) {
    const char *a = s->opt.model_arg ? s->opt.model_arg : "";
    int is_path = a[0] == '/' || a[0] == '.' || a[0] == '~' || strstr(a, ".gguf") || strchr(a, '/') != strrchr(a, '/');
    if (!is_path) return a;
    size_t n = strlen(a);
    while (n > 1 && a[n - 1] == '/') n--; /* a directory given as dir/ */
    const char *b = a + n;
    while (b > a && b[-1] != '/') b--;
    return *b ? b : a;
}

int api_model_matches(const Server *s, const char *name, int tgi_clients) {
    if (!name || !*name) return 1;
    /* huggingface_hub's InferenceClient names "tgi" (older) or "dummy" (2.x) when no model is
     * given, on the OpenAI routes that TGI serves too; elsewhere an unknown name is a 404 */
    if (tgi_clients && (!strcmp(name, "tgi") || !strcmp(name, "dummy"))) return 1;
    for (int i = 0; i < s->opt.n_model_names; i++)
        if (api_model_name_is(name, s->opt.model_names[i])) return 1;
    return api_model_name_is(name, s->opt.model_arg);
}

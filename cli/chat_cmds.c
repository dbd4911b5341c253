/* The slash commands of `piston run`, as Ollama's `run` spells them: /set parameter NAME
 * VALUE (and /set system, history, wordwrap, verbose, format json and their opposites;
 * think refused), /show info, parameters, system, template, license and modelfile
 * (chat_modelfile.c), /clear, /bye, /?. A command never reaches the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/chat.h"

int chat_push(Chat *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        ChatMessage *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m) return -1;
        c->msgs = m, c->cap = cap;
    }
    c->msgs[c->n].role = role;
    c->msgs[c->n].content = strdup(content);
    return c->msgs[c->n++].content ? 0 : -1;
}

void chat_reset(Chat *c) {
    for (int i = 0; i < c->n; i++) free((char *)c->msgs[i].content);
    c->n = 0;
}

static const char help_text[] =
    "Available commands:\n"
    "  /set            Set session variables (/set parameter, system, history, wordwrap, verbose, format)\n"
    "  /show           Show model information (/show info, parameters, system, template, license, modelfile)\n"
    "  /clear          Clear session context\n"
    "  /bye            Exit\n"
    "  /?, /help       Help for a command\n"
    "\n"
    "Use \"\"\" to begin a multi-line message.\n";

static const char set_help[] =
    "Available Parameters:\n"
    "  /set parameter seed <int>             Random number seed\n"
    "  /set parameter num_predict <int>      Max number of tokens to predict\n"
    "  /set parameter top_k <int>            Pick from top k num of tokens\n"
    "  /set parameter top_p <float>          Pick token based on sum of probabilities\n"
    "  /set parameter min_p <float>          Pick token based on top token probability * min_p\n"
    "  /set parameter temperature <float>    Set creativity level\n"
    "  /set parameter repeat_penalty <float> How strongly to penalize repetitions\n"
    "  /set parameter repeat_last_n -1       How far back to look for repetitions (-1: all, as Piston does)\n"
    "  /set parameter presence_penalty <float>, frequency_penalty <float>\n"
    "  /set parameter stop <string> ...      Set the stop parameters\n"
    "  /set system <string>   /set history | nohistory   /set wordwrap | nowordwrap   /set verbose | quiet\n"
    "  /set format json       Replies are one JSON object   /set noformat   Replies are free text\n";

static int set_parameter(Chat *c, const char *name, const char *value) {
    char *end;
    double v = strtod(value, &end);
    int num = end != value && *end == 0;
    SamplingParams sp = c->sp;
    if (!strcmp(name, "stop")) {
        for (int i = 0; i < c->n_stops; i++) free(c->stops[i]);
        c->n_stops = 0;
        char *copy = strdup(value), *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t && c->n_stops < ENGINE_MAX_STOP; t = strtok_r(NULL, " ", &save))
            c->stops[c->n_stops++] = strdup(t);
        free(copy);
    } else if (!num) {
        printf("Couldn't set parameter: '%s' is not a number\n", value);
        return 1;
    } else if (!strcmp(name, "temperature")) sp.temperature = (float)v;
    else if (!strcmp(name, "top_k")) sp.top_k = (int)v;
    else if (!strcmp(name, "top_p")) sp.top_p = (float)v;
    else if (!strcmp(name, "min_p")) sp.min_p = (float)v;
    else if (!strcmp(name, "repeat_penalty")) sp.repetition_penalty = (float)v;
    else if (!strcmp(name, "presence_penalty")) sp.presence_penalty = (float)v;
    else if (!strcmp(name, "frequency_penalty")) sp.frequency_penalty = (float)v;
    else if (!strcmp(name, "seed")) sp.seed = (uint64_t)v, sp.has_seed = 1;
    else if (!strcmp(name, "num_predict")) c->n_predict = v < 0 ? 1 << 24 : (int)v;
    else if (!strcmp(name, "repeat_last_n")) { /* -1 is what Piston does; nothing to set */
        if (v != -1) {
            printf("Couldn't set parameter: Piston's repeat_penalty looks at every token of the conversation, as "
                   "vLLM's does (repeat_last_n -1); a window of %s is not supported\n",
                   value);
            return 1;
        }
    } else if (!strcmp(name, "num_ctx")) {
        printf("Couldn't set parameter: the context is fixed for the session; restart with --max-model-len %s\n", value);
        return 1;
    } else {
        printf("Couldn't set parameter: unknown parameter '%s' (/set parameter for the list)\n", name);
        return 1;
    }
    char err[256];
    if (sampling_params_validate(&sp, err, sizeof err)) {
        printf("Couldn't set parameter: %s\n", err);
        return 1;
    }
    c->sp = sp;
    printf("Set parameter '%s' to '%s'\n", name, value);
    return 1;
}

/* /set format json: every reply is one JSON object, constrained as response_format json_object */
static int set_format(Chat *c, const char *what) {
    if (strcmp(what, "json"))
        return printf("Couldn't set format: only 'json' is supported (/set noformat to turn it off)\n"), 1;
    const ConstraintVocab *v = engine_constraint_vocab(c->e);
    ConstraintSpec spec = {CONSTRAINT_JSON_OBJECT, "", 0};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    Constraint *k = NULL;
    char err[256] = "the model has no tokenizer";
    if (!v || constraint_compile(v, &spec, &lim, &k, err, sizeof err))
        return printf("Couldn't set format: %s\n", err), 1;
    if (c->format) constraint_unref(c->format);
    c->format = k;
    printf("Set format to 'json' mode.\n");
    return 1;
}

static int set_cmd(Chat *c, const char *arg) {
    char name[64] = "";
    int off = 0;
    sscanf(arg, "%63s %n", name, &off);
    const char *rest = off ? arg + off : "";
    if (!strcmp(name, "parameter")) {
        char p[64] = "";
        int o2 = 0;
        sscanf(rest, "%63s %n", p, &o2);
        if (!p[0] || !o2 || !rest[o2]) return fputs(set_help, stdout), 1;
        return set_parameter(c, p, rest + o2);
    }
    if (!strcmp(name, "system")) {
        free(c->system); /* rendered before the conversation at every turn */
        c->system = rest[0] ? strdup(rest) : NULL;
        printf("Set system message.\n");
    } else if (!strcmp(name, "history") || !strcmp(name, "nohistory")) {
        c->history = name[0] == 'h';
        printf("%s history.\n", c->history ? "Enabled" : "Disabled");
    } else if (!strcmp(name, "wordwrap") || !strcmp(name, "nowordwrap")) {
        c->wordwrap = name[0] == 'w';
        printf("Set 'wordwrap' mode %s.\n", c->wordwrap ? "on" : "off");
    } else if (!strcmp(name, "verbose") || !strcmp(name, "quiet")) {
        c->verbose = name[0] == 'v';
        printf("Set '%s' mode.\n", name);
    } else if (!strcmp(name, "format")) {
        return set_format(c, rest);
    } else if (!strcmp(name, "noformat")) {
        if (c->format) constraint_unref(c->format), c->format = NULL;
        printf("Disabled format.\n");
    } else if (!strcmp(name, "think") || !strcmp(name, "nothink")) {
        printf("Couldn't set '%s': %s has no thinking mode (its replies are plain text)\n", name,
               engine_model_config(c->e)->name);
    } else {
        fputs(set_help, stdout);
    }
    return 1;
}

static int show_cmd(Chat *c, const char *what) {
    const ModelConfig *m = engine_model_config(c->e);
    if (!strncmp(what, "info", 4)) {
        int64_t params = 0; /* the weights' element count: the layers and the embedding */
        params = (int64_t)m->n_layers * ((int64_t)m->dim * (m->n_heads + 2 * m->n_kv_heads) * m->head_dim +
                                         (int64_t)m->n_heads * m->head_dim * m->dim + 3 * (int64_t)m->dim * m->ffn_dim) +
                 (int64_t)m->vocab_size * m->dim * (m->tied_output ? 1 : 2);
        printf("  Model\n    architecture        %s\n    name                %s\n    parameters          %.1fM\n"
               "    context length      %d (serving %d)\n    embedding length    %d\n    layers              %d\n"
               "    heads / kv heads    %d / %d\n    chat template       %s\n    backend             %s (%s)\n",
               m->arch, m->name, params / 1e6, m->context_len, engine_max_model_len(c->e), m->dim, m->n_layers,
               m->n_heads, m->n_kv_heads, chat_template_kind_name(c->tpl->kind), engine_backend(c->e)->name,
               engine_backend(c->e)->device_name);
    } else if (!strncmp(what, "parameters", 10)) {
        printf("  temperature     %g\n  top_k           %d\n  top_p           %g\n  min_p           %g\n"
               "  repeat_penalty  %g\n  num_predict     %d\n",
               c->sp.temperature, c->sp.top_k, c->sp.top_p, c->sp.min_p, c->sp.repetition_penalty, c->n_predict);
        if (c->sp.has_seed) printf("  seed            %llu\n", (unsigned long long)c->sp.seed);
        for (int i = 0; i < c->n_stops; i++) printf("  stop            \"%s\"\n", c->stops[i]);
    } else if (!strncmp(what, "system", 6)) {
        printf("%s\n", c->system ? c->system : "No system message was specified for this model.");
    } else if (!strncmp(what, "modelfile", 9)) {
        chat_show_modelfile(c);
    } else if (!strncmp(what, "license", 7)) {
        chat_show_license(c);
    } else if (!strncmp(what, "template", 8)) {
        printf("%s (Piston renders the model's template family in C)\n", chat_template_kind_name(c->tpl->kind));
    } else {
        printf("Available Commands:\n  /show info         Show details for this model\n"
               "  /show parameters   Show parameters for this model\n  /show system       Show system message\n"
               "  /show template     Show prompt template\n  /show license      Show model license\n"
               "  /show modelfile    Show Modelfile for this model\n");
    }
    return 1;
}

int chat_command(Chat *c, const char *line) {
    if (line[0] != '/') return 0;
    const char *arg = line + strcspn(line, " ");
    while (*arg == ' ') arg++;
    size_t n = strcspn(line, " ");
    if ((n == 4 && !strncmp(line, "/bye", 4)) || (n == 5 && !strncmp(line, "/exit", 5))) return -1;
    if (n == 6 && !strncmp(line, "/clear", 6)) {
        chat_reset(c);
        printf("Cleared session context\n");
        return 1;
    }
    if (n == 4 && !strncmp(line, "/set", 4)) return set_cmd(c, arg);
    if (n == 5 && !strncmp(line, "/show", 5)) return show_cmd(c, arg);
    if ((n == 2 && !strncmp(line, "/?", 2)) || (n == 5 && !strncmp(line, "/help", 5))) {
        fputs(!strncmp(arg, "set", 3) ? set_help : help_text, stdout);
        return 1;
    }
    if ((n == 5 && !strncmp(line, "/load", 5)) || (n == 5 && !strncmp(line, "/save", 5))) {
        printf("%.*s: saving and loading sessions is not available in `piston run`\n", (int)n, line);
        return 1;
    }
    printf("Unknown command '%.*s'. Type /? for help\n", (int)n, line);
    return 1;
}

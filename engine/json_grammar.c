/* JSON's grammar for constraints (see json_grammar.h), written as llama.cpp's
 * json-schema-to-grammar writes it, with the bounds that header explains. */
#include "engine/json_grammar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/constraint_internal.h"

void json_rules_init(JsonRules *j, Grammar *g) {
    j->g = g;
    j->ws = j->string = j->number = j->integer = j->value = j->object = j->array = j->chars = -1;
}

static int digits(Grammar *g, int min, int max) { return grammar_repeat(g, grammar_byte_range(g, '0', '9'), min, max); }

int json_ws(JsonRules *j) {
    Grammar *g = j->g;
    if (j->ws < 0) {
        j->ws = grammar_rule_new(g, "ws");
        ByteSet indent = {{0}};
        byteset_add(&indent, ' '), byteset_add(&indent, '\t');
        int nl = grammar_seq2(g, grammar_str(g, "\n"), grammar_repeat(g, grammar_byteset(g, &indent), 0, 20));
        grammar_rule_set(g, j->ws, grammar_opt(g, grammar_alt2(g, grammar_str(g, " "), nl)));
    }
    return grammar_ref(g, j->ws);
}

int json_char(JsonRules *j) {
    Grammar *g = j->g;
    static const CpRange plain[] = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
    ByteSet esc = {{0}};
    for (const char *p = "\"\\/bfnrt"; *p; p++) byteset_add(&esc, (unsigned char)*p);
    ByteSet hex = {{0}}, lead = {{0}}, low = {{0}};
    for (const char *p = "0123456789abcdefABCDEF"; *p; p++) byteset_add(&hex, (unsigned char)*p);
    for (const char *p = "0123456789abcefABCEF"; *p; p++) byteset_add(&lead, (unsigned char)*p);
    for (const char *p = "01234567"; *p; p++) byteset_add(&low, (unsigned char)*p);
    /* \uXXXX but not a surrogate half (D800-DFFF): one escape is one character, as the
     * length keywords count */
    int h3 = grammar_repeat(g, grammar_byteset(g, &hex), 3, 3), h2 = grammar_repeat(g, grammar_byteset(g, &hex), 2, 2);
    int d = grammar_seq3(g, grammar_alt2(g, grammar_str(g, "d"), grammar_str(g, "D")), grammar_byteset(g, &low), h2);
    int u = grammar_seq2(g, grammar_str(g, "u"), grammar_alt2(g, grammar_seq2(g, grammar_byteset(g, &lead), h3), d));
    int escape = grammar_seq2(g, grammar_str(g, "\\"), grammar_alt2(g, grammar_byteset(g, &esc), u));
    return grammar_alt2(g, grammar_class(g, plain, 3, 1), escape);
}

int json_string(JsonRules *j) {
    Grammar *g = j->g;
    if (j->string < 0) {
        j->string = grammar_rule_new(g, "string");
        int q = grammar_str(g, "\"");
        grammar_rule_set(g, j->string, grammar_seq3(g, q, grammar_repeat(g, json_char(j), 0, -1), grammar_str(g, "\"")));
    }
    return grammar_ref(g, j->string);
}

int json_integer(JsonRules *j) {
    Grammar *g = j->g;
    if (j->integer < 0) {
        j->integer = grammar_rule_new(g, "integer");
        int mag = grammar_alt2(g, grammar_str(g, "0"), grammar_seq2(g, grammar_byte_range(g, '1', '9'), digits(g, 0, 15)));
        grammar_rule_set(g, j->integer, grammar_seq2(g, grammar_opt(g, grammar_str(g, "-")), mag));
    }
    return grammar_ref(g, j->integer);
}

int json_number(JsonRules *j) {
    Grammar *g = j->g;
    if (j->number < 0) {
        j->number = grammar_rule_new(g, "number");
        int frac = grammar_opt(g, grammar_seq2(g, grammar_str(g, "."), digits(g, 1, 16)));
        ByteSet e = {{0}}, sign = {{0}};
        byteset_add(&e, 'e'), byteset_add(&e, 'E'), byteset_add(&sign, '+'), byteset_add(&sign, '-');
        int exp = grammar_opt(g, grammar_seq3(g, grammar_byteset(g, &e), grammar_opt(g, grammar_byteset(g, &sign)),
                                              digits(g, 1, 3)));
        grammar_rule_set(g, j->number, grammar_seq3(g, json_integer(j), frac, exp));
    }
    return grammar_ref(g, j->number);
}

int json_object(JsonRules *j) {
    Grammar *g = j->g;
    if (j->object < 0) {
        j->object = grammar_rule_new(g, "object");
        int member = grammar_seq(g, (int[]){json_string(j), json_ws(j), grammar_str(g, ":"), json_ws(j), json_value(j),
                                           json_ws(j)}, 6);
        int more = grammar_repeat(g, grammar_seq3(g, grammar_str(g, ","), json_ws(j), member), 0, -1);
        int body = grammar_opt(g, grammar_seq2(g, member, more));
        grammar_rule_set(g, j->object, grammar_seq(g, (int[]){grammar_str(g, "{"), json_ws(j), body, grammar_str(g, "}")}, 4));
    }
    return grammar_ref(g, j->object);
}

static int json_array(JsonRules *j) {
    Grammar *g = j->g;
    if (j->array < 0) {
        j->array = grammar_rule_new(g, "array");
        int item = grammar_seq2(g, json_value(j), json_ws(j));
        int more = grammar_repeat(g, grammar_seq3(g, grammar_str(g, ","), json_ws(j), item), 0, -1);
        int body = grammar_opt(g, grammar_seq2(g, item, more));
        grammar_rule_set(g, j->array, grammar_seq(g, (int[]){grammar_str(g, "["), json_ws(j), body, grammar_str(g, "]")}, 4));
    }
    return grammar_ref(g, j->array);
}

int json_value(JsonRules *j) {
    Grammar *g = j->g;
    if (j->value < 0) {
        j->value = grammar_rule_new(g, "value");
        int alts[] = {json_object(j), json_array(j), json_string(j), json_number(j), grammar_str(g, "true"),
                      grammar_str(g, "false"), grammar_str(g, "null")};
        grammar_rule_set(g, j->value, grammar_alt(g, alts, 7));
    }
    return grammar_ref(g, j->value);
}

void json_escape(const char *s, char *o) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') *o++ = '\\', *o++ = (char)c;
        else if (c == '\n') *o++ = '\\', *o++ = 'n';
        else if (c == '\r') *o++ = '\\', *o++ = 'r';
        else if (c == '\t') *o++ = '\\', *o++ = 't';
        else if (c == '\b') *o++ = '\\', *o++ = 'b';
        else if (c == '\f') *o++ = '\\', *o++ = 'f';
        else if (c < 0x20) o += sprintf(o, "\\u%04x", c);
        else *o++ = (char)c;
    }
    *o = 0;
}

int json_literal_string(JsonRules *j, const char *s) {
    size_t n = strlen(s);
    char *buf = malloc(6 * n + 3);
    if (!buf) return grammar_fail(j->g, -ENOMEM, "out of memory");
    buf[0] = '"';
    json_escape(s, buf + 1);
    strcat(buf, "\"");
    int x = grammar_str(j->g, buf);
    free(buf);
    return x;
}

int json_object_build(Grammar *g) {
    JsonRules j;
    int root = grammar_rule_new(g, "root");
    json_rules_init(&j, g);
    grammar_rule_set(g, root, json_object(&j));
    return 0; /* errors stay in g */
}

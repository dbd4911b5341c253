/* JSON's own grammar, shared by the JSON Schema front end (json_schema*.c), "any JSON object"
 * (response_format json_object, Ollama's format "json") and tool calls (tool_call.c). Rules
 * are made on first use, so a grammar holds only the ones it refers to.
 *
 * Choices that bound the output, since a model sampled at temperature 1 will otherwise
 * sometimes never stop: whitespace between tokens is at most one space, or one newline and
 * up to 20 spaces or tabs of indentation; numbers have at most 16 integer digits, 16
 * fraction digits and 3 exponent digits. Strings are unbounded unless a schema bounds them. */
#ifndef PISTON_JSON_GRAMMAR_H
#define PISTON_JSON_GRAMMAR_H

#include "engine/grammar.h"

typedef struct JsonRules {
    Grammar *g;
    int ws, string, number, integer, value, object, array, chars;
} JsonRules;

void json_rules_init(JsonRules *j, Grammar *g);
int json_ws(JsonRules *j);      /* references to the shared rules */
int json_string(JsonRules *j);
int json_number(JsonRules *j);
int json_integer(JsonRules *j);
int json_value(JsonRules *j);   /* any JSON value */
int json_object(JsonRules *j);  /* any JSON object */
/* One character of a JSON string's content: a character other than '"', '\\' and the
 * controls, or an escape (expression, not a rule). */
int json_char(JsonRules *j);
/* The JSON encoding of the string s (quotes included) as a literal. */
int json_literal_string(JsonRules *j, const char *s);
/* Text of s as JSON string content (no quotes) into out (cap >= 6 * strlen(s) + 1). */
void json_escape(const char *s, char *out);

#endif

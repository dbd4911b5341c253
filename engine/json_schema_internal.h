/* Inside the JSON Schema front end: the converter's state, shared by json_schema.c
 * (references, combinators, the dispatch on type), json_schema_object.c (objects, arrays)
 * and json_schema_scalar.c
 * (strings with lengths, patterns and formats; integers and numbers with bounds; const and
 * enum literals). Not for use outside those files. */
#ifndef PISTON_JSON_SCHEMA_INTERNAL_H
#define PISTON_JSON_SCHEMA_INTERNAL_H

#include <cjson/cJSON.h>

#include "engine/json_grammar.h"

typedef struct JsRef {
    char *ref;
    int rule;
} JsRef;

typedef struct Js {
    Grammar *g;
    JsonRules j;
    const cJSON *doc;
    JsRef *refs;
    int n_refs, cap_refs;
    int depth;
    char path[512];     /* JSON pointer of the schema being converted, for messages */
    char *err;
    size_t errlen;
    int rc;
} Js;

/* Records the first error, naming the current path; returns -1. */
int js_fail(Js *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Convert a subschema found at the path segment fmt (the path grows and shrinks with it). */
int js_child(Js *s, const cJSON *schema, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int js_object(Js *s, const cJSON *schema);
int js_array(Js *s, const cJSON *schema);
/* The JSON text of v as a literal (const and enum values). */
int js_literal(Js *s, const cJSON *v);
int js_string(Js *s, const cJSON *schema);
int js_integer(Js *s, const cJSON *schema);
int js_number(Js *s, const cJSON *schema);
/* A field that must be a non-negative integer (-1 when absent; -2 after an error). */
long js_count(Js *s, const cJSON *schema, const char *key);

#endif

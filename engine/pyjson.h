/* JSON written exactly as Python's json.dumps(x, ensure_ascii=False[, indent=n]) writes it,
 * which is what transformers' tojson filter does inside chat templates: ", " and ": "
 * separators (",", ": " and a newline with indentation when indented), keys in the
 * document's order, non-ASCII characters as they are, floats in Python's repr (the shortest
 * text that reads back, exponent form below 1e-4 and from 1e16). An integral number prints
 * as an integer: cJSON keeps no difference between 1 and 1.0. */
#ifndef PISTON_PYJSON_H
#define PISTON_PYJSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* A growing string; oom is sticky. */
typedef struct PyBuf {
    char *p;
    size_t n, cap;
    int oom;
} PyBuf;

void pybuf_put(PyBuf *b, const char *s, size_t n);
void pybuf_puts(PyBuf *b, const char *s);
/* v as json.dumps(v, ensure_ascii=False, indent=indent) (indent < 0: none) onto b. */
void pyjson_dump(PyBuf *b, const cJSON *v, int indent);
/* A string value's JSON text (quotes included), as json.dumps writes it. */
void pyjson_string(PyBuf *b, const char *s);

#endif

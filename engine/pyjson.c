/* Python's json.dumps formatting (see pyjson.h). */
#include "engine/pyjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pybuf_put(PyBuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *p = realloc(b->p, c);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p, b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void pybuf_puts(PyBuf *b, const char *s) { pybuf_put(b, s, strlen(s)); }

void pyjson_string(PyBuf *b, const char *s) {
    pybuf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *e = NULL;
        char u[8];
        switch (*p) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        default:
            if (*p < 0x20) snprintf(u, sizeof u, "\\u%04x", *p), e = u;
        }
        if (e) pybuf_puts(b, e);
        else pybuf_put(b, (const char *)p, 1);
    }
    pybuf_put(b, "\"", 1);
}

/* Python's repr of a float: the shortest digits that read back, fixed notation for
 * exponents in [-4, 16), else d.ddde+XX; ".0" on an integral fixed value. */
static void py_float(PyBuf *b, double v) {
    char t[40], digits[24];
    if (isnan(v)) return pybuf_puts(b, "NaN");
    if (isinf(v)) return pybuf_puts(b, v > 0 ? "Infinity" : "-Infinity");
    int p = 1;
    for (; p < 17; p++) {
        snprintf(t, sizeof t, "%.*e", p - 1, v);
        if (strtod(t, NULL) == v) break;
    }
    snprintf(t, sizeof t, "%.*e", p - 1, v);
    /* t: [-]d[.ddd]e[+-]XX */
    const char *q = t;
    int neg = *q == '-', nd = 0;
    if (neg) q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    digits[nd] = 0;
    int exp = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = 0;
    char out[64];
    int k = 0;
    if (neg) out[k++] = '-';
    if (exp >= -5 + 1 && exp < 16) { /* Python: repr uses fixed notation for -4 <= exp < 16 */
        if (exp < 0) {
            out[k++] = '0', out[k++] = '.';
            for (int i = 0; i < -exp - 1; i++) out[k++] = '0';
            for (int i = 0; i < nd; i++) out[k++] = digits[i];
        } else {
            for (int i = 0; i <= exp; i++) out[k++] = i < nd ? digits[i] : '0';
            out[k++] = '.';
            if (nd > exp + 1)
                for (int i = exp + 1; i < nd; i++) out[k++] = digits[i];
            else out[k++] = '0';
        }
        out[k] = 0;
    } else {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (int i = 1; i < nd; i++) out[k++] = digits[i];
        }
        snprintf(out + k, sizeof out - (size_t)k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    pybuf_puts(b, out);
}

static void newline(PyBuf *b, int indent, int level) {
    pybuf_put(b, "\n", 1);
    for (int i = 0; i < indent * level; i++) pybuf_put(b, " ", 1);
}

static void dump(PyBuf *b, const cJSON *v, int indent, int level) {
    if (cJSON_IsNull(v)) pybuf_puts(b, "null");
    else if (cJSON_IsTrue(v)) pybuf_puts(b, "true");
    else if (cJSON_IsFalse(v)) pybuf_puts(b, "false");
    else if (cJSON_IsString(v)) pyjson_string(b, v->valuestring);
    else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) {
            char t[32];
            snprintf(t, sizeof t, "%lld", (long long)d);
            pybuf_puts(b, t);
        } else py_float(b, d);
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        int obj = cJSON_IsObject(v);
        pybuf_puts(b, obj ? "{" : "[");
        if (!v->child) return pybuf_puts(b, obj ? "}" : "]");
        for (const cJSON *e = v->child; e; e = e->next) {
            if (indent >= 0) newline(b, indent, level + 1);
            if (obj) pyjson_string(b, e->string), pybuf_puts(b, ": ");
            dump(b, e, indent, level + 1);
            if (e->next) pybuf_puts(b, indent >= 0 ? "," : ", ");
        }
        if (indent >= 0) newline(b, indent, level);
        pybuf_puts(b, obj ? "}" : "]");
    }
}

void pyjson_dump(PyBuf *b, const cJSON *v, int indent) { dump(b, v, indent, 0); }

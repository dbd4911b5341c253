/* Request bodies: UTF-8 (RFC 8259's JSON is UTF-8; other bytes would reach prompts and, quoted,
 * error bodies), one JSON object with nothing after it, and error texts made valid UTF-8.
 * A long body is parsed on libuv's worker pool instead (api_body_pool.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_common.h"

/* The length of the UTF-8 sequence at p[i] (of n), or 0 when it is not one: overlong forms,
 * surrogates and code points beyond U+10FFFF are not. */
static size_t utf8_seq(const unsigned char *p, size_t i, size_t n) {
    unsigned c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || i + len > n || (len == 2 && c < 0xc2) || c > 0xf4) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[i + k] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0))) return 0;
    if (len == 4 && ((c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90))) return 0;
    return len;
}

/* The offset of the first byte of p[0, n) that is not UTF-8, or -1 when it all is. */
static long utf8_invalid_at(const unsigned char *p, size_t n) {
    for (size_t i = 0, l; i < n; i += l)
        if (!(l = utf8_seq(p, i, n))) return (long)i;
    return -1;
}

cJSON *api_json_parse(const char *body, size_t len, char *err, size_t n) {
    const char *end = NULL;
    /* JSON is UTF-8 (RFC 8259): other bytes would reach prompts and, quoted, error bodies */
    long bad = utf8_invalid_at((const unsigned char *)body, len);
    if (bad >= 0) return snprintf(err, n, "the request body is not valid UTF-8 (byte %ld): JSON must be UTF-8", bad), NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    size_t rest = j && end ? (size_t)(end - body) : 0;
    while (j && rest < len && body[rest] && strchr(" \t\r\n", body[rest])) rest++;
    if (j && rest < len) { /* {"a":1} xyz: one JSON value is the whole body */
        cJSON_Delete(j);
        return snprintf(err, n, "malformed JSON in the request body: bytes after the JSON value (at byte %zu)", rest), NULL;
    }
    if (!j) {
        if (len == 0) snprintf(err, n, "the request body is empty: a JSON object is expected");
        else snprintf(err, n, "malformed JSON in the request body (near byte %ld)", end ? (long)(end - body) : 0L);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return snprintf(err, n, "the request body must be a JSON object"), NULL;
    }
    return j;
}

cJSON *api_parse_body(Server *s, HttpConn *c, Dialect d, const HttpRequest *r) {
    char err[192];
    cJSON *j;
    if (s->parsed.req == r) { /* parsed on the worker pool (api_routes.c) */
        j = s->parsed.json;
        snprintf(err, sizeof err, "%s", s->parsed.err);
        s->parsed.req = NULL, s->parsed.json = NULL;
    } else {
        j = api_json_parse(r->body, r->body_len, err, sizeof err);
    }
    if (!j) api_error(c, d, 400, NULL, "%s", err);
    return j;
}

/* Bytes that are not valid UTF-8 (a byte-level piece that ends inside a character)
 * become U+FFFD, one per bad byte. */
char *api_utf8_sanitize(const char *p, size_t n) {
    char *o = malloc(3 * n + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq((const unsigned char *)p, i, n);
        if (len) {
            memcpy(o + j, p + i, len);
            j += len, i += len;
        } else {
            memcpy(o + j, "\xef\xbf\xbd", 3);
            j += 3, i++;
        }
    }
    o[j] = 0;
    return o;
}

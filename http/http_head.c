/* The request head (request line and header fields) checked as RFC 9112 asks, before
 * http-parser sees a byte of it. The http-parser that Debian ships is built lenient: it
 * takes bare LF line ends (so a header can hide inside another's line for a proxy that
 * splits on CRLF only), whitespace before a field's colon ("Host : a" becomes a header named
 * "Host "), any HTTP/x.y, and any Transfer-Encoding ending in chunked. Whatever two parties
 * could read differently is refused here, with the status RFC 9112 names:
 *
 *   bare LF or bare CR, obs-fold, a field name that is not a token, whitespace before the
 *   colon, a control byte in a value, a malformed request line               → 400
 *   an HTTP version other than 1.0 and 1.1                                   → 505
 *   HTTP/1.1 without exactly one Host (HTTP/1.0: more than one)              → 400
 *   Transfer-Encoding other than exactly "chunked"                           → 501
 *   Transfer-Encoding with Content-Length, or on HTTP/1.0; more than one
 *   Content-Length, or one that is not a number                              → 400
 *
 * The scan for the head's end resumes where the last one stopped, so a head that trickles
 * in byte by byte costs linear time. What the head says of its body (its Content-Length, or
 * chunked) is what frames the message: http_chunked.c and http.c hand the parser only the
 * bytes that this framing gives the message, never the next request's. */
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

static int is_tchar(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int fail(const char **msg, const char *why, int status) {
    *msg = why;
    return -status;
}

/* Empty lines before the request line (RFC 9112 2.2: a server should ignore at least one). */
static size_t skip_empty_lines(const char *p, size_t n) {
    size_t i = 0;
    while (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') i += 2;
    return i;
}

/* method SP request-target SP HTTP-version, exactly; *minor gets the version's minor digit. */
static int check_request_line(const char *p, size_t n, int *minor, const char **msg) {
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= n || p[i] != ' ') return fail(msg, "malformed request line (method)", 400);
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > ' ' && p[i] != 0x7f) i++;
    if (i == t || i >= n || p[i] != ' ') return fail(msg, "malformed request line (target)", 400);
    const char *v = p + i + 1;
    size_t vn = n - i - 1;
    if (vn != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
        return fail(msg, "malformed request line (HTTP version)", 400);
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return fail(msg, "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)", 505);
    *minor = v[7] - '0';
    return 0;
}

/* What the framing checks need from the fields, gathered line by line. */
typedef struct HeadFacts {
    int n_host, n_cl, n_te;
    int te_chunked;     /* exactly one Transfer-Encoding, and it is "chunked" */
    int cl_bad;
    uint64_t cl;
} HeadFacts;

/* The value without the optional whitespace around it. */
static void trim(const char **v, size_t *n) {
    while (*n && (**v == ' ' || **v == '\t')) (*v)++, (*n)--;
    while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t')) (*n)--;
}

static void note_field(HeadFacts *f, const char *name, size_t nn, const char *v, size_t vn) {
    trim(&v, &vn);
    if (nn == 4 && !strncasecmp(name, "host", 4)) f->n_host++;
    if (nn == 14 && !strncasecmp(name, "content-length", 14)) {
        f->n_cl++;
        int ok = vn > 0 && vn <= 18; /* 18 digits cannot overflow the parser's uint64 */
        f->cl = 0;
        for (size_t i = 0; ok && i < vn; i++) {
            ok = v[i] >= '0' && v[i] <= '9';
            f->cl = f->cl * 10 + (uint64_t)(v[i] - '0');
        }
        if (!ok) f->cl_bad = 1;
    }
    if (nn == 17 && !strncasecmp(name, "transfer-encoding", 17)) {
        f->n_te++;
        f->te_chunked = f->n_te == 1 && vn == 7 && !strncasecmp(v, "chunked", 7);
    }
}

static int check_field_line(const char *p, size_t n, HeadFacts *f, const char **msg) {
    if (p[0] == ' ' || p[0] == '\t') return fail(msg, "obsolete line folding in a header field", 400);
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i])) i++;
    if (i < n && (p[i] == ' ' || p[i] == '\t'))
        return fail(msg, "whitespace between a header field name and its colon", 400);
    if (i == 0 || i >= n || p[i] != ':') return fail(msg, "malformed header field name", 400);
    for (size_t k = i + 1; k < n; k++) {
        unsigned char ch = (unsigned char)p[k];
        if ((ch < ' ' && ch != '\t') || ch == 0x7f) return fail(msg, "control character in a header field value", 400);
    }
    note_field(f, p, i, p + i + 1, n - i - 1);
    return 0;
}

static int check_framing(const HeadFacts *f, int minor, const char **msg) {
    if (minor == 1 && f->n_host != 1)
        return fail(msg, f->n_host ? "more than one Host header" : "HTTP/1.1 request without a Host header", 400);
    if (f->n_host > 1) return fail(msg, "more than one Host header", 400);
    if (f->n_te && f->n_cl) return fail(msg, "both Transfer-Encoding and Content-Length", 400);
    if (f->n_te && minor == 0) return fail(msg, "Transfer-Encoding in an HTTP/1.0 request", 400);
    if (f->n_te && !f->te_chunked)
        return fail(msg, "Transfer-Encoding other than chunked (the only coding Piston reads)", 501);
    if (f->n_cl > 1) return fail(msg, "more than one Content-Length", 400);
    if (f->cl_bad) return fail(msg, "Content-Length is not a number", 400);
    return 0;
}

/* Every line of a complete head [0, n) (the final empty line included). */
static int check_lines(const char *p, size_t n, HttpHead *h, const char **msg) {
    HeadFacts f = {0};
    int minor = 1, rc;
    size_t line = 0;
    for (int k = 0;; k++) {
        const char *eol = memchr(p + line, '\r', n - line); /* CR LF: the scan has made sure */
        size_t len = (size_t)(eol - (p + line));
        if (len == 0) break;
        rc = k == 0 ? check_request_line(p + line, len, &minor, msg) : check_field_line(p + line, len, &f, msg);
        if (rc) return rc;
        line += len + 2;
    }
    h->chunked = f.n_te > 0;
    h->content_length = f.n_cl ? f.cl : 0;
    return check_framing(&f, minor, msg);
}

int http_head_check(const char *p, size_t n, size_t *scanned, HttpHead *h, const char **msg) {
    size_t start = skip_empty_lines(p, n);
    size_t i = *scanned > start ? *scanned : start;
    for (; i < n; i++) {
        if (p[i] == '\r' && i + 1 < n && p[i + 1] != '\n') return fail(msg, "bare CR in the request head", 400);
        if (p[i] != '\n') continue;
        if (i == 0 || p[i - 1] != '\r') return fail(msg, "bare LF in the request head (lines end with CRLF)", 400);
        if (i >= start + 3 && p[i - 2] == '\n' && p[i - 3] == '\r') {
            h->len = i + 1;
            int rc = check_lines(p + start, i + 1 - start, h, msg);
            return rc ? rc : 1;
        }
    }
    *scanned = n > 0 ? n - 1 : 0; /* a CR at the end is checked again with the byte after it */
    return 0;
}

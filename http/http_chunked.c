/* A chunked request body's framing, checked by Piston rather than trusted to http-parser,
 * which, built lenient, takes any two bytes after a chunk's data, LF alone at the end of
 * trailer lines and control bytes in chunk extensions (what lets two parsers disagree on
 * where a message ends). The scan runs ahead of the parser over the bytes received and
 * says how many belong to this message; http.c hands the parser no more than that.
 *
 *   SIZE ─hex─▶ SIZE_MORE ─CR─▶ SIZE_LF ─LF─▶ DATA (size > 0) ─n bytes─▶ DATA_CR ─CR─▶ DATA_LF ─LF─▶ SIZE
 *                  │ ';'  ╲ SP HT     ▲              │ size 0
 *                  ▼       BWS ─';'─▶ │              ▼
 *                 EXT ──────CR────────┘          TRAILER ─CR─▶ END_LF ─LF─▶ DONE
 *                                                 │ other   ▲
 *                                                 ▼         │ LF
 *                                           TRAILER_LINE ─CR─▶ TRAILER_LF
 *
 * BWS: RFC 9112 (7.1.1) allows whitespace after the size only before a chunk extension's ';',
 * so "10 \r\n" is malformed (a parser that took it as "10" and one that did not would
 * disagree). */
#include "http/http_internal.h"

static int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int is_ctl(unsigned char ch) { return (ch < ' ' && ch != '\t') || ch == 0x7f; }

static long fail(HttpConn *c, const char *why) {
    c->err_msg = why;
    return -1;
}

/* One byte outside the data; 0, or -1 with the fault (-431: the trailer is too large). A
 * faulty byte changes nothing: stepped again (conn_feed scans again once the parser has had
 * the bytes before it), it gets the same verdict. */
static int step(HttpConn *c, char ch) {
    int v;
    if (c->chunk_state >= CHUNK_TRAILER && c->trailer_bytes + 1 > c->srv->lim.max_header_bytes) {
        /* counted here, byte by byte, not by the parser's callbacks, whose timing depends on
         * how the bytes were split into reads */
        fail(c, "request header fields too large (the trailer)");
        return -431;
    }
    switch (c->chunk_state) {
    case CHUNK_SIZE:
        if ((v = hex_value(ch)) < 0) return (int)fail(c, "malformed chunk size");
        c->chunk_left = (uint64_t)v, c->chunk_digits = 1, c->chunk_state = CHUNK_SIZE_MORE;
        return 0;
    case CHUNK_SIZE_MORE:
        if ((v = hex_value(ch)) >= 0) {
            if (c->chunk_digits + 1 > 15) return (int)fail(c, "chunk size too large");
            c->chunk_digits++;
            c->chunk_left = c->chunk_left * 16 + (uint64_t)v;
        } else if (ch == ';') {
            c->chunk_state = CHUNK_EXT;
        } else if (ch == ' ' || ch == '\t') {
            c->chunk_state = CHUNK_BWS;
        } else if (ch == '\r') {
            c->chunk_state = CHUNK_SIZE_LF;
        } else {
            return (int)fail(c, ch == '\n' ? "bare LF after a chunk size" : "malformed chunk size");
        }
        return 0;
    case CHUNK_BWS:
        if (ch == ';') c->chunk_state = CHUNK_EXT;
        else if (ch != ' ' && ch != '\t') return (int)fail(c, "whitespace after a chunk size without a chunk extension");
        return 0;
    case CHUNK_EXT:
        if (ch == '\r') c->chunk_state = CHUNK_SIZE_LF;
        else if (is_ctl((unsigned char)ch)) return (int)fail(c, "control character or bare LF in a chunk extension");
        return 0;
    case CHUNK_SIZE_LF:
        if (ch != '\n') return (int)fail(c, "bare CR after a chunk size");
        c->chunk_state = c->chunk_left ? CHUNK_DATA : CHUNK_TRAILER;
        return 0;
    case CHUNK_DATA_CR:
    case CHUNK_DATA_LF:
        if (ch != (c->chunk_state == CHUNK_DATA_CR ? '\r' : '\n')) return (int)fail(c, "chunk data not followed by CRLF");
        c->chunk_state = c->chunk_state == CHUNK_DATA_CR ? CHUNK_DATA_LF : CHUNK_SIZE;
        return 0;
    case CHUNK_TRAILER:
        if (ch == '\r') c->chunk_state = CHUNK_END_LF;
        else if (ch == ' ' || ch == '\t') return (int)fail(c, "obsolete line folding in a trailer field");
        else if (is_ctl((unsigned char)ch)) return (int)fail(c, "bare LF or control character in the trailer");
        else c->chunk_state = CHUNK_TRAILER_LINE;
        return 0;
    case CHUNK_TRAILER_LINE:
        if (ch == '\r') c->chunk_state = CHUNK_TRAILER_LF;
        else if (is_ctl((unsigned char)ch)) return (int)fail(c, "bare LF or control character in the trailer");
        return 0;
    case CHUNK_TRAILER_LF:
    case CHUNK_END_LF:
        if (ch != '\n') return (int)fail(c, "bare CR in the trailer");
        c->chunk_state = c->chunk_state == CHUNK_END_LF ? CHUNK_DONE : CHUNK_TRAILER;
        return 0;
    default:
        return (int)fail(c, "chunked framing out of step");
    }
}

size_t http_chunked_scan(HttpConn *c, const char *p, size_t n, int *bad) {
    *bad = 0;
    size_t i = 0;
    while (i < n && c->chunk_state != CHUNK_DONE) {
        if (c->chunk_state == CHUNK_DATA) { /* the data: skipped whole, the parser copies it */
            size_t k = n - i < c->chunk_left ? n - i : (size_t)c->chunk_left;
            i += k;
            if ((c->chunk_left -= k) == 0) c->chunk_state = CHUNK_DATA_CR;
            continue;
        }
        int trailer = c->chunk_state >= CHUNK_TRAILER;
        int rc = step(c, p[i]);
        if (rc) {
            *bad = rc == -431 ? 431 : 400;
            break;
        }
        c->trailer_bytes += (size_t)trailer;
        i++;
    }
    return i;
}

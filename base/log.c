/* Log lines (see log.h). */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* set once at start (log.h says why this is process-wide) */
static int g_timestamps, g_json;

void log_setup(int timestamps, int json) {
    g_timestamps = timestamps || json;
    g_json = json;
}

int log_is_json(void) { return g_json; }

static const char *level_name(LogLevel l) {
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    return l >= LOG_DEBUG && l <= LOG_ERROR ? names[l] : "INFO";
}

static void now_iso(char *out, size_t cap) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%.24s.%03dZ", b, (int)(tv.tv_usec / 1000) % 1000);
}

void log_json_escape(const char *s, char *out, unsigned long cap) {
    size_t o = 0;
    for (; s && *s && o + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') out[o++] = '\\', out[o++] = (char)ch;
        else if (ch == '\n') out[o++] = '\\', out[o++] = 'n';
        else if (ch < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        else out[o++] = (char)ch;
    }
    out[o < cap ? o : cap - 1] = 0;
}

static void emit(LogLevel level, const char *msg, const char *fields, const char *text) {
    char line[24576], ts[40], esc[16384]; /* a "not found" names every place looked */
    if (!g_timestamps) {
        snprintf(line, sizeof line, "piston: %s%s%s\n", msg, text && *text ? " " : "", text ? text : "");
    } else if (g_json) {
        now_iso(ts, sizeof ts);
        log_json_escape(msg, esc, sizeof esc);
        snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"%s%s}\n", ts, level_name(level),
                 esc, fields && *fields ? "," : "", fields ? fields : "");
    } else {
        now_iso(ts, sizeof ts);
        snprintf(line, sizeof line, "%s %-5s %s%s%s\n", ts, level_name(level), msg, text && *text ? " " : "",
                 text ? text : "");
    }
    fputs(line, stderr);
}

void log_line(LogLevel level, const char *fmt, ...) {
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg, NULL, NULL);
}

void log_record(LogLevel level, const char *msg, const char *json_fields, const char *text) {
    emit(level, msg, json_fields, text);
}

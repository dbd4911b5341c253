/* Piston's log lines. Every line is one write to stderr, so lines from the loop thread and
 * the engine thread never interleave. Plain by default ("piston: message", what a command
 * line tool prints); `piston serve` turns on timestamps and levels, or one JSON object per
 * line (--log-format json) for log shippers.
 *
 * The format is process-wide state, set once at start: the one exception to "no file-scope
 * mutable state", because a log line's shape belongs to the process (its stderr), not to any
 * engine or server in it. */
#ifndef PISTON_BASE_LOG_H
#define PISTON_BASE_LOG_H

typedef enum LogLevel { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } LogLevel;

/* timestamps: "2026-12-01T22:10:03.123Z INFO  message"; json: {"time", "level", "msg"}. */
void log_setup(int timestamps, int json);
int log_is_json(void);
void log_line(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A structured line: msg plus fields, given as the inside of a JSON object (`"status":200,
 * "path":"/v1/models"`) and, for the text format, as `text` (`200 /v1/models`). */
void log_record(LogLevel level, const char *msg, const char *json_fields, const char *text);
/* The JSON string body of s (quotes and control characters escaped) into out; truncates. */
void log_json_escape(const char *s, char *out, unsigned long cap);

#endif

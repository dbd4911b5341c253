/* Tool calls: the grammar that constrains them and the parser that reads them back.
 *
 * A request with tools becomes a constraint of kind CONSTRAINT_TOOLS whose text is a JSON
 * spec (tool_spec_build): the family's format, the mode and the functions' parameter schemas.
 * The grammar is the model family's own call syntax (chat_template.h's ToolFormat) with each
 * function's name a literal and its arguments the parameters' JSON Schema:
 *   required   one call or, when parallel, several: nothing else;
 *   auto       free text, and once the text reaches the format's trigger ("<tool_call>",
 *              "[TOOL_CALLS]", or a leading "{" for Llama-3) the calls, constrained as above;
 *              free text never contains the trigger.
 * Because the output follows the grammar to the byte, the parser needs no heuristics: it
 * walks the fixed layout, so no character of the content or the arguments is lost, and it
 * works on a stream (content held back only while it could still become the trigger). */
#ifndef PISTON_TOOL_CALL_H
#define PISTON_TOOL_CALL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "engine/chat_template.h"
#include "engine/grammar.h"

typedef enum ToolMode { TOOL_MODE_AUTO = 0, TOOL_MODE_REQUIRED } ToolMode;

/* The spec text (malloc'd into *out) for functions (a JSON array of OpenAI tool objects
 * {type: "function", function: {name, description, parameters}}); only_name: the one
 * function a named tool_choice allows, or NULL. 0, or -EINVAL with err set (a bad tool, an
 * unknown name). */
int tool_spec_build(ToolFormat fmt, ToolMode mode, int parallel, const cJSON *tools, const char *only_name, char **out,
                    char *err, size_t errlen);
/* The grammar of a spec (constraint.c calls it for CONSTRAINT_TOOLS). */
int tool_grammar_build(Grammar *g, const char *spec, size_t len, char *err, size_t errlen);
/* The spec's literals that a vocabulary may have as one control token: the text that starts
 * the calls ("<tool_call>", "[TOOL_CALLS]"; none for Llama-3 or a spec that does not parse)
 * and, for Mistral's [TOOL_CALLS]name[ARGS], "[ARGS]". Where the vocabulary has one as a
 * control token, the constraint takes that token as the text (constraint.c). Into out, the
 * count (0 to 2). */
int tool_spec_controls(const char *spec, size_t len, const char *out[2]);

/* ---- reading calls back (tool_call_parse.c) ---- */

typedef enum ToolEventKind {
    TOOL_EV_CONTENT = 0, /* text: more content */
    TOOL_EV_CALL,        /* text: the name of call `index`, which starts */
    TOOL_EV_ARGS         /* text: more of call `index`'s arguments (JSON text as the model wrote it) */
} ToolEventKind;

typedef struct ToolEvent {
    ToolEventKind kind;
    int index;
    const char *text; /* into the text given to tool_parser_feed */
    size_t len;
} ToolEvent;

typedef struct ToolParser {
    ToolFormat fmt;
    ToolMode mode;
    int state;
    size_t pos;        /* bytes of the text consumed */
    int n_calls;       /* calls begun */
    int depth, in_str, esc; /* the arguments' JSON, as scanned so far */
    int complete;      /* every call begun has ended */
} ToolParser;

void tool_parser_init(ToolParser *p, ToolFormat fmt, ToolMode mode);
/* Feed the whole text so far (text[0, len), growing between calls); final: no more will come.
 * Writes up to cap events; returns how many (call again with more room if it is cap). */
int tool_parser_feed(ToolParser *p, const char *text, size_t len, int final, ToolEvent *ev, int cap);

#endif

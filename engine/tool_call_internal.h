/* The call syntax of each tool format, shared by the grammar (tool_call.c) and the parser
 * (tool_call_parse.c), which must agree to the byte. A list of calls is
 *   open  (head NAME mid ARGS tail)  (sep head NAME mid ARGS tail)*  close
 * and trigger is what starts a list after free text ("" for Llama-3: a leading "{"). A name ends
 * where mid starts (its first byte is never one a name may have); an empty sep means the
 * next call starts with head itself (Mistral's [TOOL_CALLS]name[ARGS]{...}[TOOL_CALLS]...). */
#ifndef PISTON_TOOL_CALL_INTERNAL_H
#define PISTON_TOOL_CALL_INTERNAL_H

#include "engine/tool_call.h"

typedef struct ToolSyntax {
    const char *open, *head, *mid, *tail, *sep, *close, *trigger;
    int multi; /* several calls in one turn */
    const char *control; /* another literal the vocabulary may have as one control token, or NULL */
} ToolSyntax;

static const ToolSyntax k_tool_syntax[] = {
    [TOOL_FORMAT_NONE] = {"", "", "", "", "", "", "", 0, NULL},
    [TOOL_FORMAT_HERMES] = {"", "<tool_call>\n{\"name\": \"", "\", \"arguments\": ", "}\n</tool_call>", "\n", "",
                            "<tool_call>", 1, NULL},
    [TOOL_FORMAT_LLAMA3] = {"", "{\"name\": \"", "\", \"parameters\": ", "}", "", "", "", 0, NULL},
    [TOOL_FORMAT_MISTRAL] = {"[TOOL_CALLS][", "{\"name\": \"", "\", \"arguments\": ", "}", ", ", "]", "[TOOL_CALLS]", 1,
                             NULL},
    [TOOL_FORMAT_MISTRAL_ARGS] = {"", "[TOOL_CALLS]", "[ARGS]", "", "", "", "[TOOL_CALLS]", 1, "[ARGS]"},
};
#define TOOL_FORMAT_COUNT ((int)(sizeof k_tool_syntax / sizeof *k_tool_syntax))

#endif

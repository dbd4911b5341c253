/* The call syntax of each tool format, shared by the grammar (tool_call.c) and the parser
 * (tool_call_parse.c), which must agree to the byte. A list of calls is
 *   open  (head NAME mid ARGS tail)  (sep head NAME mid ARGS tail)*  close
 * and trigger is what starts a list after free text ("" for Llama-3: a leading "{"). */
#ifndef PISTON_TOOL_CALL_INTERNAL_H
#define PISTON_TOOL_CALL_INTERNAL_H

#include "engine/tool_call.h"

typedef struct ToolSyntax {
    const char *open, *head, *mid, *tail, *sep, *close, *trigger;
    int multi; /* several calls in one turn */
} ToolSyntax;

static const ToolSyntax k_tool_syntax[] = {
    [TOOL_FORMAT_NONE] = {"", "", "", "", "", "", "", 0},
    [TOOL_FORMAT_HERMES] = {"", "<tool_call>\n{\"name\": \"", "\", \"arguments\": ", "}\n</tool_call>", "\n", "",
                            "<tool_call>", 1},
    [TOOL_FORMAT_LLAMA3] = {"", "{\"name\": \"", "\", \"parameters\": ", "}", "", "", "", 0},
    [TOOL_FORMAT_MISTRAL] = {"[TOOL_CALLS][", "{\"name\": \"", "\", \"arguments\": ", "}", ", ", "]", "[TOOL_CALLS]", 1},
};

#endif

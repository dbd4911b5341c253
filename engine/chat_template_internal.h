/* Shared by the chat template renderers (chat_template.c, chat_template_tools.c). */
#ifndef PISTON_CHAT_TEMPLATE_INTERNAL_H
#define PISTON_CHAT_TEMPLATE_INTERNAL_H

#include <stddef.h>

#include "engine/chat_template.h"

/* The span of s without its leading and trailing white space, as Python's strip() (Jinja's
 * trim) removes it: [*start, *end). */
void chat_trim_span(const char *s, size_t *start, size_t *end);

#endif

/* Model names as users know them, into paths (cli_model_resolve in cli.h). For now: paths. */
#include <stdio.h>

#include "cli/cli.h"

int cli_model_resolve(const char *model, char *path, size_t cap, EngineArgs *e) {
    snprintf(path, cap, "%s", model);
    return 0;
}

/* `piston pull ORG/NAME`: placeholder until cli_pull.c lands. */
#include "cli/cli.h"

int cmd_pull(int argc, char **argv) {
    cli_error("piston pull is not built yet");
    return 2;
}

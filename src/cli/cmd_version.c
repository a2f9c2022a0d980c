/* cmd_version.c - `temblor version`. */
#include <string.h>
#include <temblor/temblor.h>

#include "cli/cli.h"

int tbr_cmd_version(int argc, char **argv) {
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "usage: temblor version [--json]\n");
            return TBR_EXIT_USAGE;
        }
    }
    if (json)
        printf("{\"version\":\"%s\",\"abi\":{\"major\":%d,\"minor\":%d}}\n", TBR_VERSION,
               TB_ABI_MAJOR, TB_ABI_MINOR);
    else
        printf("temblor %s (plugin ABI %d.%d)\n", TBR_VERSION, TB_ABI_MAJOR, TB_ABI_MINOR);
    return TBR_EXIT_OK;
}

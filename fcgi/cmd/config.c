/*
 * oponn config — prints every knob (the table README.md documents).
 */
#include "cmd.h"

#include "cfg.h"

#include <stdio.h>
#include <string.h>

int cmd_config(int argc, char **argv)
{
    int markdown = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0) {
            markdown = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: oponn config [--markdown]\n"
                   "Prints every environment variable oponn reads, its default and what it "
                   "does;\nwith --markdown, as the table in README.md. Exit 0.\n");
            return CMD_OK;
        } else {
            fprintf(stderr, "oponn config: unknown option %s (try --help)\n", argv[i]);
            return CMD_USAGE;
        }
    }
    size_t n;
    const cfg_knob_t *k = cfg_knobs(&n);
    if (markdown) printf("| variable | default | what it does |\n|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const char *def = k[i].def ? k[i].def : "(unset)";
        if (markdown) {
            printf("| `%s` | `%s` | %s |\n", k[i].env, def, k[i].help);
        } else {
            printf("%-34s %-24s %s\n", k[i].env, def, k[i].help);
        }
    }
    return CMD_OK;
}

/* config.h - what the configuration says besides the vdev instances. */
#ifndef QVMSIM_CONFIG_H
#define QVMSIM_CONFIG_H
#include "qvmsim.h"

struct config {
    bool dryrun;
    bool route_set;
    struct log_route route;
    char *load_path;            /* guest script, or NULL */
    const char *load_file;
    int load_line;
    int ncpus;
    uint64_t ram_bytes;
};
extern struct config g_cfg;

/* `unsupported TYPE ACTION` [doc]: the action per type. */
enum { UNSUP_INSTRUCTION, UNSUP_REFERENCE, UNSUP_REGISTER };
enum { UNSUP_ABORT, UNSUP_FAIL, UNSUP_IGNORE };

struct config_flags {
    int unsupported[3];         /* UNSUP_ABORT.. per UNSUP_INSTRUCTION.. */
    char *dump_pipe;            /* `dump "|COMMAND"`: COMMAND, or NULL */
};
extern struct config_flags g_flags;

/* false for a vdev configured with `set debug off` (left out of SIGUSR1's status) */
bool config_vdev_in_status(vdev_t const *v);
/* log.c: while sink is set, qvm_report() from the main thread writes there */
void log_report_to(FILE *sink);

void config_read_args(int argc, char **argv);
void config_parse(void);
#endif

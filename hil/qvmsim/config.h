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

void config_read_args(int argc, char **argv);
void config_parse(void);
#endif

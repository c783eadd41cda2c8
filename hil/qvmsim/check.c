/*
 * check.c - `qvm --check @FILE ...`: qvmsim reads and checks the
 * configuration as for a run (options, vdevs and their options, regions)
 * without starting the guest, and prints on stdout, for each configuration
 * word that opens a line of meaning (a VM-wide option or a `vdev`), what it
 * does with it:
 *
 *     check: FILE:LINE: modelled: vdev wdt-sp805: the SP805 watchdog (...)
 *     check: FILE:LINE: accepted, not modelled: pass: no host resources ...
 *     check: FILE:LINE: refused: unknown option 'foo' for vdev 'gic'
 *     check: ok                     (or nothing more after a refusal)
 *
 * A refusal is the configuration error qvm would end with (exit 65).  `hil
 * qvm check` runs this and reads these lines (hil/qvmrun/check.py), so the
 * Python side and qvmsim cannot disagree.
 */
#include "qvmsim.h"

#include <string.h>
#include <unistd.h>

bool g_check;

static void out(const char *file, int line, const char *fate, const char *text)
{
    char buf[4400];
    int n = snprintf(buf, sizeof buf, "check: %s:%d: %s: %s\n", file, line, fate, text);
    if (n > (int)sizeof buf - 1)
        n = (int)sizeof buf - 1;
    write_all(STDOUT_FILENO, buf, (size_t)n);
}

void check_word(const char *file, int line, const char *fate, const char *text)
{
    if (g_check)
        out(file, line, fate, text);
}

void check_vdev(const vdev_t *v)
{
    if (!g_check)
        return;
    const struct qvmsim_vdev_private *p = v->qvmsim_private;
    const char *what;
    const char *fate = builtin_fate(v, &what);
    char text[4200];
    if (fate != NULL)
        snprintf(text, sizeof text, "vdev %s: built into qvmsim: %s", p->vdev_name, what);
    else
        snprintf(text, sizeof text, "vdev %s: %s", p->vdev_name, p->lib->path);
    out(p->file, p->line, fate != NULL ? fate : CHECK_MODELLED, text);
}

void check_refused(const char *file, int line, const char *msg)
{
    if (g_check)
        out(file, line, CHECK_REFUSED, msg);
}

void check_done(void)
{
    write_all(STDOUT_FILENO, "check: ok\n", 10);
    qvmsim_end(0);
}

/*
 * guest_kick.c - the scripted guest's `kick` (GUEST.md): the stores a
 * watchdog kicker makes, in the words of QNX's wdtkick utility [QNX
 * Utilities Reference, "wdtkick": -a base, -E offset:mask[:enable] enables
 * the timer, -W offset:value kicks it, -w the write width in bits]:
 *
 *     kick [NAME] [-E OFF:MASK[:ENABLE]]... [-W OFF:VALUE]... [-w 8|16|32|64]
 *
 * The base is the `loc` of vdev instance NAME (default: the first vdev whose
 * name contains "wdt" or "wdog").  -E stores ENABLE (default MASK) at OFF
 * once, before this command's first kick (qvmsim does not read the register
 * first); each -W stores VALUE at OFF at every kick, in order.  Without -E
 * and -W, the device's own sequence:
 *   wdt-sp805: -E 0x8:0x3 (WdogControl INTEN|RESEN), -W 0xc:0 (WdogIntClr);
 *   wdt-ib700: -W 2:0 -w 8 (port 0x443, time-out index 0: 30 s);
 *   any other: -W 0:0 (a 4-byte store of 0 at the base).
 */
#include "qvmsim.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_u64(const char *w, uint64_t *out)
{
    if (w == NULL || !isdigit((unsigned char)*w))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(w, &end, 0);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static void add_step(struct kick_seq *k, bool enable, uint64_t off, uint64_t value)
{
    k->steps = xreallocarray(k->steps, (size_t)k->n + 1, sizeof *k->steps);
    k->steps[k->n].enable = enable;
    k->steps[k->n].off = off;
    k->steps[k->n].value = value;
    k->n++;
}

/* Splits "A:B[:C]" into up to 3 numbers; returns how many, or -1. */
static int split_numbers(const char *w, uint64_t v[3])
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", w);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ":", &save); t != NULL; t = strtok_r(NULL, ":", &save)) {
        if (n == 3 || parse_u64(t, &v[n]) != 0)
            return -1;
        n++;
    }
    return n;
}


int kick_parse(const char *p, struct gcmd *c, char *err, size_t errlen)
{
    struct kick_seq *k = xcalloc(1, sizeof *k);
    c->kick = k;
    char *buf = xstrdup(p);
    char *save = NULL;
    int rc = 0;
    for (char *w = strtok_r(buf, " \t\r\n", &save); w != NULL && rc == 0; w = strtok_r(NULL, " \t\r\n", &save)) {
        if (strcmp(w, "-W") == 0 || strcmp(w, "-E") == 0 || strcmp(w, "-w") == 0) {
            char *a = strtok_r(NULL, " \t\r\n", &save);
            uint64_t v[3];
            int n = a != NULL ? split_numbers(a, v) : -1;
            if (w[1] == 'w') {
                if (n != 1 || (v[0] != 8 && v[0] != 16 && v[0] != 32 && v[0] != 64)) {
                    snprintf(err, errlen, "bad width '%s' for 'kick -w' (8, 16, 32 or 64 bits)", a ? a : "");
                    rc = -1;
                } else {
                    k->size = (unsigned)(v[0] / 8);
                }
            } else if (w[1] == 'W' && n != 2) {
                snprintf(err, errlen, "bad '%s' for 'kick -W' (OFFSET:VALUE, e.g. -W 0xc:0)", a ? a : "");
                rc = -1;
            } else if (w[1] == 'E' && n != 2 && n != 3) {
                snprintf(err, errlen, "bad '%s' for 'kick -E' (OFFSET:MASK[:ENABLE], e.g. -E 0x8:0x3)", a ? a : "");
                rc = -1;
            } else if (w[1] != 'w') {
                add_step(k, w[1] == 'E', v[0], w[1] == 'E' && n == 3 ? v[2] : v[1]);
                k->given = true;
            }
        } else if (w[0] == '-') {
            snprintf(err, errlen, "unknown option '%s' for 'kick' (-E OFF:MASK[:ENABLE], -W OFF:VALUE, -w BITS)", w);
            rc = -1;
        } else if (c->text == NULL && k->n == 0) {
            c->text = xstrdup(w);
        } else {
            snprintf(err, errlen, "unexpected '%s' after 'kick' (kick [NAME] [-E ...] [-W ...] [-w BITS])", w);
            rc = -1;
        }
    }
    free(buf);
    return rc;
}

static vdev_t *kick_target(const struct gcmd *c)
{
    if (c->text != NULL) {
        vdev_t *v = vdev_by_name(c->text);
        if (v == NULL)
            qlog(QL_QVM_ERR, "guest: kick: no vdev instance named '%s'", c->text);
        return v;
    }
    for (int i = 0; i < g_nvdevs; i++) {
        const char *n = g_vdevs[i]->qvmsim_private->vdev_name;
        if (strstr(n, "wdog") != NULL || strstr(n, "wdt") != NULL)
            return g_vdevs[i];
    }
    qlog(QL_QVM_ERR, "guest: kick: no watchdog vdev (name containing 'wdog' or 'wdt') configured: name its "
         "instance (kick NAME)");
    return NULL;
}

/* The device's own sequence (see the top of this file). */
static void kick_defaults(struct kick_seq *k, const vdev_t *v)
{
    const char *n = v->qvmsim_private->vdev_name;
    if (strcmp(n, "wdt-sp805") == 0) {
        add_step(k, true, 0x8, 0x3);
        add_step(k, false, 0xc, 0);
    } else if (strcmp(n, "wdt-ib700") == 0) {
        add_step(k, false, 2, 0);
        if (k->size == 0)
            k->size = 1;
    } else {
        add_step(k, false, 0, 0);
    }
}

void kick_run(struct gcmd *c, void (*store)(unsigned space, uint64_t addr, unsigned size, uint64_t value))
{
    vdev_t *v = kick_target(c);
    if (v == NULL)
        return;
    if (v->v_block.location == QSL_NO_LOCATION) {
        qlog(QL_QVM_ERR, "guest: kick: vdev '%s' has no 'loc'", vdev_source(v));
        return;
    }
    struct kick_seq *k = c->kick;
    if (!k->given && k->n == 0)
        kick_defaults(k, v);
    unsigned size = k->size != 0 ? k->size : 4;
    for (int i = 0; i < k->n; i++) {
        const struct kick_step *s = &k->steps[i];
        if (s->enable && k->enabled)
            continue;
        store(v->v_block.qst_type, v->v_block.location + s->off, size, s->value);
    }
    k->enabled = true;
}

/*
 * intr.c - guest interrupts: the `intr PIC:NUM` option of a vdev instance,
 * guest_intr_signal(), and the counts the scripted guest waits for (`irq`
 * commands, GUEST.md).
 *
 * An interrupt is named by its normalised text "PIC:NUM" (PIC in lower case,
 * NUM in decimal: `intr GIC:0x21` is "gic:33").  Vdevs configured with the
 * same interrupt share it (one count).  guest_intr_t.gi_id is 1 + the
 * interrupt's index here; 0 means "no `intr` configured".
 */
#include "qvmsim.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct gintr {
    char name[48];          /* "gic:33" */
    uint64_t count;         /* GIS_ON assertions so far      */
    uint64_t seen;          /* count the guest last acknowledged (`irq wait`/`irq ack`) */
    bool asserted;          /* level: between GIS_ON and GIS_OFF */
};

static struct gintr *intrs;     /* grown during configuration only */
static int nintrs;

int intr_parse(const char *text, char *name, size_t namelen, const char **why)
{
    const char *colon = text != NULL ? strchr(text, ':') : NULL;
    if (colon == NULL || colon == text) {
        *why = "expected PIC:NUMBER, e.g. gic:33 or ioapic:5";
        return -1;
    }
    size_t plen = (size_t)(colon - text);
    if (plen > 16) {
        *why = "the PIC name is longer than 16 characters";
        return -1;
    }
    char pic[17];
    for (size_t i = 0; i < plen; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (!(isalnum(ch) || ch == '_') || (i == 0 && !isalpha(ch))) {
            *why = "the PIC name must be a word of letters, digits or '_' starting with a letter "
                   "(e.g. gic, ioapic, apic)";
            return -1;
        }
        pic[i] = (char)tolower(ch);
    }
    pic[plen] = '\0';
    const char *num = colon + 1;
    char *end;
    if (!isdigit((unsigned char)num[0])) {
        *why = "the interrupt number after ':' must be a non-negative number (e.g. 33 or 0x21)";
        return -1;
    }
    errno = 0;
    unsigned long long n = strtoull(num, &end, 0);
    if (errno != 0 || *end != '\0' || n > 0xffffffffull) {
        *why = "the interrupt number after ':' must be a number from 0 to 0xffffffff";
        return -1;
    }
    snprintf(name, namelen, "%s:%llu", pic, n);
    return 0;
}

int intr_find(const char *name)
{
    for (int i = 0; i < nintrs; i++) {
        if (strcmp(intrs[i].name, name) == 0)
            return i;
    }
    return -1;
}

uint64_t intr_register(const char *name)
{
    int i = intr_find(name);
    if (i < 0) {
        intrs = xreallocarray(intrs, (size_t)nintrs + 1, sizeof *intrs);
        i = nintrs++;
        memset(&intrs[i], 0, sizeof intrs[i]);
        snprintf(intrs[i].name, sizeof intrs[i].name, "%s", name);
    }
    return (uint64_t)i + 1;
}

const char *intr_name(int idx)
{
    return idx >= 0 && idx < nintrs ? intrs[idx].name : "?";
}

uint64_t intr_count(int idx)
{
    return idx >= 0 && idx < nintrs ? intrs[idx].count : 0;
}

uint64_t intr_seen(int idx)
{
    return idx >= 0 && idx < nintrs ? intrs[idx].seen : 0;
}

void intr_set_seen(int idx, uint64_t seen)
{
    if (idx >= 0 && idx < nintrs)
        intrs[idx].seen = seen;
}

/* The vdev a guest_intr_t belongs to, for the log (NULL: not a v_intr). */
static vdev_t *owner_of(const guest_intr_t *gip)
{
    if (t_cur_vdev != NULL && &t_cur_vdev->v_intr == gip)
        return t_cur_vdev;
    for (int i = 0; i < g_nvdevs; i++) {
        if (&g_vdevs[i]->v_intr == gip)
            return g_vdevs[i];
    }
    return t_cur_vdev;
}

errno_t guest_intr_signal(guest_intr_t *gip, guest_intr_state_t gis)
{
    if (gip == NULL)
        return EINVAL;
    if (gis & ~(GIS_ON | GIS_OFF | GIS_ISR))
        return EINVAL;
    if ((gis & GIS_ON) && (gis & GIS_OFF))
        return EINVAL;
    uint64_t id = gip->gi_id;
    if (id == 0 || id > (uint64_t)nintrs)
        return EINVAL;              /* no `intr` configured for this vdev */
    if ((gis & (GIS_ON | GIS_OFF)) == 0)
        return EOK;                 /* GIS_NOP; GIS_ISR alone: yes, qvmsim can
                                       signal from any thread (no ISRs here) */
    struct gintr *g = &intrs[id - 1];
    vdev_t *v = owner_of(gip);
    const char *src = v != NULL ? vdev_source(v) : "?";
    pthread_mutex_lock(&g_guest_mtx);
    uint64_t count = g->count;
    if (gis & GIS_ON) {
        count = ++g->count;
        g->asserted = true;
    } else {
        g->asserted = false;
    }
    pthread_cond_broadcast(&g_guest_cv);    /* `irq wait` streams */
    pthread_mutex_unlock(&g_guest_mtx);
    if (gis & GIS_ON)
        qlog(QL_QVM_DEBUG, "guest interrupt %s asserted by vdev '%s' (count %" PRIu64 ")", g->name, src, count);
    else
        qlog(QL_QVM_VERBOSE, "guest interrupt %s de-asserted by vdev '%s'", g->name, src);
    return EOK;
}

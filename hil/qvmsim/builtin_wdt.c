/*
 * builtin_wdt.c - qvmsim's stand-ins for QNX's watchdog vdevs `wdt-sp805`
 * (ARM) and `wdt-ib700` (x86), built into qvm (builtin.c registers them as
 * ordinary vdev factories).  Written from the documented behaviour only; no
 * QNX or third-party source was used.
 *
 * Sources:
 *  - QNX Hypervisor User's Guide, "vdev wdt-sp805" (7.0, 7.1, 8.0:
 *    .../com.qnx.doc.hypervisor.user/topic/vdev_ref/vdev_wdt-sp805.html):
 *    options `action [dump,]terminate|fiq` (fiq: "send an edge on the
 *    interrupt line"), `frequency hz` (default 25000000), `intr`, `loc`
 *    (default 0x1C0F0000); "counts down twice before it triggers" the
 *    termination, so the effective period is twice the programmed one.
 *  - QNX Virtual Device Developer's Guide 7.0, "A watchdog vdev for x86
 *    (vdev wdt-ib700)" (.../com.qnx.doc.hypervisor.vdev/topic/emulate/
 *    emulate_wdogx86.html): an IB700 emulation with no vread, the bite set
 *    by its `action` option through wdog_bite().
 *  - ARM PrimeCell Watchdog Module (SP805) Technical Reference Manual, ARM
 *    DDI 0270B: the register map (WdogLoad 0x000, WdogValue 0x004,
 *    WdogControl 0x008 INTEN|RESEN, WdogIntClr 0x00C, WdogRIS 0x010,
 *    WdogMIS 0x014, WdogLock 0xC00 with the unlock value 0x1ACCE551, the
 *    identification registers at 0xFE0-0xFFC) and its two count-downs:
 *    the interrupt when the counter first reaches zero, the reset when it
 *    reaches zero again with the interrupt not cleared; a write to
 *    WdogIntClr clears the interrupt and reloads the counter.
 *  - the IB700 single-board computer's watchdog as documented for its
 *    public drivers: "write I/O port 0443H" enables it with a time-out from
 *    a table (value 0..15: 30, 28, ... 2, 0 seconds), "write I/O port 0441H"
 *    disables it.
 * BEHAVIOUR.md "Built-in vdevs" says what is modelled and what is not.
 */
#include "qvmsim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <qvm/guest.h>
#include <qvm/wdog.h>

/* ---- common ------------------------------------------------------------ */

static int parse_action(vdev_t *vdp, const char *arg, unsigned *out)
{
    unsigned a = 0;
    const char *p = arg;
    if (strncmp(p, "dump,", 5) == 0) {
        a |= WDOG_FLAG_DUMP;
        p += 5;
    }
    if (strcmp(p, "terminate") == 0) {
        a |= WDOG_ACTION_TERMINATE;
    } else if (strcmp(p, "fiq") == 0) {
        a |= WDOG_ACTION_INTR;
    } else {
        vdev_logf(QL_QVM_ERR, vdp, "action '%s': expected [dump,]terminate or [dump,]fiq "
                  "(QNX 'vdev wdt-sp805' page)", arg);
        return EINVAL;
    }
    *out = a;
    return EOK;
}

static const char *action_text(unsigned a)
{
    if ((a & ~(unsigned)WDOG_FLAG_DUMP) == WDOG_ACTION_INTR)
        return (a & WDOG_FLAG_DUMP) ? "dump,fiq" : "fiq";
    return (a & WDOG_FLAG_DUMP) ? "dump,terminate" : "terminate";
}

/* `action fiq` sends an edge on the vdev's interrupt: without `intr` there is none. */
static int fiq_needs_intr(vdev_t *vdp, const struct wdog_state *ws)
{
    if ((ws->ws_action & ~(unsigned)WDOG_FLAG_DUMP) == WDOG_ACTION_INTR && vdp->v_intr.gi_id == 0) {
        vdev_logf(QL_QVM_ERR, vdp, "action fiq sends an edge on the vdev's interrupt: give it one "
                  "(e.g. intr gic:40)");
        return EINVAL;
    }
    return EOK;
}

/* ns -> ticks of a guest timer of tps ticks per second (at least 1). */
static uint64_t to_ticks(uint64_t tps, uint64_t ns)
{
    uint64_t t = tps == 1000000000ull ? ns : (uint64_t)((unsigned __int128)ns * tps / 1000000000u);
    return t != 0 ? t : 1;
}

/* The guest timer each watchdog counts its time-out on. */
struct wdt_timer {
    struct guest_timer *timer;
    uint64_t tps;               /* the timer's ticks per second */
};

/* VDEV_CTRL_GUEST_CONFIGURED: the timer (its callback gets `data`); none is a fatal configuration error. */
static void wdt_timer_create(struct wdt_timer *t, vdev_t *vdp, void *data)
{
    t->timer = guest_timer_create(NULL, vdp, data, &t->tps);
    if (t->timer == NULL)
        qvm_fatal(QLS_CNF, "cannot create the watchdog timer (error %llu)", (unsigned long long)t->tps);
    if (t->tps == 0)
        t->tps = 1000000000ull;
}

/* Fire the timer in `ns` nanoseconds (at least one tick from now). */
static void wdt_timer_in(struct wdt_timer *t, uint64_t ns)
{
    guest_timer_notify(t->timer, NULL, to_ticks(t->tps, ns));
}

/* Stop the timer (a no-op before it exists). */
static void wdt_timer_stop(struct wdt_timer *t)
{
    if (t->timer != NULL)
        guest_timer_notify(t->timer, NULL, 0);
}

/* In a timer callback: the time-out due at `due` (ns) is still ahead (the watchdog was kicked or reloaded
 * meanwhile): the timer is set again for it and true returned. */
static bool wdt_not_due(struct wdt_timer *t, uint64_t due, uint64_t now)
{
    if (due <= now + 500000u)
        return false;
    wdt_timer_in(t, due - now);
    return true;
}

static uint32_t store_value(const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    uint64_t v = 0;
    if (guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &v, sizeof v) != EOK)
        return 0;
    return (uint32_t)v;
}

static vdev_ref_status_t load_value(const struct qvm_state_block *oopnd, struct guest_cpu *gcp, uint32_t v)
{
    uint64_t wide = v;
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &wide, oopnd->length));
}

/* ---- wdt-sp805 ------------------------------------------------------------ */

#define SP805_DEFAULT_LOC       0x1C0F0000u     /* [doc 7.x vdev wdt-sp805] */
#define SP805_DEFAULT_FREQUENCY 25000000u       /* [doc 7.x vdev wdt-sp805] */
#define SP805_UNLOCK            0x1ACCE551u     /* [SP805 TRM WdogLock]     */
enum {
    SP805_LOAD = 0x000, SP805_VALUE = 0x004, SP805_CONTROL = 0x008, SP805_INTCLR = 0x00C,
    SP805_RIS = 0x010, SP805_MIS = 0x014, SP805_LOCK = 0xC00, SP805_ITCR = 0xF00, SP805_ITOP = 0xF04,
};
#define SP805_INTEN 0x1u
#define SP805_RESEN 0x2u

struct sp805 {
    struct wdog_state ws;
    uint64_t frequency;         /* Hz */
    uint32_t load;              /* WdogLoad */
    uint32_t control;           /* WdogControl: INTEN | RESEN */
    bool ris;                   /* the interrupt of the first time-out, not cleared */
    bool locked;                /* WdogLock */
    uint64_t loaded_ns;         /* when the counter was last loaded (now_ns) */
    uint64_t kicked_ns;         /* the last kick (WdogIntClr) or start, for the bite's line */
    struct wdt_timer wt;
    unsigned kicks, timeouts, bites;
};

static const char *const sp805_options[] = { "action", "frequency", NULL };
enum { SP805_OPT_ACTION, SP805_OPT_FREQUENCY };

/* One count-down from WdogLoad to zero (a load of 0 counts as 1). */
static uint64_t sp805_period_ns(const struct sp805 *w)
{
    uint64_t ticks = w->load != 0 ? w->load : 1;
    uint64_t ns = (uint64_t)((unsigned __int128)ticks * 1000000000u / w->frequency);
    return ns != 0 ? ns : 1;
}

/* (Re)loads the counter from WdogLoad and arms the time-out; with INTEN
 * clear the counter is stopped [TRM]. */
static void sp805_reload(struct sp805 *w)
{
    w->loaded_ns = now_ns();
    if (w->wt.timer == NULL)
        return;
    if (w->control & SP805_INTEN)
        wdt_timer_in(&w->wt, sp805_period_ns(w));
    else
        wdt_timer_stop(&w->wt);
}

static uint32_t sp805_value(const struct sp805 *w)
{
    if (!(w->control & SP805_INTEN))
        return w->load;
    uint64_t elapsed = now_ns() - w->loaded_ns;
    uint64_t ticks = (uint64_t)((unsigned __int128)elapsed * w->frequency / 1000000000u);
    return ticks >= w->load ? 0 : (uint32_t)(w->load - ticks);
}

static int sp805_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct sp805 *w = vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        w->ws.ws_action = WDOG_ACTION_TERMINATE;
        w->ws.ws_vdp = vdp;
        w->frequency = SP805_DEFAULT_FREQUENCY;
        w->load = 0xFFFFFFFFu;          /* the reset values [TRM] */
        if (vdp->v_block.location == QSL_NO_LOCATION) {
            vdp->v_block.location = SP805_DEFAULT_LOC;
            vdp->v_block.length = 0x1000;
        }
        break;
    case VDEV_CTRL_FIRST_OPTIDX + SP805_OPT_ACTION:
        return parse_action(vdp, arg, &w->ws.ws_action);
    case VDEV_CTRL_FIRST_OPTIDX + SP805_OPT_FREQUENCY: {
        char *end;
        errno = 0;
        unsigned long long f = strtoull(arg, &end, 0);
        if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || f == 0 || f > 1000000000000ull) {
            vdev_logf(QL_QVM_ERR, vdp, "frequency '%s': expected a positive number of Hz", arg);
            return EINVAL;
        }
        w->frequency = f;
        break;
    }
    case VDEV_CTRL_ASSIGN:          /* every option given, the common ones too */
        return fiq_needs_intr(vdp, &w->ws);
    case VDEV_CTRL_GUEST_CONFIGURED:
        wdt_timer_create(&w->wt, vdp, w);
        vdev_logf(QL_QVM_INFO, vdp, "built-in SP805 watchdog at 0x%" PRIx64 ": frequency %" PRIu64 " Hz, "
                  "action %s; stopped until the guest sets INTEN in WdogControl (0x008)",
                  vdp->v_block.location, w->frequency, action_text(w->ws.ws_action));
        break;
    case VDEV_CTRL_STATUS:
        qvm_report("sp805 load=0x%x value=0x%x control=0x%x ris=%d locked=%d kicks=%u timeouts=%u bites=%u "
                   "action=%s", w->load, sp805_value(w), w->control, w->ris, w->locked, w->kicks, w->timeouts,
                   w->bites, action_text(w->ws.ws_action));
        break;
    case VDEV_CTRL_TERMINATE:
        wdt_timer_stop(&w->wt);
        break;
    default:
        break;
    }
    return EOK;
}

static vdev_ref_status_t sp805_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct sp805 *w = vdp->v_device;
    (void)cookie;
    uint64_t off = vopnd->location - vdp->v_block.location;
    uint32_t v = store_value(oopnd, gcp);
    if (off == SP805_LOCK) {
        w->locked = v != SP805_UNLOCK;
        vdev_logf(QL_QVM_DEBUG, vdp, "WdogLock: %s", w->locked ? "locked" : "unlocked");
        return VRS_NORMAL;
    }
    if (w->locked) {
        vdev_logf(QL_QVM_DEBUG, vdp, "write 0x%x at offset 0x%" PRIx64 " ignored: registers locked "
                  "(write 0x%x to WdogLock, 0xc00, first)", v, off, SP805_UNLOCK);
        return VRS_NORMAL;
    }
    switch (off) {
    case SP805_LOAD:
        w->load = v;
        sp805_reload(w);            /* the count restarts from the new value [TRM] */
        vdev_logf(QL_QVM_DEBUG, vdp, "WdogLoad = 0x%x (%" PRIu64 " us per count-down)", v,
                  sp805_period_ns(w) / 1000u);
        break;
    case SP805_CONTROL: {
        bool was = w->control & SP805_INTEN;
        w->control = v & (SP805_INTEN | SP805_RESEN);
        if (!was && (w->control & SP805_INTEN)) {
            w->kicked_ns = now_ns();
            sp805_reload(w);        /* enabling loads the counter [TRM] */
        }
        else if (was && !(w->control & SP805_INTEN))
            sp805_reload(w);        /* disabling stops it */
        vdev_logf(QL_QVM_DEBUG, vdp, "WdogControl = 0x%x (INTEN %d, RESEN %d)", w->control,
                  (w->control & SP805_INTEN) != 0, (w->control & SP805_RESEN) != 0);
        break;
    }
    case SP805_INTCLR:
        w->ris = false;
        w->kicks++;
        w->kicked_ns = now_ns();
        sp805_reload(w);
        vdev_logf(QL_QVM_DEBUG, vdp, "kick %u (WdogIntClr)", w->kicks);
        break;
    case SP805_ITCR:
    case SP805_ITOP:
        break;                      /* integration test registers: not modelled */
    default:
        vdev_logf(QL_QVM_DEBUG, vdp, "write 0x%x at offset 0x%" PRIx64 ": no such writable register: ignored",
                  v, off);
        break;
    }
    return VRS_NORMAL;
}

static vdev_ref_status_t sp805_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    /* the identification registers [TRM]: peripheral 0x805, PrimeCell 0xB105F00D */
    static const uint8_t ids[8] = { 0x05, 0x18, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1 };
    struct sp805 *w = vdp->v_device;
    (void)cookie;
    uint64_t off = vopnd->location - vdp->v_block.location;
    uint32_t v = 0;
    switch (off) {
    case SP805_LOAD: v = w->load; break;
    case SP805_VALUE: v = sp805_value(w); break;
    case SP805_CONTROL: v = w->control; break;
    case SP805_RIS: v = w->ris; break;
    case SP805_MIS: v = w->ris && (w->control & SP805_INTEN); break;
    case SP805_LOCK: v = w->locked; break;
    default:
        if (off >= 0xFE0 && off <= 0xFFC && off % 4 == 0)
            v = ids[(off - 0xFE0) / 4];
        break;
    }
    return load_value(oopnd, gcp, v);
}

static void sp805_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    struct sp805 *w = data;
    (void)tdp;
    (void)gcp;
    if (!(w->control & SP805_INTEN))
        return;
    uint64_t now = now_ns(), due = w->loaded_ns + sp805_period_ns(w);
    if (wdt_not_due(&w->wt, due, now))     /* reloaded meanwhile */
        return;
    w->timeouts++;
    if (!w->ris) {                  /* the first count-down: the interrupt */
        w->ris = true;
        vdev_logf(QL_QVM_INFO, vdp, "first time-out: interrupt%s; the next time-out without a kick (WdogIntClr) %s",
                  vdp->v_intr.gi_id != 0 ? " raised" : " (no 'intr' configured)",
                  (w->control & SP805_RESEN) ? "bites" : "does nothing (RESEN clear)");
        if (vdp->v_intr.gi_id != 0)
            guest_intr_signal(&vdp->v_intr, GIS_ON);
        sp805_reload(w);
        return;
    }
    if (w->control & SP805_RESEN) { /* the second: the reset, i.e. the bite */
        w->bites++;
        vdev_logf(QL_QVM_ERR, vdp, "watchdog expired, biting (second time-out: no kick for %" PRIu64 " ms; "
                  "action %s)", (now - w->kicked_ns) / 1000000u, action_text(w->ws.ws_action));
        wdog_bite(&w->ws);          /* does not return for terminate */
    }
    sp805_reload(w);
}

static struct vdev_factory sp805_factory = {
    .control = sp805_control,
    .vread = sp805_vread,
    .vwrite = sp805_vwrite,
    .timer = sp805_timer,
    .option_list = sp805_options,
    .name = "wdt-sp805",
    .factory_flags = VFF_MUTEX | VFF_VDEV_MEM,
    .acc_sizes = 1u << 4,
    .extra_space = sizeof(struct sp805),
};

void builtin_register_sp805(void)
{
    vdev_register_factory(&sp805_factory, QVM_VDEV_ABI);
}

/* ---- wdt-ib700 ------------------------------------------------------------ */

#define IB700_DEFAULT_LOC 0x441u        /* the documented sample; [IB700] */
enum { IB700_STOP = 0, IB700_START = 2 };   /* ports 0x441 and 0x443 from the base */

struct ib700 {
    struct wdog_state ws;
    bool running;
    uint64_t timeout_ns;
    uint64_t started_ns;
    struct wdt_timer wt;
    unsigned kicks, bites;
};

static const char *const ib700_options[] = { "action", NULL };
enum { IB700_OPT_ACTION };

/* The time-out of a value written to 0x443 [IB700]: 30 s for 0 down to 0 s for 15. */
static uint64_t ib700_seconds(uint32_t value)
{
    return 30u - 2u * (value & 0xFu);
}

static int ib700_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct ib700 *w = vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        w->ws.ws_action = WDOG_ACTION_TERMINATE;
        w->ws.ws_vdp = vdp;
        if (vdp->v_block.location == QSL_NO_LOCATION) {
            vdp->v_block.qst_type = QST_X86_IO;
            vdp->v_block.location = IB700_DEFAULT_LOC;
            vdp->v_block.length = QVMSIM_DEFAULT_IO_LENGTH;     /* as `loc io:0x441` */
        }
        break;
    case VDEV_CTRL_FIRST_OPTIDX + IB700_OPT_ACTION:
        return parse_action(vdp, arg, &w->ws.ws_action);
    case VDEV_CTRL_ASSIGN:
        return fiq_needs_intr(vdp, &w->ws);
    case VDEV_CTRL_GUEST_CONFIGURED:
        wdt_timer_create(&w->wt, vdp, w);
        vdev_logf(QL_QVM_INFO, vdp, "built-in IB700 watchdog at %s0x%" PRIx64 ": action %s; stopped until the guest "
                  "writes a time-out index to base+2 (0x443)", vdp->v_block.qst_type == QST_X86_IO ? "io:" : "",
                  vdp->v_block.location, action_text(w->ws.ws_action));
        break;
    case VDEV_CTRL_STATUS:
        qvm_report("ib700 running=%d timeout_ms=%" PRIu64 " kicks=%u bites=%u action=%s", w->running,
                   w->timeout_ns / 1000000u, w->kicks, w->bites, action_text(w->ws.ws_action));
        break;
    case VDEV_CTRL_TERMINATE:
        wdt_timer_stop(&w->wt);
        break;
    default:
        break;
    }
    return EOK;
}

static vdev_ref_status_t ib700_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct ib700 *w = vdp->v_device;
    (void)cookie;
    uint64_t off = vopnd->location - vdp->v_block.location;
    uint32_t v = store_value(oopnd, gcp);
    if (off == IB700_START) {
        w->timeout_ns = ib700_seconds(v) * 1000000000ull;
        w->started_ns = now_ns();
        w->running = true;
        w->kicks++;
        wdt_timer_in(&w->wt, w->timeout_ns);
        vdev_logf(QL_QVM_DEBUG, vdp, "kick %u: time-out %" PRIu64 " s (value %u)", w->kicks,
                  ib700_seconds(v), v & 0xFu);
    } else if (off == IB700_STOP) {
        w->running = false;
        wdt_timer_stop(&w->wt);
        vdev_logf(QL_QVM_INFO, vdp, "watchdog stopped by the guest (write to base+0, 0x441)");
    } else {
        vdev_logf(QL_QVM_DEBUG, vdp, "write 0x%x at offset 0x%" PRIx64 ": not a watchdog port: ignored", v, off);
    }
    return VRS_NORMAL;
}

static void ib700_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    struct ib700 *w = data;
    (void)tdp;
    (void)gcp;
    if (!w->running)
        return;
    uint64_t now = now_ns(), due = w->started_ns + w->timeout_ns;
    if (wdt_not_due(&w->wt, due, now))     /* kicked meanwhile */
        return;
    w->bites++;
    vdev_logf(QL_QVM_ERR, vdp, "watchdog expired, biting (no write to 0x443 for %" PRIu64 " ms; action %s)",
              (now - w->started_ns) / 1000000u, action_text(w->ws.ws_action));
    wdog_bite(&w->ws);              /* does not return for terminate */
    w->started_ns = now_ns();
    wdt_timer_in(&w->wt, w->timeout_ns);
}

static struct vdev_factory ib700_factory = {
    .control = ib700_control,
    .vread = NULL,                  /* [doc: "the vread member is set to NULL"] */
    .vwrite = ib700_vwrite,
    .timer = ib700_timer,
    .option_list = ib700_options,
    .name = "wdt-ib700",
    .factory_flags = VFF_MUTEX | VFF_VDEV_X86_IO,
    .extra_space = sizeof(struct ib700),
};

void builtin_register_ib700(void)
{
    vdev_register_factory(&ib700_factory, QVM_VDEV_ABI);
}

/*
 * vdev wdog - a watchdog modelled on QNX's wdt-ib700 (x86) and wdt-sp805
 * (ARM), written against the documented vdev API only.
 *
 * Options (besides the common loc/intr/name/log that qvm handles):
 *   timeout MS          time without a guest write before the bite (default 1000)
 *   frequency HZ        count in ticks of HZ: a guest write at offset 0 loads
 *                       the counter (timeout = value / HZ); default load = HZ
 *                       (1 s) or timeout*HZ/1000 if timeout is also given
 *   action [dump,]terminate|intr   (default terminate)
 *   flavour ib700|sp805 (default ib700); sp805 counts down twice, like the
 *                       hardware: the effective timeout is doubled
 *
 * Guest interface: any write kicks (reloads) the watchdog (ib700: only writes
 * matter); with `frequency`, a write at offset 0 also sets the load value.
 * A read returns the milliseconds left before the bite.  The countdown starts
 * when the guest starts.  On expiry the vdev logs "watchdog expired, biting"
 * at ERROR and calls wdog_bite(): terminate ends the guest (qvm exits 4, a watchdog termination);
 * intr raises the interrupt and re-arms.
 *
 * Written against QNX 8.0's documented vdev API only: it builds in portable
 * mode (-DQVMSIM_PORTABLE), as C and as C++, and with qcc for a QNX board.
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum wdog_flavour { FLAVOUR_IB700, FLAVOUR_SP805 };

struct wdog {
    uint64_t timeout_ms;        /* `timeout` option, 0 = not given */
    uint64_t frequency;         /* Hz, 0 = not given */
    uint64_t load;              /* ticks, with frequency */
    uint64_t period_ns;         /* one countdown */
    enum wdog_flavour flavour;
    struct wdog_state ws;
    struct guest_timer *timer;
    uint64_t ticks_per_s;       /* the timer's frequency (guest_timer_create) */
    uint64_t last_kick;         /* CLOCK_MONOTONIC ns */
    unsigned kicks;
    unsigned bites;
};

static const char *const wdog_options[] = { "timeout", "frequency", "action", "flavour", NULL };
enum { OPT_TIMEOUT, OPT_FREQUENCY, OPT_ACTION, OPT_FLAVOUR };

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Bounds of `timeout` (ms, about 11.5 days) and `frequency` (Hz): the period in ns never overflows. */
#define WDOG_MAX_OPTION 1000000000ull

static int parse_positive(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end != '\0' || v == 0 || errno == ERANGE || v > WDOG_MAX_OPTION)
        return -1;
    *out = v;
    return 0;
}

static uint64_t effective_ns(const struct wdog *w)
{
    return w->flavour == FLAVOUR_SP805 ? 2 * w->period_ns : w->period_ns;
}

/* ns -> ticks of the guest timer (at least one: a deadline of 0 disarms). */
static uint64_t ticks(const struct wdog *w, uint64_t ns)
{
    uint64_t t = w->ticks_per_s == 1000000000ull ? ns : ns / 1000u * w->ticks_per_s / 1000000u;
    return t != 0 ? t : 1;
}

static void arm(struct wdog *w)
{
    w->last_kick = mono_ns();
    guest_timer_notify(w->timer, NULL, ticks(w, effective_ns(w)));
}

static const char *action_name(unsigned a)
{
    if ((a & ~WDOG_FLAG_DUMP) == WDOG_ACTION_INTR)
        return (a & WDOG_FLAG_DUMP) ? "dump,intr" : "intr";
    return (a & WDOG_FLAG_DUMP) ? "dump,terminate" : "terminate";
}

static int wdog_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct wdog *w = (struct wdog *)vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        /* no default address: the configuration's `loc` gives it (qvm applies it after this) */
        vdp->v_block.location = QSL_NO_LOCATION;
        vdp->v_block.length = 0x1000;
        w->ws.ws_action = WDOG_ACTION_TERMINATE;
        w->flavour = FLAVOUR_IB700;
        w->timer = NULL;
        break;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_TIMEOUT:
        if (parse_positive(arg, &w->timeout_ms) != 0) {
            vdev_logf(QL_QVM_ERR, vdp, "timeout '%s': expected a positive number of milliseconds (at most %llu)", arg,
                      WDOG_MAX_OPTION);
            return EINVAL;
        }
        break;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_FREQUENCY:
        if (parse_positive(arg, &w->frequency) != 0) {
            vdev_logf(QL_QVM_ERR, vdp, "frequency '%s': expected a positive number of Hz (at most %llu)", arg,
                      WDOG_MAX_OPTION);
            return EINVAL;
        }
        break;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_ACTION: {
        unsigned a = 0;
        const char *p = arg;
        if (strncmp(p, "dump,", 5) == 0) {
            a |= WDOG_FLAG_DUMP;
            p += 5;
        }
        if (strcmp(p, "terminate") == 0) {
            a |= WDOG_ACTION_TERMINATE;
        } else if (strcmp(p, "intr") == 0) {
            a |= WDOG_ACTION_INTR;
        } else {
            vdev_logf(QL_QVM_ERR, vdp, "action '%s': expected [dump,]terminate or [dump,]intr", arg);
            return EINVAL;
        }
        w->ws.ws_action = a;
        break;
    }
    case VDEV_CTRL_FIRST_OPTIDX + OPT_FLAVOUR:
        if (strcmp(arg, "ib700") == 0) {
            w->flavour = FLAVOUR_IB700;
        } else if (strcmp(arg, "sp805") == 0) {
            w->flavour = FLAVOUR_SP805;
        } else {
            vdev_logf(QL_QVM_ERR, vdp, "flavour '%s': expected ib700 or sp805", arg);
            return EINVAL;
        }
        break;
    case VDEV_CTRL_OPTIONS_END:
        if (w->frequency != 0) {
            w->load = w->timeout_ms != 0 ? w->timeout_ms * w->frequency / 1000u : w->frequency;
            if (w->load == 0)
                w->load = 1;
            /* timeout x frequency is up to 1e18 ticks: then the period is the timeout itself */
            w->period_ns = w->load > UINT64_MAX / 1000000000ull ? w->timeout_ms * 1000000ull
                                                                : w->load * 1000000000ull / w->frequency;
        } else {
            w->period_ns = (w->timeout_ms != 0 ? w->timeout_ms : 1000u) * 1000000ull;
        }
        break;
    case VDEV_CTRL_GUEST_CONFIGURED:
        w->timer = guest_timer_create(NULL, vdp, w, &w->ticks_per_s);
        if (w->timer == NULL)
            qvm_fatal(QLS_CNF, "cannot create the watchdog timer (error %llu)",
                      (unsigned long long)w->ticks_per_s);
        if (w->ticks_per_s == 0)
            w->ticks_per_s = 1000000000ull;
        vdev_logf(QL_QVM_INFO, vdp, "%s watchdog: timeout %llu ms (effective %llu ms), action %s",
                  w->flavour == FLAVOUR_SP805 ? "sp805" : "ib700",
                  (unsigned long long)(w->period_ns / 1000000u),
                  (unsigned long long)(effective_ns(w) / 1000000u), action_name(w->ws.ws_action));
        break;
    case VDEV_CTRL_GUEST_STARTING:
        arm(w);
        break;
    case VDEV_CTRL_STATUS:
        qvm_report("kicks=%u bites=%u timeout_ms=%llu effective_ms=%llu last_kick_ms_ago=%llu action=%s",
                   w->kicks, w->bites, (unsigned long long)(w->period_ns / 1000000u),
                   (unsigned long long)(effective_ns(w) / 1000000u),
                   (unsigned long long)((mono_ns() - w->last_kick) / 1000000u), action_name(w->ws.ws_action));
        break;
    case VDEV_CTRL_TERMINATE:
        if (w->timer != NULL)
            guest_timer_notify(w->timer, NULL, 0);
        break;
    default:
        break;
    }
    return EOK;
}

static vdev_ref_status_t wdog_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct wdog *w = (struct wdog *)vdp->v_device;
    (void)cookie;
    if (w->frequency != 0 && vopnd->location == vdp->v_block.location) {
        uint32_t value = 0;
        if (guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value) == EOK && value != 0) {
            w->load = value;
            w->period_ns = w->load * 1000000000ull / w->frequency;
        }
    }
    w->kicks++;
    arm(w);
    vdev_logf(QL_QVM_DBG, vdp, "kick %u", w->kicks);
    return VRS_NORMAL;
}

static vdev_ref_status_t wdog_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                    const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct wdog *w = (struct wdog *)vdp->v_device;
    (void)cookie;
    (void)vopnd;
    uint64_t now = mono_ns(), due = w->last_kick + effective_ns(w);
    uint32_t left_ms = due > now ? (uint32_t)((due - now) / 1000000u) : 0;
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &left_ms, sizeof left_ms));
}

static void wdog_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    struct wdog *w = (struct wdog *)data;
    (void)tdp;
    (void)gcp;
    uint64_t now = mono_ns(), due = w->last_kick + effective_ns(w);
    if (due > now + 500000u) {      /* kicked meanwhile: not expired */
        guest_timer_notify(w->timer, NULL, ticks(w, due - now));
        return;
    }
    w->bites++;
    vdev_logf(QL_QVM_ERR, vdp, "watchdog expired, biting (no kick for %llu ms; effective timeout %llu ms; action %s)",
              (unsigned long long)((now - w->last_kick) / 1000000u),
              (unsigned long long)(effective_ns(w) / 1000000u), action_name(w->ws.ws_action));
    wdog_bite(&w->ws);              /* does not return for terminate */
    vdev_logf(QL_QVM_INFO, vdp, "interrupt raised (bite %u); watchdog re-armed", w->bites);
    arm(w);
}

static struct vdev_factory wdog_factory = {
    .next = NULL,
    .control = wdog_control,
    .vread = wdog_vread,
    .vwrite = wdog_vwrite,
    .pulse = NULL,
    .timer = wdog_timer,
    .pic = NULL,
    .option_list = wdog_options,
    .name = NULL,                   /* from the .so name: vdev-wdog.so -> wdog */
    .factory_flags = VFF_MUTEX,
    .acc_sizes = (1u << 1) | (1u << 2) | (1u << 4) | (1u << 8),
    .extra_space = sizeof(struct wdog),
};

static void __attribute__((constructor)) wdog_register(void)
{
    vdev_register_factory(&wdog_factory, QVM_VDEV_ABI);
}

/*
 * vdev mywdog - a small watchdog, the sample vdev of `hil init`.
 *
 * Written against QNX 8.0's documented vdev API only: it builds with qcc for a
 * QNX board and with gcc against qvmsim's headers (`hil vdev build --portable`
 * proves it uses no qvmsim-only name).
 *
 * Option (besides the loc/intr/name/log that qvm handles):
 *   timeout MS     time without a kick before the bite (default 1000)
 *
 * Registers (4 bytes each, from the `loc` address):
 *   +0  write: kick (restart the countdown); read: milliseconds left
 *   +4  write N (0..31): end the guest with the vdev's own cause
 *       GTC_CUSTOM_MIN + N (qvm exits 32 + N)
 *
 * The countdown starts when the guest starts.  When it runs out, the vdev
 * logs "watchdog expired" at ERROR and bites: the guest is terminated as by
 * a watchdog (qvm exits 4).
 */
#include <qvm/vdev.h>

#include <stdlib.h>
#include <time.h>

#define REG_KICK  0u
#define REG_CAUSE 4u

struct mywdog {
    uint64_t timeout_ns;
    struct guest_timer *timer;
    uint64_t ticks_per_s;       /* the timer's clock, from guest_timer_create() */
    uint64_t last_kick;         /* CLOCK_MONOTONIC, ns */
    struct wdog_state ws;
};

static const char *const mywdog_options[] = { "timeout", NULL };
enum { OPT_TIMEOUT };

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Arm the timer to expire `ns` from now (in the timer's ticks, at least one). */
static void arm_in(struct mywdog *w, uint64_t ns)
{
    uint64_t ticks = ns / 1000u * w->ticks_per_s / 1000000u;
    guest_timer_notify(w->timer, NULL, ticks != 0 ? ticks : 1);
}

static void kick(struct mywdog *w)
{
    w->last_kick = now_ns();
    arm_in(w, w->timeout_ns);
}

static int mywdog_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct mywdog *w = (struct mywdog *)vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        /* no default address: the configuration's `loc` gives it (qvm applies it after this) */
        vdp->v_block.location = QSL_NO_LOCATION;
        vdp->v_block.length = 0x1000;
        w->timeout_ns = 1000000000ull;
        w->ws.ws_action = WDOG_ACTION_TERMINATE;
        break;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_TIMEOUT: {
        char *end;
        unsigned long long ms = strtoull(arg, &end, 0);
        if (*arg < '0' || *arg > '9' || *end != '\0' || ms == 0 || ms > 1000000000ull)  /* ns never overflow */
            qvm_fatal(QLS_CNF, "timeout '%s': expected a positive number of milliseconds (at most 1000000000)", arg);
        w->timeout_ns = ms * 1000000ull;
        break;
    }
    case VDEV_CTRL_GUEST_CONFIGURED:
        w->timer = guest_timer_create(NULL, vdp, w, &w->ticks_per_s);
        if (w->timer == NULL)
            qvm_fatal(QLS_CNF, "cannot create the watchdog timer (error %llu)", (unsigned long long)w->ticks_per_s);
        vdev_logf(QL_QVM_INFO, vdp, "timeout %llu ms", (unsigned long long)(w->timeout_ns / 1000000u));
        break;
    case VDEV_CTRL_GUEST_STARTING:
        kick(w);
        break;
    default:
        break;
    }
    return EOK;
}

static vdev_ref_status_t mywdog_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                       const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct mywdog *w = (struct mywdog *)vdp->v_device;
    uint32_t value = 0;
    (void)cookie;
    int err = guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value);
    if (err != EOK)
        return guest_cpu_to_vrs(err);
    switch (vopnd->location - vdp->v_block.location) {
    case REG_KICK:
        kick(w);
        vdev_logf(QL_QVM_DBG, vdp, "kick");
        return VRS_NORMAL;
    case REG_CAUSE:
        if (value > (uint32_t)(GTC_MAX - GTC_CUSTOM_MIN)) {
            vdev_logf(QL_QVM_ERR, vdp, "custom cause %u: expected 0..%d", (unsigned)value, GTC_MAX - GTC_CUSTOM_MIN);
            return VRS_BUS_ERROR;
        }
        vdev_logf(QL_QVM_ERR, vdp, "guest asked for custom cause %u: terminating", (unsigned)value);
        guest_terminate(GTC_CUSTOM_MIN + (guest_termination_cause_t)value);
    default:
        return VRS_BUS_ERROR;
    }
}

static vdev_ref_status_t mywdog_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct mywdog *w = (struct mywdog *)vdp->v_device;
    uint64_t now = now_ns(), due = w->last_kick + w->timeout_ns;
    uint32_t left_ms = due > now ? (uint32_t)((due - now) / 1000000u) : 0;
    (void)cookie;
    if (vopnd->location - vdp->v_block.location != REG_KICK)
        left_ms = 0;
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &left_ms, sizeof left_ms));
}

static void mywdog_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    struct mywdog *w = (struct mywdog *)data;
    uint64_t now = now_ns(), due = w->last_kick + w->timeout_ns;
    (void)tdp;
    (void)gcp;
    if (due > now + 500000u) {  /* kicked while the expiry was on its way */
        arm_in(w, due - now);
        return;
    }
    vdev_logf(QL_QVM_ERR, vdp, "watchdog expired: no kick for %llu ms", (unsigned long long)((now - w->last_kick) / 1000000u));
    wdog_bite(&w->ws);          /* WDOG_ACTION_TERMINATE: does not return */
}

static struct vdev_factory mywdog_factory = {
    .next = NULL,
    .control = mywdog_control,
    .vread = mywdog_vread,
    .vwrite = mywdog_vwrite,
    .pulse = NULL,
    .timer = mywdog_timer,
    .pic = NULL,
    .option_list = mywdog_options,
    .name = NULL,                   /* from the .so name: vdev-mywdog.so -> mywdog */
    .factory_flags = VFF_MUTEX,     /* callbacks never run at the same time */
    .acc_sizes = 1u << 4,           /* 4-byte accesses only */
    .extra_space = sizeof(struct mywdog),
};

static void __attribute__((constructor)) mywdog_register(void)
{
    vdev_register_factory(&mywdog_factory, QVM_VDEV_ABI);
}

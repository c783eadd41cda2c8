/*
 * vdev ticks - a one-shot delay, armed by a guest store, to show the guest
 * timer's unit: guest_timer_notify() counts in ticks of the rate
 * guest_timer_create() returns, not in nanoseconds.
 *
 *   delay MS     the delay (default 20 ms)
 *   convert      convert MS with the returned resolution (right); without it
 *                the vdev passes nanoseconds as ticks (the classic mistake: it
 *                only works where the timer happens to run at 1 GHz)
 *
 * A guest store at offset 0 arms the timer and logs "armed"; the expiry logs
 * "fired".  QNX 8.0 API only (builds with --portable).
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <stdlib.h>

struct ticks {
    uint64_t delay_ms;
    int convert;
    uint64_t resolution;        /* guest timer ticks per second */
    struct guest_timer *timer;
};

static const char *const ticks_options[] = { "delay", QVM_OPTION_NO_ARG_PREFIX "convert", NULL };

static int ticks_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct ticks *t = (struct ticks *)vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        vdp->v_block.location = QSL_NO_LOCATION;
        vdp->v_block.length = 0x1000;
        t->delay_ms = 20;
        break;
    case VDEV_CTRL_FIRST_OPTIDX + 0: {
        char *end;
        t->delay_ms = strtoull(arg, &end, 0);
        if (*arg == '\0' || *end != '\0' || t->delay_ms == 0 || t->delay_ms > 60000) {
            vdev_logf(QL_QVM_ERR, vdp, "delay '%s': expected 1 to 60000 ms", arg);
            return EINVAL;
        }
        break;
    }
    case VDEV_CTRL_FIRST_OPTIDX + 1:
        t->convert = 1;
        break;
    case VDEV_CTRL_GUEST_CONFIGURED:
        t->timer = guest_timer_create(NULL, vdp, t, &t->resolution);
        if (t->timer == NULL)
            qvm_fatal(QLS_CNF, "cannot create the timer (error %llu)", (unsigned long long)t->resolution);
        vdev_logf(QL_QVM_INFO, vdp, "resolution %llu ticks/s", (unsigned long long)t->resolution);
        break;
    default:
        break;
    }
    return EOK;
}

static vdev_ref_status_t ticks_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct ticks *t = (struct ticks *)vdp->v_device;
    (void)cookie;
    (void)vopnd;
    (void)oopnd;
    (void)gcp;
    uint64_t deadline = t->convert ? t->delay_ms * t->resolution / 1000u     /* ticks */
                                   : t->delay_ms * 1000000u;                  /* ns, wrongly */
    /* logged before arming: the line's stamp never comes after the timer started (a lower bound) */
    vdev_logf(QL_QVM_INFO, vdp, "armed delay=%llu ms deadline=%llu", (unsigned long long)t->delay_ms,
              (unsigned long long)deadline);
    guest_timer_notify(t->timer, NULL, deadline);
    return VRS_NORMAL;
}

static vdev_ref_status_t ticks_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    uint32_t zero = 0;
    (void)vdp;
    (void)cookie;
    (void)vopnd;
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &zero, sizeof zero));
}

static void ticks_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    (void)data;
    (void)tdp;
    (void)gcp;
    vdev_logf(QL_QVM_INFO, vdp, "fired");
}

static struct vdev_factory ticks_factory = {
    .next = NULL,
    .control = ticks_control,
    .vread = ticks_vread,
    .vwrite = ticks_vwrite,
    .pulse = NULL,
    .timer = ticks_timer,
    .pic = NULL,
    .option_list = ticks_options,
    .name = NULL,
    .factory_flags = VFF_MUTEX,
    .acc_sizes = 0,
    .extra_space = sizeof(struct ticks),
};

static void __attribute__((constructor)) ticks_register(void)
{
    vdev_register_factory(&ticks_factory, QVM_VDEV_ABI);
}

/*
 * vdev dma80 - written from QNX 8.0's Virtual Device Developer's API
 * Reference alone (no qvmsim name), to prove that a vdev using guest timers
 * in all three modes, a guest interrupt, gasp guest-memory mappings and
 * GXF_NONE accesses builds and behaves the same on qvmsim (and, built with
 * qcc, on a QNX 8.0 board).
 *
 * Options:  period MS   a recurring timer (default 20): counts its expiries
 * Registers (4 bytes, offsets from loc):
 *   0x00 W  source guest-physical address of a copy
 *   0x04 W  destination guest-physical address
 *   0x08 W  length in bytes; writing it starts the copy DELAY ms later
 *   0x0c W  DELAY ms of the next copy (one-shot relative timer, default 1)
 *   0x10 W  arm a one-shot ABSOLUTE timer VALUE ms after the guest time of
 *           the last recurring expiry
 *   0x14 W  ack: de-assert the interrupt (GIS_OFF)
 *   0x18 W  peek: read 4 bytes of guest RAM at VALUE (gcp NULL, GXF_NONE)
 *           and write them + 1 at VALUE + 4
 *   0x00 R  copies done       0x04 R recurring expiries
 *   0x08 R  absolute expiries 0x0c R relative expiries
 *   0x10 R  1 if every recurring expiry came due within 1/2 period of its
 *           predecessor's due time + period (no drift), else 0
 * After each copy the vdev raises its interrupt (GIS_ON) and logs
 * "copied N bytes 0xSRC -> 0xDST".
 */
#include <qvm/vdev.h>
#include <qvm/gasp.h>

#include <stdlib.h>
#include <string.h>

enum { T_RECURRING, T_RELATIVE, T_ABSOLUTE, T_COUNT };

struct dma80;
struct dma80_timer {
    struct dma80 *d;
    int which;
    struct guest_timer *gt;
};

struct dma80 {
    vdev_t *vdp;
    struct dma80_timer timers[T_COUNT];
    uint64_t ticks_per_s;
    uint64_t period_ms;
    uint64_t delay_ms;
    uint32_t src, dst, len;
    uint32_t copies, expiries[T_COUNT];
    uint64_t last_guest_time;       /* guest_current of the last recurring expiry */
    uint64_t last_due;              /* guest_notify_start of the last recurring expiry */
    int drift_ok;
};

static const char *const dma80_options[] = { "period", NULL };

static uint64_t ms_to_ticks(const struct dma80 *d, uint64_t ms)
{
    return d->ticks_per_s / 1000u * ms;
}

static void do_copy(struct dma80 *d)
{
    vdev_t *vdp = d->vdp;
    void *src = gasp_map_vdma(vdp, d->src, d->len, GMF_READ);
    void *dst = gasp_map_vdma(vdp, d->dst, d->len, GMF_WRITE);
    if (src == NULL || dst == NULL) {
        vdev_logf(QL_QVM_ERR, vdp, "cannot map 0x%x or 0x%x (%u bytes)", (unsigned)d->src, (unsigned)d->dst,
                  (unsigned)d->len);
    } else {
        memcpy(dst, src, d->len);
        d->copies++;
        vdev_logf(QL_QVM_INFO, vdp, "copied %u bytes 0x%x -> 0x%x", (unsigned)d->len, (unsigned)d->src,
                  (unsigned)d->dst);
        errno_t rc = guest_intr_signal(&vdp->v_intr, GIS_ON);
        if (rc != EOK)
            vdev_logf(QL_QVM_ERR, vdp, "guest_intr_signal: error %d", (int)rc);
    }
    if (src != NULL)
        gasp_unmap(src, d->len, 0);
    if (dst != NULL)
        gasp_unmap(dst, d->len, 1);
}

static int dma80_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct dma80 *d = (struct dma80 *)vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        /* no default address: the configuration's `loc` gives it (applied after this) */
        vdp->v_block.location = QSL_NO_LOCATION;
        vdp->v_block.length = 0x1000;
        d->vdp = vdp;
        d->period_ms = 20;
        d->delay_ms = 1;
        d->drift_ok = 1;
        vdp->v_block.qst_type = QST_MEMORY;
        break;
    case VDEV_CTRL_FIRST_OPTIDX + 0: {
        char *end;
        unsigned long v = strtoul(arg, &end, 0);
        if (*arg == '\0' || *end != '\0' || v == 0 || v > 10000) {
            vdev_logf(QL_QVM_ERR, vdp, "period '%s': expected 1..10000 ms", arg);
            return EINVAL;
        }
        d->period_ms = v;
        break;
    }
    case VDEV_CTRL_GUEST_CONFIGURED:
        for (int i = 0; i < T_COUNT; i++) {
            uint64_t res = 0;
            d->timers[i].d = d;
            d->timers[i].which = i;
            d->timers[i].gt = guest_timer_create(NULL, vdp, &d->timers[i], &res);
            if (d->timers[i].gt == NULL)
                qvm_fatal(QLS_CNF, "dma80: guest_timer_create failed: error %d", (int)res);
            d->ticks_per_s = res;
        }
        break;
    case VDEV_CTRL_GUEST_STARTING:
        /* first activation of a recurring timer: tdp NULL, relative */
        guest_timer_notify(d->timers[T_RECURRING].gt, NULL, ms_to_ticks(d, d->period_ms));
        break;
    case VDEV_CTRL_STATUS:
        qvm_report("copies=%u recurring=%u relative=%u absolute=%u drift_ok=%d", (unsigned)d->copies,
                   (unsigned)d->expiries[T_RECURRING], (unsigned)d->expiries[T_RELATIVE],
                   (unsigned)d->expiries[T_ABSOLUTE], d->drift_ok);
        break;
    default:
        break;
    }
    return EOK;
}

static void dma80_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    struct dma80_timer *t = (struct dma80_timer *)data;
    struct dma80 *d = t->d;
    (void)gcp;
    d->expiries[t->which]++;
    switch (t->which) {
    case T_RECURRING:
        if (d->last_due != 0) {
            /* each wait starts where the previous one was due: no drift */
            uint64_t want = d->last_due + ms_to_ticks(d, d->period_ms);
            uint64_t got = tdp->guest_notify_start;
            uint64_t diff = got > want ? got - want : want - got;
            if (diff > ms_to_ticks(d, d->period_ms) / 2u)
                d->drift_ok = 0;
        }
        d->last_due = tdp->guest_notify_start;
        d->last_guest_time = tdp->guest_current;
        guest_timer_notify(t->gt, tdp, ms_to_ticks(d, d->period_ms));   /* recurring activation */
        break;
    case T_RELATIVE:
        vdev_logf(QL_QVM_INFO, vdp, "relative timer fired: waited %llu us",
                  (unsigned long long)((tdp->guest_current - tdp->guest_notify_start) * 1000000u / d->ticks_per_s));
        do_copy(d);
        break;
    case T_ABSOLUTE:
        vdev_logf(QL_QVM_INFO, vdp, "absolute timer fired at guest time %llu",
                  (unsigned long long)tdp->guest_current);
        break;
    default:
        break;
    }
}

static vdev_ref_status_t dma80_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct dma80 *d = (struct dma80 *)vdp->v_device;
    uint32_t value = 0;
    (void)cookie;
    int err = guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value);
    if (err != EOK)
        return guest_cpu_to_vrs(err);
    switch (vopnd->location - vdp->v_block.location) {
    case 0x00:
        d->src = value;
        break;
    case 0x04:
        d->dst = value;
        break;
    case 0x08:
        d->len = value;
        /* one-shot, relative deadline: tdp NULL */
        guest_timer_notify(d->timers[T_RELATIVE].gt, NULL, ms_to_ticks(d, d->delay_ms));
        break;
    case 0x0c:
        d->delay_ms = value;
        break;
    case 0x10:
        guest_timer_notify(d->timers[T_ABSOLUTE].gt, GUEST_TIMER_ABSOLUTE,
                           d->last_guest_time + ms_to_ticks(d, value));
        vdev_logf(QL_QVM_INFO, vdp, "absolute timer armed for guest time %llu",
                  (unsigned long long)(d->last_guest_time + ms_to_ticks(d, value)));
        break;
    case 0x14:
        guest_intr_signal(&vdp->v_intr, GIS_OFF);
        break;
    case 0x18: {
        struct qvm_state_block blk;
        uint32_t word = 0;
        memset(&blk, 0, sizeof blk);
        blk.location = value;
        blk.length = sizeof word;
        blk.qst_type = QST_MEMORY;
        err = guest_cpu_read(NULL, GXF_NONE, &blk, 1, &word, sizeof word);
        if (err != EOK)
            return guest_cpu_to_vrs(err);
        word += 1u;
        blk.location = (uint64_t)value + 4u;
        err = guest_cpu_write(NULL, GXF_NONE, &blk, 1, &word, sizeof word);
        if (err != EOK)
            return guest_cpu_to_vrs(err);
        vdev_logf(QL_QVM_INFO, vdp, "peek 0x%x: wrote 0x%x at 0x%x", (unsigned)value, (unsigned)word,
                  (unsigned)(value + 4u));
        break;
    }
    default:
        break;
    }
    return VRS_NORMAL;
}

static vdev_ref_status_t dma80_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct dma80 *d = (struct dma80 *)vdp->v_device;
    uint32_t value = 0;
    (void)cookie;
    switch (vopnd->location - vdp->v_block.location) {
    case 0x00: value = d->copies; break;
    case 0x04: value = d->expiries[T_RECURRING]; break;
    case 0x08: value = d->expiries[T_ABSOLUTE]; break;
    case 0x0c: value = d->expiries[T_RELATIVE]; break;
    case 0x10: value = (uint32_t)d->drift_ok; break;
    default: break;
    }
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &value, sizeof value));
}

static struct vdev_factory dma80_factory = {
    .next = NULL,
    .control = dma80_control,
    .vread = dma80_vread,
    .vwrite = dma80_vwrite,
    .pulse = NULL,
    .timer = dma80_timer,
    .pic = NULL,
    .option_list = dma80_options,
    .name = NULL,
    .factory_flags = VFF_MUTEX | VFF_INTR_REQ,
    .acc_sizes = 1u << 4,
    .extra_space = sizeof(struct dma80),
};

static void __attribute__((constructor)) dma80_register(void)
{
    vdev_register_factory(&dma80_factory, QVM_VDEV_ABI);
}

/*
 * vdev-probe: a test vdev for qvmsim's guest timers, interrupts, guest RAM
 * (gasp and guest_cpu_read/write with gcp == NULL) and pulses.  Every
 * observation is an INFO line from the instance, "key=value" words, so the
 * tests read qvmsim's own numbers from the log.
 *
 * Options:
 *   tmode rel|abs|recur   start a timer at GUEST_STARTING in that mode
 *   tperiod MS            its period (default 20)
 *   tcount N              expiries before it stops (default 5)
 *
 * Registers (offsets from `loc`, 8-byte registers, stores only unless said):
 *   0x00 RAISE  n: assert (GIS_ON) then de-assert the interrupt n times
 *   0x08 LATER  ms: raise the interrupt once, ms from now (a second timer)
 *   0x10 CODES  any: log guest_intr_signal()'s answers to odd requests
 *   0x18 BITE   any: wdog_bite() with WDOG_ACTION_INTR
 *   0x20 SRC, 0x28 DST, 0x30 LEN: a DMA copy's parameters
 *   0x38 GO     any: copy LEN bytes SRC -> DST through gasp mappings
 *               (load: 0 or the errno of the last copy)
 *   0x40 PEEK   any: guest_cpu_read(NULL, QST_MEMORY SRC, 4) then
 *               guest_cpu_write(NULL, QST_MEMORY DST, value + 1); a -1 is
 *               answered with guest_cpu_to_vrs(-1)
 *   0x48 PULSE  any: qvmsim_pulse_deliver() of the event made at
 *               GUEST_CONFIGURED (code 5); a value of 2: of a bogus event
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qvm/vdev.h>

enum { OPT_TMODE, OPT_TPERIOD, OPT_TCOUNT };

struct probe {
    int tmode;                      /* 0 none, 1 rel, 2 abs, 3 recur */
    uint64_t tperiod_ns;
    unsigned tcount, fired;
    struct guest_timer *timer;      /* the test timer */
    struct guest_timer *later;      /* LATER */
    uint64_t regs[16];
    int last_dma;
    struct sigevent ev;
    int later_data;
};

static const char *const modes[] = { "none", "rel", "abs", "recur" };

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void arm_next(vdev_t *vdp, struct probe *p, const struct guest_timer_data *tdp)
{
    int rc;
    uint64_t now = mono_ns();
    switch (p->tmode) {
    case 1:
        rc = guest_timer_notify(p->timer, NULL, p->tperiod_ns);
        break;
    case 2:
        rc = guest_timer_notify(p->timer, GUEST_TIMER_ABSOLUTE, now + p->tperiod_ns);
        break;
    default:
        rc = guest_timer_notify(p->timer, tdp, p->tperiod_ns);
        break;
    }
    vdev_logf(QL_QVM_INFO, vdp, "timer armed mode=%s now=%" PRIu64 " rc=%d", modes[p->tmode], now, rc);
}

static int probe_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct probe *p = vdp->v_device;
    uint64_t res = 0;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        /* no default address: the configuration's `loc` gives it (applied after this) */
        vdp->v_block.location = QSL_NO_LOCATION;
        vdp->v_block.length = 0x1000;
        p->tperiod_ns = 20000000ull;
        p->tcount = 5;
        return EOK;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_TMODE:
        for (int i = 1; i < 4; i++) {
            if (strcmp(arg, modes[i]) == 0)
                p->tmode = i;
        }
        return p->tmode ? EOK : EINVAL;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_TPERIOD:
        p->tperiod_ns = strtoull(arg, NULL, 0) * 1000000ull;
        return p->tperiod_ns ? EOK : EINVAL;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_TCOUNT:
        p->tcount = (unsigned)strtoul(arg, NULL, 0);
        return EOK;
    case VDEV_CTRL_GUEST_CONFIGURED:
        vdev_pulse(vdp, 5, 10, &p->ev, 0);
        vdev_logf(QL_QVM_INFO, vdp, "configured intr=%s sched_priority_known=1",
                  qvmsim_vdev_intr(vdp) ? qvmsim_vdev_intr(vdp) : "none");
        p->later = guest_timer_create(NULL, vdp, &p->later_data, &res);
        if (p->later == NULL)
            vdev_logf(QL_QVM_ERR, vdp, "guest_timer_create failed: errno %d", (int)res);
        else
            vdev_logf(QL_QVM_INFO, vdp, "later timer frequency=%" PRIu64, res);
        return EOK;
    case VDEV_CTRL_GUEST_STARTING:
        if (p->tmode == 0)
            return EOK;
        p->timer = guest_timer_create(NULL, vdp, p, &res);
        if (p->timer == NULL) {
            vdev_logf(QL_QVM_ERR, vdp, "guest_timer_create failed: errno %d", (int)res);
            return (int)res;
        }
        vdev_logf(QL_QVM_INFO, vdp, "timer created frequency=%" PRIu64, res);
        arm_next(vdp, p, NULL);
        return EOK;
    default:
        return EOK;
    }
}

static void probe_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    (void)gcp;
    struct probe *p = vdp->v_device;
    if (data == &p->later_data) {
        errno_t rc = guest_intr_signal(&vdp->v_intr, GIS_ON);
        guest_intr_signal(&vdp->v_intr, GIS_OFF);
        vdev_logf(QL_QVM_INFO, vdp, "later raised rc=%d", rc);
        return;
    }
    p->fired++;
    vdev_logf(QL_QVM_INFO, vdp,
              "timer fired n=%u mode=%s host_notify_start=%" PRIu64 " host_current=%" PRIu64
              " guest_notify_start=%" PRIu64 " guest_current=%" PRIu64,
              p->fired, modes[p->tmode], tdp->host_notify_start, tdp->host_current,
              tdp->guest_notify_start, tdp->guest_current);
    if (p->fired < p->tcount)
        arm_next(vdp, p, tdp);
    else
        vdev_logf(QL_QVM_INFO, vdp, "timer done");
}

static void dma(vdev_t *vdp, struct probe *p)
{
    uint64_t src = p->regs[0x20 / 8], dst = p->regs[0x28 / 8], len = p->regs[0x30 / 8];
    void *s = gasp_map_vdma(vdp, src, len, GMF_READ);
    if (s == NULL) {
        p->last_dma = errno;
        vdev_logf(QL_QVM_INFO, vdp, "dma map src failed errno=%d", errno);
        return;
    }
    gasp_map_handle_t h;
    int rc = gasp_map(vdp, dst, len, GMF_WRITE, &h);
    if (rc != EOK) {
        gasp_unmap(s, len, 0);
        p->last_dma = rc;
        vdev_logf(QL_QVM_INFO, vdp, "dma map dst failed errno=%d", rc);
        return;
    }
    memcpy(gasp_get_vaddr(&h), s, len);
    gasp_unmap(s, len, 0);
    gasp_unmap_handle(&h);
    gasp_unmap_handle(&h);      /* a second unmap does nothing */
    p->last_dma = 0;
    vdev_logf(QL_QVM_INFO, vdp, "dma copied len=%" PRIu64 " src=0x%" PRIx64 " dst=0x%" PRIx64
              " vaddr_after_unmap=%s", len, src, dst, gasp_get_vaddr(&h) == NULL ? "null" : "set");
}

static vdev_ref_status_t peek(vdev_t *vdp, struct probe *p)
{
    uint32_t v = 0;
    struct qvm_state_block b = { .location = p->regs[0x20 / 8], .length = 4, .qst_type = QST_MEMORY };
    int rc = guest_cpu_read(NULL, GXF_NONE, &b, 1, &v, sizeof v);
    vdev_logf(QL_QVM_INFO, vdp, "peek read rc=%d value=0x%x", rc, v);
    if (rc != EOK)
        return guest_cpu_to_vrs(rc);
    v++;
    b.location = p->regs[0x28 / 8];
    rc = guest_cpu_write(NULL, GXF_NONE, &b, 1, &v, sizeof v);
    vdev_logf(QL_QVM_INFO, vdp, "peek write rc=%d value=0x%x", rc, v);
    return guest_cpu_to_vrs(rc);
}

static void codes(vdev_t *vdp)
{
    guest_intr_t none;
    memset(&none, 0, sizeof none);
    vdev_logf(QL_QVM_INFO, vdp, "intr codes isr=%d nop=%d both=%d null=%d unconfigured=%d",
              guest_intr_signal(&vdp->v_intr, GIS_ISR), guest_intr_signal(&vdp->v_intr, GIS_NOP),
              guest_intr_signal(&vdp->v_intr, GIS_ON | GIS_OFF), guest_intr_signal(NULL, GIS_ON),
              guest_intr_signal(&none, GIS_ON));
}

static vdev_ref_status_t probe_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    (void)cookie;
    struct probe *p = vdp->v_device;
    uint64_t val = 0;
    int rc = guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &val, sizeof val);
    if (rc != EOK)
        return guest_cpu_to_vrs(rc);
    uint64_t off = vopnd->location - vdp->v_block.location;
    if (off / 8 < 16)
        p->regs[off / 8] = val;
    switch (off) {
    case 0x00:
        for (uint64_t i = 0; i < val; i++) {
            errno_t e = guest_intr_signal(&vdp->v_intr, GIS_ON);
            guest_intr_signal(&vdp->v_intr, GIS_OFF);
            if (e != EOK) {
                vdev_logf(QL_QVM_INFO, vdp, "raise rc=%d", e);
                break;
            }
        }
        break;
    case 0x08:
        guest_timer_notify(p->later, NULL, val * 1000000ull);
        break;
    case 0x10:
        codes(vdp);
        break;
    case 0x18: {
        struct wdog_state ws;
        memset(&ws, 0, sizeof ws);
        ws.ws_action = WDOG_ACTION_INTR;
        wdog_bite(&ws);
        vdev_logf(QL_QVM_INFO, vdp, "bite returned");
        break;
    }
    case 0x38:
        dma(vdp, p);
        break;
    case 0x40:
        return peek(vdp, p);
    case 0x48: {
        struct sigevent bogus;
        memset(&bogus, 0, sizeof bogus);
        int r = qvmsim_pulse_deliver(val == 2 ? &bogus : &p->ev);
        vdev_logf(QL_QVM_INFO, vdp, "pulse deliver rc=%d", r);
        break;
    }
    default:
        break;
    }
    return VRS_NORMAL;
}

static vdev_ref_status_t probe_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    (void)cookie;
    struct probe *p = vdp->v_device;
    uint64_t off = vopnd->location - vdp->v_block.location;
    uint64_t val = off == 0x38 ? (uint64_t)p->last_dma : off / 8 < 16 ? p->regs[off / 8] : 0;
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &val, sizeof val));
}

static int probe_pulse(vdev_t *vdp, const struct _pulse *pulse)
{
    char name[32] = "?";
    pthread_getname_np(pthread_self(), name, sizeof name);
    int tr = pthread_mutex_trylock(&vdp->v_mtx);
    if (tr == 0)
        pthread_mutex_unlock(&vdp->v_mtx);
    vdev_logf(QL_QVM_INFO, vdp, "pulse code=%d thread=%s v_mtx=%s", pulse->code, name,
              tr == EBUSY ? "held" : "free");
    return EOK;
}

static const char *const probe_options[] = { "tmode", "tperiod", "tcount", NULL };

static struct vdev_factory probe_factory = {
    .control = probe_control,
    .vread = probe_vread,
    .vwrite = probe_vwrite,
    .pulse = probe_pulse,
    .timer = probe_timer,
    .option_list = probe_options,
    .name = NULL,
    .factory_flags = VFF_MUTEX,
    .acc_sizes = 0,
    .extra_space = sizeof(struct probe),
};

static void __attribute__((constructor)) probe_register(void)
{
    vdev_register_factory(&probe_factory, QVM_VDEV_ABI);
}

/*
 * vdev nq - the QNX calls real vdevs use for pulses and time (ClockCycles, SYSPAGE_ENTRY(qtime),
 * MsgDeliverEvent of a vdev_pulse event); built portable by tests/qvmsim/test_real_vdevs.py
 */
#include <qvm/vdev.h>
#include <sys/neutrino.h>
#include <sys/syspage.h>
/* the QNX calls real vdevs use for pulses and time, as on a board */
static struct sigevent ev;
static uint64_t armed_at;
static int nq_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)arg;
    if (ctrl == VDEV_CTRL_GUEST_CONFIGURED) {
        vdev_pulse(vdp, _PULSE_CODE_MINAVAIL + 3, 10, &ev, 0);
        vdev_logf(QL_QVM_INFO, vdp, "cycles_per_sec=%llu", (unsigned long long)SYSPAGE_ENTRY(qtime)->cycles_per_sec);
    }
    if (ctrl == VDEV_CTRL_GUEST_STARTING) {
        armed_at = ClockCycles();
        if (MsgDeliverEvent(0, &ev) == -1)
            return EIO;
    }
    return EOK;
}
static int nq_pulse(vdev_t *vdp, const struct _pulse *pulse)
{
    uint64_t waited = ClockCycles() - armed_at;
    vdev_logf(QL_QVM_INFO, vdp, "pulse code=%d after %llu ms", pulse->code,
              (unsigned long long)(waited * 1000u / SYSPAGE_ENTRY(qtime)->cycles_per_sec));
    guest_terminate(GTC_CUSTOM_MIN + 1);
}
static struct vdev_factory nq_factory = { .control = nq_control, .pulse = nq_pulse, .factory_flags = VFF_NONE };
static void __attribute__((constructor)) nq_register(void) { vdev_register_factory(&nq_factory, QVM_VDEV_ABI); }

/*
 * vdev real - written the way real QNX vdevs are (options at OPTIONS_START, .name = NULL patched by
 * qvm, VFF_MUTEX, BOOTUP == GUEST_CONFIGURED); built portable by tests/qvmsim/test_real_vdevs.py
 */
#include <qvm/vdev.h>
#include <stdlib.h>
static const char *const real_options[] = { "0exit_at_configured", NULL };
static int exit_at_configured;
static unsigned configured;
static int real_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)arg;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        vdp->v_block.location = QSL_NO_LOCATION;
        break;
    case VDEV_CTRL_FIRST_OPTIDX:
        exit_at_configured = 1;
        break;
    case VDEV_CTRL_ASSIGN:
        vdev_logf(QL_QVM_INFO, vdp, "factory name=%s", vdp->v_factory->name ? vdp->v_factory->name : "(null)");
        break;
    case VDEV_CTRL_TERMINATE:
        vdev_logf(QL_QVM_INFO, vdp, "terminate");
        break;
    default:
        /* real vdevs test both names: one callback, one line */
        if (ctrl == VDEV_CTRL_GUEST_CONFIGURED || ctrl == VDEV_CTRL_BOOTUP) {
            vdev_logf(QL_QVM_INFO, vdp, "configured %u", ++configured);
            if (exit_at_configured)
                exit(12);
        }
        break;
    }
    return EOK;
}
static vdev_ref_status_t real_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    uint32_t value = 0;
    (void)vdp; (void)cookie; (void)vopnd;
    guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value);
    exit((int)value);
}
static struct vdev_factory real_factory = {
    .control = real_control, .vwrite = real_vwrite, .option_list = real_options,
    .name = NULL, /* patched */
    .factory_flags = VFF_MUTEX,
};
static void __attribute__((constructor)) real_register(void) { vdev_register_factory(&real_factory, QVM_VDEV_ABI); }

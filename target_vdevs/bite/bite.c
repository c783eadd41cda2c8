/*
 * vdev bite - guest_terminate(GTC_WATCHDOG) on a guest store, as on QNX 8.0's page "Terminating
 * qvm process instances and guests"; built portable by tests/qvmsim/test_portable.py
 */
#include <qvm/vdev.h>
/* as on QNX 8.0's page "Terminating qvm process instances and guests": a watchdog bite
 * once the guest has started ends the guest with guest_terminate(GTC_WATCHDOG) */
static vdev_ref_status_t bite_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    (void)vdp; (void)cookie; (void)vopnd; (void)oopnd; (void)gcp;
    guest_terminate(GTC_WATCHDOG);
}
static struct vdev_factory bite_factory = {
    .vwrite = bite_vwrite,
    .factory_flags = VFF_MUTEX,
    .extra_space = 0,
};
static void __attribute__((constructor)) bite_register(void)
{
    vdev_register_factory(&bite_factory, QVM_VDEV_ABI);
}

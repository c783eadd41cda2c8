/*
 * vdev own - defines a helper named like one of qvmsim's internals (now_ns): the vdev's own must be
 * the one it calls (qvm exports only its API); tests/qvmsim/test_exports.py
 */
#include <qvm/vdev.h>
#include <stdint.h>
/* not static: a name qvmsim also uses internally */
uint64_t now_ns(void);
uint64_t now_ns(void) { return 7; }
static int own_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)arg;
    if (ctrl == VDEV_CTRL_GUEST_CONFIGURED)
        vdev_logf(QL_QVM_INFO, vdp, "now_ns() = %llu", (unsigned long long)now_ns());
    return EOK;
}
static struct vdev_factory own_factory = { .control = own_control, .factory_flags = VFF_NONE };
static void __attribute__((constructor)) own_register(void) { vdev_register_factory(&own_factory, QVM_VDEV_ABI); }

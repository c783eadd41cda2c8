/*
 * vdev badabi - registers with a wrong ABI number on purpose: qvm must refuse
 * it (exit 65, a FATAL line naming the vdev and both ABI numbers).
 */
#include <qvm/vdev.h>

static int badabi_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)ctrl;
    (void)arg;
    vdev_logf(QL_QVM_ERR, vdp, "badabi must never be called");
    return EOK;
}

static struct vdev_factory badabi_factory = {
    .next = NULL,
    .control = badabi_control,
    .vread = NULL,
    .vwrite = NULL,
    .pulse = NULL,
    .timer = NULL,
    .pic = NULL,
    .option_list = NULL,
    .name = "badabi",
    .factory_flags = VFF_NONE,
    .acc_sizes = 0,
    .extra_space = 0,
};

static void __attribute__((constructor)) badabi_register(void)
{
    vdev_register_factory(&badabi_factory, QVM_VDEV_ABI + 1u);
}

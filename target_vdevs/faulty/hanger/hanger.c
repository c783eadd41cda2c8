/*
 * vdev hanger - a test vdev for `hil vdev fuzz` (tests/fuzz) whose guest
 * store callback never returns when the guest writes HANGER_MAGIC at offset
 * 0x4 (a polling loop waiting for a status that never comes): the fuzzer
 * reports it as a hang (its --hang-timeout).
 *
 * Registers (offsets from loc, 4 bytes):
 *   0x0 RW scratch      0x4 W HANGER_MAGIC: waits for ever
 */
#include <qvm/vdev.h>

#define HANGER_MAGIC 0xfeedf00du

struct hanger {
    uint32_t scratch;
    volatile uint32_t status;   /* never set: nothing else runs */
};

static vdev_ref_status_t hanger_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                       const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct hanger *h = (struct hanger *)vdp->v_device;
    uint32_t value = 0;
    (void)cookie;
    if (guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value) != EOK)
        return VRS_ERRNO + EINVAL;
    if (vopnd->location - vdp->v_block.location == 0x0)
        h->scratch = value;
    else if (vopnd->location - vdp->v_block.location == 0x4 && value == HANGER_MAGIC)
        while (h->status == 0)      /* the planted hang */
            ;
    return VRS_NORMAL;
}

static vdev_ref_status_t hanger_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct hanger *h = (struct hanger *)vdp->v_device;
    (void)cookie;
    (void)vopnd;
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &h->scratch, sizeof h->scratch));
}

static struct vdev_factory hanger_factory = {
    .next = NULL,
    .control = NULL,
    .vread = hanger_vread,
    .vwrite = hanger_vwrite,
    .pulse = NULL,
    .timer = NULL,
    .pic = NULL,
    .option_list = NULL,
    .name = NULL,
    .factory_flags = VFF_MUTEX,
    .acc_sizes = 1u << 4,
    .extra_space = sizeof(struct hanger),
};

static void __attribute__((constructor)) hanger_register(void)
{
    vdev_register_factory(&hanger_factory, QVM_VDEV_ABI);
}

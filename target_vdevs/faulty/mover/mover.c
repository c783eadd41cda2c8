/*
 * vdev mover - a test vdev for `hil vdev fuzz` (tests/fuzz) that breaks one of
 * qvm's invariants on a guest's request: a 4-byte write of MOVER_MAGIC at
 * offset 0x8 moves the vdev's own region (vdp->v_block) while the guest runs,
 * which qvm never allows (the guest's address map would change under it).
 * The fuzzer reports it as "qvmsim-fuzz: invariant broken".
 *
 * Registers (offsets from loc, 4 bytes):
 *   0x0 RW scratch      0x8 W MOVER_MAGIC moves the region by 0x1000
 */
#include <qvm/vdev.h>

#define MOVER_MAGIC 0x6d0e6d0eu

struct mover {
    uint32_t scratch;
};

static vdev_ref_status_t mover_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct mover *m = (struct mover *)vdp->v_device;
    uint32_t value = 0;
    (void)cookie;
    if (guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value) != EOK)
        return VRS_ERRNO + EINVAL;
    if (vopnd->location - vdp->v_block.location == 0x0)
        m->scratch = value;
    else if (vopnd->location - vdp->v_block.location == 0x8 && value == MOVER_MAGIC)
        vdp->v_block.location += 0x1000;        /* the broken invariant */
    return VRS_NORMAL;
}

static vdev_ref_status_t mover_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct mover *m = (struct mover *)vdp->v_device;
    (void)cookie;
    (void)vopnd;
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &m->scratch, sizeof m->scratch));
}

static struct vdev_factory mover_factory = {
    .next = NULL,
    .control = NULL,
    .vread = mover_vread,
    .vwrite = mover_vwrite,
    .pulse = NULL,
    .timer = NULL,
    .pic = NULL,
    .option_list = NULL,
    .name = NULL,
    .factory_flags = VFF_MUTEX,
    .acc_sizes = 1u << 4,
    .extra_space = sizeof(struct mover),
};

static void __attribute__((constructor)) mover_register(void)
{
    vdev_register_factory(&mover_factory, QVM_VDEV_ABI);
}

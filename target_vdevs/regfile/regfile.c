/*
 * vdev regfile - a bank of 32-bit registers, written the way QNX's own
 * samples set up their region: at VDEV_CTRL_OPTIONS_START the vdev gives its
 * v_block a default address, type and length (QNX 7.1's ib700 sample does the
 * same with its I/O port), which the common `loc` option of the
 * configuration overrides (qvm applies `loc` after OPTIONS_START).
 *
 *   default region  mem:0x1c0f8000, 0x40 bytes (16 registers)
 *   option  ident N a value the instance adds to every load (default 0)
 *
 * A store writes the register at its offset; a load returns register + ident.
 * At VDEV_CTRL_ASSIGN it logs where it ended up: "region 0xADDR,0xLEN".
 * QNX 8.0 API only (builds with --portable).
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REGFILE_DEFAULT_LOC 0x1c0f8000u
#define REGFILE_NREGS 16u

struct regfile {
    uint32_t regs[REGFILE_NREGS];
    uint32_t ident;
};

static const char *const regfile_options[] = { "ident", NULL };

static int regfile_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct regfile *r = (struct regfile *)vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        vdp->v_block.qst_type = QST_MEMORY;
        vdp->v_block.location = REGFILE_DEFAULT_LOC;
        vdp->v_block.length = REGFILE_NREGS * 4u;
        break;
    case VDEV_CTRL_FIRST_OPTIDX + 0: {
        char *end;
        unsigned long v = strtoul(arg, &end, 0);
        if (*arg == '\0' || *end != '\0') {
            vdev_logf(QL_QVM_ERR, vdp, "ident '%s': expected a number", arg);
            return EINVAL;
        }
        r->ident = (uint32_t)v;
        break;
    }
    case VDEV_CTRL_ASSIGN:
        vdev_logf(QL_QVM_INFO, vdp, "region 0x%llx,0x%llx", (unsigned long long)vdp->v_block.location,
                  (unsigned long long)vdp->v_block.length);
        break;
    default:
        break;
    }
    return EOK;
}

static unsigned reg_index(const vdev_t *vdp, const struct qvm_state_block *vopnd)
{
    return (unsigned)((vopnd->location - vdp->v_block.location) / 4u) % REGFILE_NREGS;
}

static vdev_ref_status_t regfile_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                        const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct regfile *r = (struct regfile *)vdp->v_device;
    uint32_t value = 0;
    (void)cookie;
    int err = guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value);
    if (err != EOK)
        return guest_cpu_to_vrs(err);
    r->regs[reg_index(vdp, vopnd)] = value;
    return VRS_NORMAL;
}

static vdev_ref_status_t regfile_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                       const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct regfile *r = (struct regfile *)vdp->v_device;
    (void)cookie;
    uint32_t value = r->regs[reg_index(vdp, vopnd)] + r->ident;
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &value, sizeof value));
}

static struct vdev_factory regfile_factory = {
    .next = NULL,
    .control = regfile_control,
    .vread = regfile_vread,
    .vwrite = regfile_vwrite,
    .pulse = NULL,
    .timer = NULL,
    .pic = NULL,
    .option_list = regfile_options,
    .name = NULL,                   /* patched by qvm from the .so name: regfile */
    .factory_flags = VFF_MUTEX,
    .acc_sizes = 1u << 4,
    .extra_space = sizeof(struct regfile),
};

static void __attribute__((constructor)) regfile_register(void)
{
    vdev_register_factory(&regfile_factory, QVM_VDEV_ABI);
}

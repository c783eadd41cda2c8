/*
 * vdev shapes - a virtio vdev with the call shapes of the public QNX virtio vdevs (vio_* in the
 * controls and vread/vwrite, vq_* on qinfo[q].pvq, VIO_F_BIT features, hw_pci.h class) that asks
 * for PCI; compiled and driven over MMIO by tests/qvmsim/test_virtio.py
 */
#include <stdint.h>
#include <string.h>
#include <qvm/vdev-core.h>
#include <qvm/guest.h>
#include <qvm/gasp.h>
#include <qvm/log.h>
#include <qvm/vio.h>
#include <virtio.h>
#include <vq.h>

struct dev { struct vio_state vs; struct vio_description desc; enum vio_version ver; uint8_t cfg[8]; };

static void drain(struct dev *d)
{
    vq_t *vq = d->vs.qinfo[0].pvq;
    unsigned first, bufid;
    if (vq == NULL)
        return;
    while ((bufid = vq_get_from_driver(vq, &first)) != VQ_INVALID_ID) {
        uint64_t addr; uint32_t len; unsigned flags;
        unsigned next = vq_desc_get(vq, first, &addr, &len, &flags);
        if ((flags & VIRTQ_DESC_F_WRITE) && next == VQ_INVALID_ID) {
            void *va = gasp_map_vdma(NULL, addr, len, GMF_READ | GMF_WRITE);
            if (va != NULL)
                gasp_unmap(va, len, 1);
        }
        vq_put_to_driver(vq, bufid, 0, true);
    }
}

static vdev_ref_status_t rd(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                            const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct dev *d = (struct dev *)vdp->v_device;
    unsigned res = vio_read(&d->vs, cookie, vopnd, oopnd, gcp);
    if ((res & VIOREF_CLASS_MASK) == VIOREF_CLASS_DEVCFG) {
        int r = guest_cpu_write(gcp, GXF_NONE, oopnd, 1, d->cfg + (res & ~VIOREF_CLASS_MASK), vopnd->length);
        return r != EOK ? guest_cpu_to_vrs(r) : VRS_NORMAL;
    }
    if ((res & VIOREF_CLASS_MASK) == VIOREF_CLASS_BUS_ERROR)
        return VRS_BUS_ERROR;
    if ((res & VIOREF_CLASS_MASK) == VIOREF_CLASS_ERRNO)
        return VRS_ERRNO + (int)(res & ~VIOREF_CLASS_MASK);
    return VRS_NORMAL;
}

static vdev_ref_status_t wr(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                            const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct dev *d = (struct dev *)vdp->v_device;
    unsigned res = vio_write(&d->vs, cookie, vopnd, oopnd, gcp);
    unsigned op = res & ~VIOREF_CLASS_MASK;
    switch (res & VIOREF_CLASS_MASK) {
    case VIOREF_CLASS_RESET: vio_reset(&d->vs); break;
    case VIOREF_CLASS_STATUS: if (op & VIRTIO_DS_DRIVER_OK) vio_setup_queues(&d->vs); break;
    case VIOREF_CLASS_NOTIFY: if (op == 0) drain(d); break;
    default: break;
    }
    return VRS_NORMAL;
}

static int ctl(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct dev *d = (struct dev *)vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        vdp->v_block.qst_type = QST_MEMORY;
        vdp->v_block.location = QSL_NO_LOCATION;
        d->ver = VIOVER_100;
        memset(&d->desc, 0, sizeof d->desc);
        d->desc.device_type = VIRTIO_DT_GPU;
        d->desc.pci_class = PCI_CLASS_DISPLAY | PCI_SUBCLASS_DISPLAY_OTHER;
        d->desc.num_queues = 2;
        d->desc.device_config_size = sizeof d->cfg;
        d->desc.device_features[0] = VIO_F_BIT(0) | VIO_F_BIT(1);
        d->desc.device_features[1] = VIO_F_BIT(VIRTIO_F_VERSION_1);
        break;
    case VDEV_CTRL_OPTIONS_END: {
        vio_init(vdp, d->ver, &d->desc, &d->vs);
        int r = vio_init_queue(&d->vs, 0, 256);
        if (r != EOK) return r;
        return vio_init_queue(&d->vs, 1, 16);
    }
    case VDEV_CTRL_GEN_FDT:
        vio_ctrl_gen_fdt(&d->vs, "virtio_thing", (int)(uintptr_t)arg);
        break;
    case VDEV_CTRL_PCI_BARS:
        return vio_ctrl_pci_bars(&d->vs, arg);
    default:
        break;
    }
    return EOK;
}

static struct vdev_factory factory = {
    .next = NULL, .control = ctl, .vread = rd, .vwrite = wr, .pulse = NULL, .timer = NULL, .pic = NULL,
    .option_list = NULL, .name = "thing",
    .factory_flags = VFF_INTR_NONPCI | VFF_VDEV_MEM | VFF_VDEV_PCI | VFF_MUTEX | VFF_MUTEX_RECURSIVE,
    .acc_sizes = (1u << 1) | (1u << 2) | (1u << 4) | (1u << 8), .extra_space = sizeof(struct dev),
};

__attribute__((constructor)) static void reg(void) { vdev_register_factory(&factory, QVM_VDEV_ABI); }

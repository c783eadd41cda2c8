/*
 * qvm/vio.h - QNX's helper library for virtio vdevs: the virtio-MMIO
 * register block at the vdev's `loc`, feature negotiation, device status,
 * virtqueues (see <vq.h>) and the device's interrupt.
 *
 * Our own text, written from QNX's public Virtual Device Developer's API
 * Reference (the vio.h chapter: vio_init, vio_init_queue, vio_setup_queues,
 * vio_read, vio_ctrl_pci_bars, struct vio_description, struct vio_state,
 * struct vio_queue_info, the VIOREF_CLASS_* definitions; 7.0, 7.1 and 8.0
 * pages, e.g.
 * https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.vdev.api/topic/vio_init.html
 * https://www.qnx.com/developers/docs/7.0.0/com.qnx.doc.hypervisor.vdev.api/topic/vio_h_defines.html)
 * and from how public QNX vdevs call it (a QNX 8.0 virtio-gpu vdev, older
 * virtio-i2c and virtio "test" vdevs).  No QNX header or sample is copied.
 * Tags: [doc] a QNX page gives it; [usage] public vdev code shows it (name
 * and call shape), the type is [inferred]; [qvmsim] our own.
 *
 * How a vdev uses it (the pattern of the public vdevs):
 *   OPTIONS_END:  vio_init(vdp, VIOVER_100, &desc, &vs);
 *                 vio_init_queue(&vs, 0, 256) ... for each queue;
 *   vread:        res = vio_read(&vs, cookie, vopnd, oopnd, gcp); then act on
 *                 VIOREF_CLASS_DEVCFG (write the config bytes at the offset
 *                 into oopnd), _BUS_ERROR, _ERRNO;
 *   vwrite:       res = vio_write(...); act on _RESET (vio_reset()), _STATUS
 *                 with DRIVER_OK (vio_setup_queues()), _NOTIFY (process the
 *                 queue in the low bits: vs.qinfo[q].pvq with <vq.h>),
 *                 _DEVCFG (read the written bytes from oopnd);
 *   controls:     VDEV_CTRL_GEN_FDT -> vio_ctrl_gen_fdt(), VDEV_CTRL_PCI_BARS
 *                 -> vio_ctrl_pci_bars().
 *
 * qvmsim's transport is virtio-MMIO at the vdev's `loc`: version 2 (VIRTIO 1.x
 * spec 4.2.2), or version 1 for VIOVER_095 (spec 4.2.4, legacy); virtio-PCI
 * is not modelled (BEHAVIOUR.md, "Virtio vdevs").
 * -DQVMSIM_PORTABLE hides the qvmsim-only names.
 */
#ifndef QVM_VIO_H
#define QVM_VIO_H

#include <stdint.h>

#include <qvm/vdev-core.h>
#include <qvm/hw_pci.h>
#include <virtio.h>
#include <vq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Feature words (32 bits each) a device may offer. [doc] */
#define VIO_MAX_FEATURE_WORDS 4

/* The bit of feature `b` inside its 32-bit feature word: device_features[b / 32]
 * holds it (VIRTIO_F_VERSION_1, bit 32, goes in word 1). [usage: public vdevs
 * put VIO_F_BIT(VIRTIO_F_VERSION_1) in the second word; the definition is
 * inferred] */
#define VIO_F_BIT(b) (1u << ((b) % 32u))

/* The version of the VIRTIO standard the device implements. [doc] */
enum vio_version {
    VIOVER_095,     /* legacy: qvmsim presents virtio-MMIO version 1 */
    VIOVER_100,     /* VIRTIO 1.0 and later */
};

/* What the device is. [doc 8.0: the members in this order] */
struct vio_description {
    uint16_t device_type;       /* VIRTIO_DT_* (<virtio.h>)                     */
    uint16_t vendor_id;         /* subsystem vendor ID; 0: QNX's 0x1C05 [doc]   */
    unsigned pci_class;         /* PCI transport: class | subclass (qvm/hw_pci.h) */
    unsigned num_queues;        /* maximum number of virtqueues                 */
    unsigned device_config_size;/* bytes of device-specific configuration       */
    uint32_t device_features[VIO_MAX_FEATURE_WORDS]; /* offered to the driver   */
};

struct vio_state;
struct vio_state_internal;      /* qvm's (opaque) */

/* One virtqueue of the device. [doc 7.0: vsp, max_size; usage 8.0: pvq] */
struct vio_queue_info {
    vq_t *pvq;                  /* the queue once vio_setup_queues() found it
                                   set up by the driver; NULL before        */
    struct vio_state *vsp;      /* back-pointer                              */
    unsigned max_size;          /* vio_init_queue()'s max_size; 0: no queue  */
};

/* The virtio state a vdev keeps in its own data (v_device). [doc] */
struct vio_state {
    struct vio_state_internal *vsip;        /* qvm's                          */
    struct vio_queue_info *qinfo;           /* num_queues entries             */
    uint32_t driver_features[VIO_MAX_FEATURE_WORDS]; /* accepted by the driver */
};

/* What vio_read()/vio_write() ask the vdev to do: the class, with a value in
 * the low 16 bits. [doc] */
#define VIOREF_CLASS_NOP       0x00000u    /* nothing                              */
#define VIOREF_CLASS_NOTIFY    0x10000u    /* queue (low bits) notified            */
#define VIOREF_CLASS_ENABLED   0x20000u    /* queue (low bits) enabled             */
#define VIOREF_CLASS_RESET     0x30000u    /* the driver asked for a reset         */
#define VIOREF_CLASS_STATUS    0x40000u    /* status bits (low bits) turned on     */
#define VIOREF_CLASS_DEVCFG    0x50000u    /* device config at offset (low bits)   */
#define VIOREF_CLASS_BUS_ERROR 0x60000u    /* the guest gets an exception          */
#define VIOREF_CLASS_ERRNO     0x70000u    /* an error, errno in the low bits      */
#define VIOREF_CLASS_MASK      0xf0000u

#pragma GCC visibility push(default)

/* Sets up `vsp` for the vdev `vdp` (call at VDEV_CTRL_OPTIONS_END). [doc]
 * qvmsim: a bad description (num_queues 0 or above 64, a config over 3840
 * bytes) is a FATAL configuration error (qvm exits 65). */
void vio_init(vdev_t *vdp, enum vio_version ver, const struct vio_description *vdesc,
              struct vio_state *vsp);

/* Declares queue `qidx` with at most `max_size` entries (after vio_init()).
 * EOK, or EINVAL (qidx >= num_queues, max_size 0 or above 32768). [doc] */
int vio_init_queue(struct vio_state *vsp, unsigned qidx, unsigned max_size);

/* Once the driver set DRIVER_OK: finds each enabled queue's rings in guest
 * memory and sets qinfo[q].pvq.  EOK, or EFAULT if a queue's rings are not
 * inside guest RAM or misaligned (that queue's pvq stays NULL). [doc: int] */
int vio_setup_queues(struct vio_state *vsp);

/* Back to the state after vio_init()/vio_init_queue(): status 0, no
 * features, queues disabled (pvq NULL), interrupt status 0. [usage] */
void vio_reset(struct vio_state *vsp);

/* The device configuration changed: bumps the configuration generation and
 * raises a configuration-change interrupt. [7.0 name; inferred] */
void vio_config_update(struct vio_state *vsp);

/* Turns status bits on and off (e.g. VIRTIO_DS_DEVICE_NEEDS_RESET, which
 * also raises a configuration-change interrupt); returns the new status.
 * [7.0 name; inferred] */
unsigned vio_device_status(struct vio_state *vsp, unsigned on, unsigned off);

/* Call from the vdev's vread()/vwrite() with its arguments: emulates the
 * virtio-MMIO registers and says what is left to the vdev (VIOREF_CLASS_*).
 * [doc] */
unsigned vio_read(struct vio_state *vsp, unsigned cookie, const struct qvm_state_block *vopnd,
                  const struct qvm_state_block *oopnd, struct guest_cpu *gcp);
unsigned vio_write(struct vio_state *vsp, unsigned cookie, const struct qvm_state_block *vopnd,
                   const struct qvm_state_block *oopnd, struct guest_cpu *gcp);

/* VDEV_CTRL_PCI_BARS: 0 for an MMIO vdev. [doc]  qvmsim never sends
 * VDEV_CTRL_PCI_BARS and always answers 0. */
int vio_ctrl_pci_bars(struct vio_state *vsp, const char *arg);

/* VDEV_CTRL_GEN_FDT: adds the device's node ("virtio,mmio", its `loc` and
 * `intr`) under `parent`. [usage: (vsp, "name", (int)(uintptr_t)arg); the
 * int result is inferred]  qvmsim has no FDT: a DEBUG line, EOK. */
int vio_ctrl_gen_fdt(struct vio_state *vsp, const char *name, int parent);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* QVM_VIO_H */

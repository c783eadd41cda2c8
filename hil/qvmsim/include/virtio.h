/*
 * virtio.h - numbers of the VIRTIO specification that virtio vdevs use:
 * device types, feature bits, device status bits, split-virtqueue layout.
 *
 * Our own text.  QNX's 8.0 vio_description page says the device types
 * (VIRTIO_DT_*) are in "virtio.h in the default includes directory", and the
 * public QNX 8.0 virtio-gpu vdev includes <virtio.h>; the names below are
 * the ones public QNX vdevs use (VIRTIO_DT_GPU, VIRTIO_DT_I2C,
 * VIRTIO_F_VERSION_1, VIRTIO_DS_*, VIRTQ_DESC_F_*, struct virtq_desc) and
 * the specification's own names for the rings; every number comes from the
 * VIRTIO 1.x specification (OASIS, "Virtual I/O Device (VIRTIO) Version
 * 1.1/1.2"), not from a QNX header.  The VIRTIO_DT_* names for types no
 * public vdev uses are [inferred] from that pattern.  -DQVMSIM_PORTABLE
 * hides the [qvmsim] helper macros.
 */
#ifndef _QVMSIM_VIRTIO_H
#define _QVMSIM_VIRTIO_H

#include <stdint.h>

#include <qvm/qvmsim-choices.h>

/* ---- device types (the "Device ID" of the spec, section 5) ----------- */
#define VIRTIO_DT_NET      1u
#define VIRTIO_DT_BLOCK    2u
#define VIRTIO_DT_CONSOLE  3u
#define VIRTIO_DT_ENTROPY  4u
#define VIRTIO_DT_BALLOON  5u
#define VIRTIO_DT_SCSI     8u
#define VIRTIO_DT_9P       9u
#define VIRTIO_DT_GPU      16u
#define VIRTIO_DT_INPUT    18u
#define VIRTIO_DT_VSOCK    19u
#define VIRTIO_DT_CRYPTO   20u
#define VIRTIO_DT_SOUND    25u
#define VIRTIO_DT_FS       26u
#define VIRTIO_DT_I2C      34u

/* ---- reserved feature bits (spec section 6) -------------------------- */
#define VIRTIO_F_INDIRECT_DESC    28u
#define VIRTIO_F_EVENT_IDX        29u
#define VIRTIO_F_VERSION_1        32u   /* a VIRTIO 1.x device/driver        */
#define VIRTIO_F_ACCESS_PLATFORM  33u
#define VIRTIO_F_RING_PACKED      34u
#define VIRTIO_F_IN_ORDER         35u

/* ---- device status bits (spec section 2.1) ---------------------------- */
#define VIRTIO_DS_ACKNOWLEDGE        0x01u
#define VIRTIO_DS_DRIVER             0x02u
#define VIRTIO_DS_DRIVER_OK          0x04u
#define VIRTIO_DS_FEATURES_OK        0x08u
#define VIRTIO_DS_DEVICE_NEEDS_RESET 0x40u
#define VIRTIO_DS_FAILED             0x80u

/* ---- split virtqueues (spec section 2.7): little-endian in guest memory */
#define VIRTQ_DESC_F_NEXT       1u   /* `next` continues the chain             */
#define VIRTQ_DESC_F_WRITE      2u   /* device-writable (else device-readable) */
#define VIRTQ_DESC_F_INDIRECT   4u   /* the buffer holds a descriptor table    */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY     1u

#ifndef QVMSIM_PORTABLE
/* [qvmsim] Alignment of the three parts of a split virtqueue (spec 2.7). */
#define VIRTQ_DESC_ALIGN  16u
#define VIRTQ_AVAIL_ALIGN 2u
#define VIRTQ_USED_ALIGN  4u
#else
#define VIRTQ_DESC_ALIGN _QVMSIM_NOT_PORTABLE("VIRTQ_DESC_ALIGN is qvmsim's own, refused by portable mode: the virtio spec (2.7) gives the alignment; write the number (hil/qvmsim/PORTING.md)")
#define VIRTQ_AVAIL_ALIGN _QVMSIM_NOT_PORTABLE("VIRTQ_AVAIL_ALIGN is qvmsim's own, refused by portable mode: the virtio spec (2.7) gives the alignment; write the number (hil/qvmsim/PORTING.md)")
#define VIRTQ_USED_ALIGN _QVMSIM_NOT_PORTABLE("VIRTQ_USED_ALIGN is qvmsim's own, refused by portable mode: the virtio spec (2.7) gives the alignment; write the number (hil/qvmsim/PORTING.md)")
#endif

struct virtq_desc {
    uint64_t addr;      /* guest-physical address of the buffer */
    uint32_t len;       /* its length in bytes                  */
    uint16_t flags;     /* VIRTQ_DESC_F_*                       */
    uint16_t next;      /* the next descriptor, with F_NEXT     */
};

/* The fixed start of the available ring; then queue-size uint16_t heads of
 * chains (at offset 4), then used_event. */
struct virtq_avail {
    uint16_t flags;     /* VIRTQ_AVAIL_F_*                      */
    uint16_t idx;       /* where the driver puts the next entry */
};

struct virtq_used_elem {
    uint32_t id;        /* head of the chain the device used    */
    uint32_t len;       /* bytes the device wrote into it       */
};

/* The fixed start of the used ring; then queue-size struct virtq_used_elem
 * (at offset 4), then avail_event. */
struct virtq_used {
    uint16_t flags;     /* VIRTQ_USED_F_*                       */
    uint16_t idx;       /* where the device puts the next entry */
};

#ifndef QVMSIM_PORTABLE
/* [qvmsim] Bytes of each part for a queue of `n` entries (without the event words). */
#define VIRTQ_DESC_BYTES(n)  (16u * (unsigned)(n))
#define VIRTQ_AVAIL_BYTES(n) (4u + 2u * (unsigned)(n))
#define VIRTQ_USED_BYTES(n)  (4u + 8u * (unsigned)(n))
#else
#define VIRTQ_DESC_BYTES _QVMSIM_NOT_PORTABLE("VIRTQ_DESC_BYTES is qvmsim's own, refused by portable mode: compute the size from the virtio spec (2.7) (hil/qvmsim/PORTING.md)")
#define VIRTQ_AVAIL_BYTES _QVMSIM_NOT_PORTABLE("VIRTQ_AVAIL_BYTES is qvmsim's own, refused by portable mode: compute the size from the virtio spec (2.7) (hil/qvmsim/PORTING.md)")
#define VIRTQ_USED_BYTES _QVMSIM_NOT_PORTABLE("VIRTQ_USED_BYTES is qvmsim's own, refused by portable mode: compute the size from the virtio spec (2.7) (hil/qvmsim/PORTING.md)")
#endif

#endif /* _QVMSIM_VIRTIO_H */

/*
 * vq.h - a virtio vdev's side of a split virtqueue: take the chains the
 * guest driver made available, walk their descriptors, give them back.
 *
 * Our own text.  No QNX documentation page describes these functions; the
 * names and call shapes are [inferred] from the public QNX 8.0 virtio-gpu
 * vdev, which includes <vq.h> and calls
 *     bufid = vq_get_from_driver(vq, &first)   (VQ_INVALID_ID: none left)
 *     next  = vq_desc_get(vq, idx, &addr64, &len32, &flags)
 *     vq_put_to_driver(vq, bufid, written_len, true)
 * on the `pvq` member of struct vio_queue_info (<qvm/vio.h>).  Return types
 * where the usage ignores the value (vq_put_to_driver) are qvmsim's choice.
 *
 * qvmsim's behaviour (BEHAVIOUR.md, "virtio"): every index read from guest
 * memory is checked - a head or `next` outside the queue, a chain longer
 * than the queue (a loop) or an available index that runs ahead by more
 * than the queue size ends the walk with VQ_INVALID_ID and an ERROR line;
 * nothing here dereferences a guest buffer address (map it with
 * gasp_map_vdma(), which refuses addresses outside guest RAM).
 */
#ifndef _QVMSIM_VQ_H
#define _QVMSIM_VQ_H

#include <stdbool.h>
#include <stdint.h>

#include <virtio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One virtqueue as the device sees it (opaque). */
typedef struct vq vq_t;

/* "No chain" / "end of chain".  [inferred value] */
#define VQ_INVALID_ID (~0u)

#pragma GCC visibility push(default)

/* The next chain the driver made available: its buffer id (give it back
 * with vq_put_to_driver()) and, in *first, the index of its first
 * descriptor (qvmsim: both are the head index).  VQ_INVALID_ID when the
 * driver has made nothing new available. */
unsigned vq_get_from_driver(vq_t *vq, unsigned *first);

/* Descriptor `idx` of the chain being walked: its guest-physical address,
 * length and VIRTQ_DESC_F_* flags.  Returns the index of the next
 * descriptor of the chain, or VQ_INVALID_ID at its end (or when the chain
 * is malformed: the outputs are then zero for a bad `idx`). */
unsigned vq_desc_get(vq_t *vq, unsigned idx, uint64_t *addr, uint32_t *len, unsigned *flags);

/* Gives the chain `bufid` back to the driver (the used ring) with `len`
 * bytes written into its device-writable buffers; `notify`: raise the
 * device's interrupt (unless the driver asked for none).  qvmsim returns
 * EOK, or EINVAL for a bufid outside the queue. */
int vq_put_to_driver(vq_t *vq, unsigned bufid, unsigned len, bool notify);

#pragma GCC visibility pop

#ifndef QVMSIM_PORTABLE
#pragma GCC visibility push(default)
/* [qvmsim] The number of entries the driver gave the queue. */
unsigned qvmsim_vq_size(const vq_t *vq);
#pragma GCC visibility pop
#else
#define qvmsim_vq_size _QVMSIM_NOT_PORTABLE("qvmsim_vq_size is qvmsim's own, refused by portable mode: keep the queue size the driver wrote (QueueNum) (hil/qvmsim/PORTING.md)")
#endif

#ifdef __cplusplus
}
#endif

#endif /* _QVMSIM_VQ_H */

/*
 * qvm/gasp.h - the guest address space as a vdev sees it: mapping guest
 * memory into qvm's address space (DMA-style vdevs).
 *
 * Our own text, written from the names and signatures of QNX's public 8.0
 * Virtual Device Developer's API Reference; no QNX header or sample is copied.
 * qvmsim's guest memory is the RAM given with the configuration's `ram`
 * option; a mapping is a pointer into it (no copy).
 */
#ifndef QVM_GASP_H
#define QVM_GASP_H

#include <qvm/vdev-core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Access wanted on a mapping ([inferred] values). */
#define GMF_READ  0x1u
#define GMF_WRITE 0x2u

/* The handle of a mapping made with gasp_map(). */
typedef struct {
    uint64_t reserved[3];
} gasp_map_handle_t;

/* Maps `len` bytes of guest-physical memory at `paddr` for the vdev (DMA
 * style); returns the address in qvm, or NULL with errno set (EFAULT: not
 * guest RAM).  Unmap with gasp_unmap(). */
void *gasp_map_vdma(const vdev_t *vdp, uint64_t paddr, size_t len, unsigned gmf_flags);

/* Ends a mapping made by gasp_map_vdma(); `flush` != 0 makes the vdev's
 * writes visible to the guest first (qvmsim: always visible). */
void gasp_unmap(void *vaddr, size_t len, int flush);

/* Maps `len` bytes at guest-physical `paddr` into *handle; returns EOK or an
 * errno value. */
int gasp_map(const vdev_t *vdp, uint64_t paddr, size_t len, unsigned gmf_flags,
             gasp_map_handle_t *handle);

/* The address in qvm of a mapping made with gasp_map(). */
void *gasp_get_vaddr(const gasp_map_handle_t *handle);

/* Ends a mapping made with gasp_map(); the handle stays valid and a second
 * call does nothing. */
void gasp_unmap_handle(gasp_map_handle_t *h);

#ifdef __cplusplus
}
#endif

#endif /* QVM_GASP_H */

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

/* qvm exports exactly the functions its public headers declare (it is built
 * with -fvisibility=hidden; see hil/qvmsim/BEHAVIOUR.md) */
#pragma GCC visibility push(default)

/* Access wanted on a mapping (8.0: gasp_map_flags_t, GMF_*; [inferred]
 * values). */
typedef unsigned gasp_map_flags_t;
#define GMF_READ    0x1u
#define GMF_WRITE   0x2u
#define GMF_EXEC    0x4u
#define GMF_MAP_ANY 0x100u      /* any address will do */

/* The handle of a mapping made by one of the gasp_map_*() functions. */
typedef struct {
    uint64_t reserved[3];
} gasp_map_handle_t;

/* Walking the guest address space (8.0 names; qvmsim has no walk functions). */
typedef unsigned gasp_walk_flags_t;
typedef struct {
    void *gw_span;
    uint64_t gw_guest_loc;
    uint64_t gw_host_loc;
    uint64_t gw_length;
    uint64_t gw_max_length;
    gasp_walk_flags_t gwf_flags;
} gasp_walk_state_t;

/* Locks (unlocks) the guest address space of `type` (QST_MEMORY or
 * QST_X86_IO) against changes by other threads.  EOK or an errno value. */
int gasp_lock(uint16_t type);
int gasp_unlock(uint16_t type);

/* Maps `len` bytes of guest-physical memory at `paddr` for the vdev (DMA
 * style); returns the address in qvm, or NULL with errno set (EFAULT: not
 * guest RAM).  Unmap with gasp_unmap().  (No 8.0 prototype page: the shape
 * of public 8.0 code's calls.) */
void *gasp_map_vdma(const vdev_t *vdp, uint64_t paddr, size_t len, gasp_map_flags_t prot);

/* Ends a mapping made by gasp_map_vdma(); `flush` != 0 makes the vdev's
 * writes visible to the guest first (qvmsim: always visible). */
void gasp_unmap(void *vaddr, size_t len, int flush);

/* Maps `length` bytes of guest-physical memory at `guest_paddr` that qvm
 * itself provides (qvmsim: guest RAM) into *h.  EOK or an errno value. */
errno_t gasp_map_firmware(uint64_t guest_paddr, size_t length, gasp_map_flags_t prot,
                          gasp_map_handle_t *h);

/* Allocates host-contiguous memory for the vdev and maps it into the guest;
 * *ppaddr and *plength say where and how much.  qvmsim: ENOTSUP. */
errno_t gasp_map_host_contig(const vdev_t *vdev, uint64_t *ppaddr, size_t *plength,
                             gasp_map_flags_t prot, gasp_map_handle_t *h);

/* Ends a mapping made by a gasp_map_*() function that filled a handle; the
 * handle stays valid and a second call does nothing. */
void gasp_unmap_handle(gasp_map_handle_t *h);

#ifndef QVMSIM_PORTABLE
/* 8.0 names these without a public signature: qvmsim's shapes, hidden in
 * portable mode. */
int gasp_map(const vdev_t *vdp, uint64_t paddr, size_t len, gasp_map_flags_t prot,
             gasp_map_handle_t *handle);
void *gasp_get_vaddr(const gasp_map_handle_t *handle);
#else
#define gasp_map _QVMSIM_NOT_PORTABLE("gasp_map is qvmsim's own, refused by portable mode: 8.0 names it without a public signature: use gasp_map_vdma() (hil/qvmsim/PORTING.md)")
#define gasp_get_vaddr _QVMSIM_NOT_PORTABLE("gasp_get_vaddr is qvmsim's own, refused by portable mode: 8.0 names it without a public signature: use gasp_map_vdma() (hil/qvmsim/PORTING.md)")
#endif

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* QVM_GASP_H */

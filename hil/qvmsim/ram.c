/*
 * ram.c - guest RAM (the `ram [START,]LENGTH` option) and the guest address
 * space API of <qvm/gasp.h>: a mapping is a pointer into qvmsim's RAM buffer
 * (no copy, always coherent).
 *
 * gasp_map_firmware() maps guest RAM like gasp_map() (GMF_MAP_ANY: ENOTSUP);
 * gasp_map_host_contig() is ENOTSUP; gasp_lock()/gasp_unlock() take one
 * recursive lock.
 *
 * `ram LENGTH` without START is placed right after the highest RAM address
 * allocated so far (0 for the first), as QNX's qvm does
 * (https://qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vm/ram.html).
 */
#include "qvmsim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct ram_region {
    uint64_t base;
    uint64_t size;
    uint8_t *mem;
};

static struct ram_region *regions;
static int nregions;

bool ram_overlaps(uint64_t addr, uint64_t len, uint64_t *rbase, uint64_t *rsize)
{
    for (int i = 0; i < nregions; i++) {
        uint64_t b = regions[i].base, e = b + regions[i].size;
        if (addr < e && b < addr + len) {
            *rbase = b;
            *rsize = regions[i].size;
            return true;
        }
    }
    return false;
}

const char *ram_add(bool has_base, uint64_t base, uint64_t size, uint64_t *placed)
{
    static char why[160];
    if (size == 0)
        return "the length must not be 0";
    if (!has_base) {
        base = 0;
        for (int i = 0; i < nregions; i++) {
            if (regions[i].base + regions[i].size > base)
                base = regions[i].base + regions[i].size;
        }
    }
    if (base + size < base)
        return "the region goes past the end of the 64-bit address space";
    if (size > ((uint64_t)1 << 40))
        return "the length is larger than qvmsim's limit of 1T";
    uint64_t rb, rs;
    if (ram_overlaps(base, size, &rb, &rs)) {
        snprintf(why, sizeof why, "region 0x%" PRIx64 "-0x%" PRIx64 " overlaps the RAM region 0x%" PRIx64 "-0x%" PRIx64,
                 base, base + size - 1, rb, rb + rs - 1);
        return why;
    }
    regions = xreallocarray(regions, (size_t)nregions + 1, sizeof *regions);
    regions[nregions].base = base;
    regions[nregions].size = size;
    regions[nregions].mem = NULL;
    nregions++;
    *placed = base;
    return NULL;
}


void ram_allocate(void)
{
    for (int i = 0; i < nregions; i++) {
        /* calloc: zero pages are only touched when the guest uses them.  Not
         * xcalloc: a RAM size too large is the `ram` option's fault, and the
         * FATAL line says so (same status 64). */
        regions[i].mem = calloc(1, (size_t)regions[i].size);
        if (regions[i].mem == NULL) {
            qlog(QL_QVM_FATAL, "cannot allocate %" PRIu64 " bytes of guest RAM at 0x%" PRIx64 " (option 'ram')",
                 regions[i].size, regions[i].base);
            qvmsim_end(QVMSIM_EXIT_FATAL_BEFORE_START);
        }
        qlog(QL_QVM_DEBUG, "guest RAM 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " bytes)",
             regions[i].base, regions[i].base + regions[i].size - 1, regions[i].size);
    }
}

uint8_t *ram_ptr(uint64_t addr, uint64_t len)
{
    for (int i = 0; i < nregions; i++) {
        struct ram_region *r = &regions[i];
        if (r->mem != NULL && addr >= r->base && addr - r->base < r->size &&
            len <= r->size - (addr - r->base))
            return r->mem + (addr - r->base);
    }
    return NULL;
}

/* ---- <qvm/gasp.h> ------------------------------------------------------ */

#define GMF_ACCESS (GMF_READ | GMF_WRITE | GMF_EXEC)

/* gasp_lock()/gasp_unlock(): one recursive lock for the whole (fixed) guest
 * address space; unlocking a lock the thread does not hold is EPERM. */
static pthread_mutex_t gasp_mtx = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

int gasp_lock(uint16_t type)
{
    if (type != QST_MEMORY && type != QST_X86_IO)
        return EINVAL;
    return pthread_mutex_lock(&gasp_mtx);
}

int gasp_unlock(uint16_t type)
{
    if (type != QST_MEMORY && type != QST_X86_IO)
        return EINVAL;
    return pthread_mutex_unlock(&gasp_mtx);
}

void *gasp_map_vdma(const vdev_t *vdp, uint64_t paddr, size_t len, gasp_map_flags_t gmf_flags)
{
    (void)vdp;
    if (len == 0 || (gmf_flags & ~GMF_ACCESS) != 0 || (gmf_flags & GMF_ACCESS) == 0) {
        errno = EINVAL;
        return NULL;
    }
    uint8_t *p = ram_ptr(paddr, len);
    if (p == NULL) {
        errno = EFAULT;
        return NULL;
    }
    return p;
}

void gasp_unmap(void *vaddr, size_t len, int flush)
{
    (void)vaddr;        /* qvmsim's mappings are the RAM itself: nothing to do */
    (void)len;
    (void)flush;
}

/* gasp_map_handle_t.reserved: [0] host address, [1] length, [2] magic while mapped */
#define HANDLE_MAPPED 0x71766d7367617370ull     /* "qvmsgasp" */

int gasp_map(const vdev_t *vdp, uint64_t paddr, size_t len, gasp_map_flags_t gmf_flags,
             gasp_map_handle_t *handle)
{
    if (handle == NULL)
        return EINVAL;
    memset(handle, 0, sizeof *handle);
    void *p = gasp_map_vdma(vdp, paddr, len, gmf_flags);
    if (p == NULL)
        return errno;
    handle->reserved[0] = (uint64_t)(uintptr_t)p;
    handle->reserved[1] = len;
    handle->reserved[2] = HANDLE_MAPPED;
    return EOK;
}

errno_t gasp_map_firmware(uint64_t guest_paddr, size_t length, gasp_map_flags_t prot,
                          gasp_map_handle_t *h)
{
    if (prot & GMF_MAP_ANY) {
        if (h != NULL)
            memset(h, 0, sizeof *h);
        return ENOTSUP;     /* qvmsim does not choose addresses for firmware */
    }
    return gasp_map(NULL, guest_paddr, length, prot, h);
}

errno_t gasp_map_host_contig(const vdev_t *vdev, uint64_t *ppaddr, size_t *plength,
                             gasp_map_flags_t prot, gasp_map_handle_t *h)
{
    (void)vdev;
    (void)ppaddr;
    (void)plength;
    (void)prot;
    if (h != NULL)
        memset(h, 0, sizeof *h);
    return ENOTSUP;         /* qvmsim has no host-physical memory to offer */
}

void *gasp_get_vaddr(const gasp_map_handle_t *handle)
{
    if (handle == NULL || handle->reserved[2] != HANDLE_MAPPED)
        return NULL;
    return (void *)(uintptr_t)handle->reserved[0];
}

void gasp_unmap_handle(gasp_map_handle_t *h)
{
    if (h == NULL || h->reserved[2] != HANDLE_MAPPED)
        return;             /* never mapped, or already unmapped */
    gasp_unmap((void *)(uintptr_t)h->reserved[0], (size_t)h->reserved[1], 1);
    h->reserved[2] = 0;
}

#ifdef QVMSIM_FUZZ
/* ---- fuzz/harness.c: the guest RAM it writes and clears --------------- */

/* Region i of guest RAM (allocated): its base and size; false past the last. */
bool ram_fuzz_region(int i, uint64_t *base, uint64_t *size)
{
    if (i < 0 || i >= nregions || regions[i].mem == NULL)
        return false;
    *base = regions[i].base;
    *size = regions[i].size;
    return true;
}
#endif

/*
 * vio.c - QNX's virtio helper library for vdevs (<qvm/vio.h>, <vq.h>) on
 * qvmsim: the virtio-MMIO version 2 register block (VIRTIO 1.x spec,
 * section 4.2.2) at the vdev's `loc`, feature negotiation, device status,
 * split virtqueues in guest RAM and the device's interrupt.
 *
 * Our own implementation, from QNX's vio.h API pages (names, signatures,
 * VIOREF_CLASS_* meaning) and the VIRTIO specification (register layout,
 * ring layout); what QNX does not document is qvmsim's choice, listed in
 * BEHAVIOUR.md ("virtio").  The guest is untrusted: every value read from
 * a guest register or from guest memory is checked before it is used.
 */
#include "qvmsim.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <qvm/vio.h>

/* ---- the virtio-MMIO register block (spec 4.2.2) ---------------------- */
#define MMIO_MAGIC_VALUE        0x000u
#define MMIO_VERSION            0x004u
#define MMIO_DEVICE_ID          0x008u
#define MMIO_VENDOR_ID          0x00cu
#define MMIO_DEVICE_FEATURES    0x010u
#define MMIO_DEVICE_FEATURES_SEL 0x014u
#define MMIO_DRIVER_FEATURES    0x020u
#define MMIO_DRIVER_FEATURES_SEL 0x024u
#define MMIO_QUEUE_SEL          0x030u
#define MMIO_QUEUE_NUM_MAX      0x034u
#define MMIO_QUEUE_NUM          0x038u
#define MMIO_QUEUE_READY        0x044u
#define MMIO_LEGACY_GUEST_PAGE_SIZE 0x028u  /* version 1 (legacy, spec 4.2.4) */
#define MMIO_LEGACY_QUEUE_ALIGN 0x03cu
#define MMIO_LEGACY_QUEUE_PFN   0x040u
#define MMIO_QUEUE_NOTIFY       0x050u
#define MMIO_INTERRUPT_STATUS   0x060u
#define MMIO_INTERRUPT_ACK      0x064u
#define MMIO_STATUS             0x070u
#define MMIO_QUEUE_DESC_LOW     0x080u
#define MMIO_QUEUE_DESC_HIGH    0x084u
#define MMIO_QUEUE_DRIVER_LOW   0x090u
#define MMIO_QUEUE_DRIVER_HIGH  0x094u
#define MMIO_QUEUE_DEVICE_LOW   0x0a0u
#define MMIO_QUEUE_DEVICE_HIGH  0x0a4u
#define MMIO_SHM_SEL            0x0acu
#define MMIO_SHM_LEN_LOW        0x0b0u
#define MMIO_SHM_LEN_HIGH       0x0b4u
#define MMIO_SHM_BASE_LOW       0x0b8u
#define MMIO_SHM_BASE_HIGH      0x0bcu
#define MMIO_QUEUE_RESET        0x0c0u
#define MMIO_CONFIG_GENERATION  0x0fcu
#define MMIO_CONFIG             0x100u

#define MMIO_MAGIC   0x74726976u    /* "virt" */
#define MMIO_VERSION_MODERN 2u
#define MMIO_VERSION_LEGACY 1u
#define QNX_VENDOR_ID 0x1C05u       /* [doc] vio_description.vendor_id default */

#define ISR_USED   0x1u             /* used buffer notification          */
#define ISR_CONFIG 0x2u             /* configuration change notification */

#define VIO_MAX_QUEUES 64u          /* [qvmsim] */
#define VIO_MAX_QUEUE_SIZE 32768u   /* spec 2.6: the largest queue size */
#define VIO_MAX_CONFIG (0x1000u - MMIO_CONFIG)   /* what fits a 4K region */

struct vq {
    struct vio_state_internal *vi;
    unsigned qidx;
    unsigned num;
    uint8_t *desc, *avail, *used;   /* host addresses of the rings in guest RAM */
    uint16_t last_avail;            /* next available entry to take */
    uint16_t used_idx;              /* next used entry to fill      */
    unsigned steps;                 /* descriptors walked in the current chain */
};

struct vio_queue_regs {
    unsigned num;                   /* QueueNum                     */
    uint32_t align, pfn;            /* legacy: QueueAlign, QueuePFN */
    bool ready;                     /* QueueReady                   */
    uint64_t desc, driver, device;  /* ring addresses               */
    bool live;                      /* vio_setup_queues() found it  */
    struct vq vq;
};

struct vio_state_internal {
    vdev_t *vdp;
    struct vio_state *vsp;
    struct vio_description desc;
    enum vio_version ver;
    pthread_mutex_t mtx;            /* the registers and the queues */
    uint32_t status, isr, config_gen;
    uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
    uint32_t page_size;             /* legacy: GuestPageSize */
    struct vio_queue_regs *q;       /* desc.num_queues entries      */
};

/* Every state ever made stays reachable (no leak reports at exit). */
static struct vio_state_internal **all_states;
static size_t n_states;
static pthread_mutex_t all_mtx = PTHREAD_MUTEX_INITIALIZER;

static void raise_intr(struct vio_state_internal *vi, uint32_t bits)
{
    pthread_mutex_lock(&vi->mtx);
    vi->isr |= bits;
    pthread_mutex_unlock(&vi->mtx);
    /* no `intr` configured: EINVAL, the driver polls instead */
    if (guest_intr_signal(&vi->vdp->v_intr, GIS_ON) != EOK)
        qlog_from(QL_QVM_VERBOSE, vi->vdp, "virtio: no interrupt to raise (no 'intr'): isr=0x%x", bits);
}

/* ---- vio.h ----------------------------------------------------------- */

void vio_init(vdev_t *vdp, enum vio_version ver, const struct vio_description *vdesc,
              struct vio_state *vsp)
{
    if (vdp == NULL || vdesc == NULL || vsp == NULL)
        qvm_fatal(QLS_CNF, "vio_init: NULL %s", vdp == NULL ? "vdp" : vdesc == NULL ? "vdesc" : "vsp");
    if (vdesc->num_queues == 0 || vdesc->num_queues > VIO_MAX_QUEUES)
        qvm_fatal(QLS_CNF, "vdev '%s': vio_init: num_queues %u (1 to %u)", vdev_source(vdp),
                  vdesc->num_queues, VIO_MAX_QUEUES);
    if (vdesc->device_config_size > VIO_MAX_CONFIG)
        qvm_fatal(QLS_CNF, "vdev '%s': vio_init: device_config_size %u (at most %u)", vdev_source(vdp),
                  vdesc->device_config_size, VIO_MAX_CONFIG);
    struct vio_state_internal *vi = xcalloc(1, sizeof *vi);
    vi->vdp = vdp;
    vi->vsp = vsp;
    vi->desc = *vdesc;
    vi->ver = ver;
    pthread_mutex_init(&vi->mtx, NULL);
    vi->q = xcalloc(vdesc->num_queues, sizeof *vi->q);
    memset(vsp, 0, sizeof *vsp);
    vsp->vsip = vi;
    vsp->qinfo = xcalloc(vdesc->num_queues, sizeof *vsp->qinfo);
    for (unsigned i = 0; i < vdesc->num_queues; i++) {
        vsp->qinfo[i].vsp = vsp;
        vi->q[i].vq.vi = vi;
        vi->q[i].vq.qidx = i;
    }
    pthread_mutex_lock(&all_mtx);
    struct vio_state_internal **grown = realloc(all_states, (n_states + 1) * sizeof *grown);
    if (grown != NULL) {
        all_states = grown;
        all_states[n_states++] = vi;
    }
    pthread_mutex_unlock(&all_mtx);
    qlog_from(QL_QVM_DEBUG, vdp, "virtio: %s device type %u, %u queue(s), %u config byte(s), "
              "features 0x%08x_%08x", ver == VIOVER_095 ? "legacy (virtio-MMIO version 1)" : "virtio-MMIO version 2",
              vdesc->device_type, vdesc->num_queues, vdesc->device_config_size,
              vdesc->device_features[1], vdesc->device_features[0]);
}

static struct vio_state_internal *state_of(struct vio_state *vsp)
{
    return vsp != NULL ? vsp->vsip : NULL;
}

int vio_init_queue(struct vio_state *vsp, unsigned qidx, unsigned max_size)
{
    struct vio_state_internal *vi = state_of(vsp);
    if (vi == NULL || qidx >= vi->desc.num_queues || max_size == 0 || max_size > VIO_MAX_QUEUE_SIZE)
        return EINVAL;
    pthread_mutex_lock(&vi->mtx);
    vsp->qinfo[qidx].max_size = max_size;
    vi->q[qidx].num = max_size;
    pthread_mutex_unlock(&vi->mtx);
    return EOK;
}

/* The host address of a ring part, or NULL (reason in *why). */
static uint8_t *ring_ptr(uint64_t gpa, uint64_t len, unsigned align, const char **why)
{
    if (gpa % align != 0) {
        *why = "misaligned";
        return NULL;
    }
    uint8_t *p = ram_ptr(gpa, len);
    if (p == NULL)
        *why = "not inside one guest RAM region";
    return p;
}

int vio_setup_queues(struct vio_state *vsp)
{
    struct vio_state_internal *vi = state_of(vsp);
    if (vi == NULL)
        return EINVAL;
    int rc = EOK;
    pthread_mutex_lock(&vi->mtx);
    for (unsigned i = 0; i < vi->desc.num_queues; i++) {
        struct vio_queue_regs *q = &vi->q[i];
        if (!q->ready || q->live)
            continue;
        const char *why = NULL, *part = NULL;
        uint8_t *d = ring_ptr(q->desc, VIRTQ_DESC_BYTES(q->num), VIRTQ_DESC_ALIGN, &why);
        uint8_t *a = d ? ring_ptr(q->driver, VIRTQ_AVAIL_BYTES(q->num), VIRTQ_AVAIL_ALIGN, &why) : NULL;
        uint8_t *u = a ? ring_ptr(q->device, VIRTQ_USED_BYTES(q->num), VIRTQ_USED_ALIGN, &why) : NULL;
        part = d == NULL ? "descriptor table" : a == NULL ? "available ring" : "used ring";
        if (u == NULL) {
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u: %s at 0x%" PRIx64 " is %s: the queue stays unusable",
                      i, part, d == NULL ? q->desc : a == NULL ? q->driver : q->device, why);
            rc = EFAULT;
            continue;
        }
        q->vq.num = q->num;
        q->vq.desc = d;
        q->vq.avail = a;
        q->vq.used = u;
        q->vq.last_avail = 0;
        q->vq.used_idx = 0;
        q->vq.steps = 0;
        q->live = true;
        vsp->qinfo[i].pvq = &q->vq;
        qlog_from(QL_QVM_DEBUG, vi->vdp, "virtio: queue %u live: %u entries, desc 0x%" PRIx64 " avail 0x%" PRIx64
                  " used 0x%" PRIx64, i, q->num, q->desc, q->driver, q->device);
    }
    pthread_mutex_unlock(&vi->mtx);
    return rc;
}

void vio_reset(struct vio_state *vsp)
{
    struct vio_state_internal *vi = state_of(vsp);
    if (vi == NULL)
        return;
    pthread_mutex_lock(&vi->mtx);
    vi->status = 0;
    vi->isr = 0;
    vi->dev_feat_sel = vi->drv_feat_sel = vi->queue_sel = 0;
    vi->page_size = 0;
    memset(vsp->driver_features, 0, sizeof vsp->driver_features);
    for (unsigned i = 0; i < vi->desc.num_queues; i++) {
        struct vio_queue_regs *q = &vi->q[i];
        q->num = vsp->qinfo[i].max_size;
        q->ready = false;
        q->live = false;
        q->desc = q->driver = q->device = 0;
        q->align = q->pfn = 0;
        vsp->qinfo[i].pvq = NULL;
    }
    pthread_mutex_unlock(&vi->mtx);
    qlog_from(QL_QVM_DEBUG, vi->vdp, "virtio: device reset");
}

void vio_config_update(struct vio_state *vsp)
{
    struct vio_state_internal *vi = state_of(vsp);
    if (vi == NULL)
        return;
    pthread_mutex_lock(&vi->mtx);
    vi->config_gen++;
    pthread_mutex_unlock(&vi->mtx);
    raise_intr(vi, ISR_CONFIG);
}

unsigned vio_device_status(struct vio_state *vsp, unsigned on, unsigned off)
{
    struct vio_state_internal *vi = state_of(vsp);
    if (vi == NULL)
        return 0;
    pthread_mutex_lock(&vi->mtx);
    vi->status = (vi->status | on) & ~off & 0xffu;
    unsigned st = vi->status;
    pthread_mutex_unlock(&vi->mtx);
    if (on & VIRTIO_DS_DEVICE_NEEDS_RESET)
        raise_intr(vi, ISR_CONFIG);
    return st;
}

int vio_ctrl_pci_bars(struct vio_state *vsp, const char *arg)
{
    (void)vsp;
    (void)arg;
    return 0;                       /* [doc] 0 for MMIO vdevs; qvmsim has no PCI */
}

int vio_ctrl_gen_fdt(struct vio_state *vsp, const char *name, int parent)
{
    struct vio_state_internal *vi = state_of(vsp);
    if (vi == NULL)
        return EINVAL;
    const char *intr = qvmsim_vdev_intr(vi->vdp);
    qlog_from(QL_QVM_DEBUG, vi->vdp, "virtio: FDT node '%s@%" PRIx64 "' (compatible \"virtio,mmio\", reg 0x%" PRIx64
              ",0x%" PRIx64 ", interrupt %s) under node %d: not generated (qvmsim has no FDT)",
              name != NULL ? name : "virtio", vi->vdp->v_block.location, vi->vdp->v_block.location,
              vi->vdp->v_block.length, intr != NULL ? intr : "none", parent);
    return EOK;
}

/* ---- register accesses ------------------------------------------------ */

static unsigned errno_class(int rc)
{
    return rc == -1 ? VIOREF_CLASS_BUS_ERROR : VIOREF_CLASS_ERRNO | ((unsigned)rc & 0xffffu);
}

/* The offset of an access in the vdev's region (from 0x100 on: the config
 * space), or false if it is below the region. */
static bool reg_offset(struct vio_state_internal *vi, const struct qvm_state_block *vopnd, uint64_t *off)
{
    uint64_t base = vi->vdp->v_block.location;
    if (vopnd == NULL || vopnd->location < base)
        return false;
    *off = vopnd->location - base;
    return true;
}

/* Device config bytes [off, off+len) inside the device's config space? */
static bool in_config(const struct vio_state_internal *vi, uint64_t off, uint64_t len)
{
    return off >= MMIO_CONFIG && len <= vi->desc.device_config_size &&
           off - MMIO_CONFIG <= vi->desc.device_config_size - len;
}

static uint32_t reg_value(struct vio_state_internal *vi, uint64_t off)
{
    struct vio_queue_regs *q = vi->queue_sel < vi->desc.num_queues ? &vi->q[vi->queue_sel] : NULL;
    switch (off) {
    case MMIO_MAGIC_VALUE: return MMIO_MAGIC;
    case MMIO_VERSION: return vi->ver == VIOVER_095 ? MMIO_VERSION_LEGACY : MMIO_VERSION_MODERN;
    case MMIO_DEVICE_ID: return vi->desc.device_type;
    case MMIO_VENDOR_ID: return vi->desc.vendor_id != 0 ? vi->desc.vendor_id : QNX_VENDOR_ID;
    case MMIO_DEVICE_FEATURES:
        return vi->dev_feat_sel < VIO_MAX_FEATURE_WORDS ? vi->desc.device_features[vi->dev_feat_sel] : 0;
    case MMIO_QUEUE_NUM_MAX: return q != NULL ? vi->vsp->qinfo[vi->queue_sel].max_size : 0;
    case MMIO_QUEUE_NUM: return q != NULL ? q->num : 0;
    case MMIO_QUEUE_READY: return vi->ver != VIOVER_095 && q != NULL && q->ready;
    case MMIO_LEGACY_QUEUE_PFN: return vi->ver == VIOVER_095 && q != NULL ? q->pfn : 0;
    case MMIO_INTERRUPT_STATUS: return vi->isr;
    case MMIO_STATUS: return vi->status;
    case MMIO_QUEUE_DESC_LOW: return q != NULL ? (uint32_t)q->desc : 0;
    case MMIO_QUEUE_DESC_HIGH: return q != NULL ? (uint32_t)(q->desc >> 32) : 0;
    case MMIO_QUEUE_DRIVER_LOW: return q != NULL ? (uint32_t)q->driver : 0;
    case MMIO_QUEUE_DRIVER_HIGH: return q != NULL ? (uint32_t)(q->driver >> 32) : 0;
    case MMIO_QUEUE_DEVICE_LOW: return q != NULL ? (uint32_t)q->device : 0;
    case MMIO_QUEUE_DEVICE_HIGH: return q != NULL ? (uint32_t)(q->device >> 32) : 0;
    case MMIO_SHM_LEN_LOW:
    case MMIO_SHM_LEN_HIGH:
    case MMIO_SHM_BASE_LOW:
    case MMIO_SHM_BASE_HIGH: return 0xffffffffu;   /* spec 4.2.2: no such region */
    case MMIO_CONFIG_GENERATION: return vi->config_gen;
    default: return 0;
    }
}

/* How a guest access (a load, or a `store`) at vopnd is served, before its register is read or written. */
enum access { ACCESS_REGISTER, ACCESS_ANSWERED, ACCESS_BEYOND_CONFIG };

/* ACCESS_REGISTER (*vip, *off set): an aligned 4-byte access to a register.  ACCESS_ANSWERED (*res set): no
 * such state or offset (EINVAL), the device configuration (DEVCFG: the vdev serves it), a register accessed
 * with another size or alignment (a bus error, logged).  ACCESS_BEYOND_CONFIG (logged): past the
 * configuration's bytes: a load reads 0, a store is ignored. */
static enum access classify_access(struct vio_state *vsp, const struct qvm_state_block *vopnd, bool store,
                                   struct vio_state_internal **vip, uint64_t *off, unsigned *res)
{
    struct vio_state_internal *vi = state_of(vsp);
    *vip = vi;
    if (vi == NULL || !reg_offset(vi, vopnd, off)) {
        *res = VIOREF_CLASS_ERRNO | EINVAL;
        return ACCESS_ANSWERED;
    }
    uint64_t len = vopnd->length;
    const char *what = store ? "store" : "load";
    if (*off >= MMIO_CONFIG) {
        if (in_config(vi, *off, len)) {
            *res = VIOREF_CLASS_DEVCFG | (unsigned)(*off - MMIO_CONFIG);
            return ACCESS_ANSWERED;
        }
        qlog_from(QL_QVM_DEBUG, vi->vdp, "virtio: guest %s of %" PRIu64 " byte(s) at config+0x%" PRIx64
                  " beyond the %u config byte(s): %s", what, len, *off - MMIO_CONFIG, vi->desc.device_config_size,
                  store ? "ignored" : "reads 0");
        return ACCESS_BEYOND_CONFIG;
    }
    if (len != 4 || *off % 4 != 0) {
        qlog_from(QL_QVM_ERR, vi->vdp, "virtio: guest %s of %" PRIu64 " byte(s) at register 0x%03" PRIx64
                  ": virtio-MMIO registers take aligned 4-byte accesses: bus error", what, len, *off);
        *res = VIOREF_CLASS_BUS_ERROR;
        return ACCESS_ANSWERED;
    }
    return ACCESS_REGISTER;
}

unsigned vio_read(struct vio_state *vsp, unsigned cookie, const struct qvm_state_block *vopnd,
                  const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    (void)cookie;
    struct vio_state_internal *vi;
    uint64_t off;
    unsigned res = VIOREF_CLASS_NOP;
    switch (classify_access(vsp, vopnd, false, &vi, &off, &res)) {
    case ACCESS_ANSWERED:
        return res;
    case ACCESS_BEYOND_CONFIG: {
        uint64_t zero = 0;
        int rc = guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &zero, vopnd->length <= 8 ? vopnd->length : 8);
        return rc == EOK ? VIOREF_CLASS_NOP : errno_class(rc);
    }
    case ACCESS_REGISTER:
        break;
    }
    pthread_mutex_lock(&vi->mtx);
    uint32_t v = reg_value(vi, off);
    pthread_mutex_unlock(&vi->mtx);
    int rc = guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &v, 4);
    return rc == EOK ? VIOREF_CLASS_NOP : errno_class(rc);
}

/* FEATURES_OK: may the device accept the driver's features? NULL if yes. */
static const char *features_refused(const struct vio_state_internal *vi)
{
    for (unsigned w = 0; w < VIO_MAX_FEATURE_WORDS; w++)
        if (vi->vsp->driver_features[w] & ~vi->desc.device_features[w])
            return "the driver accepted features the device does not offer";
    if (vi->ver == VIOVER_100 && !(vi->vsp->driver_features[VIRTIO_F_VERSION_1 / 32] & VIO_F_BIT(VIRTIO_F_VERSION_1)))
        return "a VIRTIO 1.x device needs VIRTIO_F_VERSION_1";
    return NULL;
}

static void set_addr(uint64_t *a, bool high, uint32_t v)
{
    *a = high ? (*a & 0xffffffffull) | ((uint64_t)v << 32) : (*a & ~0xffffffffull) | v;
}

/* A store to a legacy (virtio-MMIO version 1) queue register (vi->mtx held):
 * GuestPageSize, QueueNum, QueueAlign, QueuePFN (spec 4.2.4); the rings are
 * contiguous from PFN * GuestPageSize, the used ring at the next QueueAlign
 * boundary after the available ring (and its used_event word). */
static unsigned legacy_store(struct vio_state_internal *vi, uint64_t off, uint32_t v)
{
    unsigned sel = vi->queue_sel;
    struct vio_queue_regs *q = sel < vi->desc.num_queues && vi->vsp->qinfo[sel].max_size != 0 ? &vi->q[sel] : NULL;
    if (off == MMIO_LEGACY_GUEST_PAGE_SIZE) {
        if (v == 0 || (v & (v - 1)) != 0)
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: legacy GuestPageSize %u refused (a power of 2): ignored", v);
        else
            vi->page_size = v;
        return VIOREF_CLASS_NOP;
    }
    if (off != MMIO_QUEUE_NUM && off != MMIO_LEGACY_QUEUE_ALIGN && off != MMIO_LEGACY_QUEUE_PFN) {
        qlog_from(QL_QVM_DEBUG, vi->vdp, "virtio: guest store 0x%x to register 0x%03" PRIx64 ": not a legacy "
                  "register, ignored", v, off);
        return VIOREF_CLASS_NOP;
    }
    if (q == NULL) {
        qlog_from(QL_QVM_ERR, vi->vdp, "virtio: guest store to register 0x%03" PRIx64 " of queue %u, which the "
                  "device does not have: ignored", off, sel);
        return VIOREF_CLASS_NOP;
    }
    if (off == MMIO_LEGACY_QUEUE_PFN && v == 0) {
        q->pfn = 0;
        q->ready = false;
        return VIOREF_CLASS_NOP;
    }
    if (q->ready) {
        qlog_from(QL_QVM_ERR, vi->vdp, "virtio: guest store to register 0x%03" PRIx64 " of queue %u while it is "
                  "in use: ignored", off, sel);
        return VIOREF_CLASS_NOP;
    }
    if (off == MMIO_QUEUE_NUM) {
        if (v == 0 || v > vi->vsp->qinfo[sel].max_size)
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u size %u refused (1 to %u): ignored", sel, v,
                      vi->vsp->qinfo[sel].max_size);
        else
            q->num = v;
        return VIOREF_CLASS_NOP;
    }
    if (off == MMIO_LEGACY_QUEUE_ALIGN) {
        if (v == 0 || (v & (v - 1)) != 0)
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u QueueAlign %u refused (a power of 2): ignored", sel, v);
        else
            q->align = v;
        return VIOREF_CLASS_NOP;
    }
    uint64_t page = vi->page_size != 0 ? vi->page_size : 4096u;
    uint64_t align = q->align != 0 ? q->align : 4096u;
    q->pfn = v;
    q->desc = (uint64_t)v * page;
    q->driver = q->desc + VIRTQ_DESC_BYTES(q->num);
    q->device = (q->driver + VIRTQ_AVAIL_BYTES(q->num) + 2 + align - 1) & ~(align - 1);
    q->ready = true;
    return VIOREF_CLASS_ENABLED | sel;
}

/* A store to register `off` (vi->mtx held); returns the VIOREF class. */
static unsigned reg_store(struct vio_state_internal *vi, uint64_t off, uint32_t v)
{
    struct vio_queue_regs *q = vi->queue_sel < vi->desc.num_queues ? &vi->q[vi->queue_sel] : NULL;
    unsigned sel = vi->queue_sel;
    switch (off) {
    case MMIO_DEVICE_FEATURES_SEL:
        vi->dev_feat_sel = v;
        return VIOREF_CLASS_NOP;
    case MMIO_DRIVER_FEATURES_SEL:
        vi->drv_feat_sel = v;
        return VIOREF_CLASS_NOP;
    case MMIO_DRIVER_FEATURES:
        if (vi->status & VIRTIO_DS_FEATURES_OK) {
            qlog_from(QL_QVM_WARN, vi->vdp, "virtio: driver features written after FEATURES_OK: ignored");
        } else if (vi->drv_feat_sel < VIO_MAX_FEATURE_WORDS) {
            vi->vsp->driver_features[vi->drv_feat_sel] = v;
        }
        return VIOREF_CLASS_NOP;
    case MMIO_QUEUE_SEL:
        vi->queue_sel = v;
        return VIOREF_CLASS_NOP;
    case MMIO_QUEUE_NOTIFY: {
        unsigned idx = v & 0xffffu;
        if (idx >= vi->desc.num_queues || vi->vsp->qinfo[idx].max_size == 0) {
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: guest notified queue %u, which the device does not have", idx);
            return VIOREF_CLASS_NOP;
        }
        return VIOREF_CLASS_NOTIFY | idx;
    }
    case MMIO_INTERRUPT_ACK:
        vi->isr &= ~v;
        return VIOREF_CLASS_NOP;
    case MMIO_STATUS: {
        if (v == 0) {
            vi->status = 0;
            return VIOREF_CLASS_RESET;
        }
        uint32_t old = vi->status;
        v &= 0xffu;
        if ((v & VIRTIO_DS_FEATURES_OK) && !(old & VIRTIO_DS_FEATURES_OK) && vi->ver != VIOVER_095) {
            const char *why = features_refused(vi);
            if (why != NULL) {
                qlog_from(QL_QVM_WARN, vi->vdp, "virtio: FEATURES_OK refused: %s (driver 0x%08x_%08x, device "
                          "0x%08x_%08x)", why, vi->vsp->driver_features[1], vi->vsp->driver_features[0],
                          vi->desc.device_features[1], vi->desc.device_features[0]);
                v &= ~VIRTIO_DS_FEATURES_OK;
            }
        }
        if ((v & VIRTIO_DS_DRIVER_OK) && !(old & VIRTIO_DS_DRIVER_OK) && !(v & VIRTIO_DS_FEATURES_OK) &&
            vi->ver != VIOVER_095)
            qlog_from(QL_QVM_WARN, vi->vdp, "virtio: DRIVER_OK without FEATURES_OK");
        vi->status = v;
        uint32_t on = v & ~old;
        return on != 0 ? VIOREF_CLASS_STATUS | on : VIOREF_CLASS_NOP;
    }
    default:
        break;
    }
    if (vi->ver == VIOVER_095)
        return legacy_store(vi, off, v);
    /* the selected queue's registers */
    bool is_queue_reg = off == MMIO_QUEUE_NUM || off == MMIO_QUEUE_READY ||
                        (off >= MMIO_QUEUE_DESC_LOW && off <= MMIO_QUEUE_DEVICE_HIGH);
    if (!is_queue_reg) {
        qlog_from(QL_QVM_DEBUG, vi->vdp, "virtio: guest store 0x%x to register 0x%03" PRIx64 ": read-only or "
                  "unknown, ignored", v, off);
        return VIOREF_CLASS_NOP;
    }
    if (q == NULL || vi->vsp->qinfo[sel].max_size == 0) {
        qlog_from(QL_QVM_ERR, vi->vdp, "virtio: guest store to register 0x%03" PRIx64 " of queue %u, which the "
                  "device does not have: ignored", off, sel);
        return VIOREF_CLASS_NOP;
    }
    if (off == MMIO_QUEUE_READY) {
        if (v == 0) {
            q->ready = false;
            return VIOREF_CLASS_NOP;
        }
        q->ready = true;
        return VIOREF_CLASS_ENABLED | sel;
    }
    if (q->ready) {
        qlog_from(QL_QVM_ERR, vi->vdp, "virtio: guest store to register 0x%03" PRIx64 " of queue %u while it is "
                  "ready: ignored", off, sel);
        return VIOREF_CLASS_NOP;
    }
    switch (off) {
    case MMIO_QUEUE_NUM:
        if (v == 0 || v > vi->vsp->qinfo[sel].max_size)
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u size %u refused (1 to %u): ignored", sel, v,
                      vi->vsp->qinfo[sel].max_size);
        else
            q->num = v;
        break;
    case MMIO_QUEUE_DESC_LOW: set_addr(&q->desc, false, v); break;
    case MMIO_QUEUE_DESC_HIGH: set_addr(&q->desc, true, v); break;
    case MMIO_QUEUE_DRIVER_LOW: set_addr(&q->driver, false, v); break;
    case MMIO_QUEUE_DRIVER_HIGH: set_addr(&q->driver, true, v); break;
    case MMIO_QUEUE_DEVICE_LOW: set_addr(&q->device, false, v); break;
    case MMIO_QUEUE_DEVICE_HIGH: set_addr(&q->device, true, v); break;
    default: break;
    }
    return VIOREF_CLASS_NOP;
}

unsigned vio_write(struct vio_state *vsp, unsigned cookie, const struct qvm_state_block *vopnd,
                   const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    (void)cookie;
    struct vio_state_internal *vi;
    uint64_t off;
    unsigned answer = VIOREF_CLASS_NOP;
    switch (classify_access(vsp, vopnd, true, &vi, &off, &answer)) {
    case ACCESS_ANSWERED:
        return answer;
    case ACCESS_BEYOND_CONFIG:
        return VIOREF_CLASS_NOP;
    case ACCESS_REGISTER:
        break;
    }
    uint32_t v = 0;
    int rc = guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &v, 4);
    if (rc != EOK)
        return errno_class(rc);
    pthread_mutex_lock(&vi->mtx);
    unsigned res = reg_store(vi, off, v);
    bool lower = off == MMIO_INTERRUPT_ACK && vi->isr == 0;
    pthread_mutex_unlock(&vi->mtx);
    if (lower)
        (void)guest_intr_signal(&vi->vdp->v_intr, GIS_OFF);
    return res;
}

/* ---- vq.h ------------------------------------------------------------ */

static uint16_t load16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);        /* little-endian host (x86_64, aarch64) */
    return v;
}

static void store16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, sizeof v);
}

unsigned qvmsim_vq_size(const vq_t *vq)
{
    return vq != NULL ? vq->num : 0;
}

unsigned vq_get_from_driver(vq_t *vq, unsigned *first)
{
    if (first != NULL)
        *first = VQ_INVALID_ID;
    if (vq == NULL)
        return VQ_INVALID_ID;
    struct vio_state_internal *vi = vq->vi;
    pthread_mutex_lock(&vi->mtx);
    unsigned head = VQ_INVALID_ID;
    while (vq->desc != NULL) {
        uint16_t avail_idx = load16(vq->avail + 2);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);    /* the ring entries after the index */
        uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
        if (pending == 0)
            break;
        if (pending > vq->num) {
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u: the driver's available index %u is %u entries ahead "
                      "of the device (queue size %u): the entries in between are skipped", vq->qidx, avail_idx,
                      pending, vq->num);
            vq->last_avail = avail_idx;     /* one report; the device follows the driver's index again */
            break;
        }
        unsigned h = load16(vq->avail + 4 + 2u * (vq->last_avail % vq->num));
        vq->last_avail++;
        if (h >= vq->num) {
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u: available head %u outside the queue (size %u): "
                      "skipped", vq->qidx, h, vq->num);
            continue;
        }
        head = h;
        vq->steps = 0;
        break;
    }
    pthread_mutex_unlock(&vi->mtx);
    if (first != NULL)
        *first = head;
    return head;
}

unsigned vq_desc_get(vq_t *vq, unsigned idx, uint64_t *addr, uint32_t *len, unsigned *flags)
{
    uint64_t a = 0;
    uint32_t l = 0;
    unsigned f = 0, next = VQ_INVALID_ID;
    if (vq != NULL) {
        struct vio_state_internal *vi = vq->vi;
        pthread_mutex_lock(&vi->mtx);
        if (vq->desc == NULL) {
            /* reset under the vdev's feet: nothing to walk */
        } else if (idx >= vq->num) {
            qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u: descriptor %u outside the queue (size %u)",
                      vq->qidx, idx, vq->num);
        } else {
            const uint8_t *d = vq->desc + 16u * idx;
            uint16_t fl, nx;
            memcpy(&a, d, 8);
            memcpy(&l, d + 8, 4);
            memcpy(&fl, d + 12, 2);
            memcpy(&nx, d + 14, 2);
            f = fl;
            vq->steps++;
            if (fl & VIRTQ_DESC_F_NEXT) {
                if (nx >= vq->num)
                    qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u: descriptor %u: next %u outside the queue "
                              "(size %u): chain cut", vq->qidx, idx, nx, vq->num);
                else if (vq->steps >= vq->num)
                    qlog_from(QL_QVM_ERR, vi->vdp, "virtio: queue %u: descriptor chain longer than the queue "
                              "(%u): a loop? chain cut", vq->qidx, vq->num);
                else
                    next = nx;
            }
        }
        pthread_mutex_unlock(&vi->mtx);
    }
    if (addr != NULL)
        *addr = a;
    if (len != NULL)
        *len = l;
    if (flags != NULL)
        *flags = f;
    return next;
}

int vq_put_to_driver(vq_t *vq, unsigned bufid, unsigned len, bool notify)
{
    if (vq == NULL)
        return EINVAL;
    struct vio_state_internal *vi = vq->vi;
    pthread_mutex_lock(&vi->mtx);
    if (vq->used == NULL || bufid >= vq->num) {
        pthread_mutex_unlock(&vi->mtx);
        return EINVAL;
    }
    uint8_t *e = vq->used + 4 + 8u * (vq->used_idx % vq->num);
    uint32_t id32 = bufid, len32 = len;
    memcpy(e, &id32, 4);
    memcpy(e + 4, &len32, 4);
    vq->used_idx++;
    __atomic_thread_fence(__ATOMIC_RELEASE);        /* the entry before the index */
    store16(vq->used + 2, vq->used_idx);
    bool quiet = load16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT;
    pthread_mutex_unlock(&vi->mtx);
    if (notify && !quiet)
        raise_intr(vi, ISR_USED);
    return EOK;
}

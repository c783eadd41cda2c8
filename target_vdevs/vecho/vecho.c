/*
 * vdev vecho - a virtio echo device written on QNX's virtio helper library
 * (<qvm/vio.h>, <vq.h>) in the style of the public QNX virtio vdevs:
 * options at VDEV_CTRL_OPTIONS_START, vio_init() + vio_init_queue() at
 * VDEV_CTRL_OPTIONS_END, vio_ctrl_gen_fdt()/vio_ctrl_pci_bars() in the
 * controls, features with VIO_F_BIT().  A starting point for a team's own
 * virtio vdev (README, "Virtio vdevs"): replace the echo with your device.
 *
 * The device: virtio-MMIO at its `loc` (device ID VECHO_DEVICE_TYPE), one
 * request queue.  A request is a descriptor chain of device-readable buffers
 * (the message) followed by device-writable buffers (the reply): the device
 * copies the message into the reply (upper-cased when the driver accepted
 * VECHO_F_UPPER) and gives the chain back with the number of bytes written,
 * raising its interrupt (`intr`, optional).  A malformed request (bad
 * descriptor index or loop, a buffer outside guest RAM, a readable buffer
 * after a writable one, an indirect descriptor, a message longer than
 * `max-len` or than the reply room) is refused: given back with length 0 and
 * logged at ERROR - the guest is untrusted, the vdev never crashes on it.
 *
 * Config space (read-only, little-endian): 0x0 max-len, 0x4 queue size,
 * 0x8 requests answered, 0xc requests refused.
 *
 * Options (besides loc/intr/name): queue-size N (1..1024, default 64),
 * max-len BYTES (1..65536, default 4096), worker (a flag: requests are
 * answered on the vdev's own thread, as most real virtio vdevs do, instead
 * of inside the guest's notify; a reset waits for that thread to be idle),
 * legacy (a flag: a VIRTIO 0.95 device, VIOVER_095 - virtio-MMIO version 1,
 * without VIRTIO_F_VERSION_1 - like the `legacy` option of QNX's own
 * virtio vdevs).
 *
 * Written against QNX's documented vdev API and the vio.h names only: it
 * builds in portable mode (-DQVMSIM_PORTABLE), as C and as C++.
 */
#include <qvm/vdev.h>
#include <qvm/vio.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A device ID no VIRTIO device type uses (the spec assigns 1..~50). */
#define VECHO_DEVICE_TYPE 0xecu
/* Feature bit 0: the echo comes back upper-cased. */
#define VECHO_F_UPPER 0u

#define VECHO_QUEUE 0u
#define VECHO_MAX_QUEUE_SIZE 1024u
#define VECHO_MAX_LEN 65536u

struct vecho_config {               /* the device-specific config space */
    uint32_t max_len;
    uint32_t queue_size;
    uint32_t requests;
    uint32_t refused;
};

struct vecho {
    struct vio_state vs;
    struct vio_description desc;
    struct vecho_config cfg;
    unsigned queue_size;
    unsigned max_len;
    unsigned char *msg;             /* max_len bytes: the message of one request */
    /* `worker`: the request thread and what it shares with the vCPU */
    bool worker;
    bool legacy;
    bool running;                   /* the thread exists */
    pthread_t thread;
    pthread_mutex_t mtx;            /* the fields below and cfg's counters */
    pthread_cond_t cv;
    bool pending, stop, busy;
};

static const char *const vecho_options[] = { "queue-size", "max-len", QVM_OPTION_NO_ARG_PREFIX "worker",
                                             QVM_OPTION_NO_ARG_PREFIX "legacy", NULL };
enum { OPT_QUEUE_SIZE, OPT_MAX_LEN, OPT_WORKER, OPT_LEGACY };

static int parse_bounded(const char *s, unsigned max, unsigned *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (*end != '\0' || errno == ERANGE || v == 0 || v > max)
        return EINVAL;
    *out = (unsigned)v;
    return EOK;
}

/* One buffer of the guest, mapped (or copied into) for the device. */
static int copy_from_guest(vdev_t *vdp, uint64_t gpa, uint32_t len, unsigned char *to)
{
    if (len == 0)
        return EOK;
    void *p = gasp_map_vdma(vdp, gpa, len, GMF_READ);
    if (p == NULL)
        return EFAULT;
    memcpy(to, p, len);
    gasp_unmap(p, len, 0);
    return EOK;
}

static int copy_to_guest(vdev_t *vdp, uint64_t gpa, uint32_t len, const unsigned char *from)
{
    if (len == 0)
        return EOK;
    void *p = gasp_map_vdma(vdp, gpa, len, GMF_WRITE);
    if (p == NULL)
        return EFAULT;
    memcpy(p, from, len);
    gasp_unmap(p, len, 1);
    return EOK;
}

/* Handles the request whose chain starts at `first`; returns the bytes
 * written into its reply, or -1 (refused: `why` says why). */
static long handle(vdev_t *vdp, struct vecho *e, vq_t *vq, unsigned first, const char **why)
{
    bool upper = (e->vs.driver_features[VECHO_F_UPPER / 32] & VIO_F_BIT(VECHO_F_UPPER)) != 0;
    unsigned msg_len = 0;
    unsigned long written = 0;
    bool in_reply = false;
    unsigned steps = 0;
    /* the chain: readable buffers (gathered into e->msg), then writable ones */
    for (unsigned idx = first; idx != VQ_INVALID_ID; steps++) {
        uint64_t addr;
        uint32_t len;
        unsigned flags;
        if (steps >= e->queue_size) {       /* our own bound, whatever qvm checks */
            *why = "chain longer than the queue";
            return -1;
        }
        /* a bad index or `next` ends the chain (qvm logs it) */
        unsigned next = vq_desc_get(vq, idx, &addr, &len, &flags);
        if (flags & VIRTQ_DESC_F_INDIRECT) {
            *why = "indirect descriptors are not offered";
            return -1;
        }
        if (!(flags & VIRTQ_DESC_F_WRITE)) {
            if (in_reply) {
                *why = "a device-readable buffer after a device-writable one";
                return -1;
            }
            if (len > e->max_len - msg_len) {
                *why = "message longer than max-len";
                return -1;
            }
            if (copy_from_guest(vdp, addr, len, e->msg + msg_len) != EOK) {
                *why = "message buffer outside guest RAM";
                return -1;
            }
            msg_len += len;
        } else {
            in_reply = true;
            unsigned left = msg_len - (unsigned)written;
            uint32_t n = len < left ? len : left;
            if (n > 0) {
                unsigned char *src = e->msg + written;
                if (upper)
                    for (uint32_t k = 0; k < n; k++)
                        if (src[k] >= 'a' && src[k] <= 'z')
                            src[k] = (unsigned char)(src[k] - 'a' + 'A');
                if (copy_to_guest(vdp, addr, n, src) != EOK) {
                    *why = "reply buffer outside guest RAM";
                    return -1;
                }
                written += n;
            }
        }
        idx = next;
    }
    if (written < msg_len) {
        *why = "reply room smaller than the message";
        return -1;
    }
    return (long)written;
}

/* The guest notified the request queue: answer every request made available. */
static void process_queue(vdev_t *vdp, struct vecho *e)
{
    vq_t *vq = e->vs.qinfo[VECHO_QUEUE].pvq;
    if (vq == NULL || e->msg == NULL) { /* notified before DRIVER_OK / after a reset */
        vdev_logf(QL_QVM_ERR, vdp, "notify before the queue was set up (DRIVER_OK): ignored");
        return;
    }
    unsigned first, bufid;
    while ((bufid = vq_get_from_driver(vq, &first)) != VQ_INVALID_ID) {
        const char *why = "";
        long n = handle(vdp, e, vq, first, &why);
        pthread_mutex_lock(&e->mtx);
        if (n < 0)
            e->cfg.refused++;
        else
            e->cfg.requests++;
        pthread_mutex_unlock(&e->mtx);
        if (n < 0) {
            vdev_logf(QL_QVM_ERR, vdp, "request at descriptor %u refused: %s", first, why);
            n = 0;
        } else {
            vdev_logf(QL_QVM_DBG, vdp, "request at descriptor %u: echoed %ld byte(s)", first, n);
        }
        vq_put_to_driver(vq, bufid, (unsigned)n, true);
    }
}

/* `worker`: answers the requests each notify announces, until TERMINATE. */
static void *worker_main(void *arg)
{
    vdev_t *vdp = (vdev_t *)arg;
    struct vecho *e = (struct vecho *)vdp->v_device;
    pthread_mutex_lock(&e->mtx);
    for (;;) {
        while (!e->pending && !e->stop)
            pthread_cond_wait(&e->cv, &e->mtx);
        if (e->stop)
            break;
        e->pending = false;
        e->busy = true;
        pthread_mutex_unlock(&e->mtx);
        process_queue(vdp, e);
        pthread_mutex_lock(&e->mtx);
        e->busy = false;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mtx);
    return NULL;
}

/* A notify: answer now, or wake the worker. */
static void notified(vdev_t *vdp, struct vecho *e)
{
    if (!e->running) {
        process_queue(vdp, e);
        return;
    }
    pthread_mutex_lock(&e->mtx);
    e->pending = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mtx);
}

/* A reset: the worker must not be inside the queue while it goes. */
static void reset(struct vecho *e)
{
    pthread_mutex_lock(&e->mtx);
    e->pending = false;
    while (e->busy)
        pthread_cond_wait(&e->cv, &e->mtx);
    vio_reset(&e->vs);
    e->cfg.requests = e->cfg.refused = 0;
    pthread_mutex_unlock(&e->mtx);
}

static vdev_ref_status_t vecho_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct vecho *e = (struct vecho *)vdp->v_device;
    unsigned res = vio_read(&e->vs, cookie, vopnd, oopnd, gcp);
    switch (res & VIOREF_CLASS_MASK) {
    case VIOREF_CLASS_DEVCFG: {
        unsigned off = res & ~VIOREF_CLASS_MASK;
        unsigned char bytes[8] = { 0 };
        /* vio_read() only reports offsets inside device_config_size; check anyway */
        pthread_mutex_lock(&e->mtx);
        if (off < sizeof e->cfg && vopnd->length <= sizeof bytes && vopnd->length <= sizeof e->cfg - off)
            memcpy(bytes, (const unsigned char *)&e->cfg + off, (size_t)vopnd->length);
        pthread_mutex_unlock(&e->mtx);
        int rc = guest_cpu_write(gcp, GXF_NONE, oopnd, 1, bytes, (size_t)vopnd->length);
        return rc != EOK ? guest_cpu_to_vrs(rc) : VRS_NORMAL;
    }
    case VIOREF_CLASS_BUS_ERROR:
        return VRS_BUS_ERROR;
    case VIOREF_CLASS_ERRNO:
        return VRS_ERRNO + (int)(res & ~VIOREF_CLASS_MASK);
    default:
        return VRS_NORMAL;
    }
}

static vdev_ref_status_t vecho_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct vecho *e = (struct vecho *)vdp->v_device;
    unsigned res = vio_write(&e->vs, cookie, vopnd, oopnd, gcp);
    unsigned op = res & ~VIOREF_CLASS_MASK;
    switch (res & VIOREF_CLASS_MASK) {
    case VIOREF_CLASS_RESET:
        reset(e);
        vdev_logf(QL_QVM_INFO, vdp, "reset by the driver");
        break;
    case VIOREF_CLASS_STATUS:
        if (op & VIRTIO_DS_DRIVER_OK) {
            int rc = vio_setup_queues(&e->vs);
            vdev_logf(rc == EOK ? QL_QVM_INFO : QL_QVM_ERR, vdp, "driver ready (features 0x%08x_%08x)%s",
                      (unsigned)e->vs.driver_features[1], (unsigned)e->vs.driver_features[0],
                      rc == EOK ? "" : ": its queue is unusable");
        }
        break;
    case VIOREF_CLASS_NOTIFY:
        if (op == VECHO_QUEUE)
            notified(vdp, e);
        break;
    case VIOREF_CLASS_DEVCFG:
        vdev_logf(QL_QVM_DBG, vdp, "guest store to the read-only config space at +0x%x: ignored", op);
        break;
    case VIOREF_CLASS_BUS_ERROR:
        return VRS_BUS_ERROR;
    case VIOREF_CLASS_ERRNO:
        return VRS_ERRNO + (int)op;
    default:
        break;
    }
    return VRS_NORMAL;
}

static int vecho_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct vecho *e = (struct vecho *)vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        pthread_mutex_init(&e->mtx, NULL);
        pthread_cond_init(&e->cv, NULL);
        vdp->v_block.qst_type = QST_MEMORY;
        vdp->v_block.location = QSL_NO_LOCATION;
        e->queue_size = 64;
        e->max_len = 4096;
        memset(&e->desc, 0, sizeof e->desc);
        e->desc.device_type = VECHO_DEVICE_TYPE;
        e->desc.num_queues = 1;
        e->desc.device_config_size = sizeof(struct vecho_config);
        e->desc.device_features[0] = VIO_F_BIT(VECHO_F_UPPER);
        e->desc.device_features[1] = VIO_F_BIT(VIRTIO_F_VERSION_1);
        break;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_QUEUE_SIZE:
        return parse_bounded(arg, VECHO_MAX_QUEUE_SIZE, &e->queue_size);
    case VDEV_CTRL_FIRST_OPTIDX + OPT_MAX_LEN:
        return parse_bounded(arg, VECHO_MAX_LEN, &e->max_len);
    case VDEV_CTRL_FIRST_OPTIDX + OPT_WORKER:
        e->worker = true;
        break;
    case VDEV_CTRL_FIRST_OPTIDX + OPT_LEGACY:
        e->legacy = true;
        e->desc.device_features[1] &= ~VIO_F_BIT(VIRTIO_F_VERSION_1);
        break;
    case VDEV_CTRL_OPTIONS_END: {
        e->msg = (unsigned char *)malloc(e->max_len);
        if (e->msg == NULL)
            return ENOMEM;
        e->cfg.max_len = e->max_len;
        e->cfg.queue_size = e->queue_size;
        vio_init(vdp, e->legacy ? VIOVER_095 : VIOVER_100, &e->desc, &e->vs);
        return vio_init_queue(&e->vs, VECHO_QUEUE, e->queue_size);
    }
    case VDEV_CTRL_GUEST_CONFIGURED: {     /* vdev threads: from here on [doc] */
        if (!e->worker)
            break;
        int rc = vdev_thread_create(vdp, "vecho", &e->thread, NULL, worker_main, vdp);
        e->running = rc == EOK;
        return rc;
    }
    case VDEV_CTRL_GEN_FDT:
        return vio_ctrl_gen_fdt(&e->vs, "virtio_echo", (int)(uintptr_t)arg);
    case VDEV_CTRL_PCI_BARS:
        return vio_ctrl_pci_bars(&e->vs, arg);
    case VDEV_CTRL_STATUS:
        pthread_mutex_lock(&e->mtx);
        qvm_report("requests=%u refused=%u", (unsigned)e->cfg.requests, (unsigned)e->cfg.refused);
        pthread_mutex_unlock(&e->mtx);
        break;
    case VDEV_CTRL_TERMINATE:
        if (e->running) {
            pthread_mutex_lock(&e->mtx);
            e->stop = true;
            pthread_cond_broadcast(&e->cv);
            pthread_mutex_unlock(&e->mtx);
            pthread_join(e->thread, NULL);
            e->running = false;
        }
        free(e->msg);
        e->msg = NULL;
        break;
    default:
        break;
    }
    return EOK;
}

static struct vdev_factory vecho_factory = {
    .next = NULL,
    .control = vecho_control,
    .vread = vecho_vread,
    .vwrite = vecho_vwrite,
    .pulse = NULL,
    .timer = NULL,
    .pic = NULL,
    .option_list = vecho_options,
    .name = NULL,                   /* from the .so name: vdev-vecho.so -> vecho */
    .factory_flags = VFF_INTR_NONPCI | VFF_VDEV_MEM | VFF_MUTEX,
    .acc_sizes = (1u << 1) | (1u << 2) | (1u << 4) | (1u << 8),
    .extra_space = sizeof(struct vecho),
};

static void __attribute__((constructor)) vecho_register(void)
{
    vdev_register_factory(&vecho_factory, QVM_VDEV_ABI);
}

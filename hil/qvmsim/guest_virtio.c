/*
 * guest_virtio.c - the scripted guest as a virtio driver (GUEST.md,
 * "virtio"): `virtio SUBCOMMAND ...` probes a virtio-MMIO device, negotiates
 * features, sets up split virtqueues in guest RAM, makes buffer chains
 * available, notifies, waits for the used ring and prints what came back,
 * reads the config space, resets - through the same loads and stores as
 * `read`/`write` (guest_access()), so the vdev sees an ordinary driver.  Raw
 * subcommands (`desc`, `avail`) write what a buggy or hostile driver would.
 *
 * The register layout is the VIRTIO 1.x specification's (section 4.2.2),
 * the ring layout its section 2.7; the driver state (free descriptors,
 * indices) lives here, per device address and queue.
 */
#include "qvmsim.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <virtio.h>

/* virtio-MMIO registers (spec 4.2.2) */
enum {
    R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
    R_DEVICE_FEATURES = 0x010, R_DEVICE_FEATURES_SEL = 0x014,
    R_DRIVER_FEATURES = 0x020, R_DRIVER_FEATURES_SEL = 0x024,
    R_LEGACY_GUEST_PAGE_SIZE = 0x028, R_LEGACY_QUEUE_ALIGN = 0x03c, R_LEGACY_QUEUE_PFN = 0x040,
    R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
    R_QUEUE_NOTIFY = 0x050, R_INTERRUPT_STATUS = 0x060, R_INTERRUPT_ACK = 0x064, R_STATUS = 0x070,
    R_QUEUE_DESC_LOW = 0x080, R_QUEUE_DESC_HIGH = 0x084, R_QUEUE_DRIVER_LOW = 0x090,
    R_QUEUE_DRIVER_HIGH = 0x094, R_QUEUE_DEVICE_LOW = 0x0a0, R_QUEUE_DEVICE_HIGH = 0x0a4,
    R_CONFIG = 0x100,
};
#define VIRTIO_MMIO_MAGIC 0x74726976u
#define GV_LEGACY_PAGE 4096u        /* GuestPageSize and QueueAlign of a legacy device */

#define GV_MAX_DEVICES 16
#define GV_MAX_QUEUES 8
#define GV_MAX_QUEUE_SIZE 1024u
#define GV_MAX_BUFS 64
#define GV_MAX_PRINT 256u           /* bytes of returned data printed per chain */
#define GV_DEFAULT_WAIT_MS 1000u

enum gv_sub { GV_PROBE, GV_INIT, GV_QUEUE, GV_READY, GV_ADD, GV_SEND, GV_NOTIFY, GV_WAIT, GV_CONFIG,
              GV_STATUS, GV_ACK, GV_RESET, GV_DESC, GV_AVAIL, GV_TEXT };

struct gv_buf {
    bool writable;
    uint64_t gpa;
    uint32_t len;
};

struct gvirtio {
    enum gv_sub sub;
    uint64_t base;              /* the device's address (its `loc`)  */
    unsigned q;
    uint64_t n[5];              /* the numbers of the subcommand      */
    bool all;                   /* init ... all                       */
    bool has_features;
    struct gv_buf *bufs;
    int nbufs;
    char *text;
};

/* The driver's view of one queue. */
struct gv_queue {
    bool set;
    unsigned size;
    uint64_t desc, avail, used;
    uint16_t avail_idx, last_used;
    bool *busy;                 /* descriptors in flight            */
    int16_t *chain_next;        /* our own record of the chains made */
    bool *chain_own;            /* head made by `add`/`send`        */
};

struct gv_device {
    bool used;
    bool legacy;                /* virtio-MMIO version 1 (spec 4.2.4) */
    uint64_t base;
    struct gv_queue q[GV_MAX_QUEUES];
};

static struct gv_device devices[GV_MAX_DEVICES];   /* vCPU thread only */

/* ---- parsing ------------------------------------------------------------ */

static int num(const char *w, uint64_t *out)
{
    if (w == NULL || *w == '\0' || *w == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(w, &end, 0);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_buf(const char *w, struct gv_buf *b)
{
    if (w == NULL || (w[0] != 'r' && w[0] != 'w') || w[1] != ':')
        return -1;
    const char *colon = strchr(w + 2, ':');
    if (colon == NULL)
        return -1;
    char *gpa = xstrndup(w + 2, (size_t)(colon - (w + 2)));
    uint64_t a, l;
    int rc = num(gpa, &a) == 0 && num(colon + 1, &l) == 0 && l <= 0xffffffffull ? 0 : -1;
    free(gpa);
    if (rc == 0) {
        b->writable = w[0] == 'w';
        b->gpa = a;
        b->len = (uint32_t)l;
    }
    return rc;
}

struct gv_syntax {
    const char *name;
    enum gv_sub sub;
    int nnums;                  /* numbers after ADDR (QUEUE counts as one) */
    bool queue;                 /* the first of them is QUEUE */
    const char *usage;
};

static const struct gv_syntax syntax[] = {
    { "probe", GV_PROBE, 0, false, "virtio probe ADDR" },
    { "init", GV_INIT, 0, false, "virtio init ADDR [FEATURES|all]" },
    { "queue", GV_QUEUE, 3, true, "virtio queue ADDR QUEUE SIZE RAM_ADDR" },
    { "ready", GV_READY, 0, false, "virtio ready ADDR" },
    { "add", GV_ADD, 1, true, "virtio add ADDR QUEUE BUF... (BUF: r:GPA:LEN or w:GPA:LEN)" },
    { "send", GV_SEND, 1, true, "virtio send ADDR QUEUE BUF... (BUF: r:GPA:LEN or w:GPA:LEN)" },
    { "notify", GV_NOTIFY, 1, true, "virtio notify ADDR QUEUE" },
    { "wait", GV_WAIT, 1, true, "virtio wait ADDR QUEUE [TIMEOUT_MS]" },
    { "config", GV_CONFIG, 2, false, "virtio config ADDR OFFSET SIZE" },
    { "status", GV_STATUS, 0, false, "virtio status ADDR" },
    { "ack", GV_ACK, 0, false, "virtio ack ADDR" },
    { "reset", GV_RESET, 0, false, "virtio reset ADDR" },
    { "desc", GV_DESC, 6, true, "virtio desc ADDR QUEUE INDEX GPA LEN FLAGS NEXT" },
    { "avail", GV_AVAIL, 2, true, "virtio avail ADDR QUEUE HEAD" },
    { "text", GV_TEXT, 0, false, "virtio text GPA TEXT" },
};

#define GERR(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

int gvirtio_parse(const char *rest, struct gcmd *c, char *err, size_t errlen)
{
    const char *p = rest;
    char *w = guest_word(&p), *a = NULL, *extra = NULL;
    struct gvirtio *g = xcalloc(1, sizeof *g);
    const struct gv_syntax *s = NULL;
    for (size_t i = 0; w != NULL && i < sizeof syntax / sizeof syntax[0]; i++)
        if (strcmp(w, syntax[i].name) == 0)
            s = &syntax[i];
    if (s == NULL)
        GERR("'virtio' needs a subcommand: probe, init, queue, ready, add, send, notify, wait, config, "
             "status, ack, reset, desc, avail or text (GUEST.md)%s%s%s", w ? "; not '" : "", w ? w : "",
             w ? "'" : "");
    g->sub = s->sub;
    a = guest_word(&p);
    if (num(a, &g->base) != 0)
        GERR("'%s': bad or missing address '%s'", s->usage, a ? a : "");
    if (g->sub == GV_TEXT) {
        while (*p == ' ' || *p == '\t')
            p++;
        g->text = xstrndup(p, strcspn(p, "\r\n"));
        if (g->text[0] == '\0')
            GERR("'%s': no text", s->usage);
        goto ok;
    }
    for (int i = 0; i < s->nnums; i++) {
        free(a);
        a = guest_word(&p);
        uint64_t v;
        if (num(a, &v) != 0)
            GERR("'%s': bad or missing number '%s'", s->usage, a ? a : "");
        if (i == 0 && s->queue) {
            if (v >= GV_MAX_QUEUES)
                GERR("'%s': queue %s: the scripted driver handles queues 0 to %d", s->usage, a, GV_MAX_QUEUES - 1);
            g->q = (unsigned)v;
        } else {
            g->n[s->queue ? i - 1 : i] = v;
        }
    }
    if (g->sub == GV_QUEUE && (g->n[0] == 0 || g->n[0] > GV_MAX_QUEUE_SIZE))
        GERR("'%s': size %" PRIu64 " (1 to %u)", s->usage, g->n[0], GV_MAX_QUEUE_SIZE);
    if (g->sub == GV_CONFIG && g->n[1] != 1 && g->n[1] != 2 && g->n[1] != 4 && g->n[1] != 8)
        GERR("'%s': bad size %" PRIu64 " (1, 2, 4 or 8)", s->usage, g->n[1]);
    if (g->sub == GV_DESC && (g->n[2] > 0xffffffffull || g->n[3] > 0xffff || g->n[4] > 0xffff))
        GERR("'%s': LEN is 32 bits, FLAGS and NEXT 16 bits", s->usage);
    if (g->sub == GV_AVAIL && g->n[0] > 0xffff)
        GERR("'%s': HEAD is 16 bits", s->usage);
    if (g->sub == GV_INIT || g->sub == GV_WAIT) {
        free(a);
        a = guest_word(&p);
        if (a != NULL && g->sub == GV_INIT && strcmp(a, "all") == 0) {
            g->all = true;
        } else if (a != NULL) {
            if (num(a, &g->n[0]) != 0)
                GERR("'%s': bad %s '%s'", s->usage, g->sub == GV_INIT ? "features" : "timeout", a);
            g->has_features = true;
        } else if (g->sub == GV_WAIT) {
            g->n[0] = GV_DEFAULT_WAIT_MS;
        }
    }
    if (g->sub == GV_ADD || g->sub == GV_SEND) {
        for (;;) {
            free(a);
            a = guest_word(&p);
            if (a == NULL)
                break;
            if (g->nbufs == GV_MAX_BUFS)
                GERR("'%s': at most %d buffers", s->usage, GV_MAX_BUFS);
            g->bufs = xreallocarray(g->bufs, (size_t)g->nbufs + 1, sizeof *g->bufs);
            if (parse_buf(a, &g->bufs[g->nbufs]) != 0)
                GERR("'%s': bad buffer '%s'", s->usage, a);
            g->nbufs++;
        }
        if (g->nbufs == 0)
            GERR("'%s': no buffer", s->usage);
    }
    extra = guest_word(&p);
    if (extra != NULL)
        GERR("'%s': unexpected '%s'", s->usage, extra);
ok:
    c->virtio = g;
    free(w);
    free(a);
    return 0;
fail:
    free(g->bufs);
    free(g->text);
    free(g);
    free(w);
    free(a);
    free(extra);
    return -1;
}

/* ---- running ------------------------------------------------------------ */

static void out(const char *fmt, ...) QVM_PRINTF_LIKE(1, 2);
static void out(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    console_puts(line);
}

static bool rd(uint64_t base, unsigned reg, uint32_t *v)
{
    uint64_t x = 0;
    bool ok = guest_access(false, QST_MEMORY, base + reg, 4, &x, true);
    *v = (uint32_t)x;
    return ok;
}

static bool wr(uint64_t base, unsigned reg, uint32_t v)
{
    uint64_t x = v;
    return guest_access(true, QST_MEMORY, base + reg, 4, &x, true);
}

static struct gv_device *device(uint64_t base)
{
    struct gv_device *free_slot = NULL;
    for (int i = 0; i < GV_MAX_DEVICES; i++) {
        if (devices[i].used && devices[i].base == base)
            return &devices[i];
        if (!devices[i].used && free_slot == NULL)
            free_slot = &devices[i];
    }
    if (free_slot == NULL) {
        qlog(QL_QVM_ERR, "guest: virtio: the scripted driver handles at most %d devices", GV_MAX_DEVICES);
        return NULL;
    }
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->used = true;
    free_slot->base = base;
    return free_slot;
}

static void queue_forget(struct gv_queue *q)
{
    free(q->busy);
    free(q->chain_next);
    free(q->chain_own);
    memset(q, 0, sizeof *q);
}

/* The set-up queue, or NULL after an ERROR line. */
static struct gv_queue *queue_of(struct gv_device *d, unsigned qi, const char *what)
{
    struct gv_queue *q = d != NULL && qi < GV_MAX_QUEUES ? &d->q[qi] : NULL;
    if (q == NULL || !q->set) {
        qlog(QL_QVM_ERR, "guest: virtio %s: queue %u of 0x%" PRIx64 " is not set up (virtio queue first)", what,
             qi, d != NULL ? d->base : 0);
        return NULL;
    }
    return q;
}

static void ram_w16(uint64_t gpa, uint16_t v)
{
    uint8_t *m = ram_ptr(gpa, 2);
    if (m != NULL)
        memcpy(m, &v, 2);
}

static uint16_t ram_r16(uint64_t gpa)
{
    uint16_t v = 0;
    uint8_t *m = ram_ptr(gpa, 2);
    if (m != NULL)
        memcpy(&v, m, 2);
    return v;
}

static void desc_write(const struct gv_queue *q, unsigned idx, uint64_t gpa, uint32_t len, uint16_t flags,
                       uint16_t next)
{
    uint8_t *m = ram_ptr(q->desc + 16ull * idx, 16);
    if (m == NULL)
        return;
    memcpy(m, &gpa, 8);
    memcpy(m + 8, &len, 4);
    memcpy(m + 12, &flags, 2);
    memcpy(m + 14, &next, 2);
}

static void avail_put(struct gv_queue *q, uint16_t head)
{
    ram_w16(q->avail + 4 + 2ull * (q->avail_idx % q->size), head);
    q->avail_idx++;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ram_w16(q->avail + 2, q->avail_idx);
}

static void do_init(const struct gvirtio *g)
{
    uint32_t lo = 0, hi = 0, st = 0, version = 0;
    struct gv_device *d = device(g->base);
    rd(g->base, R_VERSION, &version);
    bool legacy = version == 1;
    wr(g->base, R_STATUS, 0);
    wr(g->base, R_STATUS, VIRTIO_DS_ACKNOWLEDGE);
    wr(g->base, R_STATUS, VIRTIO_DS_ACKNOWLEDGE | VIRTIO_DS_DRIVER);
    wr(g->base, R_DEVICE_FEATURES_SEL, 0);
    rd(g->base, R_DEVICE_FEATURES, &lo);
    wr(g->base, R_DEVICE_FEATURES_SEL, 1);
    rd(g->base, R_DEVICE_FEATURES, &hi);
    uint64_t dev = (uint64_t)hi << 32 | lo;
    uint64_t drv = g->all ? dev : g->has_features ? g->n[0] : dev & (1ull << VIRTIO_F_VERSION_1);
    wr(g->base, R_DRIVER_FEATURES_SEL, 0);
    wr(g->base, R_DRIVER_FEATURES, (uint32_t)drv);
    wr(g->base, R_DRIVER_FEATURES_SEL, 1);
    wr(g->base, R_DRIVER_FEATURES, (uint32_t)(drv >> 32));
    for (int i = 0; d != NULL && i < GV_MAX_QUEUES; i++)
        queue_forget(&d->q[i]);
    if (d != NULL)
        d->legacy = legacy;
    if (legacy) {               /* no FEATURES_OK in version 1; the page size comes first */
        wr(g->base, R_LEGACY_GUEST_PAGE_SIZE, GV_LEGACY_PAGE);
        out("virtio 0x%" PRIx64 ": features device=0x%" PRIx64 " driver=0x%" PRIx64 " legacy", g->base, dev, drv);
        return;
    }
    wr(g->base, R_STATUS, VIRTIO_DS_ACKNOWLEDGE | VIRTIO_DS_DRIVER | VIRTIO_DS_FEATURES_OK);
    rd(g->base, R_STATUS, &st);
    out("virtio 0x%" PRIx64 ": features device=0x%" PRIx64 " driver=0x%" PRIx64 " %s", g->base, dev, drv,
        (st & VIRTIO_DS_FEATURES_OK) ? "FEATURES_OK" : "refused");
}

static void do_queue(const struct gvirtio *g)
{
    struct gv_device *d = device(g->base);
    if (d == NULL)
        return;
    unsigned size = (unsigned)g->n[0];
    uint64_t desc = g->n[1];
    uint64_t align = d->legacy ? GV_LEGACY_PAGE : 4;    /* legacy: the used ring on a page boundary */
    uint64_t avail = desc + VIRTQ_DESC_BYTES(size);
    uint64_t used = (avail + VIRTQ_AVAIL_BYTES(size) + 2 + align - 1) & ~(align - 1);   /* + used_event */
    uint64_t end = used + VIRTQ_USED_BYTES(size) + 2;                                   /* + avail_event */
    uint8_t *m = ram_ptr(desc, end - desc);
    uint64_t need = d->legacy ? GV_LEGACY_PAGE : VIRTQ_DESC_ALIGN;
    if (m == NULL || desc % need != 0) {
        qlog(QL_QVM_ERR, "guest: virtio queue: rings 0x%" PRIx64 "-0x%" PRIx64 " are %s", desc, end - 1,
             m == NULL ? "not inside one guest RAM region (option 'ram')"
                       : d->legacy ? "not page-aligned (legacy device)" : "not 16-byte aligned");
        return;
    }
    uint32_t max = 0;
    wr(g->base, R_QUEUE_SEL, g->q);
    rd(g->base, R_QUEUE_NUM_MAX, &max);
    if (max == 0 || size > max) {
        out("virtio 0x%" PRIx64 " q%u: %s (max %u)", g->base, g->q, max == 0 ? "no such queue" : "size too big", max);
        return;
    }
    memset(m, 0, (size_t)(end - desc));
    wr(g->base, R_QUEUE_NUM, size);
    if (d->legacy) {
        wr(g->base, R_LEGACY_QUEUE_ALIGN, GV_LEGACY_PAGE);
        wr(g->base, R_LEGACY_QUEUE_PFN, (uint32_t)(desc / GV_LEGACY_PAGE));
    } else {
        wr(g->base, R_QUEUE_DESC_LOW, (uint32_t)desc);
        wr(g->base, R_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
        wr(g->base, R_QUEUE_DRIVER_LOW, (uint32_t)avail);
        wr(g->base, R_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
        wr(g->base, R_QUEUE_DEVICE_LOW, (uint32_t)used);
        wr(g->base, R_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
        wr(g->base, R_QUEUE_READY, 1);
    }
    struct gv_queue *q = &d->q[g->q];
    queue_forget(q);
    q->set = true;
    q->size = size;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    q->busy = xcalloc(size, sizeof *q->busy);
    q->chain_next = xcalloc(size, sizeof *q->chain_next);
    q->chain_own = xcalloc(size, sizeof *q->chain_own);
    out("virtio 0x%" PRIx64 " q%u: size=%u max=%u desc=0x%" PRIx64 " avail=0x%" PRIx64 " used=0x%" PRIx64,
        g->base, g->q, size, max, desc, avail, used);
}

static void do_add(const struct gvirtio *g, bool notify)
{
    struct gv_queue *q = queue_of(device(g->base), g->q, notify ? "send" : "add");
    if (q == NULL)
        return;
    int idx[GV_MAX_BUFS];
    int n = 0;
    for (unsigned i = 0; i < q->size && n < g->nbufs; i++)
        if (!q->busy[i])
            idx[n++] = (int)i;
    if (n < g->nbufs) {
        qlog(QL_QVM_ERR, "guest: virtio %s: queue %u of 0x%" PRIx64 ": %d descriptor(s) needed, %d free",
             notify ? "send" : "add", g->q, g->base, g->nbufs, n);
        return;
    }
    for (int k = 0; k < n; k++) {
        const struct gv_buf *b = &g->bufs[k];
        bool last = k == n - 1;
        uint16_t flags = (uint16_t)((b->writable ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT));
        desc_write(q, (unsigned)idx[k], b->gpa, b->len, flags, last ? 0 : (uint16_t)idx[k + 1]);
        q->busy[idx[k]] = true;
        q->chain_next[idx[k]] = (int16_t)(last ? -1 : idx[k + 1]);
    }
    q->chain_own[idx[0]] = true;
    avail_put(q, (uint16_t)idx[0]);
    out("virtio 0x%" PRIx64 " q%u: added head=%d descriptors=%d", g->base, g->q, idx[0], n);
    if (notify)
        wr(g->base, R_QUEUE_NOTIFY, g->q);
}

/* Prints the bytes the device wrote into the chain at `head` (up to len). */
static void print_chain(const struct gvirtio *g, struct gv_queue *q, unsigned head, uint32_t len)
{
    char text[4 * GV_MAX_PRINT + 1];
    size_t t = 0;
    uint32_t left = len, shown = 0;
    for (int i = (int)head, steps = 0; i >= 0 && steps < (int)q->size; steps++) {
        const uint8_t *dm = ram_ptr(q->desc + 16ull * (unsigned)i, 16);
        uint64_t gpa = 0;
        uint32_t dlen = 0;
        uint16_t flags = 0;
        if (dm != NULL) {
            memcpy(&gpa, dm, 8);
            memcpy(&dlen, dm + 8, 4);
            memcpy(&flags, dm + 12, 2);
        }
        if ((flags & VIRTQ_DESC_F_WRITE) && left > 0) {
            uint32_t n = dlen < left ? dlen : left;
            const uint8_t *m = ram_ptr(gpa, n);
            for (uint32_t k = 0; m != NULL && k < n && shown < GV_MAX_PRINT; k++, shown++) {
                unsigned char ch = m[k];
                if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
                    text[t++] = (char)ch;
                else
                    t += (size_t)snprintf(text + t, sizeof text - t, "\\x%02x", ch);
            }
            left -= n;
        }
        q->busy[i] = false;
        int nx = q->chain_next[i];
        q->chain_next[i] = -1;
        i = nx;
    }
    text[t] = '\0';
    out("virtio 0x%" PRIx64 " q%u: data \"%s\"%s", g->base, g->q, text, len > shown ? " ..." : "");
}

static void do_wait(const struct gvirtio *g)
{
    struct gv_queue *q = queue_of(device(g->base), g->q, "wait");
    if (q == NULL)
        return;
    uint64_t deadline = now_ns() + g->n[0] * 1000000ull;
    for (;;) {
        uint16_t used_idx = ram_r16(q->used + 2);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (used_idx != q->last_used)
            break;
        if (now_ns() >= deadline || guest_stopping()) {
            out("virtio 0x%" PRIx64 " q%u: used timeout", g->base, g->q);
            return;
        }
        struct timespec ts = { 0, 1000000 };   /* 1 ms: the device runs on its own threads */
        nanosleep(&ts, NULL);
    }
    uint16_t used_idx = ram_r16(q->used + 2);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    while (q->last_used != used_idx) {
        const uint8_t *e = ram_ptr(q->used + 4 + 8ull * (q->last_used % q->size), 8);
        uint32_t id = 0, len = 0;
        if (e != NULL) {
            memcpy(&id, e, 4);
            memcpy(&len, e + 4, 4);
        }
        q->last_used++;
        out("virtio 0x%" PRIx64 " q%u: used head=%" PRIu32 " len=%" PRIu32, g->base, g->q, id, len);
        if (id < q->size && q->chain_own[id]) {
            q->chain_own[id] = false;
            print_chain(g, q, id, len);
        }
    }
}

void gvirtio_run(const struct gcmd *c)
{
    const struct gvirtio *g = c->virtio;
    uint32_t v = 0, w = 0;
    switch (g->sub) {
    case GV_PROBE: {
        uint32_t ver = 0, dev = 0, ven = 0;
        bool ok = rd(g->base, R_MAGIC, &v) && rd(g->base, R_VERSION, &ver) && rd(g->base, R_DEVICE_ID, &dev) &&
                  rd(g->base, R_VENDOR_ID, &ven);
        if (!ok || v != VIRTIO_MMIO_MAGIC)
            out("virtio 0x%" PRIx64 ": no virtio device (magic 0x%08x)", g->base, v);
        else
            out("virtio 0x%" PRIx64 ": magic=0x%08x version=%u device=%u vendor=0x%04x", g->base, v, ver, dev, ven);
        break;
    }
    case GV_INIT:
        do_init(g);
        break;
    case GV_QUEUE:
        do_queue(g);
        break;
    case GV_READY:
        rd(g->base, R_STATUS, &v);
        wr(g->base, R_STATUS, v | VIRTIO_DS_DRIVER_OK);
        rd(g->base, R_STATUS, &v);
        out("virtio 0x%" PRIx64 ": status=0x%02x", g->base, v);
        break;
    case GV_ADD:
    case GV_SEND:
        do_add(g, g->sub == GV_SEND);
        break;
    case GV_NOTIFY:
        wr(g->base, R_QUEUE_NOTIFY, g->q);
        break;
    case GV_WAIT:
        do_wait(g);
        break;
    case GV_CONFIG: {
        uint64_t x = 0;
        unsigned size = (unsigned)g->n[1];
        if (guest_access(false, QST_MEMORY, g->base + R_CONFIG + g->n[0], size, &x, true))
            out("virtio 0x%" PRIx64 " config+0x%" PRIx64 ": 0x%0*" PRIx64, g->base, g->n[0], (int)size * 2, x);
        else
            out("virtio 0x%" PRIx64 " config+0x%" PRIx64 ": error", g->base, g->n[0]);
        break;
    }
    case GV_STATUS:
        rd(g->base, R_STATUS, &v);
        rd(g->base, R_INTERRUPT_STATUS, &w);
        out("virtio 0x%" PRIx64 ": status=0x%02x isr=0x%x", g->base, v, w);
        break;
    case GV_ACK:
        rd(g->base, R_INTERRUPT_STATUS, &w);
        wr(g->base, R_INTERRUPT_ACK, w);
        out("virtio 0x%" PRIx64 ": isr=0x%x acked", g->base, w);
        break;
    case GV_RESET: {
        wr(g->base, R_STATUS, 0);
        rd(g->base, R_STATUS, &v);
        struct gv_device *d = device(g->base);
        for (int i = 0; d != NULL && i < GV_MAX_QUEUES; i++)
            queue_forget(&d->q[i]);
        out("virtio 0x%" PRIx64 ": reset status=0x%02x", g->base, v);
        break;
    }
    case GV_DESC: {
        struct gv_queue *q = queue_of(device(g->base), g->q, "desc");
        if (q == NULL)
            break;
        if (g->n[0] >= q->size) {
            qlog(QL_QVM_ERR, "guest: virtio desc: index %" PRIu64 " outside queue %u (size %u)", g->n[0], g->q,
                 q->size);
            break;
        }
        desc_write(q, (unsigned)g->n[0], g->n[1], (uint32_t)g->n[2], (uint16_t)g->n[3], (uint16_t)g->n[4]);
        break;
    }
    case GV_AVAIL: {
        struct gv_queue *q = queue_of(device(g->base), g->q, "avail");
        if (q != NULL)
            avail_put(q, (uint16_t)g->n[0]);
        break;
    }
    case GV_TEXT: {
        size_t n = strlen(g->text);
        uint8_t *m = ram_ptr(g->base, n);
        if (m == NULL)
            qlog(QL_QVM_ERR, "guest: virtio text: %zu byte(s) at 0x%" PRIx64 ": not inside one guest RAM region "
                 "(option 'ram'): bus error", n, g->base);
        else
            memcpy(m, g->text, n);
        break;
    }
    }
}

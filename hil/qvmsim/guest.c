/*
 * guest.c - qvmsim's scripted guest (no real CPU) running: the vCPU thread
 * runs a guest script (`load`) and guest-console commands from stdin (the
 * console thread), parsed by guest_parse.c: loads and stores on vdev
 * regions and guest RAM, periodic jobs, sleeps, irq waits, the power
 * button, shutdown/reboot/crash.  The language is documented in GUEST.md.
 */
#include "qvmsim.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The CPU side of one access. */
struct guest_cpu {
    bool in_access;
    unsigned size;
    uint64_t data;
    bool data_set;
};
static struct guest_cpu vcpu;
static struct guest_cpu timer_cpu;
struct guest_cpu *g_timer_cpu = &timer_cpu;

pthread_mutex_t g_guest_mtx = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_guest_cv;
bool g_stopping;
static int busy;
_Thread_local int t_busy;

/* ---- worker bookkeeping (vCPU and timer threads) ------------------- */

bool worker_enter(void)
{
    pthread_mutex_lock(&g_guest_mtx);
    bool ok = !g_stopping;
    if (ok) {
        busy++;
        t_busy = 1;
    }
    pthread_mutex_unlock(&g_guest_mtx);
    return ok;
}

void worker_leave(void)
{
    pthread_mutex_lock(&g_guest_mtx);
    if (t_busy) {
        busy--;
        t_busy = 0;
    }
    pthread_cond_broadcast(&g_guest_cv);
    pthread_mutex_unlock(&g_guest_mtx);
}

/* Stops the guest: no more loads, stores or timer callbacks.  Waits (at most
 * 2 s) for callbacks in progress on the vCPU and timer threads. */
void guest_stop(void)
{
    pthread_mutex_lock(&g_guest_mtx);
    g_stopping = true;
    pthread_cond_broadcast(&g_guest_cv);
    uint64_t until = now_ns() + 2000000000ull;
    while (busy > 0 && now_ns() < until) {
        struct timespec ts = { .tv_sec = (time_t)(until / 1000000000ull), .tv_nsec = (long)(until % 1000000000ull) };
        pthread_cond_timedwait(&g_guest_cv, &g_guest_mtx, &ts);
    }
    int left = busy;
    pthread_mutex_unlock(&g_guest_mtx);
    timer_wake();
    if (left > 0)
        qlog(QL_QVM_WARN, "guest stop: %d vdev callback(s) still running after 2 s; terminating anyway", left);
}

/* ---- guest CPU and memory accesses ---------------------------------- */

/* The data of guest_cpu_read()/guest_cpu_write(): the blocks in order, packed
 * into data[0 .. data_len).  `to_data`: read (guest -> data).  Returns EOK,
 * an errno value, or -1 (an address outside guest RAM: the guest gets an
 * exception, i.e. a bus error). */
static int cpu_access(struct guest_cpu *gcp, const struct qvm_state_block *blk, unsigned nblks,
                      uint8_t *data, size_t data_len, bool to_data)
{
    if (blk == NULL || nblks == 0 || data == NULL)
        return EINVAL;
    size_t off = 0;
    for (unsigned i = 0; i < nblks; i++) {
        const struct qvm_state_block *b = &blk[i];
        switch (b->qst_type) {
        case QST_CPUREGS: {         /* the CPU side of the access being emulated */
            if (gcp == NULL || !gcp->in_access)
                return EINVAL;
            size_t n = b->length < gcp->size ? (size_t)b->length : gcp->size;
            if (n > data_len - off)
                n = data_len - off;
            if (to_data) {
                memcpy(data + off, &gcp->data, n);     /* little-endian host */
            } else {
                gcp->data = 0;
                memcpy(&gcp->data, data + off, n);
                gcp->data_set = true;
            }
            off += n;
            break;
        }
        case QST_MEMORY: {          /* guest RAM (`ram` option) */
            if (b->length > data_len - off)
                return EINVAL;
            uint8_t *m = ram_ptr(b->location, b->length);
            if (m == NULL && b->length > 0)
                return -1;
            if (to_data)
                memcpy(data + off, m, (size_t)b->length);
            else
                memcpy(m, data + off, (size_t)b->length);
            off += (size_t)b->length;
            break;
        }
        default:
            return ENOTSUP;
        }
    }
    return EOK;
}

int guest_cpu_read(struct guest_cpu *gcp, guest_cpu_access_flags_t flags,
                   const struct qvm_state_block *blk, unsigned nblks, void *data, size_t data_len)
{
    (void)flags;
    return cpu_access(gcp, blk, nblks, data, data_len, true);
}

int guest_cpu_write(struct guest_cpu *gcp, guest_cpu_access_flags_t flags,
                    const struct qvm_state_block *blk, unsigned nblks, const void *data, size_t data_len)
{
    (void)flags;
    return cpu_access(gcp, blk, nblks, (uint8_t *)(uintptr_t)data, data_len, false);
}

/* ---- execution --------------------------------------------------------- */

struct job {
    int id;
    bool active;
    uint64_t period_ns;
    uint64_t next;
    struct gcmd *cmd;
};

struct console_item {
    struct gcmd cmd;
    struct console_item *next;
};

static struct script *script;
static int script_pc;
static uint64_t script_wake;
static struct console_item *console_head, *console_tail;
static struct console_item *console_done;   /* run commands, kept (jobs may point into them) and reachable */
static uint64_t console_wake;
static struct job *jobs;
static int njobs;
static bool crashed;
static atomic_ullong n_loads, n_stores;

/* The power button (GUEST.md): `on button` handlers run in order as their own
 * command stream, then - unless `ignore button` - the guest shuts down. */
static struct gcmd **button_cmds;
static int nbutton;
static bool ignore_button;
static int button_pc = -1;          /* -1: no button press being handled */
static int button_n;
static bool button_off;             /* shut down after the handlers */
static uint64_t button_wake;
static char button_why[] = "power button";
static struct gcmd button_shutdown = { .op = G_SHUTDOWN, .text = button_why };

static const char *space_prefix(unsigned space)
{
    return space == QST_X86_IO ? "io:" : "";
}

bool guest_access(bool write, unsigned space, uint64_t addr, unsigned size, uint64_t *value, bool quiet)
{
    uint64_t in = *value;
    *value = ~0ull >> (64 - 8 * size);      /* what a failed load gives */
    vdev_t *v = vdev_at(space, addr, size);
    uint8_t *ram = v == NULL && space == QST_MEMORY ? ram_ptr(addr, size) : NULL;
    if (ram != NULL) {          /* guest RAM: no vdev involved */
        uint64_t val = 0;
        if (write) {
            memcpy(ram, &in, size);     /* little-endian host */
            qlog(QL_QVM_VERBOSE, "guest store 0x%" PRIx64 "/%u = 0x%" PRIx64 " -> RAM", addr, size, in);
        } else {
            memcpy(&val, ram, size);
            *value = val;
            char line[128];
            snprintf(line, sizeof line, "0x%" PRIx64 ": 0x%0*" PRIx64, addr, (int)size * 2, val);
            if (!quiet)
                console_puts(line);
        }
        return true;
    }
    if (v == NULL) {
        /* `unsupported reference ACTION` [doc 8.0 vm/unsupported.html] */
        int act = g_flags.unsupported[UNSUP_REFERENCE];
        if (act == UNSUP_ABORT) {
            qlog(QL_QVM_ERR, "guest %s of %u byte(s) at %s0x%" PRIx64 " outside any vdev region: "
                 "unsupported reference abort: terminating", write ? "store" : "load", size,
                 space_prefix(space), addr);
            guest_status();
            end_guest(GTC_UNSUPPORTED, "unsupported reference abort");
        }
        if (act == UNSUP_FAIL) {
            qlog(QL_QVM_ERR, "guest %s of %u byte(s) at %s0x%" PRIx64 " outside any vdev region: "
                 "unsupported reference fail: the guest gets a CPU exception", write ? "store" : "load", size,
                 space_prefix(space), addr);
            if (!write && !quiet) {
                char line[128];
                snprintf(line, sizeof line, "%s0x%" PRIx64 ": exception", space_prefix(space), addr);
                console_puts(line);
            }
            return false;
        }
        qlog(QL_QVM_ERR, "guest %s of %u byte(s) at %s0x%" PRIx64 " outside any vdev region",
             write ? "store" : "load", size, space_prefix(space), addr);
        if (!write && !quiet) {
            char line[128];
            snprintf(line, sizeof line, "%s0x%" PRIx64 ": 0x%0*" PRIx64, space_prefix(space), addr,
                     (int)size * 2, (uint64_t)~0ull >> (64 - 8 * size));
            console_puts(line);
        }
        return false;
    }
    struct vdev_factory *f = v->qvmsim_private->factory;
    if (f->acc_sizes != 0 && !(f->acc_sizes & (1u << size))) {
        qlog(QL_QVM_ERR, "guest %s of %u byte(s) at %s0x%" PRIx64 ": size not supported by vdev '%s' "
             "(acc_sizes 0x%x): bus error", write ? "store" : "load", size, space_prefix(space), addr,
             vdev_source(v), f->acc_sizes);
        return false;
    }
    struct qvm_state_block vop = { .qst_type = space, .qst_flags = 0, .location = addr, .length = size };
    struct qvm_state_block oop = { .qst_type = QST_CPUREGS, .qst_flags = 0, .location = 0, .length = size };
    vcpu.in_access = true;
    vcpu.size = size;
    vcpu.data = write ? in : 0;
    vcpu.data_set = false;
    vdev_ref_status_t st = VRS_NORMAL;
    if (write) {
        atomic_store(&g_last_store_ns, now_ns());
        n_stores++;
        qlog(QL_QVM_VERBOSE, "guest store %s0x%" PRIx64 "/%u = 0x%" PRIx64 " -> vdev '%s'",
             space_prefix(space), addr, size, in, vdev_source(v));
    } else {
        n_loads++;
    }
    vdev_t *sv;
    pthread_mutex_t *sm;
    vd_enter(v, &sv, &sm);
    if (write && f->vwrite != NULL)
        st = f->vwrite(v, 0, &vop, &oop, &vcpu);
    else if (!write && f->vread != NULL)
        st = f->vread(v, 0, &vop, &oop, &vcpu);
    vd_leave(v, sv, sm);
    vcpu.in_access = false;
    uint64_t result = vcpu.data;
    bool ok = true;
    if (st == VRS_TERMINATE) {
        qlog(QL_QVM_ERR, "vdev '%s' answered VRS_TERMINATE to a guest %s at %s0x%" PRIx64,
             vdev_source(v), write ? "store" : "load", space_prefix(space), addr);
        end_guest(GTC_VDEV_ERROR, "VRS_TERMINATE");
    } else if (st == VRS_ABORT || st == VRS_BUS_ERROR) {
        ok = false;
        qlog(QL_QVM_ERR, "vdev '%s' answered %s to a guest %s at %s0x%" PRIx64 ": the guest gets a bus error",
             vdev_source(v), st == VRS_ABORT ? "VRS_ABORT" : "VRS_BUS_ERROR",
             write ? "store" : "load", space_prefix(space), addr);
    } else if (st >= VRS_ERRNO) {
        ok = false;
        qlog(QL_QVM_ERR, "vdev '%s' answered VRS_ERRNO+%d (%s) to a guest %s at %s0x%" PRIx64,
             vdev_source(v), st - VRS_ERRNO, strerror(st - VRS_ERRNO),
             write ? "store" : "load", space_prefix(space), addr);
    }
    if (!write) {
        if (size < 8)
            result &= (1ull << (8 * size)) - 1;
        *value = result;
        char line[128];
        snprintf(line, sizeof line, "%s0x%" PRIx64 ": 0x%0*" PRIx64, space_prefix(space), addr,
                 (int)size * 2, result);
        if (!quiet)
            console_puts(line);
    }
    return ok;
}

static void do_access(bool write, unsigned space, uint64_t addr, unsigned size, uint64_t value)
{
    (void)guest_access(write, space, addr, size, &value, false);
}

static void kick_store(unsigned space, uint64_t addr, unsigned size, uint64_t value)
{
    do_access(true, space, addr, size, value);
}

static void stop_jobs(int id)
{
    pthread_mutex_lock(&g_guest_mtx);
    bool found = id == 0;
    for (int i = 0; i < njobs; i++) {
        if (id == 0 || jobs[i].id == id) {
            found = found || jobs[i].active;
            jobs[i].active = false;
        }
    }
    pthread_mutex_unlock(&g_guest_mtx);
    if (!found)
        qlog(QL_QVM_WARN, "guest: stop: no running job 'job%d'", id);
}

/* `fill` and `dump`: guest RAM only. */
static void ram_fill_dump(const struct gcmd *c)
{
    bool fill = c->op == G_FILL;
    uint64_t len = c->ms;
    uint8_t *m = ram_ptr(c->addr, len);
    if (m == NULL) {
        qlog(QL_QVM_ERR, "guest %s of %" PRIu64 " byte(s) at 0x%" PRIx64 ": not inside one guest RAM region "
             "(option 'ram'): bus error", fill ? "fill" : "dump", len, c->addr);
        return;
    }
    if (fill) {
        memset(m, (int)c->value, (size_t)len);
        qlog(QL_QVM_VERBOSE, "guest fill 0x%" PRIx64 "/%" PRIu64 " = 0x%02x -> RAM", c->addr, len, (unsigned)c->value);
        return;
    }
    for (uint64_t off = 0; off < len; off += 16) {
        char line[128];
        int n = snprintf(line, sizeof line, "dump 0x%" PRIx64 ":", c->addr + off);
        for (uint64_t k = off; k < len && k < off + 16; k++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %02x", m[k]);
        console_puts(line);
    }
}

/* What a command asks of its stream after it ran. */
struct after {
    uint64_t sleep_ms;
    int wait_irq;               /* -1: none */
    uint64_t timeout_ms;
    bool has_timeout;
};

static void irq_line(int irq, bool timeout, uint64_t count)
{
    char line[128];
    snprintf(line, sizeof line, "irq %s %scount=%" PRIu64, intr_name(irq), timeout ? "timeout " : "", count);
    console_puts(line);
}

/* Runs one command on the vCPU thread (g_guest_mtx not held). */
static void execute(struct gcmd *c, struct after *af)
{
    af->sleep_ms = 0;
    af->wait_irq = -1;
    switch (c->op) {
    case G_FILL:
    case G_DUMP:
        ram_fill_dump(c);
        break;
    case G_IRQ_WAIT:
        af->wait_irq = c->irq;
        af->has_timeout = c->has_timeout;
        af->timeout_ms = c->ms;
        break;
    case G_IRQ_COUNT: {
        pthread_mutex_lock(&g_guest_mtx);
        uint64_t n = intr_count(c->irq);
        pthread_mutex_unlock(&g_guest_mtx);
        irq_line(c->irq, false, n);
        break;
    }
    case G_IRQ_ACK:
        pthread_mutex_lock(&g_guest_mtx);
        intr_set_seen(c->irq, intr_count(c->irq));
        pthread_mutex_unlock(&g_guest_mtx);
        break;
    case G_WRITE:
        do_access(true, c->space, c->addr, c->size, c->value);
        break;
    case G_READ:
        do_access(false, c->space, c->addr, c->size, 0);
        break;
    case G_SLEEP:
        af->sleep_ms = c->ms;
        break;
    case G_EVERY: {
        /* Only this thread changes jobs and njobs, but guest_status() reads
         * them: the new array is allocated before g_guest_mtx is taken (an
         * out-of-memory end takes it) and replaces the old one under it. */
        struct job *nj = xcalloc((size_t)njobs + 1, sizeof *nj), *old;
        pthread_mutex_lock(&g_guest_mtx);
        if (njobs > 0)
            memcpy(nj, jobs, sizeof *nj * (size_t)njobs);
        old = jobs;
        jobs = nj;
        struct job *j = &jobs[njobs++];
        j->id = njobs;
        j->active = true;
        j->period_ns = c->ms * 1000000ull;
        j->next = now_ns() + j->period_ns;
        j->cmd = c->sub;
        int id = j->id;
        pthread_mutex_unlock(&g_guest_mtx);
        free(old);
        qlog(QL_QVM_DEBUG, "guest: job%d started: every %" PRIu64 " ms: %s", id, c->ms, c->sub->src);
        break;
    }
    case G_STOP:
        stop_jobs(c->job);
        break;
    case G_KICK:
        kick_run(c, kick_store);    /* guest_kick.c */
        break;
    case G_PRINT:
        console_puts(c->text);
        break;
    case G_VIRTIO:
        gvirtio_run(c);
        break;
    case G_ON_BUTTON: {
        /* Only this thread reads button_cmds (guest_button() reads nbutton):
         * it grows before g_guest_mtx is taken (an out-of-memory end takes it). */
        struct gcmd **nb = xreallocarray(button_cmds, (size_t)nbutton + 1, sizeof *nb);
        pthread_mutex_lock(&g_guest_mtx);
        button_cmds = nb;
        button_cmds[nbutton++] = c->sub;
        pthread_mutex_unlock(&g_guest_mtx);
        qlog(QL_QVM_DEBUG, "guest: power button handler %d: %s", nbutton, c->sub->src);
        break;
    }
    case G_IGNORE_BUTTON:
        pthread_mutex_lock(&g_guest_mtx);
        ignore_button = true;
        pthread_mutex_unlock(&g_guest_mtx);
        qlog(QL_QVM_DEBUG, "guest: ignores the power button from now on");
        break;
    case G_SHUTDOWN:
        if (c->text != NULL) {
            qlog(QL_QVM_INFO, "guest shuts down (%s)", c->text);
            end_guest(GTC_NORMAL_EXIT, "guest shutdown after the power button");
        }
        qlog(QL_QVM_INFO, "guest requested shutdown");
        end_guest(GTC_NORMAL_EXIT, "guest shutdown");
    case G_REBOOT:
        qlog(QL_QVM_INFO, "guest requested reboot (qvm exits 0: restart request)");
        end_guest(GTC_NORMAL_EXIT, "guest reboot");
    case G_CRASH:
        pthread_mutex_lock(&g_guest_mtx);
        crashed = true;
        pthread_mutex_unlock(&g_guest_mtx);
        qlog(QL_QVM_INFO, "guest crashed: the guest CPU stopped (no more loads or stores)");
        break;
    }
}

/* The two command streams (script, console) can each be blocked in `irq
 * wait`; the wait ends when the interrupt is pending (its count is above
 * the count the guest last acknowledged) or at the deadline. */
struct stream_wait {
    int irq;                    /* -1: not waiting */
    uint64_t deadline;          /* UINT64_MAX: no timeout */
};
static struct stream_wait script_w = { -1, 0 }, console_w = { -1, 0 };

/* When a stream may go on (g_guest_mtx held): now if its interrupt is
 * pending, else its deadline. */
static uint64_t wait_ready_at(const struct stream_wait *w, uint64_t now)
{
    if (intr_count(w->irq) > intr_seen(w->irq))
        return now;
    return w->deadline;
}

bool guest_stopping(void)
{
    pthread_mutex_lock(&g_guest_mtx);
    bool s = g_stopping;
    pthread_mutex_unlock(&g_guest_mtx);
    return s;
}

static void *vcpu_thread(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&g_guest_mtx);
    for (;;) {
        if (g_stopping)
            break;
        if (crashed) {
            pthread_cond_wait(&g_guest_cv, &g_guest_mtx);
            continue;
        }
        uint64_t now = now_ns();
        uint64_t best = UINT64_MAX;
        int kind = 0;               /* 1 script, 2 console, 3 job, 4 script wait, 5 console wait, 6 button */
        struct job *bj = NULL;
        if (script_w.irq >= 0) {
            uint64_t t = wait_ready_at(&script_w, now);
            if (t < best || (t == UINT64_MAX && kind == 0)) {
                best = t;
                kind = 4;
            }
        } else if (script != NULL && script_pc < script->n && script_wake < best) {
            best = script_wake;
            kind = 1;
        }
        if (console_w.irq >= 0) {
            uint64_t t = wait_ready_at(&console_w, now);
            if (t < best || (t == UINT64_MAX && kind == 0)) {
                best = t;
                kind = 5;
            }
        } else if (console_head != NULL && console_wake < best) {
            best = console_wake;
            kind = 2;
        }
        for (int i = 0; i < njobs; i++) {
            if (jobs[i].active && jobs[i].next < best) {
                best = jobs[i].next;
                kind = 3;
                bj = &jobs[i];
            }
        }
        if (button_pc >= 0 && button_wake < best) {
            best = button_wake;
            kind = 6;
        }
        if (kind == 0 || best == UINT64_MAX) {
            pthread_cond_wait(&g_guest_cv, &g_guest_mtx);
            continue;
        }
        if (best > now) {
            struct timespec ts = { .tv_sec = (time_t)(best / 1000000000ull), .tv_nsec = (long)(best % 1000000000ull) };
            pthread_cond_timedwait(&g_guest_cv, &g_guest_mtx, &ts);
            continue;
        }
        if (kind == 4 || kind == 5) {       /* an `irq wait` ends */
            struct stream_wait *w = kind == 4 ? &script_w : &console_w;
            int irq = w->irq;
            uint64_t count = intr_count(irq);
            bool timeout = count <= intr_seen(irq);
            if (!timeout)
                intr_set_seen(irq, count);
            w->irq = -1;
            if (kind == 4)
                script_wake = now;
            else
                console_wake = now;
            pthread_mutex_unlock(&g_guest_mtx);
            irq_line(irq, timeout, count);
            pthread_mutex_lock(&g_guest_mtx);
            if (kind == 4 && script_pc == script->n)
                qlog(QL_QVM_DEBUG, "guest script %s finished: the guest idles", script->path);
            continue;
        }
        struct gcmd *c;
        struct console_item *ci = NULL;
        if (kind == 6) {
            if (button_pc < button_n) {
                c = button_cmds[button_pc++];
            } else if (button_off) {
                c = &button_shutdown;
            } else {
                button_pc = -1;         /* handlers done; the guest goes on */
                continue;
            }
        } else if (kind == 1) {
            c = &script->cmds[script_pc++];
        } else if (kind == 2) {
            ci = console_head;
            console_head = ci->next;
            if (console_head == NULL)
                console_tail = NULL;
            ci->next = console_done;
            console_done = ci;
            c = &ci->cmd;
        } else {
            c = bj->cmd;
            bj->next += bj->period_ns;
            if (bj->next <= now)
                bj->next = now + bj->period_ns;     /* fell behind: no burst */
        }
        busy++;
        t_busy = 1;
        pthread_mutex_unlock(&g_guest_mtx);
        struct after af;
        execute(c, &af);
        pthread_mutex_lock(&g_guest_mtx);
        busy--;
        t_busy = 0;
        pthread_cond_broadcast(&g_guest_cv);
        uint64_t after = now_ns();
        if (kind == 1)
            script_wake = after + af.sleep_ms * 1000000ull;
        else if (kind == 2)
            console_wake = after + af.sleep_ms * 1000000ull;
        else if (kind == 6)
            button_wake = after + af.sleep_ms * 1000000ull;
        if (af.wait_irq >= 0 && (kind == 1 || kind == 2)) {
            struct stream_wait *w = kind == 1 ? &script_w : &console_w;
            w->irq = af.wait_irq;
            w->deadline = af.has_timeout ? after + af.timeout_ms * 1000000ull : UINT64_MAX;
            continue;
        }
        if (kind == 1 && script_pc == script->n)
            qlog(QL_QVM_DEBUG, "guest script %s finished: the guest idles", script->path);
        (void)ci;   /* console commands are kept: jobs may point into them */
    }
    pthread_mutex_unlock(&g_guest_mtx);
    return NULL;
}

static void console_push(const char *line)
{
    struct console_item *ci = xcalloc(1, sizeof *ci);
    char err[512];
    int rc = gcmd_parse(line, &ci->cmd, err, sizeof err);
    if (rc <= 0) {
        free(ci);
        if (rc < 0)
            qlog(QL_QVM_ERR, "guest console: %s", err);
        return;
    }
    pthread_mutex_lock(&g_guest_mtx);
    if (console_tail != NULL)
        console_tail->next = ci;
    else
        console_head = ci;
    console_tail = ci;
    if (crashed)
        qlog(QL_QVM_DEBUG, "guest console: '%s' ignored: the guest has crashed", ci->cmd.src);
    pthread_cond_broadcast(&g_guest_cv);
    pthread_mutex_unlock(&g_guest_mtx);
}

static void *console_thread(void *unused)
{
    (void)unused;
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', len)) != NULL) {
            *nl = '\0';
            console_push(buf);
            size_t used = (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len - used);
            len -= used;
        }
        if (len == sizeof buf - 1) {
            buf[len] = '\0';
            console_push(buf);
            len = 0;
        }
    }
    if (len > 0) {
        buf[len] = '\0';
        console_push(buf);
    }
    qlog(QL_QVM_DEBUG, "guest console: end of input (not a shutdown: the guest keeps running)");
    return NULL;
}

void guest_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_guest_cv, &ca);
    pthread_condattr_destroy(&ca);
}

void guest_start(struct script *s)
{
    script = s;
    script_wake = console_wake = now_ns();
    start_thread(vcpu_thread, "qvm-vcpu0", "vCPU thread", QVMSIM_EXIT_FATAL_AFTER_START);
    pthread_t tid;
    if (pthread_create(&tid, NULL, console_thread, NULL) == 0) {
        pthread_setname_np(tid, "qvm-console");
        pthread_detach(tid);
    }
}

/* SIGTERM/SIGINT (main thread): 1 = the guest will shut down, 0 = it ignores
 * the button (handlers, if any, still run), -1 = it has crashed. */
int guest_button(void)
{
    pthread_mutex_lock(&g_guest_mtx);
    if (crashed) {
        pthread_mutex_unlock(&g_guest_mtx);
        return -1;
    }
    button_pc = 0;
    button_n = nbutton;
    button_off = !ignore_button;
    button_wake = now_ns();
    int n = nbutton;
    bool off = button_off;
    pthread_cond_broadcast(&g_guest_cv);
    pthread_mutex_unlock(&g_guest_mtx);
    if (n > 0)
        qlog(QL_QVM_INFO, "guest: power button: running %d 'on button' command(s)%s", n,
             off ? ", then shutting down" : "");
    return off ? 1 : 0;
}

void guest_status(void)
{
    pthread_mutex_lock(&g_guest_mtx);
    int active = 0;
    for (int i = 0; i < njobs; i++)
        active += jobs[i].active;
    int pc = script_pc, n = script ? script->n : 0;
    bool cr = crashed;
    pthread_mutex_unlock(&g_guest_mtx);
    uint64_t last = atomic_load(&g_last_store_ns);
    char since[64];
    format_since(since, sizeof since, last, now_ns());
    qlog(QL_QVM_INFO, "status: guest %s, script line %d of %d, %d periodic job(s) running, "
         "%" PRIu64 " store(s), %" PRIu64 " load(s), since_last_store=%s, %d vdev(s)",
         cr ? "crashed" : "running", pc, n, active, (uint64_t)atomic_load(&n_stores),
         (uint64_t)atomic_load(&n_loads), since, g_nvdevs);
}

#ifdef QVMSIM_FUZZ
/* ---- fuzz/harness.c: the guest's accesses, driven by the fuzzer ---------- */

void guest_fuzz_access(bool write, unsigned space, uint64_t addr, unsigned size, uint64_t value)
{
    do_access(write, space, addr, size, value);
}

/* A fresh guest for the next input (qvm's guest_stop() of the last one undone). */
void guest_fuzz_reset(void)
{
    pthread_mutex_lock(&g_guest_mtx);
    g_stopping = false;
    busy = 0;
    crashed = false;
    pthread_mutex_unlock(&g_guest_mtx);
}
#endif

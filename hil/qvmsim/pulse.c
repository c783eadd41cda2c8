/*
 * pulse.c - vdev_pulse() and qvmsim_pulse_deliver(): qvmsim's stand-in for
 * QNX pulses.
 *
 * vdev_pulse() fills the caller's struct sigevent with SIGEV_NONE (harmless
 * if it ever reaches a POSIX call) and a sigev_value that points to a
 * registration qvmsim keeps for the life of qvm (vdev, code, priority).
 * qvmsim_pulse_deliver() looks the registration up (an event not made by
 * vdev_pulse() is refused with EINVAL, never dereferenced), queues it and
 * returns at once; the pulse thread "qvm-pulses" then calls the factory's
 * pulse callback under the vdev's mutex rules (VFF_MUTEX), in delivery
 * order, with pulse.code = the code given to vdev_pulse().  A delivery
 * before the guest starts waits in the queue; after the guest stopped it is
 * dropped.
 */
#include "qvmsim.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/neutrino.h>

#define PULSE_MAGIC 0x70756c7365716d76ull   /* "pulseqmv" */

struct pulse_reg {
    uint64_t magic;
    vdev_t *vdp;
    int8_t code;
    int priority;
    struct pulse_reg *next;
};

struct pulse_item {
    struct pulse_reg *reg;
    struct pulse_item *next;
};

static pthread_mutex_t pmtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pcv = PTHREAD_COND_INITIALIZER;
static struct pulse_reg *regs;
static struct pulse_item *qhead, *qtail;
static bool running;

void vdev_pulse(vdev_t *vdp, const int8_t code, int priority, struct sigevent *event, const int coid)
{
    (void)coid;
    if (event == NULL)
        return;
    memset(event, 0, sizeof *event);
    event->sigev_notify = SIGEV_NONE;
    if (vdp == NULL)
        vdp = t_cur_vdev;
    if (vdp == NULL) {
        qlog(QL_QVM_ERR, "vdev_pulse() without a vdev: the event will be refused by qvmsim_pulse_deliver()");
        return;
    }
    struct pulse_reg *r = calloc(1, sizeof *r);
    if (r == NULL) {            /* not xcalloc: vdev_pulse() has no error return, the delivery is refused */
        qlog(QL_QVM_ERR, "vdev '%s': vdev_pulse(): out of memory", vdev_source(vdp));
        return;
    }
    r->magic = PULSE_MAGIC;
    r->vdp = vdp;
    r->code = code;
    r->priority = priority;
    pthread_mutex_lock(&pmtx);
    r->next = regs;
    regs = r;
    pthread_mutex_unlock(&pmtx);
    event->sigev_value.sival_ptr = r;
    qlog(QL_QVM_DEBUG, "vdev '%s': pulse event set up (code %d, priority %d)", vdev_source(vdp), code, priority);
}

int qvmsim_pulse_deliver(const struct sigevent *event)
{
    if (event == NULL)
        return EINVAL;
    struct pulse_reg *want = event->sigev_value.sival_ptr, *r;
    struct pulse_item *it = malloc(sizeof *it);
    if (it == NULL)             /* not xmalloc: the vdev gets ENOMEM */
        return ENOMEM;
    pthread_mutex_lock(&pmtx);
    for (r = regs; r != NULL && r != want; r = r->next)
        ;
    if (r == NULL || r->magic != PULSE_MAGIC) {
        pthread_mutex_unlock(&pmtx);
        free(it);
        return EINVAL;      /* not an event made by vdev_pulse() */
    }
    it->reg = r;
    it->next = NULL;
    if (qtail != NULL)
        qtail->next = it;
    else
        qhead = it;
    qtail = it;
    pthread_cond_signal(&pcv);
    pthread_mutex_unlock(&pmtx);
    return EOK;
}

static void *pulse_thread(void *unused)
{
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&pmtx);
        while (qhead == NULL)
            pthread_cond_wait(&pcv, &pmtx);
        struct pulse_item *it = qhead;
        qhead = it->next;
        if (qhead == NULL)
            qtail = NULL;
        pthread_mutex_unlock(&pmtx);
        struct pulse_reg *r = it->reg;
        free(it);
        if (!worker_enter())
            continue;       /* the guest stopped: dropped */
        vdev_t *v = r->vdp;
        const struct vdev_factory *f = v->qvmsim_private->factory;
        if (f->pulse == NULL) {
            qlog(QL_QVM_WARN, "vdev '%s': pulse code %d delivered but its factory has no pulse callback: dropped",
                 vdev_source(v), r->code);
        } else {
            struct _pulse p;
            memset(&p, 0, sizeof p);
            p.code = r->code;
            qlog(QL_QVM_DEBUG, "pulse code %d -> vdev '%s'", r->code, vdev_source(v));
            vdev_t *sv;
            pthread_mutex_t *sm;
            vd_enter(v, &sv, &sm);
            int rc = f->pulse(v, &p);
            vd_leave(v, sv, sm);
            if (rc != EOK)
                qlog(QL_QVM_WARN, "vdev '%s': pulse callback returned %d for code %d (ignored)",
                     vdev_source(v), rc, r->code);
        }
        worker_leave();
    }
    return NULL;
}

void pulse_start(void)
{
    pthread_mutex_lock(&pmtx);
    bool was = running;
    running = true;
    pthread_mutex_unlock(&pmtx);
    if (was)
        return;
    start_thread(pulse_thread, "qvm-pulses", "pulse thread", QVMSIM_EXIT_FATAL_BEFORE_START);
}

/* QNX's call for delivering an event: the pulse events of vdev_pulse() reach
 * the vdev's pulse callback (qvmsim_pulse_deliver()); -1 and errno otherwise. */
int MsgDeliverEvent(int rcvid, const struct sigevent *event)
{
    (void)rcvid;
    int rc = qvmsim_pulse_deliver(event);
    if (rc != EOK) {
        errno = rc;
        return -1;
    }
    return 0;
}

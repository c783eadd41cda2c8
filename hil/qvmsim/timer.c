/*
 * timer.c - guest timers: one thread dispatching every vdev timer callback on
 * CLOCK_MONOTONIC with sub-millisecond accuracy.  Deadlines are nanoseconds.
 */
#include "qvmsim.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gtimer {
    bool used;
    bool armed;
    vdev_t *vdp;
    void *data;
    uint64_t due;           /* CLOCK_MONOTONIC ns */
    uint64_t gen;           /* bumped on every (re)arm */
};

static struct gtimer timers[QVMSIM_MAX_TIMERS];
static pthread_mutex_t tmtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tcv;
static bool tcv_ready;
static bool started;

/* A guest CPU for timer callbacks: no access in progress. */
struct guest_cpu;
extern struct guest_cpu *g_timer_cpu;

static void init_cv(void)
{
    if (tcv_ready)
        return;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tcv, &ca);
    pthread_condattr_destroy(&ca);
    tcv_ready = true;
}

int guest_timer_create(struct guest_cpu *gcp, vdev_t *vdp, void *data, uint64_t *resolution)
{
    (void)gcp;
    if (vdp == NULL)
        vdp = t_cur_vdev;
    if (vdp == NULL) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&tmtx);
    init_cv();
    int id = -1;
    for (int i = 0; i < QVMSIM_MAX_TIMERS; i++) {
        if (!timers[i].used) {
            id = i;
            break;
        }
    }
    if (id >= 0) {
        memset(&timers[id], 0, sizeof timers[id]);
        timers[id].used = true;
        timers[id].vdp = vdp;
        timers[id].data = data;
    }
    pthread_mutex_unlock(&tmtx);
    if (id < 0) {
        errno = EAGAIN;
        return -1;
    }
    if (resolution != NULL)
        *resolution = QVMSIM_TIMER_RESOLUTION_NS;
    return id;
}

int guest_timer_notify(int timer_id, const struct guest_timer_data *tdp, uint64_t deadline)
{
    if (timer_id < 0 || timer_id >= QVMSIM_MAX_TIMERS)
        return EINVAL;
    pthread_mutex_lock(&tmtx);
    struct gtimer *t = &timers[timer_id];
    if (!t->used) {
        pthread_mutex_unlock(&tmtx);
        return EINVAL;
    }
    t->gen++;
    if (tdp == NULL) {
        if (deadline == 0) {
            t->armed = false;
        } else {
            t->armed = true;
            t->due = now_ns() + deadline;
        }
    } else if (tdp->gtd_flags & GTD_ABSOLUTE) {
        t->armed = true;
        t->due = deadline;
    } else {
        t->armed = true;
        t->due = tdp->gtd_expiry + deadline;
    }
    pthread_cond_signal(&tcv);
    pthread_mutex_unlock(&tmtx);
    return EOK;
}

void timer_wake(void)
{
    pthread_mutex_lock(&tmtx);
    init_cv();
    pthread_cond_broadcast(&tcv);
    pthread_mutex_unlock(&tmtx);
}

static void *timer_thread(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&tmtx);
    for (;;) {
        pthread_mutex_lock(&g_guest_mtx);
        bool stop = g_stopping;
        pthread_mutex_unlock(&g_guest_mtx);
        if (stop)
            break;
        int next = -1;
        for (int i = 0; i < QVMSIM_MAX_TIMERS; i++) {
            if (timers[i].used && timers[i].armed && (next < 0 || timers[i].due < timers[next].due))
                next = i;
        }
        if (next < 0) {
            pthread_cond_wait(&tcv, &tmtx);
            continue;
        }
        uint64_t now = now_ns();
        if (timers[next].due > now) {
            struct timespec ts = {
                .tv_sec = (time_t)(timers[next].due / 1000000000ull),
                .tv_nsec = (long)(timers[next].due % 1000000000ull),
            };
            pthread_cond_timedwait(&tcv, &tmtx, &ts);
            continue;
        }
        struct gtimer *t = &timers[next];
        t->armed = false;
        uint64_t gen = t->gen;
        vdev_t *vdp = t->vdp;
        void *data = t->data;
        struct guest_timer_data td = { .gtd_expiry = t->due, .gtd_now = now, .gtd_flags = 0, .gtd_reserved = 0 };
        pthread_mutex_unlock(&tmtx);

        if (!worker_enter()) {
            pthread_mutex_lock(&tmtx);
            break;
        }
        vdev_t *sv;
        pthread_mutex_t *sm;
        vd_enter(vdp, &sv, &sm);
        pthread_mutex_lock(&tmtx);
        bool stale = t->gen != gen;     /* re-armed while we waited for v_mtx */
        pthread_mutex_unlock(&tmtx);
        if (!stale && vdp->v_qvmsim->factory->timer != NULL)
            vdp->v_qvmsim->factory->timer(vdp, data, &td, g_timer_cpu);
        vd_leave(vdp, sv, sm);
        worker_leave();
        pthread_mutex_lock(&tmtx);
    }
    pthread_mutex_unlock(&tmtx);
    return NULL;
}

void timer_start(void)
{
    pthread_mutex_lock(&tmtx);
    init_cv();
    bool was = started;
    started = true;
    pthread_mutex_unlock(&tmtx);
    if (was)
        return;
    pthread_t tid;
    if (pthread_create(&tid, NULL, timer_thread, NULL) != 0) {
        qlog(QL_QVM_FATAL, "cannot create the guest timer thread");
        qvmsim_end(QVMSIM_EXIT_FATAL_BEFORE_START);
    }
    pthread_setname_np(tid, "qvm-timers");
    pthread_detach(tid);
}

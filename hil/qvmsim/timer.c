/*
 * timer.c - guest timers: one thread dispatching every vdev timer callback on
 * CLOCK_MONOTONIC with sub-millisecond accuracy.  Deadlines are ticks of the
 * guest timer, g_timer_hz per second (QVMSIM_TIMER_HZ in qvm's environment,
 * a target's `[qvm] timer_hz`; default QVMSIM_TIMER_FREQUENCY_HZ, 1 GHz:
 * nanoseconds).  qvmsim has one counter, CLOCK_MONOTONIC scaled to that rate
 * (a tick of a 19.2 MHz timer is 52.08 ns): guest time, the host_* times of
 * struct guest_timer_data and ClockCycles() (<sys/neutrino.h>) all read it, as
 * an ARM board's generic timer serves both.
 *
 * The tdp handed to a callback lives in the timer itself (valid until that
 * timer's next expiry); guest_timer_notify() with it (or with a byte-for-byte
 * copy of it) arms the next expiry `deadline` after the due time of the one
 * handled, so a recurring timer does not drift.  Another tdp counts from its
 * guest_current.  guest_notify_start is when the wait began: the notify()
 * call for a relative or absolute deadline, the previous due time for a
 * recurring one.
 */
#include "qvmsim.h"

#include <stdlib.h>
#include <string.h>
#include <sys/neutrino.h>
#include <sys/syspage.h>
#include <time.h>

/* A guest timer (struct guest_timer is opaque to vdevs). */
struct guest_timer {
    bool used;
    bool armed;
    vdev_t *vdp;
    void *data;
    uint64_t due;           /* guest time (ticks) */
    uint64_t armed_at;      /* start of the wait (guest ticks): notify() time, or the previous due */
    uint64_t gen;           /* bumped on every (re)arm */
    uint64_t cb_due;        /* due time of the last expiry handed to the callback */
    struct guest_timer_data cb_td;  /* the tdp of the last callback (stable storage) */
    bool cb_valid;
};

static struct guest_timer timers[QVMSIM_MAX_TIMERS];
static pthread_mutex_t tmtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tcv;
static bool tcv_ready;
static bool started;
uint64_t g_timer_hz = QVMSIM_TIMER_FREQUENCY_HZ;

/* ns -> guest ticks (floor) and guest ticks -> ns (ceiling: never early). */
static uint64_t ns_to_ticks(uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * g_timer_hz / 1000000000u);
}

static uint64_t ticks_to_ns(uint64_t ticks)
{
    unsigned __int128 ns = ((unsigned __int128)ticks * 1000000000u + g_timer_hz - 1) / g_timer_hz;
    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

uint64_t guest_now_ticks(void)
{
    return ns_to_ticks(now_ns());
}

uint64_t ClockCycles(void)
{
    return guest_now_ticks();
}

const struct qtime_entry *_qvmsim_syspage_qtime(void)
{
    static struct qtime_entry qtime;
    qtime.cycles_per_sec = g_timer_hz;      /* set before any vdev code runs */
    return &qtime;
}

/* A guest CPU for timer callbacks: no access in progress. */

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

struct guest_timer *guest_timer_create(const struct guest_cpu *gcp, const vdev_t *vdp,
                                       const void *data, uint64_t *resolutionp)
{
    (void)gcp;
    if (vdp == NULL)
        vdp = t_cur_vdev;
    if (vdp == NULL) {
        if (resolutionp != NULL)
            *resolutionp = EINVAL;
        return NULL;
    }
    pthread_mutex_lock(&tmtx);
    init_cv();
    struct guest_timer *t = NULL;
    for (int i = 0; i < QVMSIM_MAX_TIMERS && t == NULL; i++) {
        if (!timers[i].used)
            t = &timers[i];
    }
    if (t != NULL) {
        memset(t, 0, sizeof *t);
        t->used = true;
        t->vdp = (vdev_t *)vdp;
        t->data = (void *)data;
    }
    pthread_mutex_unlock(&tmtx);
    if (t == NULL) {
        qlog(QL_QVM_ERR, "vdev '%s': guest_timer_create(): all %d guest timers are in use",
             vdev_source(vdp), QVMSIM_MAX_TIMERS);
        if (resolutionp != NULL)
            *resolutionp = EAGAIN;
        return NULL;
    }
    if (resolutionp != NULL)
        *resolutionp = g_timer_hz;
    return t;
}

static bool valid_timer(const struct guest_timer *t)
{
    return t != NULL && t >= &timers[0] && t < &timers[QVMSIM_MAX_TIMERS] &&
           (size_t)((const char *)t - (const char *)&timers[0]) % sizeof timers[0] == 0;
}

int guest_timer_notify(struct guest_timer *t, const struct guest_timer_data *tdp, uint64_t deadline)
{
    if (!valid_timer(t))
        return EINVAL;
    uint64_t now = guest_now_ticks();
    pthread_mutex_lock(&tmtx);
    if (!t->used) {
        pthread_mutex_unlock(&tmtx);
        return EINVAL;
    }
    t->gen++;
    if (tdp == NULL) {                          /* relative to now */
        t->armed = deadline != 0;
        t->armed_at = now;
        t->due = now + deadline;
    } else if (tdp == GUEST_TIMER_ABSOLUTE) {   /* at guest time `deadline` */
        t->armed = true;
        t->armed_at = now;
        t->due = deadline;
    } else {                                    /* recurring: after the expiry being handled */
        uint64_t base;
        if (t->cb_valid && (tdp == &t->cb_td || memcmp(tdp, &t->cb_td, sizeof *tdp) == 0))
            base = t->cb_due;                   /* no drift */
        else
            base = tdp->guest_current;          /* not this timer's tdp: from its "now" */
        t->armed = deadline != 0;
        t->armed_at = base;
        t->due = base + deadline;
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
        uint64_t due_ns = ticks_to_ns(timers[next].due);
        if (due_ns > now) {
            struct timespec ts = {
                .tv_sec = (time_t)(due_ns / 1000000000ull),
                .tv_nsec = (long)(due_ns % 1000000000ull),
            };
            pthread_cond_timedwait(&tcv, &tmtx, &ts);
            continue;
        }
        struct guest_timer *t = &timers[next];
        t->armed = false;
        uint64_t gen = t->gen;
        vdev_t *vdp = t->vdp;
        void *data = t->data;
        uint64_t due = t->due, armed_at = t->armed_at;
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
        if (!stale) {
            uint64_t cur = now_ns();
            t->cb_due = due;
            /* one counter: ClockCycles() (host_*) and guest time both read it */
            t->cb_td.host_notify_start = armed_at;
            t->cb_td.guest_notify_start = armed_at;
            t->cb_td.host_current = ns_to_ticks(cur);
            t->cb_td.guest_current = ns_to_ticks(cur);
            t->cb_valid = true;
        }
        pthread_mutex_unlock(&tmtx);
        if (!stale && vdp->qvmsim_private->factory->timer != NULL)
            vdp->qvmsim_private->factory->timer(vdp, data, &t->cb_td, g_timer_cpu);
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
    start_thread(timer_thread, "qvm-timers", "guest timer thread", QVMSIM_EXIT_FATAL_BEFORE_START);
}

#ifdef QVMSIM_FUZZ
/* ---- fuzz/harness.c: timers on its virtual clock, fired on its thread --- */

/* The due time (now_ns() time) of the earliest armed timer, or UINT64_MAX. */
uint64_t timer_fuzz_next_due(void)
{
    uint64_t best = UINT64_MAX;
    pthread_mutex_lock(&tmtx);
    for (int i = 0; i < QVMSIM_MAX_TIMERS; i++) {
        if (timers[i].used && timers[i].armed && ticks_to_ns(timers[i].due) < best)
            best = ticks_to_ns(timers[i].due);
    }
    pthread_mutex_unlock(&tmtx);
    return best;
}

/* Fires the earliest timer due at or before now_ns() as the timer thread
 * does (its callback on this thread).  Returns false if none is due. */
bool timer_fuzz_fire_one(void)
{
    pthread_mutex_lock(&tmtx);
    int next = -1;
    for (int i = 0; i < QVMSIM_MAX_TIMERS; i++) {
        if (timers[i].used && timers[i].armed && (next < 0 || timers[i].due < timers[next].due))
            next = i;
    }
    uint64_t now = now_ns();
    if (next < 0 || ticks_to_ns(timers[next].due) > now) {
        pthread_mutex_unlock(&tmtx);
        return false;
    }
    struct guest_timer *t = &timers[next];
    t->armed = false;
    vdev_t *vdp = t->vdp;
    void *data = t->data;
    t->cb_due = t->due;
    t->cb_td.host_notify_start = t->armed_at;
    t->cb_td.guest_notify_start = t->armed_at;
    t->cb_td.host_current = ns_to_ticks(now);
    t->cb_td.guest_current = ns_to_ticks(now);
    t->cb_valid = true;
    pthread_mutex_unlock(&tmtx);
    vdev_t *sv;
    pthread_mutex_t *sm;
    vd_enter(vdp, &sv, &sm);
    if (vdp->qvmsim_private->factory->timer != NULL)
        vdp->qvmsim_private->factory->timer(vdp, data, &t->cb_td, g_timer_cpu);
    vd_leave(vdp, sv, sm);
    return true;
}

/* No timers: the next input's vdevs create their own. */
void timer_fuzz_reset(void)
{
    pthread_mutex_lock(&tmtx);
    init_cv();
    memset(timers, 0, sizeof timers);
    pthread_mutex_unlock(&tmtx);
}
#endif

/*
 * qvm/guest.h - the guest as a vdev sees it: termination, guest CPU and
 * memory accesses, guest timers and guest interrupts.
 *
 * Our own text, written from the names and signatures of QNX's public 8.0
 * Virtual Device Developer's API Reference; no QNX header or sample is copied.
 * -DQVMSIM_PORTABLE hides every name QNX does not document (see qvm/types.h).
 */
#ifndef QVM_GUEST_H
#define QVM_GUEST_H

#include <qvm/vdev-core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* qvm exports exactly the functions its public headers declare (it is built
 * with -fvisibility=hidden; see hil/qvmsim/BEHAVIOUR.md) */
#pragma GCC visibility push(default)

/* ---- termination ------------------------------------------------------- */

/* Why the guest ended; becomes qvm's exit status.  System causes are
 * GTC_NORMAL_EXIT .. GTC_CUSTOM_MIN - 1, a vdev's own GTC_CUSTOM_MIN .. GTC_MAX. */
typedef int guest_termination_cause_t;
#define GTC_NORMAL_EXIT _QVMSIM_GTC_NORMAL_EXIT
#define GTC_CUSTOM_MIN  _QVMSIM_GTC_CUSTOM_MIN
#define GTC_MAX         _QVMSIM_GTC_MAX
/* The watchdog cause: the page "Terminating qvm process instances and guests"
 * of QNX 8.0's Virtual Device Developer's Guide shows the watchdog vdevs'
 * wdog_bite() calling guest_terminate(GTC_WATCHDOG). */
#define GTC_WATCHDOG    _QVMSIM_GTC_WATCHDOG
#ifndef QVMSIM_PORTABLE
/* qvmsim's names for the documented exit statuses 3, 5, 6, 7 (QNX documents
 * the statuses, not these names). */
#define GTC_POWER_CUT   _QVMSIM_GTC_POWER_CUT
#define GTC_UNSUPPORTED _QVMSIM_GTC_UNSUPPORTED
#define GTC_VDEV_ERROR  _QVMSIM_GTC_VDEV_ERROR
#define GTC_UNEXPECTED  _QVMSIM_GTC_UNEXPECTED
#else
#define GTC_POWER_CUT _QVMSIM_NOT_PORTABLE("GTC_POWER_CUT is qvmsim's own, refused by portable mode: QNX documents the exit status, not this name: end with guest_terminate(GTC_CUSTOM_MIN + n) or GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#define GTC_UNSUPPORTED _QVMSIM_NOT_PORTABLE("GTC_UNSUPPORTED is qvmsim's own, refused by portable mode: QNX documents the exit status, not this name: end with guest_terminate(GTC_CUSTOM_MIN + n) or GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#define GTC_VDEV_ERROR _QVMSIM_NOT_PORTABLE("GTC_VDEV_ERROR is qvmsim's own, refused by portable mode: QNX documents the exit status, not this name: end with guest_terminate(GTC_CUSTOM_MIN + n) or GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#define GTC_UNEXPECTED _QVMSIM_NOT_PORTABLE("GTC_UNEXPECTED is qvmsim's own, refused by portable mode: QNX documents the exit status, not this name: end with guest_terminate(GTC_CUSTOM_MIN + n) or GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#endif

/* Ends the guest and qvm (VDEV_CTRL_TERMINATE is still delivered); from
 * VDEV_CTRL_GUEST_STARTING on, this is how a vdev reports a fault. */
QVM_NORETURN void guest_terminate(guest_termination_cause_t cause);

/* ---- guest CPU and memory accesses -------------------------------------- */

/* Flags of guest_cpu_read()/guest_cpu_write() (8.0 type; values [7.x]). */
typedef unsigned guest_cpu_access_flags_t;
#define GXF_NONE    0x00u
#define GXF_PAUSE   0x01u
#define GXF_UNPAUSE 0x02u
#define GXF_ASYNC   0x04u
#define GXF_GDB     0x08u
#define GXF_FLUSH   0x10u

/* Read (guest_cpu_read) or write (guest_cpu_write) guest state described by
 * `nblks` state blocks, `data_len` bytes in all (little-endian):
 *  - gcp != NULL, a QST_CPUREGS block: the CPU side of the access being
 *    emulated (the `oopnd` of vread/vwrite): read fetches the value a guest
 *    store writes, write supplies the value a guest load returns;
 *  - gcp == NULL, QST_MEMORY blocks: the guest's address space (guest RAM
 *    given with the `ram` option).
 * Returns EOK, an errno value, or -1 when the access must raise an exception
 * in the guest (see guest_cpu_to_vrs()). */
int guest_cpu_read(struct guest_cpu *gcp, guest_cpu_access_flags_t flags,
                   const struct qvm_state_block *blk, unsigned nblks,
                   void *data, size_t data_len);
int guest_cpu_write(struct guest_cpu *gcp, guest_cpu_access_flags_t flags,
                    const struct qvm_state_block *blk, unsigned nblks,
                    const void *data, size_t data_len);

/* ---- guest timers ------------------------------------------------------- */

/* A guest timer (opaque). */
struct guest_timer;

/* Handed to the vdev's timer callback.  host_* come from the host's clock
 * (ClockCycles() on QNX), guest_* from the guest's timeline; qvmsim: both
 * are ticks of the guest timer (CLOCK_MONOTONIC, the clock of its log
 * timestamps, scaled to the rate guest_timer_create() reports). */
struct guest_timer_data {
    uint64_t host_notify_start;     /* when the wait began, host time        */
    uint64_t host_current;          /* now, host time                        */
    uint64_t guest_notify_start;    /* when the wait began, guest time       */
    uint64_t guest_current;         /* now, guest time                       */
};

/* Creates a timer whose expiries call the factory's timer callback with
 * `data`.  On success *resolutionp (if not NULL) receives the timer's clock
 * frequency in ticks per second: convert with it, it is not always 1e9
 * (qvmsim: the target's `[qvm] timer_hz`, default 1000000000; an ARM board's
 * generic timer: tens of MHz); on failure NULL is returned and *resolutionp
 * receives the errno value. */
struct guest_timer *guest_timer_create(const struct guest_cpu *gcp, const vdev_t *vdp,
                                       const void *data, uint64_t *resolutionp);

/* The `tdp` of guest_timer_notify() for an absolute deadline. */
#define GUEST_TIMER_ABSOLUTE ((const struct guest_timer_data *)_QVMSIM_GUEST_TIMER_ABSOLUTE)

/* Arms (or re-arms: replaces a pending expiry) a timer, `deadline` in ticks:
 *   tdp == NULL:                  one-shot, or the first expiry of a
 *                                 recurring timer: `deadline` from now
 *                                 (qvmsim: deadline 0 disarms);
 *   tdp == GUEST_TIMER_ABSOLUTE:  at guest time `deadline`;
 *   tdp from the timer callback:  the next expiry of a recurring timer,
 *                                 `deadline` after the one being handled
 *                                 (no drift).
 * Returns EOK or an errno value. */
int guest_timer_notify(struct guest_timer *vtp, const struct guest_timer_data *tdp,
                       uint64_t deadline);

/* ---- guest interrupts ---------------------------------------------------- */

/* Asserts (GIS_ON) or de-asserts (GIS_OFF) the interrupt `gip` (usually
 * &vdp->v_intr).  Returns EOK or an errno value (EINVAL: no `intr` given). */
errno_t guest_intr_signal(guest_intr_t *gip, guest_intr_state_t gis);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* QVM_GUEST_H */

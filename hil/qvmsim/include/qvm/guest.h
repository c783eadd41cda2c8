/*
 * qvm/guest.h - guest termination, guest timers and guest CPU data
 * (qvmsim's own text).
 */
#ifndef QVM_GUEST_H
#define QVM_GUEST_H

#include <qvm/vdev-core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Why the guest ended; becomes qvm's exit status. */
typedef int guest_termination_cause_t;
#define GTC_NORMAL_EXIT QVMSIM_GTC_NORMAL_EXIT
#define GTC_POWER_CUT   QVMSIM_GTC_POWER_CUT    /* [qvmsim] name */
#define GTC_WATCHDOG    QVMSIM_GTC_WATCHDOG
#define GTC_UNSUPPORTED QVMSIM_GTC_UNSUPPORTED  /* [qvmsim] name */
#define GTC_VDEV_ERROR  QVMSIM_GTC_VDEV_ERROR   /* [qvmsim] name */
#define GTC_UNEXPECTED  QVMSIM_GTC_UNEXPECTED   /* [qvmsim] name */
#define GTC_CUSTOM_MIN  QVMSIM_GTC_CUSTOM_MIN   /* a vdev's own causes: */
#define GTC_MAX         QVMSIM_GTC_MAX          /* GTC_CUSTOM_MIN .. GTC_MAX */

/* Ends the guest and qvm (VDEV_CTRL_TERMINATE is still delivered); from
 * VDEV_CTRL_GUEST_STARTING on, this is how a vdev reports a fault. */
QVM_NORETURN void guest_terminate(guest_termination_cause_t cause);

/* Handed to the vdev's timer callback.  All times are nanoseconds on
 * CLOCK_MONOTONIC.  [qvmsim] field names. */
struct guest_timer_data {
    uint64_t gtd_expiry;    /* when this expiry was due                      */
    uint64_t gtd_now;       /* when the callback was entered                 */
    unsigned gtd_flags;     /* GTD_ABSOLUTE (set it yourself, see below)     */
    unsigned gtd_reserved;
};
#define GTD_ABSOLUTE QVMSIM_GTD_ABSOLUTE

/* Creates a timer whose expiries call the factory's timer callback with
 * `data`.  *resolution (if not NULL) receives the resolution in ns.
 * Returns a timer id >= 0, or -1 with errno set. */
int guest_timer_create(struct guest_cpu *gcp, vdev_t *vdp, void *data, uint64_t *resolution);

/* Arms (or re-arms: replaces any pending expiry) a timer.  DEADLINES ARE IN
 * NANOSECONDS:
 *   tdp == NULL:                  one-shot, `deadline` ns from now
 *                                 (deadline 0: disarm);
 *   tdp from the timer callback:  `deadline` ns after tdp->gtd_expiry
 *                                 (periodic, without drift);
 *   tdp with GTD_ABSOLUTE set:    at CLOCK_MONOTONIC time `deadline`.
 * Returns EOK or an errno. */
int guest_timer_notify(int timer_id, const struct guest_timer_data *tdp, uint64_t deadline);

/* The CPU side of an access (the `oopnd` of vread/vwrite, of type
 * QST_CPU_DATA): guest_cpu_read() fetches the value a guest store writes,
 * guest_cpu_write() supplies the value a guest load returns (little-endian,
 * min(buflen, blk->length) bytes).  [inferred] signatures.  Returns EOK or an
 * errno (EINVAL outside an access; guest RAM is not modelled: ENOTSUP). */
int guest_cpu_read(struct guest_cpu *gcp, unsigned flags, const struct qvm_state_block *blk,
                   unsigned nblks, void *buf, unsigned buflen);
int guest_cpu_write(struct guest_cpu *gcp, unsigned flags, const struct qvm_state_block *blk,
                    unsigned nblks, const void *buf, unsigned buflen);

#ifdef __cplusplus
}
#endif

#endif /* QVM_GUEST_H */

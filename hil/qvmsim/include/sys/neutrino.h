/*
 * sys/neutrino.h - qvmsim's stand-in for the few QNX kernel calls real vdevs
 * use (hil/qvmsim/PORTING.md).  On QNX this header is the system's own; this
 * one is our text, written from the names and signatures of QNX's public
 * C Library Reference (no QNX header is copied), and holds only:
 *
 *   struct _pulse       what a vdev's pulse callback receives (qvm/vdev-core.h);
 *   _PULSE_CODE_MINAVAIL, _PULSE_CODE_MAXAVAIL   the codes a vdev may use
 *                       (0 .. 127 [inferred from the MsgSendPulse() page]);
 *   ClockCycles()       a free-running 64-bit counter.  qvmsim has one counter:
 *                       CLOCK_MONOTONIC scaled to the guest timer's rate (a
 *                       target's `[qvm] timer_hz`, default 1 GHz), so its rate
 *                       is SYSPAGE_ENTRY(qtime)->cycles_per_sec (<sys/syspage.h>)
 *                       and also the resolution guest_timer_create() reports,
 *                       as on an ARM board whose generic timer serves both;
 *   MsgDeliverEvent()   delivers an event; qvmsim delivers the pulse events
 *                       vdev_pulse() set up (the rcvid is ignored: a vdev's
 *                       pulses go to its own pulse callback) and refuses any
 *                       other with -1, errno EINVAL.
 *
 * Everything else of <sys/neutrino.h> (channels, MsgReceive(), interrupts,
 * ...) is not here: keep it behind `#ifdef __QNX__` (PORTING.md).
 * https://www.qnx.com/developers/docs/8.0/com.qnx.doc.neutrino.lib_ref/topic/c/clockcycles.html
 * https://www.qnx.com/developers/docs/8.0/com.qnx.doc.neutrino.lib_ref/topic/m/msgdeliverevent.html
 * https://www.qnx.com/developers/docs/8.0/com.qnx.doc.neutrino.lib_ref/topic/m/msgsendpulse.html
 */
#ifndef _QVMSIM_SYS_NEUTRINO_H
#define _QVMSIM_SYS_NEUTRINO_H

#include <signal.h>
#include <stdint.h>

#include <qvm/vdev-core.h>

#define _PULSE_CODE_MINAVAIL 0
#define _PULSE_CODE_MAXAVAIL 127

#ifdef __cplusplus
extern "C" {
#endif

/* qvm exports exactly the functions its public headers declare */
#pragma GCC visibility push(default)

/* The counter: ticks since an arbitrary origin (qvmsim: CLOCK_MONOTONIC at
 * SYSPAGE_ENTRY(qtime)->cycles_per_sec ticks per second). */
uint64_t ClockCycles(void);

/* Delivers `event` (one vdev_pulse() set up: the vdev's pulse callback runs on
 * qvmsim's pulse thread).  Returns 0, or -1 with errno set (EINVAL: not an
 * event of vdev_pulse(); ENOMEM). */
int MsgDeliverEvent(int rcvid, const struct sigevent *event);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* _QVMSIM_SYS_NEUTRINO_H */

/*
 * qvm/wdog.h - watchdog bites.
 *
 * Our own text, written from the names in QNX's public 8.0 Virtual Device
 * Developer's API Reference (wdog_bite()); no QNX header or sample is copied.
 */
#ifndef QVM_WDOG_H
#define QVM_WDOG_H

#include <qvm/vdev-core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* qvm exports exactly the functions its public headers declare (it is built
 * with -fvisibility=hidden; see hil/qvmsim/BEHAVIOUR.md) */
#pragma GCC visibility push(default)

#define WDOG_ACTION_TERMINATE _QVMSIM_WDOG_ACTION_TERMINATE  /* end the guest: exit 4     */
#define WDOG_ACTION_INTR      _QVMSIM_WDOG_ACTION_INTR       /* raise the vdev's interrupt
                                                               (vdp->v_intr)             */
#define WDOG_FLAG_DUMP        _QVMSIM_WDOG_FLAG_DUMP         /* OR'ed in: guest dump first
                                                               (needs the VM's `dump`)   */

/* The state of a watchdog; a zeroed struct with only ws_action set is valid. */
struct wdog_state {
    unsigned ws_action;                 /* WDOG_ACTION_* | WDOG_FLAG_DUMP            */
    unsigned _QVMSIM_EXT(ws_reserved);
    vdev_t *_QVMSIM_EXT(ws_vdp);         /* [qvmsim] NULL: the vdev whose callback runs */
};

/* Carries out the bite chosen by wds->ws_action.  Does not return for
 * WDOG_ACTION_TERMINATE; returns after raising the interrupt for
 * WDOG_ACTION_INTR. */
void wdog_bite(struct wdog_state *wds);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* QVM_WDOG_H */

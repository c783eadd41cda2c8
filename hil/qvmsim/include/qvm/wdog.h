/*
 * qvm/wdog.h - watchdog bites (qvmsim's own text).
 */
#ifndef QVM_WDOG_H
#define QVM_WDOG_H

#include <qvm/vdev-core.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WDOG_ACTION_TERMINATE QVMSIM_WDOG_ACTION_TERMINATE  /* guest_terminate(GTC_WATCHDOG) */
#define WDOG_ACTION_INTR      QVMSIM_WDOG_ACTION_INTR       /* raise the vdev's interrupt    */
#define WDOG_FLAG_DUMP        QVMSIM_WDOG_FLAG_DUMP         /* OR'ed in: guest dump first
                                                               (needs the VM's `dump`)       */

/* A zeroed struct with only ws_action set is valid. */
struct wdog_state {
    unsigned ws_action;         /* WDOG_ACTION_* | WDOG_FLAG_DUMP            */
    unsigned ws_reserved;
    vdev_t *ws_vdp;             /* [qvmsim] NULL: the vdev whose callback runs */
};

/* Carries out the bite chosen by ws->ws_action.  Does not return for
 * WDOG_ACTION_TERMINATE; returns after raising the interrupt for
 * WDOG_ACTION_INTR. */
void wdog_bite(struct wdog_state *ws);

#ifdef __cplusplus
}
#endif

#endif /* QVM_WDOG_H */

/*
 * qvm/vdev.h - everything a vdev needs: the core API and types, logging,
 * the guest (termination, accesses, timers, interrupts), guest memory
 * mappings and watchdog bites.  Our own text.
 */
#ifndef QVM_VDEV_H
#define QVM_VDEV_H

#include <qvm/types.h>
#include <qvm/vdev-core.h>
#include <qvm/log.h>
#include <qvm/guest.h>
#include <qvm/gasp.h>
#include <qvm/wdog.h>

#endif /* QVM_VDEV_H */

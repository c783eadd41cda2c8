/*
 * qvm/vdev.h - everything a vdev needs (qvmsim's own text): the core API,
 * logging, guest termination and timers, watchdog bites.
 */
#ifndef QVM_VDEV_H
#define QVM_VDEV_H

#include <qvm/vdev-core.h>
#include <qvm/log.h>
#include <qvm/guest.h>
#include <qvm/wdog.h>

#endif /* QVM_VDEV_H */

/*
 * sys/syspage.h - qvmsim's stand-in for the one system page entry real vdevs
 * read: SYSPAGE_ENTRY(qtime)->cycles_per_sec, the rate of ClockCycles()
 * (<sys/neutrino.h>).  Our own text, from QNX's public C Library Reference
 * (no QNX header is copied); the rest of QNX's system page is not here: keep
 * it behind `#ifdef __QNX__` (hil/qvmsim/PORTING.md).
 * https://www.qnx.com/developers/docs/8.0/com.qnx.doc.neutrino.lib_ref/topic/s/syspage_entry.html
 */
#ifndef _QVMSIM_SYS_SYSPAGE_H
#define _QVMSIM_SYS_SYSPAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The time entry: only the member qvmsim fills. */
struct qtime_entry {
    uint64_t cycles_per_sec;        /* ClockCycles() ticks per second */
};

/* SYSPAGE_ENTRY(qtime): the entry (qvmsim knows only qtime). */
#define SYSPAGE_ENTRY(entry) (_qvmsim_syspage_##entry())

#pragma GCC visibility push(default)
const struct qtime_entry *_qvmsim_syspage_qtime(void);
#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* _QVMSIM_SYS_SYSPAGE_H */

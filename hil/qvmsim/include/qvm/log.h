/*
 * qvm/log.h - logging, status reports and fatal errors for vdevs.
 *
 * Our own text, written from the names and signatures of QNX's public 8.0
 * Virtual Device Developer's API Reference; no QNX header or sample is copied.
 * -DQVMSIM_PORTABLE hides every name QNX does not document (see qvm/types.h).
 */
#ifndef QVM_LOG_H
#define QVM_LOG_H

#include <qvm/vdev-core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* qvm exports exactly the functions its public headers declare (it is built
 * with -fvisibility=hidden; see hil/qvmsim/BEHAVIOUR.md) */
#pragma GCC visibility push(default)

/* Log levels.  QNX documents the QL_QVM_* and QL_CNF_* families; the names
 * QL_QVM_INFO, QL_QVM_ERR and QL_QVM_DBG are public.  The logger filter
 * words are fatal, internal, error, warn, info, debug, verbose. */
typedef int qvm_log_level_t;
#define QL_QVM_ERR      _QVMSIM_QL_ERR
#define QL_QVM_INFO     _QVMSIM_QL_INFO
#define QL_QVM_DBG      _QVMSIM_QL_DEBUG
#ifndef QVMSIM_PORTABLE
/* qvmsim's names for the other levels (real qvm's spellings are not public). */
#define QL_QVM_FATAL    _QVMSIM_QL_FATAL
#define QL_QVM_INTERNAL _QVMSIM_QL_INTERNAL
#define QL_QVM_WARN     _QVMSIM_QL_WARN
#define QL_QVM_DEBUG    _QVMSIM_QL_DEBUG
#define QL_QVM_VERBOSE  _QVMSIM_QL_VERBOSE
#define QL_CNF_FATAL    (_QVMSIM_QL_CNF_FLAG | _QVMSIM_QL_FATAL)
#define QL_CNF_INTERNAL (_QVMSIM_QL_CNF_FLAG | _QVMSIM_QL_INTERNAL)
#define QL_CNF_ERR      (_QVMSIM_QL_CNF_FLAG | _QVMSIM_QL_ERR)
#define QL_CNF_WARN     (_QVMSIM_QL_CNF_FLAG | _QVMSIM_QL_WARN)
#define QL_CNF_INFO     (_QVMSIM_QL_CNF_FLAG | _QVMSIM_QL_INFO)
#define QL_CNF_DEBUG    (_QVMSIM_QL_CNF_FLAG | _QVMSIM_QL_DEBUG)
#define QL_CNF_DBG      QL_CNF_DEBUG
#define QL_CNF_VERBOSE  (_QVMSIM_QL_CNF_FLAG | _QVMSIM_QL_VERBOSE)
#else
#define QL_QVM_FATAL _QVMSIM_NOT_PORTABLE("QL_QVM_FATAL is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_QVM_INTERNAL _QVMSIM_NOT_PORTABLE("QL_QVM_INTERNAL is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_QVM_WARN _QVMSIM_NOT_PORTABLE("QL_QVM_WARN is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_QVM_DEBUG _QVMSIM_NOT_PORTABLE("QL_QVM_DEBUG is qvmsim's own, refused by portable mode: QNX spells it QL_QVM_DBG (hil/qvmsim/PORTING.md)")
#define QL_QVM_VERBOSE _QVMSIM_NOT_PORTABLE("QL_QVM_VERBOSE is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_CNF_FATAL _QVMSIM_NOT_PORTABLE("QL_CNF_FATAL is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_CNF_INTERNAL _QVMSIM_NOT_PORTABLE("QL_CNF_INTERNAL is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_CNF_ERR _QVMSIM_NOT_PORTABLE("QL_CNF_ERR is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_CNF_WARN _QVMSIM_NOT_PORTABLE("QL_CNF_WARN is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_CNF_INFO _QVMSIM_NOT_PORTABLE("QL_CNF_INFO is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_CNF_DEBUG _QVMSIM_NOT_PORTABLE("QL_CNF_DEBUG is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_CNF_DBG _QVMSIM_NOT_PORTABLE("QL_CNF_DBG is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#define QL_CNF_VERBOSE _QVMSIM_NOT_PORTABLE("QL_CNF_VERBOSE is qvmsim's own, refused by portable mode: QNX 8.0 documents QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG only (hil/qvmsim/PORTING.md)")
#endif

/* Source of a fatal error: QLS_CNF, the configuration (exit 65). */
typedef unsigned qvm_log_source_t;
#define QLS_CNF _QVMSIM_QLS_CNF
#ifndef QVMSIM_PORTABLE
#define QLS_VDEV     _QVMSIM_QLS_VDEV      /* a vdev's own fault: 64 / 96 */
#define QLS_INTERNAL _QVMSIM_QLS_INTERNAL  /* qvm itself: 64 / 96         */
#else
#define QLS_VDEV _QVMSIM_NOT_PORTABLE("QLS_VDEV is qvmsim's own, refused by portable mode: QNX 8.0 documents QLS_CNF only; a vdev's fault once the guest runs is guest_terminate() (hil/qvmsim/PORTING.md)")
#define QLS_INTERNAL _QVMSIM_NOT_PORTABLE("QLS_INTERNAL is qvmsim's own, refused by portable mode: QNX 8.0 documents QLS_CNF only; a vdev's fault once the guest runs is guest_terminate() (hil/qvmsim/PORTING.md)")
#endif

/* One log line tagged with the vdev instance (vdp may be NULL: then the vdev
 * whose callback is running, else "qvm").  Returns. */
void vdev_logf(qvm_log_level_t level, vdev_t const *vdp, char const *fmt, ...)
    QVM_PRINTF_LIKE(3, 4);

/* Logs at FATAL and ends qvm: QLS_CNF -> 65 and other sources -> 64 before
 * the guest started; 96 once it has. */
QVM_NORETURN void qvm_fatal(qvm_log_source_t source, char const *fmt, ...)
    QVM_PRINTF_LIKE(2, 3);

/* The answer to VDEV_CTRL_STATUS: one INFO line from the calling vdev
 * (SIGUSR1), or a line of the dump (SIGUSR2). */
void qvm_report(char const *fmt, ...) QVM_PRINTF_LIKE(1, 2);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* QVM_LOG_H */

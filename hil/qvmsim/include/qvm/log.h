/*
 * qvm/log.h - logging and fatal errors for vdevs (qvmsim's own text).
 */
#ifndef QVM_LOG_H
#define QVM_LOG_H

#include <qvm/vdev-core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels; the logger filter words are fatal, internal, error, warn, info,
 * debug, verbose.  QL_CNF_* are the same levels for configuration messages. */
typedef int qvm_log_level_t;
#define QL_QVM_FATAL    QVMSIM_QL_FATAL
#define QL_QVM_INTERNAL QVMSIM_QL_INTERNAL
#define QL_QVM_ERR      QVMSIM_QL_ERR
#define QL_QVM_WARN     QVMSIM_QL_WARN
#define QL_QVM_INFO     QVMSIM_QL_INFO
#define QL_QVM_DEBUG    QVMSIM_QL_DEBUG
#define QL_QVM_VERBOSE  QVMSIM_QL_VERBOSE
#define QL_CNF_FATAL    (QVMSIM_QL_CNF_FLAG | QVMSIM_QL_FATAL)
#define QL_CNF_INTERNAL (QVMSIM_QL_CNF_FLAG | QVMSIM_QL_INTERNAL)
#define QL_CNF_ERR      (QVMSIM_QL_CNF_FLAG | QVMSIM_QL_ERR)
#define QL_CNF_WARN     (QVMSIM_QL_CNF_FLAG | QVMSIM_QL_WARN)
#define QL_CNF_INFO     (QVMSIM_QL_CNF_FLAG | QVMSIM_QL_INFO)
#define QL_CNF_DEBUG    (QVMSIM_QL_CNF_FLAG | QVMSIM_QL_DEBUG)
#define QL_CNF_VERBOSE  (QVMSIM_QL_CNF_FLAG | QVMSIM_QL_VERBOSE)

/* Source of a fatal error (QLS_CNF, and qvmsim's QLS_VDEV, QLS_INTERNAL). */
typedef unsigned qvm_log_source_t;

/* One log line tagged with the vdev instance (vdp may be NULL: then the vdev
 * whose callback is running, else "qvm").  Returns. */
void vdev_logf(qvm_log_level_t level, vdev_t const *vdp, char const *fmt, ...)
    QVM_PRINTF_LIKE(3, 4);

/* Logs at FATAL and ends qvm: QLS_CNF -> 65 and other sources -> 64 before
 * the guest started; 96 once it has. */
QVM_NORETURN void qvm_fatal(qvm_log_source_t source, char const *fmt, ...)
    QVM_PRINTF_LIKE(2, 3);

/* The answer to VDEV_CTRL_STATUS: one INFO line from the calling vdev. */
void qvm_report(char const *fmt, ...) QVM_PRINTF_LIKE(1, 2);

#ifdef __cplusplus
}
#endif

#endif /* QVM_LOG_H */

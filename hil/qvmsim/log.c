/*
 * log.c - qvmsim's logger: one line per message,
 *   "<sec>.<usec> <LEVEL> <source>: <message>"
 * on CLOCK_MONOTONIC, routed by the VM-wide `logger` options (they add up:
 * a level goes to every destination whose logger names it), or by a vdev's
 * own `log` options (each level to the rightmost `log` naming it).
 *
 * The `slog` destination (and internal errors, always) is qvmsim's stand-in for
 * QNX's slog2: records appended to a buffer-set file $QVMSIM_SLOG2_DIR/qvm.<pid>
 * (default /tmp/slog2, like slogger2's /dev/shmem/slogger2/ on QNX), one line
 * each: "<realtime sec>.<usec>\t<slog2 severity>\t<buffer>\t<pid>\t<message>"
 * with \\, \n and \t escaped.  The image's /usr/bin/slog2info (tools/slog2info.c)
 * prints them in slog2info's format.
 */
#include "qvmsim.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct log_route g_route = { .to = { [DEST_STDERR] = LOG_DEFAULT_FILTER } };

/* SIGUSR2: qvm_report() text from the main thread goes into the dump. */
static FILE *report_sink;

static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;
static int slog_fd = -1;        /* the slog2-style buffer file, opened at the first record */
static bool slog_failed;

static const char *const level_names[] = {
    "FATAL", "INTERNAL", "ERROR", "WARN", "INFO", "DEBUG", "VERBOSE",
};
static const char *const filter_words[] = {
    "fatal", "internal", "error", "warn", "info", "debug", "verbose",
};
/* slog2 severities (slog2.h, documented on the slogger2 page): SHUTDOWN 0, CRITICAL 1,
 * ERROR 2, WARNING 3, NOTICE 4, INFO 5, DEBUG1 6, DEBUG2 7. */
static const int slog2_severity[] = { 1, 2, 2, 3, 5, 6, 7 };

#ifdef QVMSIM_FUZZ
/* fuzz/harness.c (QVMSIM_FUZZ builds only): its virtual clock; 0 = the real one. */
uint64_t qvmsim_fuzz_clock;
#endif

uint64_t now_ns(void)
{
#ifdef QVMSIM_FUZZ
    if (qvmsim_fuzz_clock != 0)
        return qvmsim_fuzz_clock;
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void format_since(char *buf, size_t len, uint64_t last_ns, uint64_t now)
{
    if (last_ns == 0) {
        snprintf(buf, len, "none");
        return;
    }
    uint64_t d = now - last_ns;
    snprintf(buf, len, "%" PRIu64 ".%06" PRIu64, (uint64_t)(d / 1000000000u), (uint64_t)(d % 1000000000u / 1000u));
}

void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;         /* closed console/log: nothing sensible to do */
        }
        buf += n;
        len -= (size_t)n;
    }
}

void console_puts(const char *line)
{
#ifdef QVMSIM_FUZZ
    if (qvmsim_fuzz_clock != 0)     /* the fuzzed guest's console is not read */
        return;
#endif
    size_t len = strlen(line);
    char buf[4200];
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    memcpy(buf, line, len);
    buf[len++] = '\n';
    pthread_mutex_lock(&log_mtx);
    write_all(STDOUT_FILENO, buf, len);
    pthread_mutex_unlock(&log_mtx);
}

/* The destinations' words, indexed by enum log_dest. */
static const char *const dest_words[] = {
    [DEST_NONE] = "none", [DEST_STDOUT] = "stdout", [DEST_STDERR] = "stderr", [DEST_SLOG] = "slog",
};

int log_parse_dest(const char *word)
{
    for (int i = 0; i < (int)(sizeof dest_words / sizeof dest_words[0]); i++) {
        if (strcmp(word, dest_words[i]) == 0)
            return i;
    }
    return -1;
}

const char *log_dest_word(size_t i)
{
    return i < sizeof dest_words / sizeof dest_words[0] ? dest_words[i] : NULL;
}

const char *log_filter_word(size_t i)
{
    return i < sizeof filter_words / sizeof filter_words[0] ? filter_words[i] : NULL;
}

/* "info,error,warn" -> mask; on error bad and badlen name the bad word.
 * "warning" is "warn": the vdev `log` page spells it so, the logger page not. */
int log_parse_filters(const char *word, unsigned *mask, const char **bad, size_t *badlen)
{
    unsigned m = 0;
    const char *p = word;
    for (;;) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < (int)(sizeof filter_words / sizeof filter_words[0]); i++) {
            if (strlen(filter_words[i]) == len && strncmp(p, filter_words[i], len) == 0)
                found = i;
        }
        if (len == 7 && strncmp(p, "warning", 7) == 0)
            found = QL_QVM_WARN;
        if (found < 0) {
            *bad = p;
            *badlen = len;
            return -1;
        }
        m |= 1u << found;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *mask = m;
    return 0;
}

/* One record in the slog2-style buffer (caller holds log_mtx). */
static void slog_record(int level, const char *source, const char *msg)
{
    if (slog_fd < 0) {
        if (slog_failed)
            return;
        const char *dir = getenv("QVMSIM_SLOG2_DIR");
        if (dir == NULL || *dir == '\0')
            dir = "/tmp/slog2";
        if (mkdir(dir, 01777) == 0)
            chmod(dir, 01777);
        char path[4096];
        snprintf(path, sizeof path, "%s/qvm.%ld", dir, (long)getpid());
        slog_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (slog_fd < 0) {
            slog_failed = true;
            return;
        }
    }
    char rec[8400];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(rec, sizeof rec, "%lld.%06ld\t%d\tqvm\t%ld\t%s %s: ", (long long)ts.tv_sec,
                     ts.tv_nsec / 1000, slog2_severity[level], (long)getpid(), level_names[level], source);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof rec - 3 ? (size_t)n : sizeof rec - 3;
    size_t mlen = strlen(msg);
    while (mlen > 0 && (msg[mlen - 1] == '\n' || msg[mlen - 1] == '\r'))
        mlen--;             /* the record's own newline ends it */
    for (size_t i = 0; i < mlen && len < sizeof rec - 3; i++) {
        char c = msg[i];
        if (c == '\\' || c == '\n' || c == '\t') {
            rec[len++] = '\\';
            rec[len++] = c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
        } else if (c != '\r') {
            rec[len++] = c;
        }
    }
    rec[len++] = '\n';
    write_all(slog_fd, rec, len);
}

static void emit(int level, const char *source, const struct log_route *route, const char *msg)
{
    char line[4608];
    uint64_t t = now_ns();
    int n = snprintf(line, sizeof line, "%llu.%06llu %s %s: ",
                     (unsigned long long)(t / 1000000000ull),
                     (unsigned long long)(t % 1000000000ull / 1000ull),
                     level_names[level], source);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    size_t mlen = strlen(msg);
    while (mlen > 0 && (msg[mlen - 1] == '\n' || msg[mlen - 1] == '\r'))
        mlen--;
    for (size_t i = 0; i < mlen && len < sizeof line - 3; i++) {
        if (msg[i] == '\n') {
            line[len++] = '\\';
            line[len++] = 'n';
        } else if (msg[i] == '\r') {
            continue;
        } else {
            line[len++] = msg[i];
        }
    }
    line[len++] = '\n';

    bool to_slog = false;
    pthread_mutex_lock(&log_mtx);
    unsigned bit = 1u << level;
    if (route->to[DEST_STDOUT] & bit)
        write_all(STDOUT_FILENO, line, len);
    if (route->to[DEST_STDERR] & bit)
        write_all(STDERR_FILENO, line, len);
    if (route->to[DEST_SLOG] & bit)
        to_slog = true;
    if (level == QL_QVM_INTERNAL)       /* internal errors always reach slog too */
        to_slog = true;
    if (to_slog)
        slog_record(level, source, msg);
    pthread_mutex_unlock(&log_mtx);
}

void qlog_v(int level, vdev_t const *vdp, const char *fmt, va_list ap)
{
    char msg[4096];
    level &= 0xff;
    if (level < QL_QVM_FATAL || level > QL_QVM_VERBOSE)
        level = QL_QVM_INFO;
    vsnprintf(msg, sizeof msg, fmt, ap);
    const struct log_route *route = &g_route;
    const char *source = "qvm";
    if (vdp != NULL) {
        source = vdev_source(vdp);
        if (vdp->qvmsim_private != NULL && vdp->qvmsim_private->has_route)
            route = &vdp->qvmsim_private->route;
    }
    emit(level, source, route, msg);
}

void qlog(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qlog_v(level, NULL, fmt, ap);
    va_end(ap);
}

void qlog_from(int level, vdev_t const *vdp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qlog_v(level, vdp, fmt, ap);
    va_end(ap);
}

/* ---- the public API ---------------------------------------------------- */

void vdev_logf(qvm_log_level_t level, vdev_t const *vdp, char const *fmt, ...)
{
    va_list ap;
    if (vdp == NULL)
        vdp = t_cur_vdev;
    va_start(ap, fmt);
    qlog_v(level, vdp, fmt, ap);
    va_end(ap);
}

void log_report_to(FILE *sink)
{
    report_sink = sink;
}

/* SIGUSR1: logged at INFO; SIGUSR2: a line "<vdev>: <text>" in the dump [doc: qvm_report]. */
void qvm_report(char const *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (report_sink != NULL && pthread_equal(pthread_self(), g_main_thread)) {
        fprintf(report_sink, "%s: ", t_cur_vdev ? vdev_source(t_cur_vdev) : "qvm");
        vfprintf(report_sink, fmt, ap);
        fputc('\n', report_sink);
    } else {
        qlog_v(QL_QVM_INFO, t_cur_vdev, fmt, ap);
    }
    va_end(ap);
}

void qvm_fatal(qvm_log_source_t source, char const *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qlog_v(QL_QVM_FATAL, t_cur_vdev, fmt, ap);
    va_end(ap);
    if (t_cur_vdev != NULL && t_cur_ctrl >= 0 && t_cur_vdev->qvmsim_private != NULL) {
        const struct qvmsim_vdev_private *p = t_cur_vdev->qvmsim_private;
        if (t_cur_ctrl >= (int)VDEV_CTRL_FIRST_OPTIDX) {
            int idx = t_cur_ctrl - (int)VDEV_CTRL_FIRST_OPTIDX;
            const char *name = p->factory != NULL && p->factory->option_list != NULL ? p->factory->option_list[idx] : NULL;
            size_t pl = strlen(QVM_OPTION_NO_ARG_PREFIX);
            if (name != NULL && strncmp(name, QVM_OPTION_NO_ARG_PREFIX, pl) == 0)
                name += pl;
            qlog(QL_QVM_ERR, "%s:%d: vdev '%s' called qvm_fatal() in option '%s' (index %d)", p->file, p->line,
                 vdev_source(t_cur_vdev), name != NULL ? name : "?", idx);
        } else
            qlog(QL_QVM_ERR, "%s:%d: vdev '%s' called qvm_fatal() in %s", p->file, p->line,
                 vdev_source(t_cur_vdev), ctrl_name((unsigned)t_cur_ctrl));
    }
    int status;
    if (atomic_load(&g_phase) >= PHASE_STARTED)
        status = QVMSIM_EXIT_FATAL_AFTER_START;
    else if (source == QLS_CNF)
        status = QVMSIM_EXIT_FATAL_CONFIG;
    else
        status = QVMSIM_EXIT_FATAL_BEFORE_START;
    qvmsim_end(status);
}

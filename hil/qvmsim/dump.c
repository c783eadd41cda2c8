/*
 * dump.c - guest dumps (the `dump` option, SIGUSR2) and watchdog bites
 * (wdog_bite).  Split from main.c (issue 26).
 */
#include "qvmsim.h"
#include "lifecycle.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t dump_mtx = PTHREAD_MUTEX_INITIALIZER;

/* ---- dumps and watchdog bites ------------------------------------------- */

/* The dump file [doc 8.0 vm/dump.html]: <dir>/<prefix>-YYYYMMDD-hhmmss.gcore,
 * prefix = the `system` name or "qvm-guest", the host's local date and time;
 * if taken, -1 ... -9 before ".gcore"; if all are taken, no dump.  Created
 * with O_EXCL, so two dumps in one second never overwrite each other. */
static FILE *open_dump_file(char *path, size_t len, const char *why)
{
    pthread_mutex_lock(&dump_mtx);
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    const char *prefix = g_system_name ? g_system_name : "qvm-guest";
    int fd = -1;
    for (int n = 0; n <= 9 && fd < 0; n++) {
        if (n == 0)
            snprintf(path, len, "%s/%s-%s.gcore", g_dump_dir, prefix, stamp);
        else
            snprintf(path, len, "%s/%s-%s-%d.gcore", g_dump_dir, prefix, stamp, n);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) {
            qlog(QL_QVM_ERR, "guest dump (%s): cannot create %s: %s: no dump written", why, path, strerror(errno));
            pthread_mutex_unlock(&dump_mtx);
            return NULL;
        }
    }
    pthread_mutex_unlock(&dump_mtx);
    if (fd < 0) {
        qlog(QL_QVM_ERR, "guest dump (%s): %s/%s-%s.gcore and its -1 to -9 variants all exist: no dump written",
             why, g_dump_dir, prefix, stamp);
        return NULL;
    }
    return fdopen(fd, "w");
}

static void *dump_reaper(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
        qlog(QL_QVM_WARN, "guest dump command '%s' exited with status %d", g_flags.dump_pipe, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        qlog(QL_QVM_WARN, "guest dump command '%s' was killed by signal %d", g_flags.dump_pipe, WTERMSIG(st));
    return NULL;
}

/* `dump "|COMMAND"`: /bin/sh -c COMMAND with the dump on its stdin [doc]. */
static FILE *open_dump_pipe(const char *why)
{
    int fds[2];
    if (pipe(fds) != 0) {
        qlog(QL_QVM_ERR, "guest dump (%s): pipe: %s: no dump written", why, strerror(errno));
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        qlog(QL_QVM_ERR, "guest dump (%s): fork: %s: no dump written", why, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fds[0], STDIN_FILENO);
        close(fds[0]);
        close(fds[1]);
        pthread_sigmask(SIG_UNBLOCK, &g_life.handled, NULL);
        execl("/bin/sh", "sh", "-c", g_flags.dump_pipe, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pthread_t tid;
    if (pthread_create(&tid, NULL, dump_reaper, (void *)(intptr_t)pid) == 0)
        pthread_detach(tid);
    return fdopen(fds[1], "w");
}

/* Writes one dump (text: qvmsim has no guest CPU or memory to put in an
 * ELF64 core); reports = the qvm_report text of SIGUSR2's STATUS round. */
static void dump_write(const char *why, const char *reports)
{
    char path[4300];
    FILE *f = g_flags.dump_pipe ? open_dump_pipe(why) : open_dump_file(path, sizeof path, why);
    if (f == NULL)
        return;
    uint64_t now = now_ns(), last = atomic_load(&g_last_store_ns);
    fprintf(f, "qvmsim guest dump (text, not QNX's ELF64 core: qvmsim has no guest CPU or memory)\n");
    fprintf(f, "reason: %s\nsystem: %s\npid: %d\ntime_ns: %" PRIu64 "\n", why,
            g_system_name ? g_system_name : "", (int)getpid(), now);
    if (last != 0)
        fprintf(f, "since_last_store_ns: %" PRIu64 "\n", now - last);
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        fprintf(f, "vdev %s (%s): ", vdev_source(v), v->qvmsim_private->vdev_name);
        if (v->v_block.location == QSL_NO_LOCATION)
            fprintf(f, "no loc");
        else
            fprintf(f, "%s0x%" PRIx64 ",0x%" PRIx64, v->v_block.qst_type == QST_X86_IO ? "io:" : "",
                    v->v_block.location, v->v_block.length);
        fprintf(f, " intr %s\n", v->qvmsim_private->intr_text ? v->qvmsim_private->intr_text : "none");
    }
    if (reports != NULL)
        fprintf(f, "qvm_report (VDEV_CTRL_STATUS):\n%s", reports);
    if (fclose(f) != 0)
        qlog(QL_QVM_ERR, "guest dump (%s): write failed: %s", why, strerror(errno));
    else if (g_flags.dump_pipe)
        qlog(QL_QVM_INFO, "guest dump piped to '%s' (%s)", g_flags.dump_pipe, why);
    else
        qlog(QL_QVM_INFO, "guest dump written: %s (%s)", path, why);
}

static bool dump_configured(const char *why)
{
    if (g_dump_dir == NULL && g_flags.dump_pipe == NULL) {
        qlog(QL_QVM_WARN, "guest dump requested (%s) but no 'dump' option is configured: no dump written", why);
        return false;
    }
    return true;
}

void qvmsim_dump(const char *why)
{
    if (dump_configured(why))
        dump_write(why, NULL);
}

/* SIGUSR2 [doc: dump, qvm_report]: VDEV_CTRL_STATUS to every vdev, their
 * qvm_report text into the dump. */
void dump_with_status(void)
{
    if (!dump_configured("SIGUSR2"))
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL) {            /* not xmalloc's fatal end: a missed dump is not worth the guest */
        qlog(QL_QVM_ERR, "SIGUSR2: no dump: cannot buffer the status text: %s", strerror(errno));
        return;
    }
    log_report_to(m);
    for (int i = 0; i < g_nvdevs; i++) {
        int rc = vd_control(g_vdevs[i], VDEV_CTRL_STATUS, NULL);
        if (rc != EOK)
            qlog(QL_QVM_WARN, "vdev '%s' refused VDEV_CTRL_STATUS: %s (errno %d)",
                 vdev_source(g_vdevs[i]), strerror(rc), rc);
    }
    log_report_to(NULL);
    fclose(m);
    dump_write("SIGUSR2", text);
    free(text);
}

void wdog_bite(struct wdog_state *ws)
{
    vdev_t *v = ws != NULL && ws->ws_vdp != NULL ? ws->ws_vdp : t_cur_vdev;
    const char *src = v ? vdev_source(v) : "?";
    unsigned action = ws ? ws->ws_action : 0;
    if (action & WDOG_FLAG_DUMP)
        qvmsim_dump("watchdog bite");
    switch (action & QVMSIM_WDOG_ACTION_MASK) {
    case WDOG_ACTION_INTR: {
        const char *intr = v != NULL ? v->qvmsim_private->intr_text : NULL;
        if (intr == NULL) {
            qlog(QL_QVM_ERR, "watchdog bite from vdev '%s' with WDOG_ACTION_INTR but the vdev has no 'intr' "
                 "option: no interrupt raised (give it e.g. 'intr gic:33')", src);
            return;
        }
        qlog(QL_QVM_INFO, "watchdog bite from vdev '%s': raising interrupt %s", src, intr);
        int rc = guest_intr_signal(&v->v_intr, GIS_ON);
        if (rc != EOK)
            qlog(QL_QVM_ERR, "watchdog bite from vdev '%s': raising interrupt %s failed: %s", src, intr, strerror(rc));
        return;
    }
    case WDOG_ACTION_TERMINATE:
        qlog(QL_QVM_INFO, "watchdog bite from vdev '%s': terminating the guest", src);
        break;
    default:
        qlog(QL_QVM_ERR, "wdog_bite from vdev '%s': unknown ws_action 0x%x: terminating the guest",
             src, action);
        break;
    }
    end_guest(GTC_WATCHDOG, "watchdog bite");
}

/*
 * end.c - every way qvmsim's qvm ends (a guest_terminate(), a vdev's exit(),
 * a configuration error, the signals): the one way out (exit_now), the
 * teardown (finish) and the VM's env file.  Split from main.c (issue 26).
 */
#include "qvmsim.h"
#include "lifecycle.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const unsigned char WAKE_END = 0xff;

/* ---- ending -------------------------------------------------------------- */

static const char *gtc_name(int cause, char *buf, size_t len)
{
    switch (cause) {
    case GTC_NORMAL_EXIT: return "GTC_NORMAL_EXIT";
    case GTC_POWER_CUT: return "GTC_POWER_CUT";
    case GTC_WATCHDOG: return "GTC_WATCHDOG";
    case GTC_UNSUPPORTED: return "GTC_UNSUPPORTED";
    case GTC_VDEV_ERROR: return "GTC_VDEV_ERROR";
    case GTC_UNEXPECTED: return "GTC_UNEXPECTED";
    default: break;
    }
    if (cause >= GTC_CUSTOM_MIN && cause <= GTC_MAX)
        snprintf(buf, len, "GTC_CUSTOM_MIN+%d", cause - GTC_CUSTOM_MIN);
    else
        snprintf(buf, len, "GTC_SYSTEM_%d", cause);
    return buf;
}

bool claim_end(int status)
{
    int expected = -1;
    return atomic_compare_exchange_strong(&g_end_status, &expected, status);
}

/* The one way out of qvm: remove the env file, log the exit status, flush
 * (coverage counters included), _exit. */
#ifdef QVMSIM_FUZZ
/* fuzz/harness.c: set while it runs one input; ends that input instead of qvm (never returns). */
void (*qvmsim_fuzz_exit_hook)(int status);
#endif

QVM_NORETURN void exit_now(int status)
{
#ifdef QVMSIM_FUZZ
    if (qvmsim_fuzz_exit_hook != NULL)
        qvmsim_fuzz_exit_hook(status);
#endif
    if (g_life.env_path[0] != '\0')
        unlink(g_life.env_path);
    qlog(QL_QVM_INFO, "exit status=%d", status);
    fflush(stdout);
    fflush(stderr);
    qvmsim_flush_at_exit();
    _exit(status);
}

/* Main thread only: stop the guest, VDEV_CTRL_TERMINATE to every vdev that
 * was started, log the exit status, exit. */
QVM_NORETURN void finish(void)
{
    int status = atomic_load(&g_end_status);
    atomic_store(&g_life.finish_ns, now_ns());
    atomic_store(&g_life.finishing, true);     /* from now on the signal thread bounds the teardown */
    guest_stop();
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        if (!v->qvmsim_private->started)
            continue;
        atomic_store(&g_life.step_ctrl, VDEV_CTRL_TERMINATE);
        atomic_store(&g_life.step_vdev, i);
        int rc = vd_control(v, VDEV_CTRL_TERMINATE, NULL);
        atomic_store(&g_life.step_vdev, -1);
        if (rc != EOK)
            qlog(QL_QVM_WARN, "vdev '%s' refused VDEV_CTRL_TERMINATE: %s (errno %d): ignored",
                 vdev_source(v), strerror(rc), rc);
    }
    exit_now(status);
}

/* The VM's facts as JSON in $QVMSIM_ENV_DIR/<system>/env, qvmsim's stand-in
 * for /dev/qvm/<system>/env (e.g. QVMSIM_ENV_DIR=/dev/qvm on the target). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

void write_env(void)
{
    const char *dir = getenv("QVMSIM_ENV_DIR");
    if (dir == NULL || *dir == '\0')
        return;
    const char *sys = g_system_name ? g_system_name : "guest";
    char sysdir[4096];
    snprintf(sysdir, sizeof sysdir, "%s/%s", dir, sys);
    mkdir(dir, 0755);
    mkdir(sysdir, 0755);
    snprintf(g_life.env_path, sizeof g_life.env_path, "%s/env", sysdir);
    FILE *f = fopen(g_life.env_path, "w");
    if (f == NULL) {
        qlog(QL_QVM_WARN, "cannot write %s: %s", g_life.env_path, strerror(errno));
        g_life.env_path[0] = '\0';
        return;
    }
    fprintf(f, "{\"qvmsim\": true, \"version\": \"%s\", \"system\": ", QVMSIM_VERSION);
    json_str(f, sys);
    fprintf(f, ", \"pid\": %d, \"cpus\": %d, \"ram\": %" PRIu64 ", \"vdevs\": [",
            (int)getpid(), g_cfg.ncpus > 0 ? g_cfg.ncpus : 1, g_cfg.ram_bytes);
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        fprintf(f, "%s{\"name\": ", i ? ", " : "");
        json_str(f, vdev_source(v));
        fprintf(f, ", \"vdev\": ");
        json_str(f, v->qvmsim_private->vdev_name);
        if (v->v_block.location != QSL_NO_LOCATION)
            fprintf(f, ", \"loc\": \"%s0x%" PRIx64 "\", \"length\": %" PRIu64,
                    v->v_block.qst_type == QST_X86_IO ? "io:" : "", v->v_block.location, v->v_block.length);
        if (v->qvmsim_private->intr_text != NULL) {
            fprintf(f, ", \"intr\": ");
            json_str(f, v->qvmsim_private->intr_text);
        }
        fputc('}', f);
    }
    fprintf(f, "]}\n");
    fclose(f);
}

/* Leaves a thread that asked qvm to end (a vdev thread, the vCPU or timer
 * thread): releases what qvm holds for it and exits the thread, so that a
 * vdev's TERMINATE may join it. */
QVM_NORETURN static void leave_thread(void)
{
    if (t_held_mtx != NULL) {
        pthread_mutex_unlock(t_held_mtx);
        t_held_mtx = NULL;
    }
    t_cur_vdev = NULL;
    if (t_busy)
        worker_leave();
    pthread_exit(NULL);
}

QVM_NORETURN static void proceed(bool claimed)
{
    if (pthread_equal(pthread_self(), g_main_thread)) {
        if (atomic_load(&g_life.finishing)) {  /* asked to end again from a TERMINATE callback */
            int status = atomic_load(&g_end_status);
            qlog(QL_QVM_WARN, "end requested while terminating: skipping the remaining VDEV_CTRL_TERMINATE");
            exit_now(status);
        }
        /* abandon the vdev callback we may be in (never returns to it) */
        if (t_held_mtx != NULL) {
            pthread_mutex_unlock(t_held_mtx);
            t_held_mtx = NULL;
        }
        t_cur_vdev = NULL;
        finish();
    }
    if (claimed)
        write_all(g_wake_fd, (const char *)&WAKE_END, 1);
    leave_thread();
}

void qvmsim_end(int status)
{
    proceed(claim_end(status));
}

void end_guest(int cause, const char *why)
{
    if (cause < 0 || cause > GTC_MAX) {
        qlog(QL_QVM_ERR, "guest_terminate(%d): cause outside 0..%d: treated as GTC_UNEXPECTED (%d)",
             cause, GTC_MAX, GTC_UNEXPECTED);
        cause = GTC_UNEXPECTED;
    }
    uint64_t now = now_ns();
    uint64_t last = atomic_load(&g_last_store_ns);
    bool claimed = claim_end(cause);
    if (claimed) {
        char since[64], nb[48];
        format_since(since, sizeof since, last, now);
        qlog(QL_QVM_DEBUG, "ending the guest: %s", why);
        qlog(QL_QVM_INFO, "guest terminated: cause=%d name=%s since_last_store=%s",
             cause, gtc_name(cause, nb, sizeof nb), since);
    }
    proceed(claimed);
}

void guest_terminate(guest_termination_cause_t cause)
{
    char why[160];
    snprintf(why, sizeof why, "guest_terminate(%d) from %s", cause,
             t_cur_vdev ? vdev_source(t_cur_vdev) : "qvm");
    end_guest(cause, why);
}

/* A vdev calling exit() ends qvm as qvm's own endings do: qvmsim's exits are _exit(), so this
 * handler runs only for an exit() from vdev code.  The exit status is the
 * vdev's; every started vdev still gets VDEV_CTRL_TERMINATE and the log ends
 * with "exit status=N".  In the main thread the teardown runs here; in any
 * other thread the main loop runs it while this thread waits for the process
 * to end (an exit handler cannot leave its thread). */
void on_vdev_exit(int status, void *unused)
{
    (void)unused;
    status &= 0xff;
    const char *who = t_cur_vdev != NULL ? vdev_source(t_cur_vdev) : "a vdev thread";
    bool claimed = claim_end(status);
    qlog(QL_QVM_WARN, "%s called exit(%d): qvm ends (VDEV_CTRL_TERMINATE to every vdev, exit status %d)", who,
         status, atomic_load(&g_end_status));
    if (t_held_mtx != NULL) {
        pthread_mutex_unlock(t_held_mtx);
        t_held_mtx = NULL;
    }
    t_cur_vdev = NULL;
    if (pthread_equal(pthread_self(), g_main_thread)) {
        if (atomic_load(&g_life.finishing))            /* exit() from a TERMINATE callback */
            exit_now(atomic_load(&g_end_status));
        finish();
    }
    if (t_busy)
        worker_leave();
    if (claimed)
        write_all(g_wake_fd, (const char *)&WAKE_END, 1);
    for (;;)
        pause();                                /* until the main thread's _exit() */
}

void start_thread(void *(*fn)(void *), const char *name, const char *what, int status)
{
    pthread_t tid;
    if (pthread_create(&tid, NULL, fn, NULL) != 0) {
        qlog(QL_QVM_FATAL, "cannot create the %s", what);
        qvmsim_end(status);
    }
    pthread_setname_np(tid, name);
    pthread_detach(tid);
}

void cfg_fatal(const char *file, int line, const char *fmt, ...)
{
    char msg[3500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qlog(QL_QVM_FATAL, "%s:%d: %s", file, line, msg);
    check_refused(file, line, msg);
    qvmsim_end(QVMSIM_EXIT_FATAL_CONFIG);
}

/*
 * main.c - qvmsim's qvm: the lifecycle, signals, and every way it ends.
 *
 * qvmsim is a clean-room stand-in for QNX's qvm (it is NOT QNX): it loads
 * vdev-NAME.so files, drives them through the documented lifecycle, and runs
 * a scripted guest (no guest CPU) against their regions.
 */
#include "qvmsim.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pthread_t g_main_thread;
atomic_int g_phase = PHASE_CONFIG;
atomic_int g_end_status = -1;
atomic_ullong g_last_store_ns;
int g_wake_fd = -1;
char *g_dump_dir;
char *g_system_name;
bool g_unsupported_abort;

static int wake_rd = -1;
static sigset_t handled;        /* the signals qvm handles (blocked in every thread) */
static char env_path[4200];     /* the VM's env file, removed at exit */
static atomic_bool finishing;   /* the main thread is in finish(): VDEV_CTRL_TERMINATE ... */
static atomic_ullong finish_ns; /* ... since then (now_ns) */
static atomic_bool running;     /* the main thread has started the guest and serves the main loop */
static atomic_int step_vdev = -1;       /* the vdev whose set-up/teardown control the main thread is in */
static atomic_uint step_ctrl;           /* ... and that control (for the cut-off line) */
static pthread_mutex_t dump_mtx = PTHREAD_MUTEX_INITIALIZER;
static const unsigned char WAKE_END = 0xff;

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

static bool claim_end(int status)
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

QVM_NORETURN static void exit_now(int status)
{
#ifdef QVMSIM_FUZZ
    if (qvmsim_fuzz_exit_hook != NULL)
        qvmsim_fuzz_exit_hook(status);
#endif
    if (env_path[0] != '\0')
        unlink(env_path);
    qlog(QL_QVM_INFO, "exit status=%d", status);
    fflush(stdout);
    fflush(stderr);
    qvmsim_flush_at_exit();
    _exit(status);
}

/* Main thread only: stop the guest, VDEV_CTRL_TERMINATE to every vdev that
 * was started, log the exit status, exit. */
QVM_NORETURN static void finish(void)
{
    int status = atomic_load(&g_end_status);
    atomic_store(&finish_ns, now_ns());
    atomic_store(&finishing, true);     /* from now on the signal thread bounds the teardown */
    guest_stop();
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        if (!v->qvmsim_private->started)
            continue;
        atomic_store(&step_ctrl, VDEV_CTRL_TERMINATE);
        atomic_store(&step_vdev, i);
        int rc = vd_control(v, VDEV_CTRL_TERMINATE, NULL);
        atomic_store(&step_vdev, -1);
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

static void write_env(void)
{
    const char *dir = getenv("QVMSIM_ENV_DIR");
    if (dir == NULL || *dir == '\0')
        return;
    const char *sys = g_system_name ? g_system_name : "guest";
    char sysdir[4096];
    snprintf(sysdir, sizeof sysdir, "%s/%s", dir, sys);
    mkdir(dir, 0755);
    mkdir(sysdir, 0755);
    snprintf(env_path, sizeof env_path, "%s/env", sysdir);
    FILE *f = fopen(env_path, "w");
    if (f == NULL) {
        qlog(QL_QVM_WARN, "cannot write %s: %s", env_path, strerror(errno));
        env_path[0] = '\0';
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
        if (atomic_load(&finishing)) {  /* asked to end again from a TERMINATE callback */
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
static void on_vdev_exit(int status, void *unused)
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
        if (atomic_load(&finishing))            /* exit() from a TERMINATE callback */
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
        pthread_sigmask(SIG_UNBLOCK, &handled, NULL);
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
static void dump_with_status(void)
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

/* ---- signals ------------------------------------------------------------- */

/* [qvmsim] qvm ends within a bounded time whatever a vdev does in set-up or
 * teardown (qvmsim-choices.h, BEHAVIOUR.md "Ending within a bounded time"):
 * the signal thread, which never runs vdev code, is also the watchdog of the
 * main thread while it is not serving the main loop. */
static const char *sig_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGQUIT ? "SIGQUIT"
         : sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2";
}

static void describe_step(char *buf, size_t len)
{
    int i = atomic_load(&step_vdev);
    if (i >= 0 && i < g_nvdevs)
        snprintf(buf, len, "vdev '%s' has not returned from %s", vdev_source(g_vdevs[i]),
                 ctrl_name(atomic_load(&step_ctrl)));
    else
        snprintf(buf, len, "qvm has not finished %s", atomic_load(&finishing) ? "terminating" : "setting up");
}

/* Ends qvm from the signal thread, without waiting for the main thread (stuck
 * in a vdev's callback).  A normal end (0) becomes GTC_VDEV_ERROR: a vdev that
 * had to be cut off did not shut down normally; any other status is kept. */
QVM_NORETURN static void cut_off(const char *why)
{
    char step[300];
    describe_step(step, sizeof step);
    int status = atomic_load(&g_end_status);
    if (status <= 0)
        status = GTC_VDEV_ERROR;
    qlog(QL_QVM_ERR, "%s %s: qvm exits without waiting for it", step, why);
    exit_now(status);
}

static void *signal_thread(void *unused)
{
    (void)unused;
    uint64_t setup_deadline = 0;        /* a SIGTERM/SIGINT/SIGQUIT arrived during set-up: end by then */
    for (;;) {
        struct timespec tick = {0, 50 * 1000 * 1000};
        int sig = sigtimedwait(&handled, NULL, &tick);
        uint64_t now = now_ns();
        bool ending_sig = sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
        if (sig > 0 && ending_sig && atomic_load(&finishing)) {
            char why[96];
            snprintf(why, sizeof why, "and %s asked qvm to end again", sig_name(sig));
            cut_off(why);
        }
        /* Before GUEST_STARTING is dispatched the guest has not started; from then on (the
         * documented start, qvm/qvmsim-choices.h) a signal is the main loop's power button,
         * handled as soon as the loop runs. */
        if (sig > 0 && ending_sig && atomic_load(&g_phase) < PHASE_STARTED && setup_deadline == 0) {
            int status = sig == SIGQUIT ? GTC_POWER_CUT : GTC_NORMAL_EXIT;
            if (claim_end(status))
                qlog(QL_QVM_INFO, "%s before the guest started: the guest is not started, qvm ends (exit status "
                     "%d once set-up returns; cut off after %d ms)", sig_name(sig), status,
                     QVMSIM_SETUP_END_GRACE_MS);
            setup_deadline = now + (uint64_t)QVMSIM_SETUP_END_GRACE_MS * 1000000u;
        } else if (sig > 0 && ending_sig && !atomic_load(&running) && setup_deadline == 0) {
            /* GUEST_STARTING is under way: the button is pressed once the main loop runs, but a
             * vdev that never returns from GUEST_STARTING is cut off like one hanging in set-up. */
            qlog(QL_QVM_INFO, "%s while the guest is starting: handled once it runs (cut off after %d ms)",
                 sig_name(sig), QVMSIM_SETUP_END_GRACE_MS);
            setup_deadline = now + (uint64_t)QVMSIM_SETUP_END_GRACE_MS * 1000000u;
        }
        if (sig > 0) {
            unsigned char b = (unsigned char)sig;
            write_all(g_wake_fd, (const char *)&b, 1);
        }
        if (setup_deadline != 0 && now >= setup_deadline && !atomic_load(&finishing) && !atomic_load(&running)) {
            char why[96];
            snprintf(why, sizeof why, "%d ms after the signal to end", QVMSIM_SETUP_END_GRACE_MS);
            cut_off(why);
        }
        /* finishing first, then its start time, then the clock: 'now' taken above may be older
         * than a teardown that began meanwhile (an unsigned now - since would wrap) */
        if (atomic_load(&finishing)) {
            uint64_t since = atomic_load(&finish_ns);
            uint64_t at = now_ns();
            if (at - since < (uint64_t)QVMSIM_TERMINATE_GRACE_MS * 1000000u)
                continue;
            char why[96];
            snprintf(why, sizeof why, "%d ms after qvm began terminating", QVMSIM_TERMINATE_GRACE_MS);
            cut_off(why);
        }
    }
    return NULL;
}

static int button_presses;

static void on_signal(int sig)
{
    if (atomic_load(&g_end_status) != -1)
        return;
    const char *name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGQUIT ? "SIGQUIT"
                     : sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2";
    if ((sig == SIGTERM || sig == SIGINT) && button_presses++ > 0) {
        /* [qvmsim] a second press while the guest has not shut down: forced off */
        qlog(QL_QVM_INFO, "power button pressed again (%s) before the guest shut down: forced off (power cut)", name);
        end_guest(GTC_POWER_CUT, "power button pressed again");
    } else if (sig == SIGTERM || sig == SIGINT) {
        /* [doc 8.0 start/guest_stop.html] "makes qvm ask the guest nicely to terminate" */
        qlog(QL_QVM_INFO, "power button pressed (%s): VDEV_CTRL_BUTTON to every vdev, the guest is asked to "
             "shut down", name);
        for (int i = 0; i < g_nvdevs; i++) {
            int rc = vd_control(g_vdevs[i], VDEV_CTRL_BUTTON, NULL);
            if (rc != EOK)
                qlog(QL_QVM_WARN, "vdev '%s' refused VDEV_CTRL_BUTTON: %s (errno %d)",
                     vdev_source(g_vdevs[i]), strerror(rc), rc);
        }
        int r = guest_button();
        if (r <= 0)
            qlog(QL_QVM_INFO, "the guest %s the power button and keeps running (a second SIGTERM/SIGINT forces "
                 "it off, SIGQUIT cuts the power)", r < 0 ? "has crashed: it cannot react to" : "ignores");
    } else if (sig == SIGQUIT) {
        qlog(QL_QVM_INFO, "power cut (%s): the guest stops as if unplugged", name);
        end_guest(GTC_POWER_CUT, name);
    } else if (sig == SIGUSR1) {
        qlog(QL_QVM_INFO, "status report requested (%s)", name);
        guest_status();
        for (int i = 0; i < g_nvdevs; i++) {
            if (!config_vdev_in_status(g_vdevs[i])) {   /* `set debug off` [doc 8.0 vm/variables.html] */
                qlog(QL_QVM_DEBUG, "vdev '%s' left out of the status report (set debug off)",
                     vdev_source(g_vdevs[i]));
                continue;
            }
            int rc = vd_control(g_vdevs[i], VDEV_CTRL_STATUS, NULL);
            if (rc != EOK)
                qlog(QL_QVM_WARN, "vdev '%s' refused VDEV_CTRL_STATUS: %s (errno %d)",
                     vdev_source(g_vdevs[i]), strerror(rc), rc);
        }
    } else if (sig == SIGUSR2) {
        dump_with_status();
    }
}

QVM_NORETURN static void main_loop(void)
{
    for (;;) {
        unsigned char b;
        ssize_t n = read(wake_rd, &b, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            qlog(QL_QVM_INTERNAL, "main loop pipe failed: %s", strerror(errno));
            qvmsim_end(GTC_UNEXPECTED);
        }
        if (b == WAKE_END || atomic_load(&g_end_status) != -1)
            finish();
        on_signal(b);
    }
}

static void check_pending_end(void)
{
    if (atomic_load(&g_end_status) != -1)
        finish();
}

/* ---- the lifecycle ------------------------------------------------------- */

static const char *option_name(vdev_t *v, int idx)
{
    const char *n = v->qvmsim_private->factory->option_list[idx];
    size_t pl = strlen(QVM_OPTION_NO_ARG_PREFIX);
    return strncmp(n, QVM_OPTION_NO_ARG_PREFIX, pl) == 0 ? n + pl : n;
}

static void setup_control_arg(vdev_t *v, unsigned ctrl, const char *arg)
{
    for (int i = 0; i < g_nvdevs; i++)
        if (g_vdevs[i] == v)
            atomic_store(&step_vdev, i);
    atomic_store(&step_ctrl, ctrl);
    int rc = vd_control(v, ctrl, arg);
    atomic_store(&step_vdev, -1);
    if (rc != EOK)
        cfg_fatal(v->qvmsim_private->file, v->qvmsim_private->line, "vdev '%s' refused %s: %s (errno %d)",
                  vdev_source(v), ctrl_name(ctrl), strerror(rc), rc);
}

static void setup_control(vdev_t *v, unsigned ctrl)
{
    setup_control_arg(v, ctrl, NULL);
}

/* A common option (loc, intr), applied over what the vdev set at
 * VDEV_CTRL_OPTIONS_START, in configuration order with its own options. */
static void apply_common(vdev_t *v, const struct vdev_opt *o)
{
    struct qvmsim_vdev_private *p = v->qvmsim_private;
    switch (o->idx) {
    case VDEV_OPT_LOC: {
        unsigned type = o->loc_type >= 0 ? (unsigned)o->loc_type : v->v_block.qst_type;
        uint64_t len = o->loc_len;
        if (len == 0 && type == v->v_block.qst_type && v->v_block.length != 0)
            len = v->v_block.length;        /* the vdev's own length (set at OPTIONS_START) */
        else if (len == 0)
            len = type == QST_X86_IO ? QVMSIM_DEFAULT_IO_LENGTH : QVMSIM_DEFAULT_MEM_LENGTH;
        v->v_block.qst_type = (qvm_state_types_t)type;
        v->v_block.location = o->loc;
        v->v_block.length = len;
        qlog(QL_QVM_DEBUG, "vdev '%s' loc %s -> %s0x%" PRIx64 ",0x%" PRIx64, vdev_source(v), o->arg,
             type == QST_X86_IO ? "io:" : "mem:", o->loc, len);
        break;
    }
    case VDEV_OPT_INTR:
        free(p->intr_text);
        p->intr_text = xstrdup(o->arg);
        v->v_intr.gi_id = intr_register(o->arg);
        qlog(QL_QVM_DEBUG, "vdev '%s' intr %s", vdev_source(v), o->arg);
        break;
    default:
        break;
    }
}

static void configure(void)
{
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        struct qvmsim_vdev_private *p = v->qvmsim_private;
        p->started = true;
        setup_control(v, VDEV_CTRL_OPTIONS_START);
        for (int k = 0; k < p->nopts; k++) {
            struct vdev_opt *o = &p->opts[k];
            if (o->idx < 0) {
                apply_common(v, o);
                continue;
            }
            qlog(QL_QVM_DEBUG, "vdev '%s' option %d '%s' = '%s'", vdev_source(v), o->idx,
                 option_name(v, o->idx), o->arg ? o->arg : "(flag)");
            int rc = vd_control(v, VDEV_CTRL_FIRST_OPTIDX + (unsigned)o->idx, o->arg);
            if (rc != EOK) {
                if (o->arg != NULL)
                    cfg_fatal(o->file, o->line, "vdev '%s' refused option '%s' value '%s': %s (errno %d)",
                              vdev_source(v), option_name(v, o->idx), o->arg, strerror(rc), rc);
                cfg_fatal(o->file, o->line, "vdev '%s' refused option '%s': %s (errno %d)",
                          vdev_source(v), option_name(v, o->idx), strerror(rc), rc);
            }
        }
        setup_control(v, VDEV_CTRL_OPTIONS_END);
    }
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        struct qvmsim_vdev_private *p = v->qvmsim_private;
        unsigned ff = p->factory->factory_flags;
        setup_control(v, VDEV_CTRL_ASSIGN);
        if ((ff & VFF_INTR_REQ) && v->qvmsim_private->intr_text == NULL)
            cfg_fatal(p->file, p->line, "vdev '%s' needs an 'intr' option", vdev_source(v));
        /* [doc 8.0 vdev_ref/options.html: `loc` "is mandatory for non-PCI (e.g., MMIO)
         * devices"]; qvm's reaction to a missing one is not public: qvmsim warns
         * (the vdev may serve timers or pulses only) - see BEHAVIOUR.md */
        if (v->v_block.location == QSL_NO_LOCATION && !(ff & (VFF_LOC_NO | VFF_VDEV_PCI)))
            qlog(QL_QVM_WARN, "vdev '%s' has no address after VDEV_CTRL_ASSIGN (no 'loc' option and none set "
                 "by the vdev): the guest cannot reach it; give it e.g. 'loc 0x1c0f0000'", vdev_source(v));
        if (v->v_block.location == QSL_NO_LOCATION)
            continue;
        uint64_t rb, rs;
        if (v->v_block.qst_type == QST_MEMORY &&
            ram_overlaps(v->v_block.location, v->v_block.length, &rb, &rs))
            cfg_fatal(p->file, p->line, "region 0x%" PRIx64 "-0x%" PRIx64 " of vdev '%s' overlaps guest RAM "
                      "0x%" PRIx64 "-0x%" PRIx64 " (option 'ram'): move its 'loc' or the RAM",
                      v->v_block.location, v->v_block.location + v->v_block.length - 1, vdev_source(v),
                      rb, rb + rs - 1);
        for (int k = 0; k < i; k++) {
            vdev_t *o = g_vdevs[k];
            if (o->v_block.location == QSL_NO_LOCATION || o->v_block.qst_type != v->v_block.qst_type)
                continue;
            uint64_t a0 = v->v_block.location, a1 = a0 + v->v_block.length;
            uint64_t b0 = o->v_block.location, b1 = b0 + o->v_block.length;
            if (a0 < b1 && b0 < a1)
                cfg_fatal(p->file, p->line, "region 0x%" PRIx64 "-0x%" PRIx64 " of vdev '%s' overlaps vdev '%s'",
                          a0, a1 - 1, vdev_source(v), vdev_source(o));
        }
    }
}

static void usage(void)
{
    static const char text[] =
        "usage: qvm [-L DIR]... @FILE.qvmconf [@MORE ...] [OPTION ...]\n"
        "qvmsim: a clean-room stand-in for QNX's qvm (NOT QNX). Options and files use the\n"
        ".qvmconf syntax; vdev-NAME.so are found on -L DIRs, QVMSIM_VDEV_PATH, LD_LIBRARY_PATH.\n"
        "  -V, --version   print the version and exit\n"
        "  -L DIR          add DIR to the vdev search path\n"
        "  --check         check the configuration, print each line's fate, do not start\n";
    write_all(STDOUT_FILENO, text, sizeof text - 1);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            char line[256];
            snprintf(line, sizeof line, "qvmsim %s: clean-room stand-in for QNX qvm, not QNX "
                     "(vdev ABI 0x%x)\n", QVMSIM_VERSION, (unsigned)QVM_VDEV_ABI);
            write_all(STDOUT_FILENO, line, strlen(line));
            return 0;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        }
    }
    /* qvm is often started with stdin (or more) closed: keep 0, 1, 2 taken so
     * that no pipe or file of ours lands there */
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0) {
            int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
            if (nfd >= 0 && nfd != fd) {
                dup2(nfd, fd);
                close(nfd);
            }
        }
    }
    g_main_thread = pthread_self();
    crash_init();
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&handled);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGQUIT);
    sigaddset(&handled, SIGUSR1);
    sigaddset(&handled, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &handled, NULL);     /* inherited by every thread */
    int fds[2];
    if (pipe(fds) != 0) {
        qlog(QL_QVM_FATAL, "pipe: %s", strerror(errno));
        return QVMSIM_EXIT_FATAL_BEFORE_START;
    }
    wake_rd = fds[0];
    g_wake_fd = fds[1];
    guest_init();
    pthread_t sig_tid;
    if (pthread_create(&sig_tid, NULL, signal_thread, NULL) != 0) {
        qlog(QL_QVM_FATAL, "cannot create the signal thread");
        qvmsim_end(QVMSIM_EXIT_FATAL_BEFORE_START);
    }
    pthread_setname_np(sig_tid, "qvm-signals");
    pthread_detach(sig_tid);

    on_exit(on_vdev_exit, NULL);        /* from here on, an exit() is a vdev's */
    int nargs = 1;                  /* --check (check.c): read and check, do not start */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0)
            g_check = true;
        else
            argv[nargs++] = argv[i];
    }
    argc = nargs;
    config_read_args(argc, argv);
    config_parse();
    g_unsupported_abort = g_flags.unsupported[UNSUP_REFERENCE] == UNSUP_ABORT;
    if (g_cfg.route_set)
        g_route = g_cfg.route;
    qlog(QL_QVM_INFO, "qvmsim %s (clean-room stand-in for QNX qvm, not QNX): system '%s', %d vdev(s)%s",
         QVMSIM_VERSION, g_system_name ? g_system_name : "", g_nvdevs, g_cfg.dryrun ? ", dryrun" : "");
    if (g_timer_hz != QVMSIM_TIMER_FREQUENCY_HZ)
        qlog(QL_QVM_INFO, "guest timer: %" PRIu64 " Hz (QVMSIM_TIMER_HZ)", g_timer_hz);
    static struct script script;
    bool have_script = false;
    if (g_cfg.load_path != NULL) {
        if (script_load(g_cfg.load_path, &script) != 0)
            cfg_fatal(g_cfg.load_file, g_cfg.load_line, "cannot read guest script '%s': %s",
                      g_cfg.load_path, strerror(errno));
        have_script = true;
    }

    configure();
    if (g_check)
        check_done();
    ram_allocate();
    atomic_store(&g_phase, PHASE_SETUP);
    for (int i = 0; i < g_nvdevs; i++)
        setup_control(g_vdevs[i], VDEV_CTRL_GUEST_CONFIGURED);
    /* VDEV_CTRL_BOOTUP is VDEV_CTRL_GUEST_CONFIGURED (7.1 defines it so "for source
     * compatibility"): one callback.  Then the guest's firmware tables: GEN_ACPI on
     * x86_64, GEN_FDT on aarch64 (arg: the parent node, offset 0 = the root).  See
     * qvmsim-choices.h. */
#if QVMSIM_HOST_GEN_ACPI
    for (int i = 0; i < g_nvdevs; i++)
        setup_control(g_vdevs[i], VDEV_CTRL_GEN_ACPI);
#elif QVMSIM_HOST_GEN_FDT
    for (int i = 0; i < g_nvdevs; i++)
        setup_control_arg(g_vdevs[i], VDEV_CTRL_GEN_FDT,
                          (const char *)(uintptr_t)QVMSIM_FDT_PARENT_NODE);
#endif
    check_pending_end();
    if (g_cfg.dryrun) {
        qlog(QL_QVM_INFO, "Exiting: dryrun completed");     /* [doc 7.1 vm/variables.html] */
        qvmsim_end(0);
    }
    timer_start();
    pulse_start();
    atomic_store(&g_phase, PHASE_STARTED);
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        atomic_store(&step_ctrl, VDEV_CTRL_GUEST_STARTING);
        atomic_store(&step_vdev, i);
        int rc = vd_control(v, VDEV_CTRL_GUEST_STARTING, NULL);
        atomic_store(&step_vdev, -1);
        if (rc != EOK) {
            qlog(QL_QVM_FATAL, "%s:%d: vdev '%s' refused VDEV_CTRL_GUEST_STARTING: %s (errno %d)",
                 v->qvmsim_private->file, v->qvmsim_private->line, vdev_source(v), strerror(rc), rc);
            qvmsim_end(QVMSIM_EXIT_FATAL_AFTER_START);
        }
    }
    check_pending_end();
    write_env();
    atomic_store(&running, true);       /* from here a signal is the main loop's (the power button) */
    qlog(QL_QVM_INFO, "guest started (scripted guest: %s; console commands on stdin)",
         have_script ? script.path : "no script");
    check_pending_end();        /* a signal to end that came during set-up */
    guest_start(have_script ? &script : NULL);
    main_loop();
}

#ifdef QVMSIM_FUZZ
/* ---- fuzz/harness.c: one fresh guest per input -------------------------- */

/* Back to "nothing has ended" before the next input's set-up. */
void qvmsim_fuzz_reset_main(void)
{
    atomic_store(&finishing, false);
    atomic_store(&running, false);
    atomic_store(&g_end_status, -1);
    atomic_store(&g_phase, PHASE_CONFIG);
}

/* main()'s set-up of the vdevs, from VDEV_CTRL_OPTIONS_START to GUEST_STARTING
 * (guest RAM is allocated once, by the first call). */
void qvmsim_fuzz_setup(void)
{
    static bool ram_done;
    configure();
    if (!ram_done) {
        ram_allocate();
        ram_done = true;
    }
    atomic_store(&g_phase, PHASE_SETUP);
    for (int i = 0; i < g_nvdevs; i++)
        setup_control(g_vdevs[i], VDEV_CTRL_GUEST_CONFIGURED);     /* = VDEV_CTRL_BOOTUP */
#if QVMSIM_HOST_GEN_ACPI
    for (int i = 0; i < g_nvdevs; i++)
        setup_control(g_vdevs[i], VDEV_CTRL_GEN_ACPI);
#elif QVMSIM_HOST_GEN_FDT
    for (int i = 0; i < g_nvdevs; i++)
        setup_control_arg(g_vdevs[i], VDEV_CTRL_GEN_FDT, (const char *)(uintptr_t)QVMSIM_FDT_PARENT_NODE);
#endif
    check_pending_end();
    atomic_store(&g_phase, PHASE_STARTED);
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        int rc = vd_control(v, VDEV_CTRL_GUEST_STARTING, NULL);
        if (rc != EOK) {
            qlog(QL_QVM_FATAL, "%s:%d: vdev '%s' refused VDEV_CTRL_GUEST_STARTING: %s (errno %d)",
                 v->qvmsim_private->file, v->qvmsim_private->line, vdev_source(v), strerror(rc), rc);
            qvmsim_end(QVMSIM_EXIT_FATAL_AFTER_START);
        }
    }
    check_pending_end();
    atomic_store(&running, true);
}

/* Something ended the guest from another thread (a vdev's own): finish here. */
void qvmsim_fuzz_check_end(void)
{
    check_pending_end();
}
#endif

/*
 * signals.c - the signals qvm handles (the signal thread, also the watchdog
 * of set-up and teardown) and the main loop that acts on them.  Split from
 * main.c (issue 26).
 */
#include "qvmsim.h"
#include "lifecycle.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    int i = atomic_load(&g_life.step_vdev);
    if (i >= 0 && i < g_nvdevs)
        snprintf(buf, len, "vdev '%s' has not returned from %s", vdev_source(g_vdevs[i]),
                 ctrl_name(atomic_load(&g_life.step_ctrl)));
    else
        snprintf(buf, len, "qvm has not finished %s", atomic_load(&g_life.finishing) ? "terminating" : "setting up");
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

void *signal_thread(void *unused)
{
    (void)unused;
    uint64_t setup_deadline = 0;        /* a SIGTERM/SIGINT/SIGQUIT arrived during set-up: end by then */
    for (;;) {
        struct timespec tick = {0, 50 * 1000 * 1000};
        int sig = sigtimedwait(&g_life.handled, NULL, &tick);
        uint64_t now = now_ns();
        bool ending_sig = sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
        if (sig > 0 && ending_sig && atomic_load(&g_life.finishing)) {
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
        } else if (sig > 0 && ending_sig && !atomic_load(&g_life.running) && setup_deadline == 0) {
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
        if (setup_deadline != 0 && now >= setup_deadline && !atomic_load(&g_life.finishing) && !atomic_load(&g_life.running)) {
            char why[96];
            snprintf(why, sizeof why, "%d ms after the signal to end", QVMSIM_SETUP_END_GRACE_MS);
            cut_off(why);
        }
        /* finishing first, then its start time, then the clock: 'now' taken above may be older
         * than a teardown that began meanwhile (an unsigned now - since would wrap) */
        if (atomic_load(&g_life.finishing)) {
            uint64_t since = atomic_load(&g_life.finish_ns);
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

QVM_NORETURN void main_loop(void)
{
    for (;;) {
        unsigned char b;
        ssize_t n = read(g_life.wake_rd, &b, 1);
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

void check_pending_end(void)
{
    if (atomic_load(&g_end_status) != -1)
        finish();
}

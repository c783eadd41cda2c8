/*
 * lifecycle.h - what the four parts of qvm's run share (main.c: set-up and
 * start; end.c: every way it ends; dump.c: dumps and watchdog bites;
 * signals.c: the signals and the main loop): the run's state, gathered in
 * g_life, and the functions they call in each other.  Private to them.
 */
#ifndef QVMSIM_LIFECYCLE_H
#define QVMSIM_LIFECYCLE_H

#include "qvmsim.h"

#include <signal.h>
#include <stdatomic.h>

struct lifecycle {
    int wake_rd;                /* the main loop's end of the wake pipe (g_wake_fd is the other) */
    sigset_t handled;           /* the signals qvm handles (blocked in every thread) */
    char env_path[4200];        /* the VM's env file, removed at exit */
    atomic_bool finishing;      /* the main thread is in finish(): VDEV_CTRL_TERMINATE ... */
    atomic_ullong finish_ns;    /* ... since then (now_ns) */
    atomic_bool running;        /* the main thread has started the guest and serves the main loop */
    atomic_int step_vdev;       /* the vdev whose set-up/teardown control the main thread is in (-1: none) */
    atomic_uint step_ctrl;      /* ... and that control (for the cut-off line) */
};
extern struct lifecycle g_life;
/* The byte on the wake pipe that asks the main loop to end (any other: a signal number). */
extern const unsigned char WAKE_END;

/* end.c */
bool claim_end(int status);                 /* true: this end is the first asked for */
QVM_NORETURN void exit_now(int status);     /* the one way out: env file removed, exit status logged */
QVM_NORETURN void finish(void);             /* main thread: VDEV_CTRL_TERMINATE to the started vdevs, exit */
void write_env(void);
void on_vdev_exit(int status, void *unused);
/* dump.c */
void dump_with_status(void);                /* SIGUSR2 */
/* signals.c */
void *signal_thread(void *unused);
QVM_NORETURN void main_loop(void);
void check_pending_end(void);
#endif

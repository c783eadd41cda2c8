/*
 * main.c - qvmsim's qvm: the lifecycle (set-up, start, the main loop); how it
 * ends is end.c, its dumps and watchdog bites dump.c, its signals signals.c.
 *
 * qvmsim is a clean-room stand-in for QNX's qvm (it is NOT QNX): it loads
 * vdev-NAME.so files, drives them through the documented lifecycle, and runs
 * a scripted guest (no guest CPU) against their regions.
 */
#include "qvmsim.h"
#include "lifecycle.h"

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

struct lifecycle g_life = { .wake_rd = -1, .step_vdev = -1 };

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
            atomic_store(&g_life.step_vdev, i);
    atomic_store(&g_life.step_ctrl, ctrl);
    int rc = vd_control(v, ctrl, arg);
    atomic_store(&g_life.step_vdev, -1);
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
        "  --check         check the configuration, print each line's fate, do not start\n"
        "  --vocabulary    list every configuration word qvmsim knows and exit\n";
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
        if (strcmp(argv[i], "--vocabulary") == 0) {
            config_print_vocabulary();
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
    sigemptyset(&g_life.handled);
    sigaddset(&g_life.handled, SIGTERM);
    sigaddset(&g_life.handled, SIGINT);
    sigaddset(&g_life.handled, SIGQUIT);
    sigaddset(&g_life.handled, SIGUSR1);
    sigaddset(&g_life.handled, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &g_life.handled, NULL);     /* inherited by every thread */
    int fds[2];
    if (pipe(fds) != 0) {
        qlog(QL_QVM_FATAL, "pipe: %s", strerror(errno));
        return QVMSIM_EXIT_FATAL_BEFORE_START;
    }
    g_life.wake_rd = fds[0];
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
        atomic_store(&g_life.step_ctrl, VDEV_CTRL_GUEST_STARTING);
        atomic_store(&g_life.step_vdev, i);
        int rc = vd_control(v, VDEV_CTRL_GUEST_STARTING, NULL);
        atomic_store(&g_life.step_vdev, -1);
        if (rc != EOK) {
            qlog(QL_QVM_FATAL, "%s:%d: vdev '%s' refused VDEV_CTRL_GUEST_STARTING: %s (errno %d)",
                 v->qvmsim_private->file, v->qvmsim_private->line, vdev_source(v), strerror(rc), rc);
            qvmsim_end(QVMSIM_EXIT_FATAL_AFTER_START);
        }
    }
    check_pending_end();
    write_env();
    atomic_store(&g_life.running, true);       /* from here a signal is the main loop's (the power button) */
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
    atomic_store(&g_life.finishing, false);
    atomic_store(&g_life.running, false);
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
    atomic_store(&g_life.running, true);
}

/* Something ended the guest from another thread (a vdev's own): finish here. */
void qvmsim_fuzz_check_end(void)
{
    check_pending_end();
}
#endif

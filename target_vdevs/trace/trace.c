/*
 * vdev trace - logs every step of the vdev lifecycle (one INFO line per
 * control callback: "ctrl OPTIONS_START", "ctrl OPTION index=N name=... arg=...",
 * ...), and has switches to exercise qvm's error paths.  Written against
 * QNX 8.0's documented vdev API: it builds in portable mode
 * (-DQVMSIM_PORTABLE), as C and as C++, and with qcc.
 *
 * Options:
 *   tick MS            a vdev thread ticks a counter every MS ms (default 50,
 *                      0 = no thread); reported on VDEV_CTRL_STATUS
 *   verbose            (flag, no argument) log every guest load/store at INFO
 *   fail_config yes|no|vdev  GUEST_CONFIGURED fails with qvm_fatal(QLS_CNF,
 *                      "config failed: ...") (exit 65); `vdev`: with a non-configuration
 *                      source (qvmsim: exit 64)
 *   refuse WHAT        control returns EPERM: WHAT = option (this very option),
 *                      OPTIONS_END, ASSIGN, GUEST_CONFIGURED, GUEST_STARTING, STATUS
 *                      (any other WHAT is refused: EINVAL)
 *   hang WHERE         block forever in: button, terminate, configured, starting
 *                      (any other WHERE is refused: EINVAL)
 *   timer MS           a periodic guest timer (counted, reported on STATUS; 0 = no
 *                      timer, the default)
 *   fatal_option TEXT  the option's own callback calls qvm_fatal(QLS_CNF, TEXT) (exit 65)
 *
 * Registers (offsets from loc):
 *   0x00 RW scratch      0x04 R tick count       0x14 R timer expiries
 *   0x08 W  guest_terminate(value)   (e.g. a custom cause 32..63)
 *   0x0c W  qvm_fatal(...)           (after the guest started: exit 96)
 *   0x10 W  store to address (value & 0xff): the vdev crashes qvm with SIGSEGV
 */
#include <qvm/vdev.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* qvm_fatal() sources other than QLS_CNF are not public; qvmsim names one
 * (not visible in portable mode). */
#if defined(QVMSIM) && !defined(QVMSIM_PORTABLE)
#define TRACE_RUNTIME_FATAL QLS_VDEV
#else
#define TRACE_RUNTIME_FATAL QLS_CNF
#endif

static const char *const trace_options[] = {
    "tick",
    QVM_OPTION_NO_ARG_PREFIX "verbose",
    "fail_config",
    "refuse",
    "hang",
    "timer",
    "fatal_option",
    NULL,
};
enum { OPT_TICK, OPT_VERBOSE, OPT_FAIL_CONFIG, OPT_REFUSE, OPT_HANG, OPT_TIMER, OPT_FATAL, OPT_COUNT };

struct trace {
    unsigned tick_ms;
    unsigned timer_ms;
    int verbose;
    int fail_config;
    char refuse[32];
    char hang[32];
    uint32_t scratch;
    unsigned ticks;             /* __atomic builtins (C and C++ alike) */
    unsigned timer_fires;
    unsigned loads, stores;
    struct guest_timer *timer;
    uint64_t ticks_per_s;
    int thread_running;
    int stop;                   /* __atomic builtins */
    pthread_t thread;
};

static void hang_forever(vdev_t *vdp, const char *where)
{
    vdev_logf(QL_QVM_INFO, vdp, "hanging forever in %s (hang option)", where);
    for (;;)
        sleep(1000);
}

static void *ticker(void *arg)
{
    struct trace *t = (struct trace *)arg;
    struct timespec ts;
    ts.tv_sec = (time_t)(t->tick_ms / 1000u);
    ts.tv_nsec = (long)(t->tick_ms % 1000u) * 1000000L;
    while (!__atomic_load_n(&t->stop, __ATOMIC_SEQ_CST)) {
        nanosleep(&ts, NULL);
        __atomic_fetch_add(&t->ticks, 1u, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static int parse_uint(const char *s, unsigned *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    unsigned long v = strtoul(s, &end, 0);
    if (*end != '\0' || v > 3600000ul)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* `arg` is one of `words` (NULL-terminated): the values of refuse and hang. */
static int one_of(const char *arg, const char *const *words)
{
    for (; arg != NULL && *words != NULL; words++) {
        if (strcmp(arg, *words) == 0)
            return 1;
    }
    return 0;
}

static const char *const refuse_values[] = {
    "option", "OPTIONS_END", "ASSIGN", "GUEST_CONFIGURED", "GUEST_STARTING", "STATUS", NULL,
};
static const char *const hang_values[] = { "button", "terminate", "configured", "starting", NULL };

static int refused(vdev_t *vdp, const struct trace *t, const char *what)
{
    if (strcmp(t->refuse, what) != 0)
        return EOK;
    vdev_logf(QL_QVM_INFO, vdp, "refusing %s (refuse option)", what);
    return EPERM;
}

static int trace_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct trace *t = (struct trace *)vdp->v_device;
    if (ctrl >= VDEV_CTRL_FIRST_OPTIDX) {
        unsigned idx = ctrl - VDEV_CTRL_FIRST_OPTIDX;
        if (idx >= OPT_COUNT) {
            vdev_logf(QL_QVM_ERR, vdp, "ctrl OPTION index=%u: no such option", idx);
            return EINVAL;
        }
        const char *name = trace_options[idx];
        if (strncmp(name, QVM_OPTION_NO_ARG_PREFIX, strlen(QVM_OPTION_NO_ARG_PREFIX)) == 0)
            name += strlen(QVM_OPTION_NO_ARG_PREFIX);
        vdev_logf(QL_QVM_INFO, vdp, "ctrl OPTION index=%u name=%s arg=%s", idx, name, arg ? arg : "(none)");
        switch (idx) {
        case OPT_TICK:
            if (parse_uint(arg, &t->tick_ms) != 0)
                return EINVAL;
            break;
        case OPT_VERBOSE:
            if (arg != NULL)
                return EINVAL;      /* a flag gets no argument */
            t->verbose = 1;
            break;
        case OPT_FAIL_CONFIG:
            if (strcmp(arg, "yes") == 0)
                t->fail_config = 1;
            else if (strcmp(arg, "vdev") == 0)
                t->fail_config = 2;
            else if (strcmp(arg, "no") == 0)
                t->fail_config = 0;
            else
                return EINVAL;
            break;
        case OPT_REFUSE:
            if (!one_of(arg, refuse_values)) {
                vdev_logf(QL_QVM_ERR, vdp, "refuse '%.40s': expected option, OPTIONS_END, ASSIGN, "
                          "GUEST_CONFIGURED, GUEST_STARTING or STATUS", arg ? arg : "");
                return EINVAL;
            }
            if (strcmp(arg, "option") == 0)
                return EPERM;
            snprintf(t->refuse, sizeof t->refuse, "%s", arg);
            break;
        case OPT_FATAL:
            qvm_fatal(QLS_CNF, "fatal_option: %s", arg);
        case OPT_HANG:
            if (!one_of(arg, hang_values)) {
                vdev_logf(QL_QVM_ERR, vdp, "hang '%.40s': expected button, terminate, configured or starting",
                          arg ? arg : "");
                return EINVAL;
            }
            snprintf(t->hang, sizeof t->hang, "%s", arg);
            break;
        case OPT_TIMER:
            if (parse_uint(arg, &t->timer_ms) != 0)
                return EINVAL;
            break;
        default:
            break;
        }
        return EOK;
    }
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl OPTIONS_START");
        /* no default address: the configuration's `loc` gives it (qvm applies it after this) */
        vdp->v_block.location = QSL_NO_LOCATION;
        vdp->v_block.length = 0x1000;
        t->tick_ms = 50;
        t->timer = NULL;
        return EOK;
    case VDEV_CTRL_OPTIONS_END:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl OPTIONS_END");
        return refused(vdp, t, "OPTIONS_END");
    case VDEV_CTRL_ASSIGN:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl ASSIGN");
        return refused(vdp, t, "ASSIGN");
    case VDEV_CTRL_GUEST_CONFIGURED:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl GUEST_CONFIGURED");
        if (t->fail_config == 1)
            qvm_fatal(QLS_CNF, "config failed: fail_config is set for vdev trace");
        if (t->fail_config == 2)
            qvm_fatal(TRACE_RUNTIME_FATAL, "vdev failure during setup: fail_config vdev");
        if (strcmp(t->hang, "configured") == 0)
            hang_forever(vdp, "GUEST_CONFIGURED");
        if (t->tick_ms > 0) {
            int rc = vdev_thread_create(vdp, "trace-ticker", &t->thread, NULL, ticker, t);
            if (rc != EOK)
                qvm_fatal(QLS_CNF, "cannot create the ticker thread: %s", strerror(rc));
            t->thread_running = 1;
        }
        return refused(vdp, t, "GUEST_CONFIGURED");
    case VDEV_CTRL_GUEST_STARTING:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl GUEST_STARTING");
        if (strcmp(t->hang, "starting") == 0)
            hang_forever(vdp, "GUEST_STARTING");
        if (t->timer_ms > 0) {
            t->timer = guest_timer_create(NULL, vdp, t, &t->ticks_per_s);
            if (t->timer != NULL)
                guest_timer_notify(t->timer, NULL, t->ticks_per_s * t->timer_ms / 1000u);
        }
        return refused(vdp, t, "GUEST_STARTING");
    case VDEV_CTRL_STATUS:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl STATUS");
        qvm_report("ticks=%u timer_fires=%u stores=%u loads=%u scratch=0x%x",
                   __atomic_load_n(&t->ticks, __ATOMIC_SEQ_CST), t->timer_fires, t->stores, t->loads, t->scratch);
        return refused(vdp, t, "STATUS");
    case VDEV_CTRL_BUTTON:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl BUTTON");
        if (strcmp(t->hang, "button") == 0)
            hang_forever(vdp, "BUTTON");
        return EOK;
    case VDEV_CTRL_TERMINATE:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl TERMINATE");
        if (strcmp(t->hang, "terminate") == 0)
            hang_forever(vdp, "TERMINATE");
        if (t->timer != NULL)
            guest_timer_notify(t->timer, NULL, 0);
        if (t->thread_running) {
            __atomic_store_n(&t->stop, 1, __ATOMIC_SEQ_CST);
            pthread_join(t->thread, NULL);
            t->thread_running = 0;
            vdev_logf(QL_QVM_INFO, vdp, "ticker joined after %u ticks",
                      __atomic_load_n(&t->ticks, __ATOMIC_SEQ_CST));
        }
        return EOK;
    case VDEV_CTRL_GEN_ACPI:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl GEN_ACPI");
        return EOK;
    case VDEV_CTRL_GEN_FDT:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl GEN_FDT node=%d", (int)(uintptr_t)arg);
        return EOK;
    case VDEV_CTRL_PCI_BARS:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl PCI_BARS");
        return EOK;
    default:
        vdev_logf(QL_QVM_INFO, vdp, "ctrl %u (unknown)", ctrl);
        return EOK;
    }
}

static vdev_ref_status_t trace_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                      const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct trace *t = (struct trace *)vdp->v_device;
    uint64_t value = 0;
    (void)cookie;
    int err = guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value);
    if (err != EOK)
        return guest_cpu_to_vrs(err);
    uint64_t off = vopnd->location - vdp->v_block.location;
    t->stores++;
    if (t->verbose)
        vdev_logf(QL_QVM_INFO, vdp, "store offset 0x%llx size %llu value 0x%llx",
                  (unsigned long long)off, (unsigned long long)vopnd->length, (unsigned long long)value);
    switch (off) {
    case 0x00:
        t->scratch = (uint32_t)value;
        break;
    case 0x08:
        vdev_logf(QL_QVM_INFO, vdp, "guest asked for guest_terminate(%llu)", (unsigned long long)value);
        guest_terminate((guest_termination_cause_t)value);
    case 0x0c:
        qvm_fatal(TRACE_RUNTIME_FATAL, "fatal error on guest store (value 0x%llx)", (unsigned long long)value);
    case 0x10: {
        /* the address comes from the guest (0..0xff: never mapped), so the
           compiler cannot drop the faulting store */
        volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)(value & 0xffu);
        vdev_logf(QL_QVM_INFO, vdp, "crashing on purpose (store to %p)", (void *)(uintptr_t)p);
        *p = 0xdeadu;
        break;
    }
    default:
        break;
    }
    return VRS_NORMAL;
}

static vdev_ref_status_t trace_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct trace *t = (struct trace *)vdp->v_device;
    (void)cookie;
    uint64_t off = vopnd->location - vdp->v_block.location;
    uint32_t value = 0;
    t->loads++;
    if (off == 0x00)
        value = t->scratch;
    else if (off == 0x04)
        value = __atomic_load_n(&t->ticks, __ATOMIC_SEQ_CST);
    else if (off == 0x14)
        value = t->timer_fires;
    if (t->verbose)
        vdev_logf(QL_QVM_INFO, vdp, "load offset 0x%llx size %llu -> 0x%x",
                  (unsigned long long)off, (unsigned long long)vopnd->length, value);
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &value, sizeof value));
}

static void trace_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    struct trace *t = (struct trace *)data;
    (void)gcp;
    t->timer_fires++;
    vdev_logf(QL_QVM_DBG, vdp, "timer fired %u", t->timer_fires);
    guest_timer_notify(t->timer, tdp, t->ticks_per_s * t->timer_ms / 1000u);  /* recurring */
}

static struct vdev_factory trace_factory = {
    .next = NULL,
    .control = trace_control,
    .vread = trace_vread,
    .vwrite = trace_vwrite,
    .pulse = NULL,
    .timer = trace_timer,
    .pic = NULL,
    .option_list = trace_options,
    .name = "trace",
    .factory_flags = VFF_MUTEX,
    .acc_sizes = 0,
    .extra_space = sizeof(struct trace),
};

static void __attribute__((constructor)) trace_register(void)
{
    vdev_register_factory(&trace_factory, QVM_VDEV_ABI);
}

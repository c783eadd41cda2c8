/*
 * fuzz/harness.c - a hostile guest: libFuzzer drives a vdev through qvmsim's
 * own guest paths (README "Fuzzing a vdev from the guest side").
 *
 * Built by hil (hil/qvmrun/fuzz.py) with clang, together with every qvmsim .c
 * file compiled with -DQVMSIM_FUZZ -Dmain=qvmsim_main and
 * -fsanitize=fuzzer,address,undefined; the vdev under test is a .so built with
 * -fsanitize=fuzzer-no-link,address,undefined, so its edges and comparisons
 * guide the fuzzer.  The configuration is read once (QVMSIM_FUZZ_CONF); each
 * input runs against fresh vdev instances: the configured instances are
 * restored to what the configuration made of them, with a zeroed device area,
 * and go through qvm's set-up (OPTIONS_START .. GUEST_STARTING), the guest's
 * operations, and qvm's teardown (VDEV_CTRL_TERMINATE).
 *
 * An input is a sequence of operations, each an op byte then its operands:
 *   op & 7        0-2 store, 3-4 load, 5 time passes, 6 interrupt ack,
 *                 7 store to guest RAM (a load when no `ram` is configured)
 *   (op >> 3) & 3 access size 1 << n (1, 2, 4, 8 bytes)
 *   op >> 5       which vdev region (modulo their number)
 *   store: offset (2 bytes, little-endian, modulo the room in the region),
 *          value (size bytes, little-endian); load: offset
 *   time: milliseconds (2 bytes): the virtual clock advances and the timers
 *         due meanwhile fire, in order, on this thread
 *   ack:  which interrupt (1 byte, modulo the vdevs' `intr`s)
 *   RAM store: offset (2 bytes, modulo the room in the first 64 KiB of RAM),
 *         value (size bytes): what a driver puts there (virtqueues, DMA buffers)
 * Those 64 KiB of guest RAM are cleared before each input.
 *
 * Time is a virtual clock (now_ns() returns it in a QVMSIM_FUZZ build, and so
 * does clock_gettime(CLOCK_MONOTONIC) called from vdev code, below): an input
 * means the same thing on every run (libFuzzer's coverage feedback and
 * minimisation need that) and a watchdog timeout of seconds costs nothing.
 *
 * A clean guest-visible ending (guest_terminate, a watchdog bite, qvm_fatal,
 * VRS_* answers) ends the input, not the fuzzer: qvm's exit is caught here
 * (qvmsim_fuzz_exit_hook) after qvm's own teardown ran.  What is a finding:
 * a sanitizer report, a crash, an input running longer than -timeout (a vdev
 * callback that hangs), and qvmsim's invariants broken (checked after every
 * operation; reported as "qvmsim-fuzz: invariant broken" and abort()).
 *
 * QVMSIM_FUZZ_SKIP="OFF,LEN;...": region offsets the guest never touches (a
 * vdev's documented fault-injection registers: hil vdev fuzz --skip).
 *
 * QVMSIM_FUZZ_SCRIPT=FILE: each input is also written as a guest script
 * (GUEST.md) before it runs, one command per operation - how a finding becomes
 * a `hil qvm run` replay.  QVMSIM_FUZZ_VERBOSE=1 keeps qvm's log.
 */
#include "../qvmsim.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <time.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the QVMSIM_FUZZ hooks in qvmsim's sources */
extern uint64_t qvmsim_fuzz_clock;
extern void (*qvmsim_fuzz_exit_hook)(int status);
void qvmsim_fuzz_reset_main(void);
void qvmsim_fuzz_setup(void);
void qvmsim_fuzz_check_end(void);
void guest_fuzz_access(bool write, unsigned space, uint64_t addr, unsigned size, uint64_t value);
void guest_fuzz_reset(void);
uint64_t timer_fuzz_next_due(void);
bool timer_fuzz_fire_one(void);
void timer_fuzz_reset(void);
bool ram_fuzz_region(int i, uint64_t *base, uint64_t *size);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CLOCK_START (1000ull * 1000000000ull)   /* the virtual clock of every input starts here */
#define MAX_FIRES 1000                          /* timer callbacks per operation, at most */
#define MAX_REGIONS 8
#define MAX_INTRS 8
#define RAM_WINDOW 0x10000u     /* the guest RAM the fuzzer writes (and clears): the first 64 KiB */

struct region {
    int vdev;               /* index in g_vdevs */
    unsigned space;         /* QST_MEMORY or QST_X86_IO */
    uint64_t loc, len;
};

#define MAX_SKIPS 16

static struct { uint64_t off, len; } skips[MAX_SKIPS];     /* QVMSIM_FUZZ_SKIP: offsets left alone */
static int nskips;
static vdev_t *snap;                            /* the instances as configured */
static struct qvmsim_vdev_private *psnap;
static struct region regions[MAX_REGIONS];
static int nregions;
static uint64_t ram_base, ram_size;              /* the first RAM region, size 0: none */
static int intrs[MAX_INTRS];                    /* intr.c indexes of the vdevs' `intr`s */
static int nintrs;
static jmp_buf end_jmp;
static volatile int end_status;
static bool quiet;
static FILE *script_out;
static int wake_rd = -1;
/* what the inputs did (printed at exit: hil's throughput figures) */
static unsigned long long n_inputs, n_clean, n_ended, n_accesses, n_fires;

/* The vdev's own clock: a vdev that reads CLOCK_MONOTONIC itself (a watchdog comparing its last kick
 * with now) sees the virtual clock while its code runs on this thread (t_cur_vdev set), so time passes
 * for it as for its timers.  Everything else (libFuzzer's own timing, other threads) reads the real one. */
__attribute__((visibility("default")))     /* exported: the vdev's calls land here (qvmsim: -fvisibility=hidden) */
int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    if ((id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_RAW || id == CLOCK_BOOTTIME) &&
        qvmsim_fuzz_clock != 0 && t_cur_vdev != NULL) {
        ts->tv_sec = (time_t)(qvmsim_fuzz_clock / 1000000000ull);
        ts->tv_nsec = (long)(qvmsim_fuzz_clock % 1000000000ull);
        return 0;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
    return real(id, ts);
}

static void on_exit_hook(int status)
{
    end_status = status;
    longjmp(end_jmp, 1);
}

QVM_PRINTF_LIKE(1, 2) QVM_NORETURN static void invariant_broken(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "==%d==ERROR: qvmsim-fuzz: invariant broken: %s\n", (int)getpid(), msg);
    fflush(stderr);
    abort();
}

/* The vdev instances back to what the configuration made of them. */
static void fresh_instances(void)
{
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        struct qvmsim_vdev_private *p = v->qvmsim_private;
        free(v->v_device);
        *v = snap[i];
        *p = psnap[i];
        v->qvmsim_private = p;
        v->v_device = p->factory->extra_space > 0 ? xcalloc(1, p->factory->extra_space) : NULL;
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
        if (p->factory->factory_flags & VFF_MUTEX_RECURSIVE)
            pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&v->v_mtx, &ma);
        pthread_mutexattr_destroy(&ma);
    }
}

static void drain_wake(void)
{
    char buf[256];
    while (read(wake_rd, buf, sizeof buf) > 0)
        ;
}

static void script_line(const char *fmt, ...) QVM_PRINTF_LIKE(1, 2);
static void script_line(const char *fmt, ...)
{
    if (script_out == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(script_out, fmt, ap);
    va_end(ap);
    fputc('\n', script_out);
    fflush(script_out);
}

/* qvmsim's invariants after each operation. */
static void check_invariants(const char *what)
{
    if (t_cur_vdev != NULL || t_held_mtx != NULL)
        invariant_broken("after %s: qvm still records a vdev callback as running on this thread", what);
    if (atomic_load(&g_phase) != PHASE_STARTED)
        invariant_broken("after %s: the guest is no longer in the started phase (%d)", what, atomic_load(&g_phase));
    for (int r = 0; r < nregions; r++) {
        const vdev_t *v = g_vdevs[regions[r].vdev];
        if (v->v_block.location != regions[r].loc || v->v_block.length != regions[r].len ||
            v->v_block.qst_type != regions[r].space)
            invariant_broken("after %s: vdev '%s' moved its region from %s0x%" PRIx64 ",0x%" PRIx64
                             " to %s0x%" PRIx64 ",0x%" PRIx64 " while the guest runs", what, vdev_source(v),
                             regions[r].space == QST_X86_IO ? "io:" : "", regions[r].loc, regions[r].len,
                             v->v_block.qst_type == QST_X86_IO ? "io:" : "", v->v_block.location,
                             v->v_block.length);
    }
}

/* Timers due by the virtual clock fire, earliest first. */
static void fire_due(void)
{
    for (int n = 0; n < MAX_FIRES && timer_fuzz_next_due() <= qvmsim_fuzz_clock; n++) {
        n_fires++;      /* counted before: a callback that ends the guest does not return */
        timer_fuzz_fire_one();
        qvmsim_fuzz_check_end();
    }
}

static void pass_time(uint64_t ms)
{
    uint64_t until = qvmsim_fuzz_clock + ms * 1000000ull;
    for (int n = 0; n < MAX_FIRES; n++) {
        uint64_t due = timer_fuzz_next_due();
        if (due > until)
            break;
        if (due > qvmsim_fuzz_clock)
            qvmsim_fuzz_clock = due;
        n_fires++;
        if (!timer_fuzz_fire_one())
            break;
        qvmsim_fuzz_check_end();
    }
    qvmsim_fuzz_clock = until;
}

static uint64_t take_le(const uint8_t **p, const uint8_t *end, unsigned n, bool *ok)
{
    uint64_t v = 0;
    if ((size_t)(end - *p) < n) {
        *ok = false;
        return 0;
    }
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += n;
    return v;
}

/* The regions and interrupts of the instances just set up. */
static void collect_targets(void)
{
    nregions = 0;
    nintrs = 0;
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        if (v->v_block.location != QSL_NO_LOCATION && v->v_block.length > 0 && nregions < MAX_REGIONS)
            regions[nregions++] = (struct region){ i, v->v_block.qst_type, v->v_block.location, v->v_block.length };
        const char *it = v->qvmsim_private->intr_text;
        int idx = it != NULL ? intr_find(it) : -1;
        if (idx >= 0 && nintrs < MAX_INTRS)
            intrs[nintrs++] = idx;
    }
}

static void run_ops(const uint8_t *p, const uint8_t *end)
{
    char what[96];
    while (p < end) {
        uint8_t op = *p++;
        unsigned kind = op & 7u, size = 1u << ((op >> 3) & 3u);
        bool ok = true;
        if (kind == 5) {
            uint64_t ms = take_le(&p, end, 2, &ok);
            if (!ok)
                return;
            script_line("sleep %" PRIu64, ms);
            pass_time(ms);
            snprintf(what, sizeof what, "%" PRIu64 " ms passing", ms);
        } else if (kind == 6) {
            uint64_t which = take_le(&p, end, 1, &ok);
            if (!ok)
                return;
            if (nintrs == 0)
                continue;
            int idx = intrs[which % (unsigned)nintrs];
            script_line("irq ack %s", intr_name(idx));
            pthread_mutex_lock(&g_guest_mtx);
            intr_set_seen(idx, intr_count(idx));
            pthread_mutex_unlock(&g_guest_mtx);
            snprintf(what, sizeof what, "irq ack %s", intr_name(idx));
        } else if (kind == 7 && ram_size >= 8) {
            uint64_t off = take_le(&p, end, 2, &ok);
            uint64_t value = take_le(&p, end, size, &ok);
            if (!ok)
                return;
            uint64_t addr = ram_base + off % (ram_size - size + 1);
            script_line("write 0x%" PRIx64 " %u 0x%" PRIx64, addr, size, value);
            guest_fuzz_access(true, QST_MEMORY, addr, size, value);
            snprintf(what, sizeof what, "the guest's RAM store of %u byte(s) at 0x%" PRIx64, size, addr);
        } else {
            bool write = kind <= 2;
            const struct region *r = &regions[(op >> 5) % nregions];
            uint64_t off = take_le(&p, end, 2, &ok);
            uint64_t value = write ? take_le(&p, end, size, &ok) : 0;
            if (!ok)
                return;
            if (r->len < size)
                continue;
            uint64_t roff = off % (r->len - size + 1), addr = r->loc + roff;
            bool skipped = false;
            for (int k = 0; k < nskips; k++)
                skipped = skipped || (roff < skips[k].off + skips[k].len && skips[k].off < roff + size);
            if (skipped)
                continue;
            const char *pre = r->space == QST_X86_IO ? "io:" : "";
            if (write)
                script_line("write %s0x%" PRIx64 " %u 0x%" PRIx64, pre, addr, size, value);
            else
                script_line("read %s0x%" PRIx64 " %u", pre, addr, size);
            n_accesses++;
            guest_fuzz_access(write, r->space, addr, size, value);
            qvmsim_fuzz_check_end();
            snprintf(what, sizeof what, "the guest %s of %u byte(s) at %s0x%" PRIx64,
                     write ? "store" : "load", size, pre, addr);
        }
        fire_due();
        check_invariants(what);
    }
}

/* One input against fresh instances; returns how qvm would have exited. */
static int run_input(const uint8_t *data, size_t size)
{
    drain_wake();
    timer_fuzz_reset();
    guest_fuzz_reset();
    qvmsim_fuzz_reset_main();
    fresh_instances();
    if (ram_size > 0)
        memset(ram_ptr(ram_base, ram_size), 0, (size_t)ram_size);
    qvmsim_fuzz_clock = CLOCK_START;
    if (script_out != NULL) {
        if (ftruncate(fileno(script_out), 0) != 0 || fseek(script_out, 0, SEEK_SET) != 0)
            perror("qvmsim-fuzz: QVMSIM_FUZZ_SCRIPT");
        script_line("# guest script of a fuzz input (%zu bytes): hil qvm run --guest THIS_FILE", size);
    }
    if (setjmp(end_jmp) == 0) {
        qvmsim_fuzz_exit_hook = on_exit_hook;
        qvmsim_fuzz_setup();
        collect_targets();
        if (nregions > 0) {
            check_invariants("set-up");
            if (size > 0)
                run_ops(data, data + size);
        }
        qvmsim_end(0);      /* qvm's teardown (VDEV_CTRL_TERMINATE ...); comes back through the hook */
    }
    qvmsim_fuzz_exit_hook = NULL;
    return end_status;
}

static void print_counts(void)
{
    fprintf(stderr, "qvmsim-fuzz: %llu inputs, %llu guest accesses, %llu timer callbacks; %llu guests ran to "
            "the end of their input, %llu ended earlier (guest_terminate, watchdog bite, qvm_fatal ...)\n",
            n_inputs, n_accesses, n_fires, n_clean, n_ended);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *conf = getenv("QVMSIM_FUZZ_CONF");
    if (conf == NULL || *conf == '\0') {
        fprintf(stderr, "qvmsim-fuzz: set QVMSIM_FUZZ_CONF to the .qvmconf to fuzz\n");
        exit(2);
    }
    static char conf_arg[4200];
    snprintf(conf_arg, sizeof conf_arg, "@%s", conf);
    char *qargv[] = { (char *)"qvm", conf_arg, NULL };
    g_main_thread = pthread_self();
    int fds[2];
    if (pipe(fds) != 0) {
        perror("qvmsim-fuzz: pipe");
        exit(2);
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    wake_rd = fds[0];
    g_wake_fd = fds[1];
    guest_init();
    config_read_args(2, qargv);     /* a bad configuration: qvm's FATAL line and exit status */
    config_parse();
    g_unsupported_abort = g_flags.unsupported[UNSUP_REFERENCE] == UNSUP_ABORT;
    if (g_cfg.route_set)
        g_route = g_cfg.route;
    snap = xcalloc((size_t)g_nvdevs + 1, sizeof *snap);
    psnap = xcalloc((size_t)g_nvdevs + 1, sizeof *psnap);
    for (int i = 0; i < g_nvdevs; i++) {
        snap[i] = *g_vdevs[i];
        snap[i].v_device = NULL;
        psnap[i] = *g_vdevs[i]->qvmsim_private;
    }
    /* a first guest with no operation: the configuration must start */
    int status = run_input(NULL, 0);
    if (status != 0) {
        fprintf(stderr, "qvmsim-fuzz: the configuration %s does not start a guest: qvm exits with status %d "
                "before any guest access (its log is above): fix the configuration\n", conf, status);
        exit(3);
    }
    if (nregions == 0) {
        fprintf(stderr, "qvmsim-fuzz: no vdev of %s has a region (option 'loc'): the guest cannot reach it; "
                "give it a 'loc'\n", conf);
        exit(3);
    }
    if (ram_fuzz_region(0, &ram_base, &ram_size) && ram_size > RAM_WINDOW)
        ram_size = RAM_WINDOW;
    if (ram_size >= 8)
        fprintf(stderr, "qvmsim-fuzz: ram: 0x%" PRIx64 ",0x%" PRIx64 "\n", ram_base, ram_size);
    else
        ram_size = 0;
    for (int r = 0; r < nregions; r++)
        fprintf(stderr, "qvmsim-fuzz: region %d: vdev '%s' at %s0x%" PRIx64 ",0x%" PRIx64 "\n", r,
                vdev_source(g_vdevs[regions[r].vdev]), regions[r].space == QST_X86_IO ? "io:" : "",
                regions[r].loc, regions[r].len);
    const char *verbose = getenv("QVMSIM_FUZZ_VERBOSE");
    quiet = verbose == NULL || strcmp(verbose, "1") != 0;
    if (quiet) {        /* qvm's and the vdevs' log lines: none (a finding is replayed with its log) */
        memset(&g_route, 0, sizeof g_route);
        for (int i = 0; i < g_nvdevs; i++) {
            psnap[i].has_route = true;
            memset(&psnap[i].route, 0, sizeof psnap[i].route);
        }
    }
    const char *skip = getenv("QVMSIM_FUZZ_SKIP");   /* "OFF,LEN;OFF,LEN" (from hil's --skip) */
    while (skip != NULL && *skip != '\0' && nskips < MAX_SKIPS) {
        char *end;
        skips[nskips].off = strtoull(skip, &end, 0);
        skips[nskips].len = *end == ',' ? strtoull(end + 1, &end, 0) : 1;
        nskips++;
        skip = strchr(end, ';');
        skip = skip != NULL ? skip + 1 : NULL;
    }
    atexit(print_counts);
    const char *script = getenv("QVMSIM_FUZZ_SCRIPT");
    if (script != NULL && *script != '\0') {
        script_out = fopen(script, "w");
        if (script_out == NULL) {
            perror(script);
            exit(2);
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int status = run_input(data, size);
    n_inputs++;
    if ((n_inputs & 0x3fff) == 0)   /* now and then too: a worker that dies of a finding prints no end */
        print_counts();
    if (status == 0)
        n_clean++;
    else
        n_ended++;
    return 0;
}

/*
 * qvmsim.h - qvmsim's one private header (not for vdevs): every .c file
 * includes it, then the system headers it needs.  One section per .c file
 * that defines what the section declares.
 */
#ifndef QVMSIM_PRIVATE_H
#define QVMSIM_PRIVATE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <qvm/vdev.h>

/* ---- memory (alloc.c) ------------------------------------------------ */
/* Never NULL: out of memory logs FATAL and ends qvm (64 before the guest
 * started, 96 after).  Not with g_guest_mtx held. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);    /* n * size, checked */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);    /* the first n bytes of s (s has at least n) */

/* ---- clock (log.c) ---------------------------------------------------- */
uint64_t now_ns(void);                      /* CLOCK_MONOTONIC, ns */
/* "S.UUUUUU" seconds from last_ns to now, or "none" for last_ns 0. */
void format_since(char *buf, size_t len, uint64_t last_ns, uint64_t now);

/* ---- logging (log.c) -------------------------------------------------- */
enum log_dest { DEST_NONE, DEST_STDOUT, DEST_STDERR, DEST_SLOG };
struct log_route {
    unsigned to[4];         /* per enum log_dest: bit (1u << level) per level sent there */
};
#define LOG_DEFAULT_FILTER ((1u << QL_QVM_FATAL) | (1u << QL_QVM_INTERNAL) | \
                            (1u << QL_QVM_ERR) | (1u << QL_QVM_WARN) | (1u << QL_QVM_INFO))
extern struct log_route g_route;            /* VM-wide `logger` */

void qlog(int level, const char *fmt, ...) QVM_PRINTF_LIKE(2, 3);   /* source "qvm" */
void qlog_from(int level, vdev_t const *vdp, const char *fmt, ...) QVM_PRINTF_LIKE(3, 4);
void qlog_v(int level, vdev_t const *vdp, const char *fmt, va_list ap);
int log_parse_filters(const char *word, unsigned *mask, const char **bad, size_t *badlen);
int log_parse_dest(const char *word);       /* enum log_dest or -1 */
/* The words of the filter set (level order) and of the destinations (enum
 * log_dest order); NULL past the last (`qvm --vocabulary`). */
const char *log_filter_word(size_t i);
const char *log_dest_word(size_t i);
void write_all(int fd, const char *buf, size_t len);
void console_puts(const char *line);         /* one line to the guest console */
/* while sink is set, qvm_report() from the main thread writes there */
void log_report_to(FILE *sink);

/* ---- the configuration (config.c) ------------------------------------ */
/* What the configuration says besides the vdev instances. */
struct config {
    bool dryrun;
    bool route_set;
    struct log_route route;
    char *load_path;            /* guest script, or NULL */
    const char *load_file;
    int load_line;
    int ncpus;
    uint64_t ram_bytes;
};
extern struct config g_cfg;

/* `unsupported TYPE ACTION` [doc]: the action per type. */
enum { UNSUP_INSTRUCTION, UNSUP_REFERENCE, UNSUP_REGISTER };
enum { UNSUP_ABORT, UNSUP_FAIL, UNSUP_IGNORE };

struct config_flags {
    int unsupported[3];         /* UNSUP_ABORT.. per UNSUP_INSTRUCTION.. */
    char *dump_pipe;            /* `dump "|COMMAND"`: COMMAND, or NULL */
};
extern struct config_flags g_flags;

/* false for a vdev configured with `set debug off` (left out of SIGUSR1's status) */
bool config_vdev_in_status(vdev_t const *v);
void config_read_args(int argc, char **argv);
void config_parse(void);
/* `qvm --vocabulary`: every configuration word qvmsim knows, on stdout (config.c). */
void config_print_vocabulary(void);

/* ---- vdev instances (vdev.c) ----------------------------------------- */
struct vdev_lib {
    char *name;                 /* NAME of vdev-NAME.so (as configured) */
    char *path;
    void *handle;
    struct vdev_factory *factories;
    unsigned bad_abi;           /* first wrong ABI number seen, 0 = none */
    bool bad_abi_seen;
    struct vdev_lib *next;
};

/* A vdev option as configured: one of its own (idx >= 0) or a common one
 * (VDEV_OPT_*), kept in configuration order and applied by configure()
 * after VDEV_CTRL_OPTIONS_START. */
enum { VDEV_OPT_LOC = -1, VDEV_OPT_INTR = -2 };
struct vdev_opt {
    int idx;                    /* index in option_list, or VDEV_OPT_* */
    char *arg;                  /* NULL for a flag; loc: as written; intr: "pic:N" */
    const char *file;
    int line;
    int loc_type;               /* loc: QST_MEMORY, QST_X86_IO, or -1 (the vdev's own) */
    uint64_t loc;               /* loc: address */
    uint64_t loc_len;           /* loc: length, 0 = the vdev's own */
};

struct qvmsim_vdev_private {
    struct vdev_factory *factory;
    struct vdev_lib *lib;
    char *vdev_name;            /* NAME from `vdev NAME` */
    char *inst_name;            /* `name` option, or NULL */
    char *intr_text;            /* `intr` option as written, or NULL */
    int index;                  /* 0-based position in the config */
    const char *file;           /* where `vdev NAME` is */
    int line;
    struct vdev_opt *opts;
    int nopts;
    bool has_route;
    struct log_route route;     /* per-vdev `log` */
    bool started;               /* got OPTIONS_START: owed TERMINATE */
};

extern vdev_t **g_vdevs;
extern int g_nvdevs;
extern _Thread_local vdev_t *t_cur_vdev;            /* vdev whose code runs here */
extern _Thread_local pthread_mutex_t *t_held_mtx;   /* v_mtx qvm holds for it    */
extern _Thread_local int t_cur_ctrl;                /* control() running, or -1  */
extern char **g_vdev_path;                           /* -L dirs + QVMSIM_VDEV_PATH */
extern int g_nvdev_path;

struct vdev_lib *vdev_lib_load(const char *name, const char *file, int line);
void qvmsim_flush_at_exit(void);   /* before _exit: vdevs' coverage counters, leak check */
vdev_t *vdev_instance_new(struct vdev_lib *lib, const char *name, const char *file, int line);
const char *vdev_source(vdev_t const *vdp);           /* instance name for logs */
const char *ctrl_name(unsigned ctrl);
void vd_enter(vdev_t *vdp, vdev_t **saved_vdp, pthread_mutex_t **saved_mtx);
void vd_leave(vdev_t *vdp, vdev_t *saved_vdp, pthread_mutex_t *saved_mtx);
int vd_control(vdev_t *vdp, unsigned ctrl, const char *arg);
vdev_t *vdev_at(unsigned type, uint64_t addr, unsigned size);
vdev_t *vdev_by_name(const char *name);

/* ---- lifecycle and ending (main.c, end.c, dump.c, signals.c) -------- */
extern pthread_t g_main_thread;
extern atomic_int g_phase;          /* PHASE_* */
enum { PHASE_CONFIG, PHASE_SETUP, PHASE_STARTED, PHASE_ENDING };
extern atomic_int g_end_status;     /* -1 until something ends qvm */
extern atomic_ullong g_last_store_ns;
extern int g_wake_fd;               /* write end of the main loop's pipe */
extern char *g_dump_dir;
extern char *g_system_name;
extern bool g_unsupported_abort;

QVM_NORETURN void cfg_fatal(const char *file, int line, const char *fmt, ...) QVM_PRINTF_LIKE(3, 4);
QVM_NORETURN void qvmsim_end(int status);
QVM_NORETURN void end_guest(int cause, const char *why);
void qvmsim_dump(const char *why);
/* Starts the detached thread NAME running fn; if it cannot, logs FATAL
 * "cannot create the WHAT" and ends qvm with status. */
void start_thread(void *(*fn)(void *), const char *name, const char *what, int status);

/* ---- the guest language (guest_parse.c; GUEST.md) -------------------- */
char *guest_word(const char **p);   /* next whitespace-separated word (a copy), NULL at end */
enum gop { G_WRITE, G_READ, G_SLEEP, G_EVERY, G_STOP, G_KICK, G_PRINT,
           G_SHUTDOWN, G_REBOOT, G_CRASH, G_FILL, G_DUMP, G_ON_BUTTON, G_IGNORE_BUTTON,
           G_IRQ_WAIT, G_IRQ_COUNT, G_IRQ_ACK, G_VIRTIO };

/* One parsed guest command. */
struct gcmd {
    enum gop op;
    unsigned space;         /* QST_MEMORY or QST_X86_IO */
    uint64_t addr;
    unsigned size;
    uint64_t value;
    uint64_t ms;            /* sleep, every, irq wait: ms; fill, dump: length */
    int job;                /* stop: job number, 0 = all */
    int irq;                /* irq: the interrupt's index (intr.c) */
    bool has_timeout;       /* irq wait: TIMEOUT_MS given (in ms) */
    char *text;             /* print: text; kick: instance name or NULL */
    struct kick_seq *kick;  /* kick: its -W/-E/-w sequence (guest_kick.c) */
    struct gcmd *sub;       /* every, on button: the command it runs */
    struct gvirtio *virtio; /* virtio: the parsed subcommand (guest_virtio.c) */
    char *src;              /* the command as written, for logs */
};

/* ---- the guest's `kick` (guest_kick.c; GUEST.md) ------------------------ */
/* `kick [NAME] [-E OFF:MASK[:ENABLE]]... [-W OFF:VALUE]... [-w BITS]`, as
 * QNX's wdtkick: -E stores once (before the first kick), -W at every kick. */
struct kick_step {
    bool enable;            /* -E (else -W) */
    uint64_t off;
    uint64_t value;
};
struct kick_seq {
    struct kick_step *steps;
    int n;
    unsigned size;          /* bytes per store (-w BITS / 8), 0 = the device's */
    bool given;             /* -E/-W given (else the device's defaults) */
    bool enabled;           /* the -E stores were done */
};
/* Parses the words after `kick` (p: the rest of the line).  Returns 0, or -1 with err set. */
int kick_parse(const char *p, struct gcmd *c, char *err, size_t errlen);
/* Runs one kick (vCPU thread): `store` does one guest store. */
void kick_run(struct gcmd *c, void (*store)(unsigned space, uint64_t addr, unsigned size, uint64_t value));

struct script {
    struct gcmd *cmds;
    int n;
    char *path;
};
/* Parses one command line (a script line or a console line).  Returns 1 for
 * a command, 0 for nothing (blank or comment), -1 with err set. */
int gcmd_parse(const char *line, struct gcmd *c, char *err, size_t errlen);
/* Returns 0, or -1 if PATH cannot be opened; a bad line is a configuration
 * error (exits 65 naming PATH:LINE). */
int script_load(const char *path, struct script *out);

/* ---- the scripted guest: vCPU, console, jobs (guest.c) --------------- */
extern pthread_mutex_t g_guest_mtx;
extern pthread_cond_t g_guest_cv;
extern bool g_stopping;
bool worker_enter(void);            /* vCPU and timer threads */
void worker_leave(void);
extern _Thread_local int t_busy;
extern struct guest_cpu *g_timer_cpu;   /* the CPU side of timer callbacks */
void guest_stop(void);
void guest_init(void);
void crash_init(void);          /* crash.c: report SIGSEGV & co. on stderr, then die of them */
void guest_start(struct script *script);                  /* vCPU + console */
void guest_status(void);
int guest_button(void);         /* the power button reaches the guest (GUEST.md) */
/* One guest load or store (vCPU thread): a vdev region, guest RAM, or an
 * unsupported reference, as `read`/`write` do.  *value: the value stored,
 * or the value loaded; `quiet`: no console line for a load.  Returns false
 * if the access failed (no vdev or RAM there, a size the vdev refuses, a bus
 * error or an errno from the vdev). */
bool guest_access(bool write, unsigned space, uint64_t addr, unsigned size, uint64_t *value, bool quiet);
/* Stopping? (a long command polls it: g_guest_mtx not held) */
bool guest_stopping(void);

/* ---- the scripted guest as a virtio driver (guest_virtio.c; GUEST.md) - */
struct gvirtio;
/* `virtio SUBCOMMAND ...`: `rest` is the line after the word virtio.
 * Returns 0, or -1 with err set. */
int gvirtio_parse(const char *rest, struct gcmd *c, char *err, size_t errlen);
void gvirtio_run(const struct gcmd *c);         /* vCPU thread */

/* ---- guest timers (timer.c) ----------------------------------------- */
extern uint64_t g_timer_hz;         /* guest timer ticks per second (QVMSIM_TIMER_HZ) */
uint64_t guest_now_ticks(void);     /* guest time: CLOCK_MONOTONIC in guest timer ticks */
void timer_start(void);
void timer_wake(void);

/* ---- guest interrupts (intr.c) -------------------------------------- */
/* Parses PIC:NUM ("gic:33", "ioapic:0x5"); fills the normalised name
 * ("gic:33").  Returns 0, or -1 with *why set. */
int intr_parse(const char *text, char *name, size_t namelen, const char **why);
/* Registers the interrupt NAME (normalised) and returns its guest_intr_t id
 * (1 + index; the same NAME gives the same id). */
uint64_t intr_register(const char *name);
int intr_find(const char *name);            /* index, or -1 */
const char *intr_name(int idx);
uint64_t intr_count(int idx);               /* g_guest_mtx held */
uint64_t intr_seen(int idx);                /* g_guest_mtx held */
void intr_set_seen(int idx, uint64_t seen); /* g_guest_mtx held */

/* ---- guest RAM (ram.c) ------------------------------------------------ */
/* Adds a RAM region (config.c); returns NULL or a message on overlap. */
const char *ram_add(bool has_base, uint64_t base, uint64_t size, uint64_t *placed);
/* Host address of [addr, addr+len) if it lies inside one RAM region. */
uint8_t *ram_ptr(uint64_t addr, uint64_t len);
bool ram_overlaps(uint64_t addr, uint64_t len, uint64_t *rbase, uint64_t *rsize);
void ram_allocate(void);                    /* after config: exits 64 on ENOMEM */

/* ---- pulses (pulse.c) -------------------------------------------------- */
void pulse_start(void);

/* ---- built-in vdevs (builtin.c, builtin_wdt.c, builtin_uart.c) -------- */
/* The built-in vdev NAME (also vdev-NAME[.so]) as a vdev_lib, or NULL. */
struct vdev_lib *builtin_lib(const char *name);
/* Runs `reg` (which calls vdev_register_factory()) as if it were a .so's
 * constructor loading into `lib` (vdev.c). */
void vdev_lib_register(struct vdev_lib *lib, void (*reg)(void));
/* true: `intr` is the factory's own option (a PIC's `intr apic`) */
bool builtin_own_intr(const struct vdev_factory *f);
/* Each registers its factory with vdev_register_factory() (builtin_wdt.c, builtin_uart.c). */
void builtin_register_sp805(void);
void builtin_register_ib700(void);
void builtin_register_pl011(void);
void builtin_register_ser8250(void);
/* CHECK_MODELLED or CHECK_ACCEPTED for a built-in instance (*what: what it is), NULL otherwise */
const char *builtin_fate(const vdev_t *v, const char **what);
/* Calls emit for each built-in vdev with its factory (`qvm --vocabulary`). */
void builtin_vocabulary(void (*emit)(const char *name, bool modelled, const struct vdev_factory *f));

/* ---- `qvm --check` (check.c) ------------------------------------------ */
#define CHECK_MODELLED "modelled"
#define CHECK_ACCEPTED "accepted, not modelled"
#define CHECK_REFUSED "refused"
extern bool g_check;
/* A VM-wide word's line: its fate and what qvmsim does with it (config.c's table). */
void check_word(const char *file, int line, const char *fate, const char *text);
void check_vdev(const vdev_t *v);
void check_refused(const char *file, int line, const char *msg);
QVM_NORETURN void check_done(void);
#endif

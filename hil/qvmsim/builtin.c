/*
 * builtin.c - the vdevs built into qvmsim, stand-ins for the ones QNX ships
 * with qvm, so that a board's own configuration runs unchanged:
 *
 *  - modelled: wdt-sp805, wdt-ib700 (builtin_wdt.c), pl011, ser8250
 *    (builtin_uart.c);
 *  - accepted, not modelled: the platform pieces a configuration names
 *    (interrupt controllers, timers, RTC, keyboard, SMMU), `shmem` (one qvm
 *    has no other guest to share with) and the virtio devices: their
 *    documented options are accepted and checked for a value, an INFO line
 *    says that qvmsim does not model them; a `loc` they were given is
 *    checked but not claimed (no overlap check; guest accesses there are
 *    unsupported references).
 *
 * Each is an ordinary struct vdev_factory registered through
 * vdev_register_factory(), as a vdev-NAME.so's constructor does
 * (vdev_lib_register() in vdev.c runs the registration).  `vdev NAME` (also
 * spelt vdev-NAME or vdev-NAME.so) finds a modelled built-in before any
 * vdev-NAME.so; an accepted-not-modelled one only when no vdev-NAME.so is on
 * the -L / QVMSIM_VDEV_PATH folders (a model of your own wins).
 *
 * Sources: QNX Hypervisor User's Guide, "Virtual Device Reference"
 * (7.0/7.1/8.0 .../com.qnx.doc.hypervisor.user/topic/vdev_ref/vdev_*.html)
 * for the names and options; the cited pages per vdev below.
 */
#include "qvmsim.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One built-in vdev. */
struct builtin {
    const char *name;
    void (*reg)(void);                  /* modelled: registers its factory; NULL: inert */
    const char *what;                   /* for the INFO line and `qvm --check` */
    const char *const *options;         /* inert: its documented options ("0" prefix: a flag) */
    bool own_intr;                      /* inert PIC: `intr` is its own option (e.g. `intr apic`) */
};

static const char *const no_options[] = { NULL };
static const char *const gic_options[] = { "version", NULL };              /* issue 24: `vdev gic version 2` */
static const char *const pic_options[] = { "intr", NULL };                 /* 8.0 share_mem_config.html: `intr apic` */
static const char *const shmem_options[] = { "allow", "create", "deny", "sched", "subst", NULL };  /* 8.0 vdev_shmem */
static const char *const vnet_options[] = { "0legacy", "mac", "peer", "peerfeats", NULL };      /* 8.0 vdev_virtio-net */
static const char *const vblk_options[] = { "delayed", "dio", "hostdev", "0legacy", "threads", NULL }; /* 8.0 virtio-blk */
static const char *const vcon_options[] = { "batch", "delayed", "hostdev", "0legacy", "sched", NULL };
static const char *const vlegacy_options[] = { "0legacy", NULL };

static const struct builtin builtins[] = {
    { "wdt-sp805", builtin_register_sp805, "the SP805 watchdog (registers, two count-downs, action)", NULL, false },
    { "wdt-ib700", builtin_register_ib700, "the IB700 watchdog (ports 0x441/0x443, time-out table, action)", NULL,
      false },
    { "pl011", builtin_register_pl011, "the PL011 UART: output to the guest console (qvm's stdout), no input", NULL,
      false },
    { "ser8250", builtin_register_ser8250, "the 8250 UART: output to the guest console (qvm's stdout), no input",
      NULL, false },
    { "gic", NULL, "the ARM interrupt controller (the scripted guest's interrupts need none)", gic_options, false },
    { "ioapic", NULL, "the x86 I/O APIC (the scripted guest's interrupts need none)", pic_options, true },
    { "pic", NULL, "the x86 8259 interrupt controller", pic_options, true },
    { "timer8254", NULL, "the 8254 timer (the scripted guest reads no time)", no_options, false },
    { "hpet", NULL, "the HPET timer", no_options, false },
    { "mc146818", NULL, "the MC146818 real-time clock", no_options, false },
    { "pckeyboard", NULL, "the PC keyboard controller", no_options, false },
    { "smmu", NULL, "the SMMU (qvmsim does no DMA translation)", no_options, false },
    { "shmem", NULL, "inter-guest shared memory (one qvm has no other guest to share with)", shmem_options, false },
    { "virtio-net", NULL, "a virtio network device", vnet_options, false },
    { "virtio-blk", NULL, "a virtio block device", vblk_options, false },
    { "virtio-console", NULL, "a virtio console", vcon_options, false },
    { "virtio-entropy", NULL, "a virtio entropy source", vlegacy_options, false },
    { "virtio-input", NULL, "a virtio input device", vlegacy_options, false },
};
#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

struct builtin_lib {
    const struct builtin *b;
    struct vdev_lib lib;
    struct vdev_factory inert;          /* the factory of an inert one */
};
static struct builtin_lib *loaded[N_BUILTINS];

/* NAME, vdev-NAME or vdev-NAME.so -> NAME; NULL for a path. */
static const char *bare_name(const char *name, char *buf, size_t len)
{
    if (strchr(name, '/') != NULL)
        return NULL;
    snprintf(buf, len, "%s", name);
    size_t n = strlen(buf);
    if (n > 3 && strcmp(buf + n - 3, ".so") == 0)
        buf[n - 3] = '\0';
    if (strncmp(buf, "vdev-", 5) == 0)
        memmove(buf, buf + 5, strlen(buf + 5) + 1);
    return buf;
}

static const struct builtin *find(const char *name)
{
    char buf[256];
    const char *bare = bare_name(name, buf, sizeof buf);
    for (size_t i = 0; bare != NULL && i < N_BUILTINS; i++) {
        if (strcmp(builtins[i].name, bare) == 0)
            return &builtins[i];
    }
    return NULL;
}

/* A vdev-NAME.so of the user's on the -L / QVMSIM_VDEV_PATH folders? */
static bool user_so_exists(const char *name)
{
    for (int i = 0; i < g_nvdev_path; i++) {
        char cand[4096];
        struct stat st;
        snprintf(cand, sizeof cand, "%s/vdev-%s.so", g_vdev_path[i], name);
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode))
            return true;
    }
    return false;
}

static int inert_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)arg;
    if (ctrl == VDEV_CTRL_ASSIGN && vdp->v_block.location != QSL_NO_LOCATION) {
        /* its `loc` is checked, not claimed: no overlap checks, the guest's accesses there are
         * unsupported references (a board's own layout, e.g. a shmem factory page in RAM, runs) */
        vdev_logf(QL_QVM_DEBUG, vdp, "loc %s0x%llx: checked, not claimed (not modelled)",
                  vdp->v_block.qst_type == QST_X86_IO ? "io:" : "", (unsigned long long)vdp->v_block.location);
        vdp->v_block.location = QSL_NO_LOCATION;
    }
    if (ctrl == VDEV_CTRL_GUEST_CONFIGURED) {
        const struct builtin *b = find(vdp->v_factory->name);
        vdev_logf(QL_QVM_INFO, vdp, "accepted, not modelled by qvmsim: %s; its options are checked, its loc is not "
                  "claimed", b != NULL ? b->what : "a QNX vdev");
    }
    return EOK;
}

static void register_inert(void);
static struct vdev_factory *registering;

static void register_inert(void)
{
    vdev_register_factory(registering, QVM_VDEV_ABI);
}

struct vdev_lib *builtin_lib(const char *name)
{
    const struct builtin *b = find(name);
    if (b == NULL || (b->reg == NULL && user_so_exists(b->name)))
        return NULL;
    size_t i = (size_t)(b - builtins);
    if (loaded[i] != NULL)
        return &loaded[i]->lib;
    struct builtin_lib *bl = xcalloc(1, sizeof *bl);
    bl->b = b;
    bl->lib.name = xstrdup(b->name);
    bl->lib.path = xstrdup("(built into qvmsim)");
    if (b->reg != NULL) {
        vdev_lib_register(&bl->lib, b->reg);
    } else {
        bl->inert.control = inert_control;
        bl->inert.option_list = b->options;
        bl->inert.name = b->name;
        bl->inert.factory_flags = VFF_MUTEX | (b->own_intr ? VFF_INTR_NO : 0);
        registering = &bl->inert;
        vdev_lib_register(&bl->lib, register_inert);
        registering = NULL;
    }
    loaded[i] = bl;
    qlog(QL_QVM_DEBUG, "vdev '%s': built into qvmsim (%s)", b->name, b->reg != NULL ? "modelled" : "not modelled");
    return &bl->lib;
}

bool builtin_own_intr(const struct vdev_factory *f)
{
    const struct builtin *b = f->name != NULL ? find(f->name) : NULL;
    return b != NULL && b->own_intr && loaded[b - builtins] != NULL && f == &loaded[b - builtins]->inert;
}

const char *builtin_fate(const vdev_t *v, const char **what)
{
    const struct qvmsim_vdev_private *p = v->qvmsim_private;
    for (size_t i = 0; i < N_BUILTINS; i++) {
        if (loaded[i] != NULL && p->lib == &loaded[i]->lib) {
            *what = builtins[i].what;
            return builtins[i].reg != NULL ? CHECK_MODELLED : CHECK_ACCEPTED;
        }
    }
    *what = NULL;
    return NULL;
}

void builtin_vocabulary(void (*emit)(const char *name, bool modelled, const struct vdev_factory *f))
{
    for (size_t i = 0; i < N_BUILTINS; i++) {
        struct vdev_lib *lib = builtin_lib(builtins[i].name);
        for (const struct vdev_factory *f = lib != NULL ? lib->factories : NULL; f != NULL; f = f->next)
            emit(builtins[i].name, builtins[i].reg != NULL, f);
    }
}

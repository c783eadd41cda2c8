/*
 * vdev.c - loading vdev-NAME.so, factory registration, instances, and the
 * wrappers qvmsim calls vdev callbacks through (current-vdev tracking and
 * VFF_MUTEX).
 */
#include "qvmsim.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

vdev_t **g_vdevs;
int g_nvdevs;
_Thread_local vdev_t *t_cur_vdev;
_Thread_local pthread_mutex_t *t_held_mtx;
_Thread_local int t_cur_ctrl = -1;
char **g_vdev_path;
int g_nvdev_path;

static struct vdev_lib *libs;
static struct vdev_lib *loading;    /* the .so whose constructor runs now */

void vdev_register_factory(struct vdev_factory *factory, unsigned abi_version)
{
    if (loading == NULL) {
        qlog(QL_QVM_ERR, "vdev_register_factory() called outside a vdev's constructor: ignored");
        return;
    }
    if (abi_version != QVM_VDEV_ABI) {
        if (!loading->bad_abi_seen) {
            loading->bad_abi_seen = true;
            loading->bad_abi = abi_version;
        }
        return;
    }
    factory->next = loading->factories;
    loading->factories = factory;
}

void vdev_lib_register(struct vdev_lib *lib, void (*reg)(void))
{
    loading = lib;
    reg();
    loading = NULL;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Coverage builds of a vdev (hil's --hil-coverage) carry a visible
 * qvmsim_coverage_flush() that calls libgcov's __gcov_dump() (hidden in the
 * .so, so not found by dlsym itself).  qvmsim ends with _exit(), which runs no
 * destructor, so it calls each loaded vdev's flush first: the counters of every
 * ending that reaches finish() (guest_terminate, qvm_fatal, the signals qvmsim
 * handles) are written; a SIGKILL writes none.  In a sanitizer build of
 * qvmsim the leak check runs here too. */
void qvmsim_flush_at_exit(void)
{
    for (struct vdev_lib *l = libs; l != NULL; l = l->next) {
        void (*flush)(void) = NULL;
        *(void **)&flush = dlsym(l->handle, "qvmsim_coverage_flush");
        if (flush != NULL)
            flush();
    }
#if defined(__SANITIZE_ADDRESS__)
    /* a sanitizer build (hil's --hil-sanitize): LeakSanitizer's own check runs
     * at exit(), never at _exit(): the leaks are reported here, at qvm's end */
    __lsan_do_recoverable_leak_check();
#endif
}

/* NAME of a `vdev` word: "wdog", "vdev-wdog.so" (a spelling real configurations
 * use: the file name, found as NAME is) or a path ".../vdev-wdog.so" (its file
 * name's NAME).  Writes the bare NAME into buf. */
static void bare_name(const char *word, char *buf, size_t len)
{
    const char *base = strrchr(word, '/') ? strrchr(word, '/') + 1 : word;
    size_t n = strlen(base);
    if (strncmp(base, "vdev-", 5) == 0 && n > 8 && strcmp(base + n - 3, ".so") == 0)
        snprintf(buf, len, "%.*s", (int)(n - 8), base + 5);
    else
        snprintf(buf, len, "%s", base);
}

struct vdev_lib *vdev_lib_load(const char *word, const char *file, int line)
{
    char bare[256];
    bare_name(word, bare, sizeof bare);
    /* `vdev vdev-NAME.so` is `vdev NAME`; a path stays a path */
    const char *name = strchr(word, '/') != NULL ? word : bare;
    for (struct vdev_lib *l = libs; l != NULL; l = l->next) {
        if (strcmp(l->name, name) == 0)
            return l;           /* one .so loaded once */
    }
    char path[4096];
    path[0] = '\0';
    if (strchr(name, '/') != NULL) {
        snprintf(path, sizeof path, "%s", name);
    } else {
        for (int i = 0; i < g_nvdev_path && path[0] == '\0'; i++) {
            char cand[4096];
            snprintf(cand, sizeof cand, "%s/vdev-%s.so", g_vdev_path[i], name);
            if (is_file(cand))
                snprintf(path, sizeof path, "%s", cand);
        }
        if (path[0] == '\0')    /* normal library search: LD_LIBRARY_PATH etc. */
            snprintf(path, sizeof path, "vdev-%s.so", name);
    }
    struct vdev_lib *lib = xcalloc(1, sizeof *lib);
    lib->name = xstrdup(name);
    lib->path = xstrdup(path);
    loading = lib;
    dlerror();
    lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    loading = NULL;
    if (lib->handle == NULL) {
        const char *err = dlerror();
        if (strchr(path, '/') == NULL && err != NULL && strstr(err, "cannot open shared object file") != NULL)
            cfg_fatal(file, line,
                      "vdev '%s' not found: no vdev-%s.so on the -L path, QVMSIM_VDEV_PATH or LD_LIBRARY_PATH",
                      name, name);
        cfg_fatal(file, line, "vdev '%s': cannot load '%s': %s", name, path, err ? err : "unknown error");
    }
    if (lib->bad_abi_seen)
        cfg_fatal(file, line,
                  "vdev '%s' (%s) registered with ABI number 0x%x but qvmsim implements ABI 0x%x "
                  "(QVM_VDEV_ABI): refused; rebuild the vdev against these headers",
                  name, path, lib->bad_abi, (unsigned)QVM_VDEV_ABI);
    if (lib->factories == NULL)
        cfg_fatal(file, line, "vdev '%s' (%s) registered no factory (no constructor calling vdev_register_factory?)",
                  name, path);
    /* a factory registered with .name = NULL gets the vdev's name, as qvm patches it
     * (QNX's qvmterm sample: `.name = NULL, // patched`) */
    for (struct vdev_factory *f = lib->factories; f != NULL; f = f->next) {
        if (f->name == NULL)
            f->name = xstrdup(bare);
    }
    lib->next = libs;
    libs = lib;
    qlog(QL_QVM_DEBUG, "loaded vdev '%s' from %s", name, path);
    return lib;
}

vdev_t *vdev_instance_new(struct vdev_lib *lib, const char *name, const char *file, int line)
{
    struct vdev_factory *f = NULL;
    char base[256];
    bare_name(name, base, sizeof base);
    for (struct vdev_factory *c = lib->factories; c != NULL; c = c->next) {
        if (c->name != NULL && strcmp(c->name, base) == 0)
            f = c;
    }
    if (f == NULL) {
        for (struct vdev_factory *c = lib->factories; c != NULL; c = c->next)
            f = c;              /* the first registered */
    }
    vdev_t *v = xcalloc(1, sizeof *v);
    struct qvmsim_vdev_private *p = xcalloc(1, sizeof *p);
    if (f->extra_space > 0)
        v->v_device = xcalloc(1, f->extra_space);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    if (f->factory_flags & VFF_MUTEX_RECURSIVE)
        pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&v->v_mtx, &ma);
    pthread_mutexattr_destroy(&ma);
    v->v_block.qst_type = (f->factory_flags & VFF_VDEV_X86_IO) ? QST_X86_IO : QST_MEMORY;
    v->v_block.location = QSL_NO_LOCATION;
    v->v_factory = f;
    {
        struct sched_param sp;
        int policy;
        if (pthread_getschedparam(pthread_self(), &policy, &sp) == 0) {
            v->v_sched.sched = sp;
            v->v_sched.policy = policy;
        }
    }
    v->v_block.length = v->v_block.qst_type == QST_X86_IO ? QVMSIM_DEFAULT_IO_LENGTH
                                                          : QVMSIM_DEFAULT_MEM_LENGTH;
    p->factory = f;
    p->lib = lib;
    p->vdev_name = xstrdup(base);
    p->file = file;
    p->line = line;
    p->index = g_nvdevs;
    v->qvmsim_private = p;
    g_vdevs = xreallocarray(g_vdevs, (size_t)g_nvdevs + 1, sizeof *g_vdevs);
    g_vdevs[g_nvdevs++] = v;
    return v;
}

const char *vdev_source(vdev_t const *vdp)
{
    const struct qvmsim_vdev_private *p = vdp->qvmsim_private;
    if (p == NULL)
        return "vdev";
    if (p->inst_name != NULL && p->inst_name[0] != '\0')
        return p->inst_name;
    return p->vdev_name;
}

const char *qvmsim_vdev_name(const vdev_t *vdp)
{
    return vdp != NULL ? vdev_source(vdp) : NULL;
}

const char *qvmsim_vdev_intr(const vdev_t *vdp)
{
    return vdp != NULL && vdp->qvmsim_private != NULL ? vdp->qvmsim_private->intr_text : NULL;
}

const char *ctrl_name(unsigned ctrl)
{
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START: return "VDEV_CTRL_OPTIONS_START";
    case VDEV_CTRL_OPTIONS_END: return "VDEV_CTRL_OPTIONS_END";
    case VDEV_CTRL_ASSIGN: return "VDEV_CTRL_ASSIGN";
    case VDEV_CTRL_GUEST_CONFIGURED: return "VDEV_CTRL_GUEST_CONFIGURED";  /* = VDEV_CTRL_BOOTUP */
    case VDEV_CTRL_GEN_ACPI: return "VDEV_CTRL_GEN_ACPI";
    case VDEV_CTRL_GEN_FDT: return "VDEV_CTRL_GEN_FDT";
    case VDEV_CTRL_PCI_BARS: return "VDEV_CTRL_PCI_BARS";
    case VDEV_CTRL_GUEST_STARTING: return "VDEV_CTRL_GUEST_STARTING";
    case VDEV_CTRL_TERMINATE: return "VDEV_CTRL_TERMINATE";
    case VDEV_CTRL_STATUS: return "VDEV_CTRL_STATUS";
    case VDEV_CTRL_BUTTON: return "VDEV_CTRL_BUTTON";
    default: return "VDEV_CTRL_FIRST_OPTIDX+n";
    }
}

void vd_enter(vdev_t *vdp, vdev_t **saved_vdp, pthread_mutex_t **saved_mtx)
{
    *saved_vdp = t_cur_vdev;
    *saved_mtx = t_held_mtx;
    t_cur_vdev = vdp;
    if (vdp->qvmsim_private->factory->factory_flags & (VFF_MUTEX | VFF_MUTEX_RECURSIVE)) {
        pthread_mutex_lock(&vdp->v_mtx);
        t_held_mtx = &vdp->v_mtx;
    } else {
        t_held_mtx = NULL;
    }
}

void vd_leave(vdev_t *vdp, vdev_t *saved_vdp, pthread_mutex_t *saved_mtx)
{
    if (t_held_mtx == &vdp->v_mtx)
        pthread_mutex_unlock(&vdp->v_mtx);
    t_cur_vdev = saved_vdp;
    t_held_mtx = saved_mtx;
}

int vd_control(vdev_t *vdp, unsigned ctrl, const char *arg)
{
    struct vdev_factory *f = vdp->qvmsim_private->factory;
    if (f->control == NULL)
        return EOK;
    vdev_t *sv;
    pthread_mutex_t *sm;
    if (ctrl < VDEV_CTRL_FIRST_OPTIDX)
        qlog(QL_QVM_DEBUG, "%s -> vdev '%s'", ctrl_name(ctrl), vdev_source(vdp));
    int saved_ctrl = t_cur_ctrl;
    vd_enter(vdp, &sv, &sm);
    t_cur_ctrl = (int)ctrl;
    int rc = f->control(vdp, ctrl, arg);
    t_cur_ctrl = saved_ctrl;
    vd_leave(vdp, sv, sm);
    return rc;
}

vdev_t *vdev_at(unsigned type, uint64_t addr, unsigned size)
{
    for (int i = 0; i < g_nvdevs; i++) {
        vdev_t *v = g_vdevs[i];
        if (v->v_block.location == QSL_NO_LOCATION || v->v_block.qst_type != type)
            continue;
        uint64_t lo = v->v_block.location, len = v->v_block.length;
        if (addr >= lo && addr - lo < len && size <= len - (addr - lo))
            return v;
    }
    return NULL;
}

vdev_t *vdev_by_name(const char *name)
{
    for (int i = 0; i < g_nvdevs; i++) {
        if (strcmp(vdev_source(g_vdevs[i]), name) == 0)
            return g_vdevs[i];
    }
    return NULL;
}

/* ---- vdev_thread_create ---------------------------------------------- */

struct thread_start {
    vdev_t *vdp;
    void *(*start)(void *);
    void *arg;
};

static void *thread_trampoline(void *p)
{
    struct thread_start ts = *(struct thread_start *)p;
    free(p);
    t_cur_vdev = ts.vdp;
    t_held_mtx = NULL;
    return ts.start(ts.arg);
}

int vdev_thread_create(const vdev_t *vdp, const char *name, pthread_t *thread,
                       pthread_attr_t *attr, vdev_thread_create_func_t start, void *arg)
{
    if (atomic_load(&g_phase) < PHASE_SETUP) {
        qlog(QL_QVM_ERR, "vdev '%s': vdev_thread_create() before VDEV_CTRL_GUEST_CONFIGURED refused",
             vdp ? vdev_source(vdp) : "?");
        return EPERM;
    }
    struct thread_start *ts = malloc(sizeof *ts);
    if (ts == NULL)             /* not xmalloc: the vdev gets ENOMEM */
        return ENOMEM;
    ts->vdp = (vdev_t *)vdp;
    ts->start = start;
    ts->arg = arg;
    pthread_t tid;
    int rc = pthread_create(&tid, attr, thread_trampoline, ts);
    if (rc != 0) {
        free(ts);
        return rc;
    }
    if (name != NULL) {
        char short_name[16];
        snprintf(short_name, sizeof short_name, "%s", name);
        pthread_setname_np(tid, short_name);
    }
    if (thread != NULL)
        *thread = tid;
    return EOK;
}

/*
 * crash.c - what qvm writes when a vdev (or qvm itself) crashes it.
 *
 * A handler for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT (on an alternate
 * signal stack in the main thread, so a stack overflow is reported too)
 * writes a block of lines to stderr, then re-raises the signal with the
 * default action: qvm still ends "killed by SIGSEGV", as a real qvm would.
 * Everything in the handler is async-signal-safe (write, open, read, prctl,
 * glibc's backtrace(), preloaded at start):
 *
 *   qvmsim crash: signal 11 (SIGSEGV) code 1 address 0x10 pc 0x7f.. thread qvm-guest
 *   qvmsim crash: frame #0 0x7f.. /path/vdev-trace.so+0x1234
 *   qvmsim crash: map 7f..-7f.. r-xp 00001000 08:01 1234 /path/vdev-trace.so
 *   qvmsim crash: end
 *
 * A frame's "+0x..." is its offset from the load base of the file it falls in
 * (the start of that file's mapping at file offset 0): what addr2line takes
 * for a shared object.  Frame addresses are raw; the host symbolises them.
 */
#include "qvmsim.h"

#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#define CRASH_FRAMES 48
#define CRASH_MAPS 256

static char alt_stack[64 * 1024];
static char maps_buf[128 * 1024];
static struct map {
    uintptr_t start, end, offset;
    const char *path;           /* into maps_buf, NUL-terminated */
    const char *line;           /* the whole line, NUL-terminated */
} maps[CRASH_MAPS];
static int nmaps;
static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

static void put(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_num(uintptr_t v, unsigned base)
{
    char buf[32];
    int i = (int)sizeof buf - 1;
    buf[i] = '\0';
    do {
        buf[--i] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0 && i > 2);
    if (base == 16) {
        buf[--i] = 'x';
        buf[--i] = '0';
    }
    put(buf + i);
}

static uintptr_t parse_hex(const char **p)
{
    uintptr_t v = 0;
    for (;;) {
        char c = **p;
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return v;
        v = v * 16 + d;
        (*p)++;
    }
}

/* Read /proc/self/maps into maps[] (file-backed lines only). */
static void read_maps(void)
{
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0)
        return;
    size_t len = 0;
    ssize_t r;
    while (len < sizeof maps_buf - 1 && (r = read(fd, maps_buf + len, sizeof maps_buf - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    maps_buf[len] = '\0';
    char *line = maps_buf;
    while (*line != '\0' && nmaps < CRASH_MAPS) {
        char *eol = strchr(line, '\n');
        if (eol != NULL)
            *eol = '\0';
        const char *p = line;
        struct map m = { 0, 0, 0, NULL, line };
        m.start = parse_hex(&p);
        if (*p == '-')
            p++;
        m.end = parse_hex(&p);
        p = strchr(p, ' ');                 /* perms */
        if (p != NULL)
            p = strchr(p + 1, ' ');         /* offset */
        if (p != NULL) {
            p++;
            m.offset = parse_hex(&p);
            m.path = strchr(p, '/');
        }
        if (m.path != NULL)
            maps[nmaps++] = m;
        if (eol == NULL)
            break;
        line = eol + 1;
    }
}

static const struct map *map_of(uintptr_t addr)
{
    for (int i = 0; i < nmaps; i++)
        if (addr >= maps[i].start && addr < maps[i].end)
            return &maps[i];
    return NULL;
}

static uintptr_t load_base(const struct map *m)
{
    for (int i = 0; i < nmaps; i++)
        if (maps[i].offset == 0 && strcmp(maps[i].path, m->path) == 0)
            return maps[i].start;
    return m->start - m->offset;
}

static const char *sig_text(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    default: return "?";
    }
}

static void on_crash(int sig, siginfo_t *si, void *ucv)
{
    uintptr_t pc = 0;
    const ucontext_t *uc = (const ucontext_t *)ucv;
#if defined(__x86_64__)
    pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    pc = (uintptr_t)uc->uc_mcontext.pc;
#else
    (void)uc;
#endif
    char thread[17] = "";
    prctl(PR_GET_NAME, thread, 0, 0, 0);
    put("qvmsim crash: signal ");
    put_num((uintptr_t)sig, 10);
    put(" (");
    put(sig_text(sig));
    put(") code ");
    put_num((uintptr_t)(si->si_code < 0 ? 0 : si->si_code), 10);
    put(" address ");
    put_num((uintptr_t)si->si_addr, 16);
    put(" pc ");
    put_num(pc, 16);
    put(" thread ");
    put(thread[0] ? thread : "?");
    put("\n");
    read_maps();
    void *frames[CRASH_FRAMES];
    int n = backtrace(frames, CRASH_FRAMES);
    for (int i = 0; i < n; i++) {
        uintptr_t a = (uintptr_t)frames[i];
        const struct map *m = map_of(a);
        put("qvmsim crash: frame #");
        put_num((uintptr_t)i, 10);
        put(" ");
        put_num(a, 16);
        if (m != NULL) {
            put(" ");
            put(m->path);
            put("+");
            put_num(a - load_base(m), 16);
        }
        put("\n");
    }
    for (int i = 0; i < nmaps; i++) {
        const char *base = strrchr(maps[i].path, '/');
        if (base != NULL && strncmp(base, "/vdev-", 6) == 0) {
            put("qvmsim crash: map ");
            put(maps[i].line);
            put("\n");
        }
    }
    put("qvmsim crash: end\n");
    /* SA_RESETHAND restored the default action; the signal is blocked while we
     * run, so it is delivered (and kills qvm) when this handler returns */
    raise(sig);
}

void crash_init(void)
{
    void *warm[2];
    backtrace(warm, 2);     /* loads libgcc's unwinder now, not in the handler */
    stack_t ss = { .ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        sigaction(crash_signals[i], &sa, NULL);
}

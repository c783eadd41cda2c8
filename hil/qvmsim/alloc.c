/*
 * alloc.c - qvmsim's one way to handle running out of memory: xmalloc,
 * xcalloc, xrealloc, xreallocarray, xstrdup and xstrndup never return NULL.
 * On failure they log one FATAL line, "out of memory allocating N bytes",
 * and end qvm like a non-configuration qvm_fatal(): status 64 before the
 * guest started, 96 once it has (QVMSIM_EXIT_FATAL_*).
 *
 * Never call them with g_guest_mtx held: ending qvm from a guest worker
 * thread takes that mutex (worker_leave).
 *
 * The few allocations that do not use them fail in a way the caller
 * handles, each with a comment where it is: the guest RAM (ram_allocate:
 * its own FATAL line naming the option 'ram'), vdev_thread_create() and
 * qvmsim_pulse_deliver() (ENOMEM to the vdev), vdev_pulse() (an ERROR
 * line; the event is refused later) and the SIGUSR2 dump's memory stream
 * (no dump).
 */
#include "qvmsim.h"

#include <stdlib.h>
#include <string.h>

QVM_NORETURN static void out_of_memory(size_t bytes)
{
    qlog(QL_QVM_FATAL, "out of memory allocating %zu bytes", bytes);
    qvmsim_end(atomic_load(&g_phase) >= PHASE_STARTED ? QVMSIM_EXIT_FATAL_AFTER_START
                                                      : QVMSIM_EXIT_FATAL_BEFORE_START);
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        out_of_memory(SIZE_MAX);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *xrealloc(void *p, size_t size)
{
    void *np = realloc(p, size ? size : 1);
    if (np == NULL)
        out_of_memory(size);
    return np;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        out_of_memory(SIZE_MAX);
    return xrealloc(p, n * size);
}

char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

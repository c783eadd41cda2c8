/*
 * slog2info - qvmsim's stand-in for QNX's slog2info (NOT QNX's program).
 *
 * Reads the slog2-style buffer-set files qvmsim's `slog` destination writes
 * ($QVMSIM_SLOG2_DIR or /tmp/slog2, one file <buffer set>.<pid>, one record a
 * line: "<realtime sec>.<usec> TAB <severity> TAB <buffer> TAB <pid> TAB <message>"
 * with \\, \n and \t escaped) and prints them, oldest first, in slog2info's
 * format, which qnx-hil parses on real QNX boards (hil/qvmrun/slog2.py):
 *
 *   Jan 01 00:00:04.284    qvm.123456                qvm   0  INFO qvm: text
 *
 * date and time to the millisecond, <buffer set>.<pid>, the buffer name, the
 * log code (always 0 here) and the message; a message's further lines follow
 * on lines of their own.
 *
 *   slog2info [-b buffer_set] [-w] [-h] [-V]
 *     -b NAME  only the buffer set NAME (may be given more than once)
 *     -w       wait for new records (until killed)
 *
 * Built like qvmsim (gcc, flags.mk) and shipped in the public QEMU image as
 * /usr/bin/slog2info.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STANDIN "slog2info (qvmsim's stand-in for QNX slog2info; not QNX software)"
#define MAX_SETS 16

struct record {
    double t;
    long seq;
    char set[256];
    char *line;     /* the raw record line (owned) */
};

static const char *sets[MAX_SETS];
static int nsets;

static int wanted(const char *name)
{
    if (nsets == 0)
        return 1;
    for (int i = 0; i < nsets; i++) {
        size_t n = strlen(sets[i]);
        if (strncmp(name, sets[i], n) == 0 && name[n] == '.')
            return 1;
    }
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct record *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void print_record(const struct record *r)
{
    char *fields[5];
    char *p = r->line;
    for (int i = 0; i < 4; i++) {
        fields[i] = p;
        p = strchr(p, '\t');
        if (p == NULL)
            return;             /* a torn or foreign line: skip it */
        *p++ = '\0';
    }
    fields[4] = p;
    time_t sec = (time_t)strtoll(fields[0], NULL, 10);
    const char *dot = strchr(fields[0], '.');
    long ms = dot ? strtol(dot + 1, NULL, 10) / 1000 : 0;
    struct tm tm;
    localtime_r(&sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%b %d %H:%M:%S", &tm);
    char who[160];
    snprintf(who, sizeof who, "%.*s.%s", (int)(strchr(r->set, '.') - r->set), r->set, fields[3]);
    printf("%s.%03ld %-24s %-10s %d  ", when, ms, who, fields[2], 0);
    for (const char *m = fields[4]; *m != '\0'; m++) {
        if (*m == '\\' && m[1] != '\0') {
            m++;
            putchar(*m == 'n' ? '\n' : *m == 't' ? '\t' : *m);
        } else if (*m != '\n') {
            putchar(*m);
        }
    }
    putchar('\n');
}

/* Print every record newer than *after (seconds); returns the newest time seen. */
static double dump(const char *dir, double after)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return after;
    struct record *recs = NULL;
    size_t n = 0, cap = 0;
    long seq = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strchr(e->d_name, '.') == NULL || !wanted(e->d_name))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        char *line = NULL;
        size_t len = 0;
        ssize_t got;
        while ((got = getline(&line, &len, f)) > 0) {
            if (line[got - 1] != '\n')
                break;          /* still being written */
            double t = strtod(line, NULL);
            if (t <= after)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                recs = realloc(recs, cap * sizeof *recs);
                if (recs == NULL) {
                    perror("slog2info");
                    exit(1);
                }
            }
            recs[n].t = t;
            recs[n].seq = seq++;
            snprintf(recs[n].set, sizeof recs[n].set, "%s", e->d_name);
            recs[n].line = strdup(line);
            n++;
        }
        free(line);
        fclose(f);
    }
    closedir(d);
    qsort(recs, n, sizeof *recs, by_time);
    double newest = after;
    for (size_t i = 0; i < n; i++) {
        print_record(&recs[i]);
        if (recs[i].t > newest)
            newest = recs[i].t;
        free(recs[i].line);
    }
    free(recs);
    fflush(stdout);
    return newest;
}

int main(int argc, char **argv)
{
    int follow = 0, c;
    while ((c = getopt(argc, argv, "b:whV")) != -1) {
        switch (c) {
        case 'b':
            if (nsets < MAX_SETS)
                sets[nsets++] = optarg;
            break;
        case 'w':
            follow = 1;
            break;
        case 'V':
            puts(STANDIN);
            return 0;
        case 'h':
            printf("%s\nusage: slog2info [-b buffer_set]... [-w]\n"
                   "  reads $QVMSIM_SLOG2_DIR (default /tmp/slog2), written by qvmsim's `slog` destination\n",
                   STANDIN);
            return 0;
        default:
            fprintf(stderr, "usage: slog2info [-b buffer_set]... [-w] [-h] [-V]\n");
            return 2;
        }
    }
    const char *dir = getenv("QVMSIM_SLOG2_DIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp/slog2";
    double seen = dump(dir, -1.0);
    while (follow) {
        usleep(100000);
        seen = dump(dir, seen);
    }
    return 0;
}

/*
 * guest_parse.c - the guest language (GUEST.md): one command line into a
 * struct gcmd, and a guest script (`load`) into a struct script.  A bad
 * script line is a configuration error; a bad console line is logged by
 * guest.c.  Running the commands is guest.c's.
 */
#include "qvmsim.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Next whitespace-separated word of *p (NULL at end; a copy the caller frees); *p advances. */
char *guest_word(const char **p)
{
    const char *s = *p;
    while (*s && isspace((unsigned char)*s))
        s++;
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    const char *e = s;
    while (*e && !isspace((unsigned char)*e))
        e++;
    *p = e;
    return xstrndup(s, (size_t)(e - s));
}

/* The next two words, and a third if a3 is not NULL.  Returns 0, or -1 if
 * one is missing (the words taken are still the caller's to free). */
static int take_args(const char **p, char **a1, char **a2, char **a3)
{
    *a1 = guest_word(p);
    *a2 = guest_word(p);
    if (a3 != NULL)
        *a3 = guest_word(p);
    return *a1 == NULL || *a2 == NULL || (a3 != NULL && *a3 == NULL) ? -1 : 0;
}

static int parse_u64(const char *w, uint64_t *out)
{
    if (w == NULL || *w == '\0' || *w == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(w, &end, 0);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_addr(const char *w, unsigned *space, uint64_t *addr)
{
    *space = QST_MEMORY;
    if (w != NULL && strncmp(w, "io:", 3) == 0) {
        *space = QST_X86_IO;
        w += 3;
    } else if (w != NULL && strncmp(w, "mem:", 4) == 0) {
        w += 4;
    }
    return parse_u64(w, addr);
}

#define GUEST_MAX_FILL 65536u     /* bytes of one `fill` or `dump` */

#define PERR(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

static int parse_cmd(const char *line, struct gcmd *c, char *err, size_t errlen, bool nested);

/* The command of `every` or `on button`: the rest of the line, into a new
 * c->sub.  Returns 0, or -1 with err set (`missing` if there is none). */
static int parse_sub(const char *rest, struct gcmd *c, char *err, size_t errlen, bool nested,
                     const char *missing)
{
    c->sub = xcalloc(1, sizeof *c->sub);
    int rc = parse_cmd(rest, c->sub, err, errlen, nested);
    if (rc == 0)
        snprintf(err, errlen, "%s", missing);
    return rc > 0 ? 0 : -1;
}

/* gcmd_parse(); `nested`: the command of `every` (no sleep, every, irq wait,
 * on button or ignore button). */
static int parse_cmd(const char *line, struct gcmd *c, char *err, size_t errlen, bool nested)
{
    memset(c, 0, sizeof *c);
    char *buf = xstrdup(line);
    char *hash = strchr(buf, '#');
    const char *p = buf;
    char *op = NULL, *a1 = NULL, *a2 = NULL, *a3 = NULL, *extra = NULL;
    int result = -1;            /* until the command is complete */
    op = guest_word(&p);
    if (op == NULL || op[0] == '#') {
        free(op);
        free(buf);
        return 0;
    }
    if (strcmp(op, "print") == 0) {     /* rest of the line verbatim, '#' included */
        while (*p == ' ' || *p == '\t')
            p++;
        c->op = G_PRINT;
        c->text = xstrdup(p);
        size_t l = strlen(c->text);
        while (l > 0 && (c->text[l - 1] == '\n' || c->text[l - 1] == '\r'))
            c->text[--l] = '\0';
        goto ok;
    }
    if (hash != NULL)
        *hash = '\0';
    if (strcmp(op, "write") == 0 || strcmp(op, "read") == 0) {
        bool wr = op[0] == 'w';
        c->op = wr ? G_WRITE : G_READ;
        if (take_args(&p, &a1, &a2, wr ? &a3 : NULL) != 0)
            PERR("'%s' needs %s", op, wr ? "ADDR SIZE VALUE" : "ADDR SIZE");
        if (parse_addr(a1, &c->space, &c->addr) != 0)
            PERR("bad address '%s' (a number like 0x1000 or io:0x441)", a1);
        uint64_t sz;
        if (parse_u64(a2, &sz) != 0 || (sz != 1 && sz != 2 && sz != 4 && sz != 8))
            PERR("bad size '%s' (1, 2, 4 or 8)", a2);
        c->size = (unsigned)sz;
        if (wr && parse_u64(a3, &c->value) != 0)
            PERR("bad value '%s'", a3);
    } else if (strcmp(op, "sleep") == 0 || strcmp(op, "every") == 0) {
        bool every = op[0] == 'e';
        if (nested)
            PERR("'%s' cannot be the command of 'every'", op);
        c->op = every ? G_EVERY : G_SLEEP;
        a1 = guest_word(&p);
        if (a1 == NULL || parse_u64(a1, &c->ms) != 0 || (every && c->ms == 0))
            PERR("bad milliseconds '%s' for '%s'", a1 ? a1 : "", op);
        if (every && parse_sub(p, c, err, errlen, true, "'every' needs a command after the period") < 0)
            goto fail;
    } else if (strcmp(op, "fill") == 0 || strcmp(op, "dump") == 0) {
        bool fill = op[0] == 'f';
        c->op = fill ? G_FILL : G_DUMP;
        if (take_args(&p, &a1, &a2, fill ? &a3 : NULL) != 0)
            PERR("'%s' needs %s", op, fill ? "ADDR LEN BYTE" : "ADDR LEN");
        if (parse_addr(a1, &c->space, &c->addr) != 0 || c->space != QST_MEMORY)
            PERR("bad address '%s' for '%s' (a guest RAM address like 0x80000000)", a1, op);
        uint64_t len;
        if (parse_u64(a2, &len) != 0 || len == 0 || len > GUEST_MAX_FILL)
            PERR("bad length '%s' for '%s' (1 to %u bytes)", a2, op, (unsigned)GUEST_MAX_FILL);
        c->ms = len;
        if (fill && (parse_u64(a3, &c->value) != 0 || c->value > 0xff))
            PERR("bad byte '%s' for 'fill' (0 to 0xff)", a3);
    } else if (strcmp(op, "irq") == 0) {
        a1 = guest_word(&p);
        a2 = guest_word(&p);
        if (a1 == NULL || a2 == NULL ||
            (strcmp(a1, "wait") != 0 && strcmp(a1, "count") != 0 && strcmp(a1, "ack") != 0))
            PERR("'irq' needs 'wait PIC:NUM [TIMEOUT_MS]', 'count PIC:NUM' or 'ack PIC:NUM'");
        c->op = a1[0] == 'w' ? G_IRQ_WAIT : a1[0] == 'c' ? G_IRQ_COUNT : G_IRQ_ACK;
        if (c->op == G_IRQ_WAIT && nested)
            PERR("'irq wait' cannot be the command of 'every'");
        char name[48];
        const char *why;
        if (intr_parse(a2, name, sizeof name, &why) != 0)
            PERR("bad interrupt '%s' for 'irq %s': %s", a2, a1, why);
        c->irq = intr_find(name);
        if (c->irq < 0)
            PERR("no vdev has the interrupt '%s' for 'irq %s' (give one the option 'intr %s')", a2, a1, name);
        if (c->op == G_IRQ_WAIT) {
            a3 = guest_word(&p);
            if (a3 != NULL) {
                if (parse_u64(a3, &c->ms) != 0)
                    PERR("bad timeout '%s' for 'irq wait' (milliseconds)", a3);
                c->has_timeout = true;
            }
        }
    } else if (strcmp(op, "stop") == 0) {
        c->op = G_STOP;
        a1 = guest_word(&p);
        if (a1 == NULL)
            PERR("'stop' needs a job name (job1, job2, ...) or 'all'");
        if (strcmp(a1, "all") == 0) {
            c->job = 0;
        } else {
            uint64_t n;
            if (strncmp(a1, "job", 3) != 0 || parse_u64(a1 + 3, &n) != 0 || n == 0 || n > 1000000)
                PERR("bad job '%s' for 'stop' (job1, job2, ... or all)", a1);
            c->job = (int)n;
        }
    } else if (strcmp(op, "kick") == 0) {
        c->op = G_KICK;
        if (kick_parse(p, c, err, errlen) != 0)     /* guest_kick.c */
            goto fail;
        goto ok;
    } else if (strcmp(op, "shutdown") == 0) {
        c->op = G_SHUTDOWN;
    } else if (strcmp(op, "reboot") == 0) {
        c->op = G_REBOOT;
    } else if (strcmp(op, "on") == 0 || strcmp(op, "ignore") == 0) {
        bool on = op[0] == 'o';
        a1 = guest_word(&p);
        if (a1 == NULL || strcmp(a1, "button") != 0)
            PERR("'%s' needs 'button' (%s)", op, on ? "on button COMMAND" : "ignore button");
        if (nested)
            PERR("'%s button' cannot be the command of 'every' or 'on button'", op);
        c->op = on ? G_ON_BUTTON : G_IGNORE_BUTTON;
        if (on) {
            if (parse_sub(p, c, err, errlen, false, "'on button' needs a command (e.g. on button print bye)") < 0)
                goto fail;
            enum gop sub = c->sub->op;
            if (sub == G_EVERY || sub == G_ON_BUTTON || sub == G_IGNORE_BUTTON || sub == G_IRQ_WAIT)
                PERR("'%s' cannot be the command of 'on button'", c->sub->src);
            goto ok;
        }
    } else if (strcmp(op, "crash") == 0) {
        c->op = G_CRASH;
    } else if (strcmp(op, "virtio") == 0) {     /* guest_virtio.c */
        c->op = G_VIRTIO;
        if (gvirtio_parse(p, c, err, errlen) < 0)
            goto fail;
        goto ok;
    } else {
        PERR("unknown guest command '%s'", op);
    }
    extra = guest_word(&p);
    if (extra != NULL && c->op != G_EVERY)
        PERR("unexpected '%s' after '%s'", extra, op);
ok:
    {
        const char *s = line;
        while (*s && isspace((unsigned char)*s))
            s++;
        c->src = xstrndup(s, strcspn(s, "\r\n"));
    }
    result = 1;
fail:
    free(op);
    free(a1);
    free(a2);
    free(a3);
    free(extra);
    free(buf);
    return result;
}

int gcmd_parse(const char *line, struct gcmd *c, char *err, size_t errlen)
{
    return parse_cmd(line, c, err, errlen, false);
}

int script_load(const char *path, struct script *out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    memset(out, 0, sizeof *out);
    out->path = xstrdup(path);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        struct gcmd c;
        char err[512];
        int rc = gcmd_parse(line, &c, err, sizeof err);
        if (rc < 0) {
            fclose(f);
            cfg_fatal(path, lineno, "%s", err);
        }
        if (rc == 0)
            continue;
        out->cmds = xreallocarray(out->cmds, (size_t)out->n + 1, sizeof *out->cmds);
        out->cmds[out->n++] = c;
    }
    free(line);
    fclose(f);
    return 0;
}

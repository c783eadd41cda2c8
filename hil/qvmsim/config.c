/*
 * config.c - the qvm configuration: @file arguments and command-line words,
 * with the .qvmconf syntax (comments, contexts, line breaks meaningless, last
 * repeat wins, `system` first).  Every error names file:line and the
 * offending word and exits 65.
 */
#include "qvmsim.h"
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct config g_cfg;

struct tok {
    char *w;
    const char *file;
    int line;
};
static struct tok *toks;
static int ntoks;

struct var {
    char *name;
    char *value;
};
static struct var *vars;
static int nvars;

static void add_tok(const char *w, size_t len, const char *file, int line)
{
    struct tok *nt = realloc(toks, sizeof *nt * (size_t)(ntoks + 1));
    char *d = malloc(len + 1);
    if (nt == NULL || d == NULL)
        abort();
    memcpy(d, w, len);
    d[len] = '\0';
    toks = nt;
    toks[ntoks].w = d;
    toks[ntoks].file = file;
    toks[ntoks].line = line;
    ntoks++;
}

static void tokenize_file(const char *path, const char *from_file, int from_line)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        cfg_fatal(from_file, from_line, "cannot read configuration file '%s': %s", path, strerror(errno));
    char *file = strdup(path);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line;
        for (;;) {
            while (*p && isspace((unsigned char)*p))
                p++;
            if (*p == '\0' || *p == '#')
                break;
            char *s = p;
            while (*p && !isspace((unsigned char)*p) && *p != '#')
                p++;
            add_tok(s, (size_t)(p - s), file, lineno);
        }
    }
    free(line);
    fclose(f);
}

static const char *var_get(const char *name)
{
    for (int i = nvars - 1; i >= 0; i--) {
        if (strcmp(vars[i].name, name) == 0)
            return vars[i].value;
    }
    return getenv(name);
}

/* ${NAME} expansion from `set` variables, then the environment. */
static char *expand(const struct tok *t)
{
    const char *w = t->w;
    if (strstr(w, "${") == NULL)
        return strdup(w);
    size_t cap = strlen(w) + 256, len = 0;
    char *out = malloc(cap);
    if (out == NULL)
        abort();
    while (*w) {
        if (w[0] == '$' && w[1] == '{') {
            const char *e = strchr(w, '}');
            if (e == NULL)
                cfg_fatal(t->file, t->line, "unterminated '${' in '%s'", t->w);
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(e - w - 2), w + 2);
            const char *val = var_get(name);
            if (val == NULL)
                cfg_fatal(t->file, t->line, "undefined variable '%s' in '%s' (define it with 'set %s VALUE')",
                          name, t->w, name);
            size_t vl = strlen(val);
            if (len + vl + 1 > cap) {
                cap = len + vl + 256;
                out = realloc(out, cap);
                if (out == NULL)
                    abort();
            }
            memcpy(out + len, val, vl);
            len += vl;
            w = e + 1;
        } else {
            if (len + 2 > cap) {
                cap += 256;
                out = realloc(out, cap);
                if (out == NULL)
                    abort();
            }
            out[len++] = *w++;
        }
    }
    out[len] = '\0';
    return out;
}

static int pos;

static bool more(void)
{
    return pos < ntoks;
}

/* The argument of option toks[at]: the next word (expanded). */
static char *take_arg(const struct tok *opt, const char *what)
{
    if (!more())
        cfg_fatal(opt->file, opt->line, "option '%s' needs %s", opt->w, what);
    return expand(&toks[pos++]);
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0)
        return -1;
    switch (toupper((unsigned char)*end)) {
    case 'K': v <<= 10; end++; break;
    case 'M': v <<= 20; end++; break;
    case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_num(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static void parse_logger(const struct tok *opt, struct log_route *r)
{
    char *f = take_arg(opt, "a filter set (e.g. 'info,error') and a destination");
    const char *bad;
    size_t badlen;
    unsigned mask;
    if (log_parse_filters(f, &mask, &bad, &badlen) != 0)
        cfg_fatal(opt->file, opt->line, "unknown log filter '%.*s' in '%s' for option '%s' "
                  "(use fatal, internal, error, warn, info, debug, verbose)", (int)badlen, bad, f, opt->w);
    r->filter = mask;
    r->dest = DEST_STDERR;
    if (more() && log_parse_dest(toks[pos].w) >= 0)
        r->dest = (enum log_dest)log_parse_dest(toks[pos++].w);
    free(f);
}

static bool is_global(const char *w)
{
    static const char *const g[] = {
        "system", "ram", "rom", "load", "cpu", "vdev", "logger", "dump",
        "unsupported", "set", "dryrun", NULL,
    };
    for (int i = 0; g[i]; i++) {
        if (strcmp(w, g[i]) == 0)
            return true;
    }
    return false;
}

static void parse_loc(const struct tok *opt, vdev_t *v)
{
    char *a = take_arg(opt, "an address ([mem:|io:]ADDR[,LEN])");
    const char *p = a;
    unsigned type = v->v_block.qst_type;
    if (strncmp(p, "io:", 3) == 0) {
        type = QST_X86_IO;
        p += 3;
    } else if (strncmp(p, "mem:", 4) == 0) {
        type = QST_MEMORY;
        p += 4;
    }
    char addr[128];
    const char *comma = strchr(p, ',');
    snprintf(addr, sizeof addr, "%.*s", comma ? (int)(comma - p) : (int)strlen(p), p);
    uint64_t loc, len = type == QST_X86_IO ? QVMSIM_DEFAULT_IO_LENGTH : QVMSIM_DEFAULT_MEM_LENGTH;
    if (parse_num(addr, &loc) != 0 || (comma && (parse_size(comma + 1, &len) != 0 || len == 0)))
        cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'loc' of vdev '%s' "
                  "(expected [mem:|io:]ADDR[,LEN], e.g. 0x1c0f0000 or io:0x441,1)", a, vdev_source(v));
    v->v_block.qst_type = type;
    v->v_block.location = loc;
    v->v_block.length = len;
    v->qvmsim_private->loc_given = true;
    free(a);
}

static void vdev_option(const struct tok *opt, vdev_t *v, int idx, bool flag)
{
    struct qvmsim_vdev_private *p = v->qvmsim_private;
    char *arg = flag ? NULL : take_arg(opt, "a value");
    for (int i = 0; i < p->nopts; i++) {
        if (p->opts[i].idx == idx) {          /* last repeat wins */
            free(p->opts[i].arg);
            p->opts[i].arg = arg;
            p->opts[i].file = opt->file;
            p->opts[i].line = opt->line;
            return;
        }
    }
    struct vdev_opt *no = realloc(p->opts, sizeof *no * (size_t)(p->nopts + 1));
    if (no == NULL)
        abort();
    p->opts = no;
    p->opts[p->nopts].idx = idx;
    p->opts[p->nopts].arg = arg;
    p->opts[p->nopts].file = opt->file;
    p->opts[p->nopts].line = opt->line;
    p->nopts++;
}

/* Tries toks[pos-1] as an option of vdev v; true if taken. */
static bool vdev_word(const struct tok *opt, vdev_t *v)
{
    struct vdev_factory *f = v->qvmsim_private->factory;
    const char *w = opt->w;
    if (strcmp(w, "loc") == 0) {
        if (f->factory_flags & VFF_LOC_NO)
            cfg_fatal(opt->file, opt->line, "vdev '%s' takes no 'loc'", vdev_source(v));
        parse_loc(opt, v);
        return true;
    }
    if (strcmp(w, "intr") == 0) {
        if (f->factory_flags & VFF_INTR_NO)
            cfg_fatal(opt->file, opt->line, "vdev '%s' takes no 'intr'", vdev_source(v));
        char *a = take_arg(opt, "an interrupt PIC:NUMBER (e.g. gic:33 or ioapic:5)");
        char name[48];
        const char *why;
        if (intr_parse(a, name, sizeof name, &why) != 0)
            cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'intr' of vdev '%s': %s",
                      a, vdev_source(v), why);
        free(v->qvmsim_private->intr_text);
        v->qvmsim_private->intr_text = strdup(name);
        v->v_intr.gi_id = intr_register(name);
        free(a);
        return true;
    }
    if (strcmp(w, "name") == 0) {
        free(v->qvmsim_private->inst_name);
        v->qvmsim_private->inst_name = take_arg(opt, "an instance name");
        return true;
    }
    if (strcmp(w, "log") == 0) {
        parse_logger(opt, &v->qvmsim_private->route);
        v->qvmsim_private->has_route = true;
        return true;
    }
    if (f->option_list != NULL) {
        for (int i = 0; f->option_list[i] != NULL; i++) {
            const char *name = f->option_list[i];
            size_t pl = strlen(QVM_OPTION_NO_ARG_PREFIX);
            bool flag = strncmp(name, QVM_OPTION_NO_ARG_PREFIX, pl) == 0;
            if (flag)
                name += pl;
            if (strcmp(name, w) == 0) {
                vdev_option(opt, v, i, flag);
                return true;
            }
        }
    }
    return false;
}

void config_parse(void)
{
    enum { CTX_NONE, CTX_VDEV, CTX_CPU } ctx = CTX_NONE;
    vdev_t *cur = NULL;
    pos = 0;
    while (more()) {
        const struct tok *opt = &toks[pos++];
        const char *w = opt->w;
        if (ctx == CTX_VDEV && vdev_word(opt, cur))
            continue;
        if (ctx == CTX_CPU && (strcmp(w, "sched") == 0 || strcmp(w, "runmask") == 0 ||
                               strcmp(w, "cluster") == 0)) {
            free(take_arg(opt, "a value"));
            continue;
        }
        if (!is_global(w)) {
            if (ctx == CTX_VDEV)
                cfg_fatal(opt->file, opt->line, "unknown option '%s' for vdev '%s'", w, vdev_source(cur));
            cfg_fatal(opt->file, opt->line, "unknown option '%s'", w);
        }
        if (strcmp(w, "system") == 0) {
            if (opt != &toks[0])
                cfg_fatal(opt->file, opt->line, "option 'system' must come first (found after '%s')", toks[0].w);
            g_system_name = take_arg(opt, "a name");
        } else if (strcmp(w, "ram") == 0 || strcmp(w, "rom") == 0) {
            char *a = take_arg(opt, "[START,]LENGTH");
            const char *comma = strchr(a, ',');
            uint64_t v, base = 0;
            char start[128];
            snprintf(start, sizeof start, "%.*s", comma ? (int)(comma - a) : 0, a);
            if ((comma && parse_size(start, &base) != 0) || parse_size(comma ? comma + 1 : a, &v) != 0 || v == 0)
                cfg_fatal(opt->file, opt->line, "bad value '%s' for option '%s' (expected [START,]LENGTH like "
                          "0x80000000,128M or 64K; LENGTH > 0, suffixes K, M, G)", a, w);
            if (w[1] == 'a') {
                uint64_t placed;
                const char *why = ram_add(comma != NULL, base, v, &placed);
                if (why != NULL)
                    cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'ram': %s", a, why);
                g_cfg.ram_bytes += v;
            }
            free(a);
        } else if (strcmp(w, "load") == 0) {
            char *a = take_arg(opt, "[ADDR,]PATH of a guest script");
            const char *path = a;
            const char *comma = strchr(a, ',');
            uint64_t ignored;
            if (comma) {
                char addr[128];
                snprintf(addr, sizeof addr, "%.*s", (int)(comma - a), a);
                if (parse_num(addr, &ignored) == 0)
                    path = comma + 1;
            }
            char resolved[4096];
            snprintf(resolved, sizeof resolved, "%s", path);
            if (access(resolved, R_OK) != 0 && path[0] != '/' && opt->file[0] != '<') {
                const char *slash = strrchr(opt->file, '/');
                if (slash)
                    snprintf(resolved, sizeof resolved, "%.*s/%s", (int)(slash - opt->file), opt->file, path);
            }
            if (access(resolved, R_OK) != 0)
                cfg_fatal(opt->file, opt->line, "guest script '%s' for option 'load' not found", path);
            g_cfg.load_path = strdup(resolved);
            g_cfg.load_file = opt->file;
            g_cfg.load_line = opt->line;
            free(a);
        } else if (strcmp(w, "cpu") == 0) {
            g_cfg.ncpus++;
            ctx = CTX_CPU;
        } else if (strcmp(w, "vdev") == 0) {
            char *name = take_arg(opt, "a vdev name");
            struct vdev_lib *lib = vdev_lib_load(name, opt->file, opt->line);
            cur = vdev_instance_new(lib, name, opt->file, opt->line);
            ctx = CTX_VDEV;
            free(name);
        } else if (strcmp(w, "logger") == 0) {
            parse_logger(opt, &g_cfg.route);
            g_cfg.route_set = true;
            g_route = g_cfg.route;      /* applies from here on, to parsing too */
        } else if (strcmp(w, "dump") == 0) {
            char *d = take_arg(opt, "a directory");
            struct stat st;
            if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
                cfg_fatal(opt->file, opt->line, "dump directory '%s' for option 'dump' does not exist", d);
            g_dump_dir = d;
        } else if (strcmp(w, "unsupported") == 0) {
            char *what = take_arg(opt, "reference|instruction|register and abort|ignore");
            if (strcmp(what, "reference") != 0 && strcmp(what, "instruction") != 0 &&
                strcmp(what, "register") != 0)
                cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'unsupported' "
                          "(expected reference, instruction or register)", what);
            char *act = take_arg(opt, "abort or ignore");
            if (strcmp(act, "abort") != 0 && strcmp(act, "ignore") != 0)
                cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'unsupported %s' "
                          "(expected abort or ignore)", act, what);
            if (strcmp(what, "reference") == 0)
                g_unsupported_abort = strcmp(act, "abort") == 0;
            free(what);
            free(act);
        } else if (strcmp(w, "set") == 0) {
            char *name = take_arg(opt, "a variable name and a value");
            char *value = take_arg(opt, "a value");
            struct var *nv = realloc(vars, sizeof *nv * (size_t)(nvars + 1));
            if (nv == NULL)
                abort();
            vars = nv;
            vars[nvars].name = name;
            vars[nvars].value = value;
            nvars++;
        } else if (strcmp(w, "dryrun") == 0) {
            g_cfg.dryrun = true;
        }
    }
}

void config_read_args(int argc, char **argv)
{
    static const char cmdline[] = "<cmdline>";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '@') {
            tokenize_file(a + 1, cmdline, i);
        } else if (strcmp(a, "-L") == 0 || strncmp(a, "-L", 2) == 0) {
            const char *dir = a[2] ? a + 2 : NULL;
            if (dir == NULL) {
                if (i + 1 >= argc)
                    cfg_fatal(cmdline, i, "option '-L' needs a directory");
                dir = argv[++i];
            }
            char **np = realloc(g_vdev_path, sizeof *np * (size_t)(g_nvdev_path + 1));
            if (np == NULL)
                abort();
            g_vdev_path = np;
            g_vdev_path[g_nvdev_path++] = strdup(dir);
        } else if (a[0] == '-' && a[1] != '\0') {
            cfg_fatal(cmdline, i, "unknown command-line flag '%s' (qvmsim knows -V, --version, -L DIR, -h)", a);
        } else {
            add_tok(a, strlen(a), cmdline, i);
        }
    }
    const char *env = getenv("QVMSIM_VDEV_PATH");
    if (env != NULL && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            char **np = realloc(g_vdev_path, sizeof *np * (size_t)(g_nvdev_path + 1));
            if (np == NULL)
                abort();
            g_vdev_path = np;
            g_vdev_path[g_nvdev_path++] = strdup(d);
        }
    }
}

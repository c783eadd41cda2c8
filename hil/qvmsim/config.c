/*
 * config.c - the qvm configuration: @file arguments and command-line words,
 * with the .qvmconf syntax (comments, contexts, line breaks meaningless, last
 * repeat wins, `system` first, "double-quoted words").  Every error names
 * file:line and the offending word and exits 65.  BEHAVIOUR.md describes
 * every option; qvm/qvmsim-choices.h cites the QNX page behind each choice.
 */
#include "qvmsim.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof (a) / sizeof (a)[0])

struct config g_cfg;

struct tok {
    char *w;
    const char *file;
    int line;
};
static struct tok *toks;
static int ntoks;

struct config_flags g_flags = {
    .unsupported = { [UNSUP_INSTRUCTION] = UNSUP_FAIL, [UNSUP_REFERENCE] = UNSUP_IGNORE,
                     [UNSUP_REGISTER] = UNSUP_FAIL },
};

/* The configuration variables qvmsim knows (`set VAR VALUE`), from QNX's
 * "Configuration variables" pages; see qvmsim-choices.h. */
enum var_type { VT_ADDRESS, VT_BOOLEAN, VT_TRISTATE, VT_NUMBER, VT_STRING };
static const char *const var_type_names[] = { "address", "boolean", "tristate", "number", "string" };
static const struct {
    const char *name;
    enum var_type type;
    bool vdev;              /* vdev context (else global) */
} set_vars[] = {
    { "counter-offset", VT_NUMBER, false },
    { "debug", VT_BOOLEAN, true },
    { "exit-on-halt", VT_BOOLEAN, false },
    { "fdt-dump-file", VT_STRING, false },
    { "gic-hwassist", VT_BOOLEAN, false },
    { "grow-heap", VT_ADDRESS, false },
    { "host-paddr-gicd", VT_ADDRESS, false },
    { "host-paddr-gich", VT_ADDRESS, false },
    { "legacy-free", VT_BOOLEAN, false },
    { "message-block-timeout", VT_NUMBER, false },
    { "posted-interrupts", VT_BOOLEAN, false },
    { "slog-buffer", VT_ADDRESS, false },
    { "vdev-message-block-timeout", VT_NUMBER, true },
    { "virtual-interrupts", VT_BOOLEAN, false },
};
#define N_SET_VARS (sizeof set_vars / sizeof set_vars[0])

static vdev_t **status_off;     /* vdevs with `set debug off`: left out of SIGUSR1 */
static int nstatus_off;

static void add_tok(const char *w, size_t len, const char *file, int line)
{
    toks = xreallocarray(toks, (size_t)ntoks + 1, sizeof *toks);
    toks[ntoks].w = xstrndup(w, len);
    toks[ntoks].file = file;
    toks[ntoks].line = line;
    ntoks++;
}

static void tokenize_file(const char *path, const char *from_file, int from_line)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        cfg_fatal(from_file, from_line, "cannot read configuration file '%s': %s", path, strerror(errno));
    char *file = xstrdup(path);
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
            if (*p == '"') {        /* a quoted word: spaces and '#' inside [doc: dump page] */
                char *e = strchr(p + 1, '"');
                if (e != NULL) {
                    add_tok(p + 1, (size_t)(e - p - 1), file, lineno);
                    p = e + 1;
                    continue;
                }
                /* it goes on over the next lines (real configurations write a long
                 * `cmdline "..."` so): each line break is one space */
                int start = lineno;
                char *word = xstrdup(p + 1);
                word[strcspn(word, "\r\n")] = '\0';
                for (;;) {
                    if (getline(&line, &cap, f) < 0)
                        cfg_fatal(file, start, "unterminated '\"' in '%.40s...': no closing '\"' before the end "
                                  "of the file", word);
                    lineno++;
                    e = strchr(line, '"');
                    size_t add = e != NULL ? (size_t)(e - line) : strcspn(line, "\r\n");
                    size_t have = strlen(word);
                    word = xrealloc(word, have + 1 + add + 1);
                    word[have] = ' ';
                    memcpy(word + have + 1, line, add);
                    word[have + 1 + add] = '\0';
                    if (e != NULL)
                        break;
                }
                add_tok(word, strlen(word), file, start);
                free(word);
                p = e + 1;
                continue;
            }
            char *s = p;
            while (*p && !isspace((unsigned char)*p) && *p != '#' && *p != '"')
                p++;
            add_tok(s, (size_t)(p - s), file, lineno);
        }
    }
    free(line);
    fclose(f);
}

/* qvm has no text macros: a "${NAME}" word is refused rather than taken
 * literally, since it is almost surely a macro nobody expanded. */
static char *word_copy(const struct tok *t)
{
    if (strstr(t->w, "${") != NULL)
        cfg_fatal(t->file, t->line, "'%s' is not qvm syntax: qvm has no ${NAME} macros "
                  "(expand them before qvm reads the file, e.g. with QvmConfig.define)", t->w);
    return xstrdup(t->w);
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
    return word_copy(&toks[pos++]);
}

/* A number starting with a digit (strtoull base 0: 0x.., 0.., decimal);
 * with `suffix`, K, M or G may follow (x 2^10, 2^20, 2^30). */
static int parse_number(const char *s, uint64_t *out, bool suffix)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0)
        return -1;
    if (suffix) {
        switch (toupper((unsigned char)*end)) {
        case 'K': v <<= 10; end++; break;
        case 'M': v <<= 20; end++; break;
        case 'G': v <<= 30; end++; break;
        default: break;
        }
    }
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    return parse_number(s, out, true);
}

static int parse_num(const char *s, uint64_t *out)
{
    return parse_number(s, out, false);
}

/* `logger FILTERS DEST` and a vdev's `log FILTERS DEST` [doc: both synopses
 * make DEST mandatory; a missing one is a configuration error].  A logger
 * adds its filters to its destination (loggers add up); a vdev's `log` moves
 * its levels to its destination (with several, the rightmost wins). */
static void parse_logger(const struct tok *opt, struct log_route *r, bool add)
{
    char *f = take_arg(opt, "a filter set (e.g. 'info,error') and a destination");
    const char *bad;
    size_t badlen;
    unsigned mask;
    if (log_parse_filters(f, &mask, &bad, &badlen) != 0)
        cfg_fatal(opt->file, opt->line, "unknown log filter '%.*s' in '%s' for option '%s' "
                  "(use fatal, internal, error, warn or warning, info, debug, verbose)", (int)badlen, bad, f, opt->w);
    int dest = more() ? log_parse_dest(toks[pos].w) : -1;
    if (dest < 0)
        cfg_fatal(opt->file, opt->line, "option '%s %s' needs a destination after the filters, got %s%s%s "
                  "(write e.g. '%s %s stderr'; destinations: stdout, stderr, slog, none)", opt->w, f,
                  more() ? "'" : "", more() ? toks[pos].w : "the end of the configuration", more() ? "'" : "",
                  opt->w, f);
    pos++;
    if (!add) {
        for (int d = 0; d < 4; d++)
            r->to[d] &= ~mask;
    }
    r->to[dest] |= mask;
    free(f);
}

static bool set_is_vdev_var(const char *name);
static void parse_set(const struct tok *opt, vdev_t *cur);

/* Records a parsed common option (loc, intr, name) in the instance's option
 * list, in configuration order with its own options: configure() applies it
 * after VDEV_CTRL_OPTIONS_START, over the defaults the vdev set there [doc:
 * QNX 7.1 dev guide, ib700 sample: "default values that may or may not be
 * overridden by ... the common vdev options parsed by the qvm process"; 8.0
 * lifecycle: at VDEV_CTRL_ASSIGN "all user-specified options have been
 * processed"].  A repeat replaces the earlier one (last repeat wins), at the
 * earlier one's place. */
static struct vdev_opt *common_opt(const struct tok *opt, vdev_t *v, int idx)
{
    struct qvmsim_vdev_private *p = v->qvmsim_private;
    for (int i = 0; i < p->nopts; i++) {
        if (p->opts[i].idx == idx) {
            free(p->opts[i].arg);
            p->opts[i].file = opt->file;
            p->opts[i].line = opt->line;
            return &p->opts[i];
        }
    }
    p->opts = xreallocarray(p->opts, (size_t)p->nopts + 1, sizeof *p->opts);
    struct vdev_opt *o = &p->opts[p->nopts++];
    memset(o, 0, sizeof *o);
    o->idx = idx;
    o->file = opt->file;
    o->line = opt->line;
    return o;
}

/* `loc [mem:|io:]ADDR[,LEN]`: checked here (the error names the line),
 * applied by configure().  Without a type the vdev's own (v_block.qst_type
 * after OPTIONS_START) is kept; without LEN, its v_block.length. */
static void parse_loc(const struct tok *opt, vdev_t *v)
{
    if (!more())
        cfg_fatal(opt->file, opt->line, "option 'loc' of vdev '%s' needs an address ([mem:|io:]ADDR[,LEN])",
                  vdev_source(v));
    char *a = take_arg(opt, "an address ([mem:|io:]ADDR[,LEN])");
    const char *p = a;
    int type = -1;
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
    uint64_t loc, len = 0;
    if (parse_num(addr, &loc) != 0 || (comma && (parse_size(comma + 1, &len) != 0 || len == 0)))
        cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'loc' of vdev '%s' "
                  "(expected [mem:|io:]ADDR[,LEN], e.g. 0x1c0f0000 or io:0x441,1)", a, vdev_source(v));
    struct vdev_opt *o = common_opt(opt, v, VDEV_OPT_LOC);
    o->arg = a;
    o->loc_type = type;
    o->loc = loc;
    o->loc_len = len;
}

static void vdev_option(const struct tok *opt, vdev_t *v, int idx, bool flag)
{
    struct qvmsim_vdev_private *p = v->qvmsim_private;
    if (!flag && !more())       /* qvmsim: the line names the vdev (the sweep requires it) */
        cfg_fatal(opt->file, opt->line, "option '%s' of vdev '%s' needs a value", opt->w, vdev_source(v));
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
    p->opts = xreallocarray(p->opts, (size_t)p->nopts + 1, sizeof *p->opts);
    memset(&p->opts[p->nopts], 0, sizeof p->opts[p->nopts]);
    p->opts[p->nopts].idx = idx;
    p->opts[p->nopts].arg = arg;
    p->opts[p->nopts].file = opt->file;
    p->opts[p->nopts].line = opt->line;
    p->nopts++;
}

/* ---- a vdev context's words ----------------------------------------------
 * Each handler takes the word at toks[pos-1] as an option of vdev v (its
 * arguments from toks[pos]); false: not taken here (the vdev's own options
 * and the VM-wide words are tried next). */

static bool vw_loc(const struct tok *opt, vdev_t *v)
{
    if (v->qvmsim_private->factory->factory_flags & VFF_LOC_NO)
        cfg_fatal(opt->file, opt->line, "vdev '%s' takes no 'loc'", vdev_source(v));
    parse_loc(opt, v);
    return true;
}

static bool vw_intr(const struct tok *opt, vdev_t *v)
{
    struct vdev_factory *f = v->qvmsim_private->factory;
    if (builtin_own_intr(f))
        return false;           /* an inert PIC's own `intr apic` */
    if (f->factory_flags & VFF_INTR_NO)
        cfg_fatal(opt->file, opt->line, "vdev '%s' takes no 'intr'", vdev_source(v));
    if (!more())
        cfg_fatal(opt->file, opt->line, "option 'intr' of vdev '%s' needs an interrupt PIC:NUMBER "
                  "(e.g. gic:33 or ioapic:5)", vdev_source(v));
    char *a = take_arg(opt, "an interrupt PIC:NUMBER (e.g. gic:33 or ioapic:5)");
    char name[48];
    const char *why;
    if (intr_parse(a, name, sizeof name, &why) != 0)
        cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'intr' of vdev '%s': %s",
                  a, vdev_source(v), why);
    free(a);
    intr_register(name);    /* known from here (a guest script's `irq wait` names it) */
    common_opt(opt, v, VDEV_OPT_INTR)->arg = xstrdup(name);
    return true;
}

static bool vw_name(const struct tok *opt, vdev_t *v)
{
    /* the instance's identity, not a default a vdev sets: used from here
     * on, so that every line of the instance (OPTIONS_START's too) names it */
    free(v->qvmsim_private->inst_name);
    v->qvmsim_private->inst_name = take_arg(opt, "an instance name");
    return true;
}

static bool vw_log(const struct tok *opt, vdev_t *v)
{
    if (!v->qvmsim_private->has_route)
        memset(&v->qvmsim_private->route, 0, sizeof v->qvmsim_private->route);
    parse_logger(opt, &v->qvmsim_private->route, false);
    v->qvmsim_private->has_route = true;
    return true;
}

static bool vw_set(const struct tok *opt, vdev_t *v)
{
    if (!more() || !set_is_vdev_var(toks[pos].w))
        return false;           /* a VM-wide variable: the global `set` takes it */
    parse_set(opt, v);
    return true;
}

/* `vdev NAME ?`: the factory's options and flags, then exit 0 */
static bool vw_query(const struct tok *opt, vdev_t *v)
{
    (void)opt;
    struct vdev_factory *f = v->qvmsim_private->factory;
    char line[200];
    int n = snprintf(line, sizeof line, "vdev %s options\n", vdev_source(v));
    write_all(STDOUT_FILENO, line, (size_t)n);
    if (!(f->factory_flags & VFF_LOC_NO))
        write_all(STDOUT_FILENO, "    common loc\n", 15);
    if (!(f->factory_flags & VFF_INTR_NO))
        write_all(STDOUT_FILENO, "    common intr\n", 16);
    for (int i = 0; f->option_list != NULL && f->option_list[i] != NULL; i++) {
        const char *name = f->option_list[i];
        size_t pl = strlen(QVM_OPTION_NO_ARG_PREFIX);
        bool flag = strncmp(name, QVM_OPTION_NO_ARG_PREFIX, pl) == 0;
        n = snprintf(line, sizeof line, "    %s %s\n", flag ? "flag" : "option", flag ? name + pl : name);
        write_all(STDOUT_FILENO, line, (size_t)n);
    }
    qvmsim_end(0);
}

/* The words qvm takes in every vdev context, before the vdev's own options
 * [doc: "Common vdev options"; `set` of a vdev variable; `?`].  `common`:
 * a common vdev option (hil.qvm.confvocab.VDEV_COMMON_OPTIONS). */
static const struct vdev_word {
    const char *word;
    int nargs;
    bool common;
    bool (*parse)(const struct tok *opt, vdev_t *v);
} vdev_words[] = {
    { "loc", 1, true, vw_loc },
    { "intr", 1, true, vw_intr },
    { "name", 1, true, vw_name },
    { "log", 2, true, vw_log },
    { "set", 2, false, vw_set },
    { "?", 0, false, vw_query },
};

/* Tries toks[pos-1] as an option of vdev v; true if taken. */
static bool vdev_word(const struct tok *opt, vdev_t *v)
{
    struct vdev_factory *f = v->qvmsim_private->factory;
    const char *w = opt->w;
    for (size_t i = 0; i < ARRAY_LEN(vdev_words); i++) {
        if (strcmp(w, vdev_words[i].word) == 0 && vdev_words[i].parse(opt, v))
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

/* ---- the VM-wide words ---------------------------------------------------
 * The parser's state between words, and one handler per word; toks[pos-1]
 * is the word, its arguments are taken from toks[pos]. */

enum ctx { CTX_NONE, CTX_VDEV, CTX_CPU, CTX_PASS };
struct parse {
    enum ctx ctx;               /* the context the words are in */
    vdev_t *cur;                /* in CTX_VDEV: its instance */
    bool logger_seen;
};

static void gw_system(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    if (opt != &toks[0])
        cfg_fatal(opt->file, opt->line, "option 'system' must come first (found after '%s')", toks[0].w);
    g_system_name = take_arg(opt, "a name");
}

static void gw_ram_rom(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    const char *w = opt->w;
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
}

static void gw_load(struct parse *ps, const struct tok *opt)
{
    (void)ps;
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
    g_cfg.load_path = xstrdup(resolved);
    g_cfg.load_file = opt->file;
    g_cfg.load_line = opt->line;
    free(a);
}

static void gw_cpu(struct parse *ps, const struct tok *opt)
{
    (void)opt;
    g_cfg.ncpus++;
    ps->ctx = CTX_CPU;
}

static void gw_vdev(struct parse *ps, const struct tok *opt)
{
    char *name = take_arg(opt, "a vdev name");
    struct vdev_lib *lib = builtin_lib(name);   /* built-ins first (builtin.c) */
    if (lib == NULL)
        lib = vdev_lib_load(name, opt->file, opt->line);
    ps->cur = vdev_instance_new(lib, lib->path[0] == '(' ? lib->name : name, opt->file, opt->line);
    check_vdev(ps->cur);
    ps->ctx = CTX_VDEV;
    free(name);
}

static void gw_logger(struct parse *ps, const struct tok *opt)
{
    if (!ps->logger_seen)           /* an explicit logger replaces the default [doc] */
        memset(&g_cfg.route, 0, sizeof g_cfg.route);
    ps->logger_seen = true;
    parse_logger(opt, &g_cfg.route, true);
    g_cfg.route_set = true;
    g_route = g_cfg.route;      /* applies from here on, to parsing too */
}

static void gw_dump(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    char *d = take_arg(opt, "a directory or \"|COMMAND\"");
    free(g_dump_dir);
    free(g_flags.dump_pipe);
    g_dump_dir = NULL;
    g_flags.dump_pipe = NULL;
    if (d[0] == '|') {
        if (d[1 + strspn(d + 1, " \t")] == '\0')
            cfg_fatal(opt->file, opt->line, "option 'dump \"|\"' needs a shell command after '|' "
                      "(e.g. dump \"|gzip >/tmp/guest.gcore.gz\")");
        g_flags.dump_pipe = xstrdup(d + 1);
        free(d);
    } else {
        struct stat st;
        if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
            cfg_fatal(opt->file, opt->line, "dump directory '%s' for option 'dump' does not exist "
                      "(create it, or pipe the dump to a command: dump \"|COMMAND\")", d);
        g_dump_dir = d;
    }
}

/* `unsupported TYPE ACTION` [doc 8.0 vm/unsupported.html]: indexed by enum
 * unsup_type and enum unsup_action; the defaults are g_flags' initial ones. */
static const char *const unsup_types[] = { "instruction", "reference", "register" };
static const char *const unsup_actions[] = { "abort", "fail", "ignore" };

static void gw_unsupported(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    char *what = take_arg(opt, "a type (instruction, reference, register) and an action");
    int t = -1, a = -1;
    for (int i = 0; i < 3; i++)
        t = strcmp(what, unsup_types[i]) == 0 ? i : t;
    if (t < 0)
        cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'unsupported' "
                  "(expected instruction, reference or register)", what);
    char *act = take_arg(opt, "an action (abort, fail or ignore)");
    for (int i = 0; i < 3; i++)
        a = strcmp(act, unsup_actions[i]) == 0 ? i : a;
    if (a < 0)
        cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'unsupported %s' "
                  "(expected abort, fail or ignore)", act, what);
    g_flags.unsupported[t] = a;
    if (t != UNSUP_REFERENCE)
        qlog(QL_QVM_DEBUG, "%s:%d: unsupported %s %s: accepted, no effect in qvmsim (the scripted guest "
             "runs no instructions and uses no system registers)", opt->file, opt->line, what, act);
    free(what);
    free(act);
}

static void gw_set(struct parse *ps, const struct tok *opt)
{
    parse_set(opt, ps->ctx == CTX_VDEV ? ps->cur : NULL);
}

static void gw_dryrun(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    (void)opt;
    g_cfg.dryrun = true;
}

static void gw_pass(struct parse *ps, const struct tok *opt)
{
    ps->ctx = CTX_PASS;
    qlog(QL_QVM_DEBUG, "%s:%d: pass: accepted, no effect in qvmsim", opt->file, opt->line);
}

static void gw_cmdline(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    /* [doc 8.0 vm/cmdline.html] the guest OS's command line */
    char *a = take_arg(opt, "the guest's command line (\"...\")");
    qlog(QL_QVM_DEBUG, "%s:%d: cmdline \"%s\": accepted, not modelled by qvmsim (its scripted guest boots "
         "no kernel)", opt->file, opt->line, a);
    free(a);
}

static void gw_initrd_data(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    const char *w = opt->w;
    /* [doc 8.0 vm/initrd.html, vm/data.html] `initrd load [ADDR,]PATH`, `data load [ADDR,]PATH` */
    char *how = take_arg(opt, "'load [ADDR,]PATH'");
    if (strcmp(how, "load") != 0)
        cfg_fatal(opt->file, opt->line, "bad value '%s' for option '%s' (expected '%s load [ADDR,]PATH')",
                  how, w, w);
    char *a = take_arg(opt, "[ADDR,]PATH after 'load'");
    qlog(QL_QVM_DEBUG, "%s:%d: %s load %s: accepted, not modelled by qvmsim (nothing is loaded into "
         "guest memory)", opt->file, opt->line, w, a);
    free(how);
    free(a);
}

static void gw_debug(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    /* [doc 8.0 vm/debug.html] guest debugging (a GDB server in qvm) */
    qlog(QL_QVM_DEBUG, "%s:%d: debug: accepted, not modelled by qvmsim (it has no GDB server)",
         opt->file, opt->line);
}

/* `safety none|warn|required` [doc 7.1 vm/safety.html] */
static const char *const safety_values[] = { "none", "warn", "required" };

static void gw_safety(struct parse *ps, const struct tok *opt)
{
    (void)ps;
    char *v = take_arg(opt, "none, warn or required");
    bool known = false;
    for (size_t i = 0; i < ARRAY_LEN(safety_values); i++)
        known = known || strcmp(v, safety_values[i]) == 0;
    if (!known)
        cfg_fatal(opt->file, opt->line, "bad value '%s' for option 'safety' (expected none, warn or "
                  "required)", v);
    qlog(QL_QVM_DEBUG, "%s:%d: safety %s: accepted, no effect in qvmsim (it has no safety variants)",
         opt->file, opt->line, v);
    free(v);
}

/* The VM-wide words of a .qvmconf (BEHAVIOUR.md), in one table: the parser
 * dispatches on it, `qvm --check` (check.c) prints each one's fate from it,
 * `qvm --vocabulary` lists it, and tests/qvmsim/test_vocabulary.py compares
 * that listing with hil.qvm.confvocab.  `nargs`: the words it takes after it
 * (`set ?` takes one); `opens`: a context (vdev, cpu, pass) that takes the
 * words after it; `fate` NULL: `qvm --check` reports it otherwise (a vdev). */
static const struct global_word {
    const char *word;
    int nargs;
    bool opens;
    void (*parse)(struct parse *ps, const struct tok *opt);
    const char *fate;
    const char *check_text;
} global_words[] = {
    { "system", 1, false, gw_system, CHECK_MODELLED, "system: the VM's name (dump files, the env file)" },
    { "ram", 1, false, gw_ram_rom, CHECK_MODELLED, "ram: guest RAM the scripted guest and vdevs (DMA) use" },
    { "rom", 1, false, gw_ram_rom, CHECK_ACCEPTED, "rom: checked, no ROM is allocated" },
    { "load", 1, false, gw_load, CHECK_MODELLED, "load: the scripted guest's script (a guest image is not run)" },
    { "cpu", 0, true, gw_cpu, CHECK_ACCEPTED,
      "cpu: counted; the scripted guest is one stream of accesses, not vCPUs" },
    { "vdev", 1, true, gw_vdev, NULL, NULL },
    { "logger", 2, false, gw_logger, CHECK_MODELLED, "logger: log routing" },
    { "dump", 1, false, gw_dump, CHECK_MODELLED, "dump: guest dumps (text, not an ELF core)" },
    { "unsupported", 2, false, gw_unsupported, CHECK_MODELLED,
      "unsupported: 'reference' is modelled; 'instruction' and 'register' have no effect (no guest instructions "
      "run)" },
    { "set", 2, false, gw_set, CHECK_MODELLED,
      "set: checked; 'set debug' is modelled, the other variables have no effect" },
    { "dryrun", 0, false, gw_dryrun, CHECK_MODELLED, "dryrun: the VM is built and checked, the guest not started" },
    { "pass", 0, true, gw_pass, CHECK_ACCEPTED, "pass: no host resources are passed through" },
    { "safety", 1, false, gw_safety, CHECK_ACCEPTED, "safety: qvmsim has no safety variants" },
    { "cmdline", 1, false, gw_cmdline, CHECK_ACCEPTED, "cmdline: the scripted guest has no kernel command line" },
    { "initrd", 2, false, gw_initrd_data, CHECK_ACCEPTED, "initrd: nothing is loaded into guest memory" },
    { "data", 2, false, gw_initrd_data, CHECK_ACCEPTED, "data: nothing is loaded into guest memory" },
    { "debug", 0, false, gw_debug, CHECK_ACCEPTED, "debug: qvmsim has no GDB server" },
};

static const struct global_word *global_word(const char *w)
{
    for (size_t i = 0; i < ARRAY_LEN(global_words); i++) {
        if (strcmp(w, global_words[i].word) == 0)
            return &global_words[i];
    }
    return NULL;
}

/* The words of a `cpu` context [doc 8.0 vm/cpu.html]: each takes a value,
 * accepted and dropped (the scripted guest has no vCPUs). */
static const char *const cpu_words[] = { "sched", "runmask", "cluster" };

static bool cpu_word(const struct tok *opt)
{
    for (size_t i = 0; i < ARRAY_LEN(cpu_words); i++) {
        if (strcmp(opt->w, cpu_words[i]) == 0) {
            free(take_arg(opt, "a value"));
            return true;
        }
    }
    return false;
}

/* The words of a `pass` context [doc 8.0 vm/pass.html], and what each takes. */
static const struct {
    const char *word;
    const char *what;
} pass_words[] = {
    { "loc", "a location ([mem:|io:]REGION,LENGTH,ACCESS[=HOST])" },
    { "intr", "an interrupt (PIC:NUM[,u][=VECTOR])" },
};

static bool pass_word(const struct tok *opt)
{
    for (size_t i = 0; i < ARRAY_LEN(pass_words); i++) {
        if (strcmp(opt->w, pass_words[i].word) == 0) {
            char *a = take_arg(opt, pass_words[i].what);
            qlog(QL_QVM_DEBUG, "%s:%d: pass %s %s: accepted, no effect in qvmsim (no host resources are passed "
                 "through)", opt->file, opt->line, opt->w, a);
            free(a);
            return true;
        }
    }
    return false;
}

void config_parse(void)
{
    struct parse ps = { .ctx = CTX_NONE };
    pos = 0;
    while (more()) {
        const struct tok *opt = &toks[pos++];
        const char *w = opt->w;
        if (ps.ctx == CTX_VDEV && vdev_word(opt, ps.cur))
            continue;
        if (ps.ctx == CTX_CPU && cpu_word(opt))
            continue;
        if (ps.ctx == CTX_PASS && pass_word(opt))
            continue;
        const struct global_word *g = global_word(w);
        if (g == NULL) {
            if (ps.ctx == CTX_PASS)
                cfg_fatal(opt->file, opt->line, "unknown option '%s' for 'pass' (it takes loc and intr)", w);
            if (ps.ctx == CTX_VDEV)
                cfg_fatal(opt->file, opt->line, "unknown option '%s' for vdev '%s'", w, vdev_source(ps.cur));
            cfg_fatal(opt->file, opt->line, "unknown option '%s'", w);
        }
        if (g->fate != NULL)
            check_word(opt->file, opt->line, g->fate, g->check_text);     /* `qvm --check` (check.c) */
        g->parse(&ps, opt);
    }
}


static bool set_is_vdev_var(const char *name)
{
    for (size_t i = 0; i < N_SET_VARS; i++) {
        if (strcmp(set_vars[i].name, name) == 0)
            return set_vars[i].vdev;
    }
    return false;
}

static bool word_in(const char *v, const char *const *list)
{
    for (; *list; list++) {
        if (strcasecmp(v, *list) == 0)
            return true;
    }
    return false;
}

static bool value_fits(enum var_type t, const char *v)
{
    static const char *const booleans[] = { "on", "off", "1", "0", "yes", "no", "true", "false", NULL };
    static const char *const tristates[] = { "on", "off", "auto", NULL };
    uint64_t n;
    switch (t) {
    case VT_BOOLEAN: return word_in(v, booleans);
    case VT_TRISTATE: return word_in(v, tristates);
    case VT_NUMBER: return parse_num(v, &n) == 0 && !(v[0] == '0' && isdigit((unsigned char)v[1]));
    case VT_ADDRESS:
        if (strncmp(v, "0d", 2) == 0 && isdigit((unsigned char)v[2]))
            return parse_size(v + 2, &n) == 0;
        return parse_size(v, &n) == 0;
    case VT_STRING: return v[0] != '\0';
    }
    return false;
}

/* `set VAR VALUE` [doc: typed configuration variables in an implicit
 * context]; `set ?` lists them (as `qvm set ?` does) and exits 0. */
static void parse_set(const struct tok *opt, vdev_t *cur)
{
    char *name = take_arg(opt, "a variable name and a value (qvm set ? lists the variables)");
    if (strcmp(name, "?") == 0) {
        char line[160];
        write_all(STDOUT_FILENO, "allowed set variables\n", 22);
        for (size_t i = 0; i < N_SET_VARS; i++) {
            int n = snprintf(line, sizeof line, "    %-30s (%s, %s)\n", set_vars[i].name,
                             var_type_names[set_vars[i].type], set_vars[i].vdev ? "vdev" : "global");
            write_all(STDOUT_FILENO, line, (size_t)n);
        }
        qvmsim_end(0);
    }
    size_t k = 0;
    while (k < N_SET_VARS && strcmp(set_vars[k].name, name) != 0)
        k++;
    if (k == N_SET_VARS)
        cfg_fatal(opt->file, opt->line, "unknown configuration variable '%s' for option 'set' "
                  "('qvm set ?' lists them; qvm has no text macros: set does not define ${NAME})", name);
    char *value = take_arg(opt, "a value");
    if (!value_fits(set_vars[k].type, value))
        cfg_fatal(opt->file, opt->line, "bad %s value '%s' for 'set %s' (%s)", var_type_names[set_vars[k].type],
                  value, name,
                  set_vars[k].type == VT_BOOLEAN ? "on/off, 1/0, yes/no or true/false" :
                  set_vars[k].type == VT_TRISTATE ? "on, off or auto" :
                  set_vars[k].type == VT_NUMBER ? "a number, decimal or 0x hex" :
                  "a size or address like 4K, 0x1000 or 0d16384");
    if (set_vars[k].vdev && cur == NULL)
        cfg_fatal(opt->file, opt->line, "'set %s' applies to a vdev: put it after 'vdev NAME'", name);
    if (strcmp(name, "debug") == 0) {
        bool off = strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0 || strcasecmp(value, "no") == 0 ||
                   strcasecmp(value, "false") == 0;
        int found = -1;
        for (int i = 0; i < nstatus_off; i++)
            found = status_off[i] == cur ? i : found;
        if (off && found < 0) {
            status_off = xreallocarray(status_off, (size_t)nstatus_off + 1, sizeof *status_off);
            status_off[nstatus_off++] = cur;
        } else if (!off && found >= 0) {
            status_off[found] = status_off[--nstatus_off];
        }
    } else {
        qlog(QL_QVM_DEBUG, "%s:%d: set %s %s: accepted, no effect in qvmsim", opt->file, opt->line, name, value);
    }
    free(name);
    free(value);
}

bool config_vdev_in_status(vdev_t const *v)
{
    for (int i = 0; i < nstatus_off; i++) {
        if (status_off[i] == v)
            return false;
    }
    return true;
}

/* ---- `qvm --vocabulary` -------------------------------------------------- */

static void vocab_line(const char *fmt, ...) QVM_PRINTF_LIKE(1, 2);
static void vocab_line(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    write_all(STDOUT_FILENO, line, (size_t)n);
}

static void vocab_builtin(const char *name, bool modelled, const struct vdev_factory *f)
{
    vocab_line("builtin %s %s", name, modelled ? "modelled" : "accepted");
    if (f->factory_flags & VFF_LOC_NO)
        vocab_line("builtin-no-common %s loc", name);
    if (f->factory_flags & VFF_INTR_NO)
        vocab_line("builtin-no-common %s intr", name);
    size_t pl = strlen(QVM_OPTION_NO_ARG_PREFIX);
    for (int i = 0; f->option_list != NULL && f->option_list[i] != NULL; i++) {
        const char *o = f->option_list[i];
        bool flag = strncmp(o, QVM_OPTION_NO_ARG_PREFIX, pl) == 0;
        vocab_line("builtin-%s %s %s", flag ? "flag" : "option", name, flag ? o + pl : o);
    }
}

/* Every word of the configuration language qvmsim knows, one per line,
 * "KIND WORD [FIELD...]" in the order of its tables (BEHAVIOUR.md, "qvm
 * --vocabulary"): what hil.qvm.confvocab must agree with. */
void config_print_vocabulary(void)
{
    vocab_line("qvmsim-vocabulary 1");
    for (size_t i = 0; i < ARRAY_LEN(global_words); i++)
        vocab_line("%s %s %d", global_words[i].opens ? "context" : "global", global_words[i].word,
                   global_words[i].nargs);
    for (size_t i = 0; i < ARRAY_LEN(cpu_words); i++)
        vocab_line("cpu %s 1", cpu_words[i]);
    for (size_t i = 0; i < ARRAY_LEN(pass_words); i++)
        vocab_line("pass %s 1", pass_words[i].word);
    for (size_t i = 0; i < ARRAY_LEN(vdev_words); i++) {
        if (vdev_words[i].common)
            vocab_line("vdev-common %s %d", vdev_words[i].word, vdev_words[i].nargs);
    }
    for (size_t i = 0; i < N_SET_VARS; i++)
        vocab_line("set %s %s %s", set_vars[i].name, var_type_names[set_vars[i].type],
                   set_vars[i].vdev ? "vdev" : "global");
    for (size_t i = 0; log_filter_word(i) != NULL; i++)
        vocab_line("logger-filter %s", log_filter_word(i));
    vocab_line("logger-filter-alias warning warn");
    for (size_t i = 0; log_dest_word(i) != NULL; i++)
        vocab_line("logger-dest %s", log_dest_word(i));
    for (size_t i = 0; i < ARRAY_LEN(unsup_types); i++)
        vocab_line("unsupported-type %s %s", unsup_types[i], unsup_actions[g_flags.unsupported[i]]);
    for (size_t i = 0; i < ARRAY_LEN(unsup_actions); i++)
        vocab_line("unsupported-action %s", unsup_actions[i]);
    for (size_t i = 0; i < ARRAY_LEN(safety_values); i++)
        vocab_line("safety %s", safety_values[i]);
    builtin_vocabulary(vocab_builtin);
}

/* A folder where `vdev NAME` looks for vdev-NAME.so (-L, QVMSIM_VDEV_PATH). */
static void add_vdev_dir(const char *dir)
{
    g_vdev_path = xreallocarray(g_vdev_path, (size_t)g_nvdev_path + 1, sizeof *g_vdev_path);
    g_vdev_path[g_nvdev_path++] = xstrdup(dir);
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
            add_vdev_dir(dir);
        } else if (a[0] == '-' && a[1] != '\0') {
            cfg_fatal(cmdline, i, "unknown command-line flag '%s' (qvmsim knows -V, --version, -L DIR, -h, --check, "
                      "--vocabulary)", a);
        } else {
            add_tok(a, strlen(a), cmdline, i);
        }
    }
    /* the guest timer's rate: a target setting ([qvm] timer_hz) passed in qvm's environment */
    const char *hz = getenv("QVMSIM_TIMER_HZ");
    if (hz != NULL && *hz) {
        uint64_t v;
        if (parse_num(hz, &v) != 0 || v == 0 || v > 10000000000ull)
            cfg_fatal("<environment>", 0, "bad value '%s' for QVMSIM_TIMER_HZ (the guest timer's ticks per second, "
                      "1 to 10000000000, e.g. 19200000)", hz);
        g_timer_hz = v;
    }
    const char *env = getenv("QVMSIM_VDEV_PATH");
    if (env != NULL && *env) {
        char *copy = xstrdup(env), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
            add_vdev_dir(d);
    }
}

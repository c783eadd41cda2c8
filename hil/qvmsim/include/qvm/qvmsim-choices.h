/*
 * qvm/qvmsim-choices.h - every value qvmsim had to choose itself.
 *
 * qvmsim is the qnx-hil project's clean-room stand-in for QNX's qvm (it is NOT
 * QNX).  The public QNX documentation gives the *names* of the vdev API but
 * not every value.  Each definition below is marked:
 *   [7.x]      value documented for Hypervisor 2.x (SDP 7.x), reused here;
 *   [inferred] our reading of the documentation, unverified on hardware;
 *   [qvmsim]   not public at all: qvmsim's own choice.
 * Vdev source code must use the names only, never the numbers.  A real board
 * may disagree with any [inferred]/[qvmsim] value; the framework lets every
 * such value be overridden per target.
 *
 * Our own text; nothing here is copied from QNX headers.
 */
#ifndef QVM_QVMSIM_CHOICES_H
#define QVM_QVMSIM_CHOICES_H

/* Identity. -------------------------------------------------------------- */
#define _QVMSIM_VERSION "0.1.0"      /* [qvmsim] */

/* ABI number a vdev passes to vdev_register_factory().  [qvmsim] */
#define _QVMSIM_VDEV_ABI 0x0800u

/* VDEV_CTRL_* values.  [7.x] for OPTIONS_START 0, OPTIONS_END 1,
 * GUEST_CONFIGURED 2, TERMINATE 3, STATUS 4, GEN_ACPI 5, GEN_FDT 6, BUTTON 7,
 * PCI_BARS 9; [qvmsim] for ASSIGN, GUEST_STARTING and FIRST_OPTIDX (8.0 values
 * are not public); BOOTUP is GUEST_CONFIGURED [7.1: "for source
 * compatibility"]: one value, one callback. */
#define _QVMSIM_CTRL_OPTIONS_START    0u
#define _QVMSIM_CTRL_OPTIONS_END      1u
#define _QVMSIM_CTRL_GUEST_CONFIGURED 2u
#define _QVMSIM_CTRL_TERMINATE        3u
#define _QVMSIM_CTRL_STATUS           4u
#define _QVMSIM_CTRL_GEN_ACPI         5u
#define _QVMSIM_CTRL_GEN_FDT          6u
#define _QVMSIM_CTRL_BUTTON           7u
#define _QVMSIM_CTRL_PCI_BARS         9u
#define _QVMSIM_CTRL_ASSIGN           10u
#define _QVMSIM_CTRL_GUEST_STARTING   11u
#define _QVMSIM_CTRL_BOOTUP           _QVMSIM_CTRL_GUEST_CONFIGURED
#define _QVMSIM_CTRL_FIRST_OPTIDX     0x100u

/* When the control commands come [inferred from the lifecycle page,
 * https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.vdev.dev_guide/topic/intro/lifecycle.html,
 * which names OPTIONS_END, ASSIGN and GUEST_CONFIGURED (the startup/running
 * demarcation) but does not place BOOTUP, GEN_ACPI or GEN_FDT]: each command
 * goes to every vdev in configuration order before the next command starts:
 *   OPTIONS_START, options (the vdev's own and the common `loc`/`intr`, in
 *   configuration order: `loc` and `intr` override what the vdev set at
 *   OPTIONS_START), OPTIONS_END (per vdev), ASSIGN, GUEST_CONFIGURED (= BOOTUP),
 *   GEN_ACPI (x86_64 hosts) or GEN_FDT (aarch64 hosts; arg =
 *   (const char *)(uintptr_t)_QVMSIM_FDT_PARENT_NODE), then - unless `dryrun`
 *   ends qvm here - GUEST_STARTING; refusing any of them before
 *   GUEST_STARTING is a configuration error (exit 65).
 * VDEV_CTRL_PCI_BARS is never delivered: qvmsim has no PCI bus. */
#if defined(__x86_64__) || defined(__i386__)
#define _QVMSIM_HOST_GEN_ACPI 1
#define _QVMSIM_HOST_GEN_FDT  0
#elif defined(__aarch64__) || defined(__arm__)
#define _QVMSIM_HOST_GEN_ACPI 0
#define _QVMSIM_HOST_GEN_FDT  1
#else
#define _QVMSIM_HOST_GEN_ACPI 0
#define _QVMSIM_HOST_GEN_FDT  0
#endif
/* The FDT parent node handed with GEN_FDT: offset 0, the root node of a
 * flattened device tree (qvmsim builds no device tree).  [qvmsim] */
#define _QVMSIM_FDT_PARENT_NODE 0

/* Ending within a bounded time [qvmsim; QNX documents no such bound]: a vdev
 * hanging in a control callback cannot keep qvm alive once it was asked to end.
 *  - SIGTERM/SIGINT before the guest started (options, ASSIGN,
 *    GUEST_CONFIGURED, BOOTUP, GEN_ACPI/GEN_FDT, GUEST_STARTING): the guest is
 *    not started; qvm ends as a normal end (exit 0; SIGQUIT: GTC_POWER_CUT,
 *    exit 3) as soon as the current control returns, with TERMINATE to the
 *    vdevs that were set up; a control that has not returned
 *    _QVMSIM_SETUP_END_GRACE_MS after the signal is cut off;
 *  - teardown (VDEV_CTRL_TERMINATE to every vdev, whatever ended qvm: the
 *    power button, a fatal error, a watchdog...) still running
 *    _QVMSIM_TERMINATE_GRACE_MS after it began, or a SIGTERM/SIGINT/SIGQUIT
 *    during it, is cut off;
 *  - a cut-off logs ERROR "vdev 'NAME' has not returned from CTRL <why>: qvm
 *    exits without waiting for it" and exits at once with the status already
 *    decided; a normal end (0) becomes GTC_VDEV_ERROR (exit 6): a vdev that
 *    had to be cut off did not shut down normally.
 * After the guest started, a callback hanging in the main loop (e.g. BUTTON)
 * is not cut off: SIGKILL from the caller ends qvm. */
#define _QVMSIM_SETUP_END_GRACE_MS 1000
#define _QVMSIM_TERMINATE_GRACE_MS 5000

/* vdev_ref_status_t, VFF_*, QST_*, QSF_*, GIS_* and GXF_* use the [7.x]
 * values, written in the headers themselves.  QSL_NO_LOCATION is all ones
 * [inferred].  Region length when `loc` gives none: [qvmsim] */
#define _QVMSIM_DEFAULT_MEM_LENGTH 0x1000u
#define _QVMSIM_DEFAULT_IO_LENGTH  8u

/* Log levels (qvm_log_level_t).  QL_QVM_INFO, QL_QVM_ERR and QL_QVM_DBG are
 * [doc] names (8.0 pages and public 8.0 code); the siblings' names are
 * [qvmsim] (hidden in portable mode); all numbers [qvmsim].  The QL_CNF_* family
 * is the same levels tagged "configuration" (bit 0x100). */
#define _QVMSIM_QL_FATAL     0
#define _QVMSIM_QL_INTERNAL  1
#define _QVMSIM_QL_ERR       2
#define _QVMSIM_QL_WARN      3
#define _QVMSIM_QL_INFO      4
#define _QVMSIM_QL_DEBUG     5
#define _QVMSIM_QL_VERBOSE   6
#define _QVMSIM_QL_CNF_FLAG  0x100

/* qvm_fatal() sources.  QLS_CNF is [doc]; QLS_VDEV and QLS_INTERNAL are
 * [qvmsim] names (the other QLS_* of real qvm are not public). */
#define _QVMSIM_QLS_CNF      1u  /* the configuration is at fault -> exit 65  */
#define _QVMSIM_QLS_VDEV     2u  /* [qvmsim] a vdev's own fault -> 64 / 96    */
#define _QVMSIM_QLS_INTERNAL 3u  /* [qvmsim] qvm itself -> 64 / 96            */

/* Guest termination causes.  GTC_WATCHDOG 4, GTC_CUSTOM_MIN 32, GTC_MAX 63 are
 * [doc]; GTC_NORMAL_EXIT = 0 is [inferred] from the exit-status table; the
 * names for 3, 5, 6, 7 are [qvmsim].  The cause becomes qvm's exit status
 * [inferred].  A cause above GTC_MAX is turned into GTC_UNEXPECTED (7) with an
 * ERROR line [qvmsim]. */
#define _QVMSIM_GTC_NORMAL_EXIT  0
#define _QVMSIM_GTC_POWER_CUT    3   /* [qvmsim] name: SIGQUIT, "unplugged"  */
#define _QVMSIM_GTC_WATCHDOG     4
#define _QVMSIM_GTC_UNSUPPORTED  5   /* [qvmsim] name: `unsupported ... abort` */
#define _QVMSIM_GTC_VDEV_ERROR   6   /* [qvmsim] name: unexpected vdev error  */
#define _QVMSIM_GTC_UNEXPECTED   7   /* [qvmsim] name: unexpected error       */
#define _QVMSIM_GTC_CUSTOM_MIN   32
#define _QVMSIM_GTC_MAX          63

/* Exit statuses that are not a guest termination cause.  [doc] table, with
 * [inferred] mapping: */
#define _QVMSIM_EXIT_FATAL_BEFORE_START 64   /* qvm_fatal(non-CNF) before start  */
#define _QVMSIM_EXIT_FATAL_CONFIG       65   /* qvm_fatal(QLS_CNF), any config
                                               error, a control refusal (errno)
                                               during setup, an ABI mismatch   */
#define _QVMSIM_EXIT_FATAL_AFTER_START  96   /* any qvm_fatal once the guest
                                               started (GUEST_STARTING on)     */

/* Watchdog bite actions (struct wdog_state.ws_action).  [qvmsim] numbers. */
#define _QVMSIM_WDOG_ACTION_TERMINATE 1u
#define _QVMSIM_WDOG_ACTION_INTR      2u
#define _QVMSIM_WDOG_ACTION_MASK      0xffu
#define _QVMSIM_WDOG_FLAG_DUMP        0x100u

/* Guest timers.  [qvmsim]: the guest clock and the host clock (ClockCycles())
 * are CLOCK_MONOTONIC (the clock of qvmsim's log timestamps) scaled to the
 * guest timer's rate: QVMSIM_TIMER_HZ in qvm's environment (a target's
 * `[qvm] timer_hz`), by default _QVMSIM_TIMER_FREQUENCY_HZ, 1e9 ticks per
 * second (nanoseconds); guest_timer_create() reports the rate;
 * GUEST_TIMER_ABSOLUTE is the tdp value 1 [inferred: 8.0 names it, its value
 * is not public]; deadline 0 with tdp NULL disarms. */
#define _QVMSIM_TIMER_FREQUENCY_HZ 1000000000ull
#define _QVMSIM_GUEST_TIMER_ABSOLUTE 1
#define _QVMSIM_MAX_TIMERS 256

/* Other [qvmsim] choices, not visible in the API:
 *  - log line: "<sec>.<usec> <LEVEL> <source>: <message>", CLOCK_MONOTONIC,
 *    LEVEL in FATAL INTERNAL ERROR WARN INFO DEBUG VERBOSE; newlines inside a
 *    message are written as the two characters '\' 'n';
 *  - a control callback refusing (returning an errno) during setup is a fatal
 *    configuration error (65); refusing GUEST_STARTING is 96; refusing
 *    STATUS, BUTTON or TERMINATE is logged at WARN and ignored;
 *  - the guest is "started" from the moment GUEST_STARTING is dispatched;
 *  - a watchdog bite with WDOG_ACTION_TERMINATE exits 4 (GTC_WATCHDOG);
 *  - the slog destination is syslog(3) with ident "qvm";
 *  - when the guest ends qvm logs at INFO from "qvm":
 *    "guest terminated: cause=<N> name=<GTC_NAME> since_last_store=<s.us|none>"
 *    (custom causes are named GTC_CUSTOM_MIN+<k>), and on every exit path
 *    that leaves the process alive, last: "exit status=<N>";
 *  - configuration errors: a FATAL line from "qvm" with "<file>:<line>:" and
 *    the offending word in quotes ("<cmdline>" for command-line words, line =
 *    argv index), exit 65; the guest script's errors name the script's lines;
 *  - `loc [mem:|io:]ADDR[,LEN]` (no type or LEN: the vdev's own, set at
 *    OPTIONS_START); a non-PCI vdev left without an address after ASSIGN is
 *    unreachable (WARN line); overlapping final regions, VFF_INTR_REQ without
 *    `intr`, a `loc` for VFF_LOC_NO or an `intr` for VFF_INTR_NO are
 *    configuration errors;
 *  - `logger FILTERS DEST` [doc: zero to many loggers, one destination
 *    each, they add up; an explicit logger replaces the default
 *    fatal,internal,error,warn,info stderr; internal always also to slog]
 *    https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vm/logger.html
 *    (7.x: https://www.qnx.com/developers/docs/7.1/com.qnx.doc.hypervisor.user/topic/vm/logger.html).
 *    A missing DEST is a configuration error [qvmsim: the synopsis makes it
 *    mandatory; real qvm's reaction is not public]; so is one for `log`;
 *  - per-vdev `log FILTERS DEST` [doc: overrides the VM-wide logging for that
 *    vdev; filter word `warning`; with several `log` options a level goes to
 *    the rightmost one naming it] https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vdev_ref/options.html
 *    (7.1: https://www.qnx.com/developers/docs/7.1/com.qnx.doc.hypervisor.user/topic/vdev_ref/options.html);
 *    the logger page says `warn`, the options page `warning`: qvmsim takes
 *    both in both places [qvmsim]; levels no `log` names are not output;
 *  - `unsupported instruction|reference|register abort|fail|ignore` [doc:
 *    defaults instruction fail, reference ignore (reads give ~0), register
 *    fail; abort = message + guest state, then end qvm; fail = a CPU
 *    exception to the guest] https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vm/unsupported.html
 *    qvmsim: a reference is a scripted-guest access outside every vdev region
 *    and guest RAM: ignore = ERROR line, load reads all ones; fail = ERROR
 *    line, a load prints "ADDR: exception"; abort = ERROR line + the status
 *    line, GTC_UNSUPPORTED (exit 5).  instruction/register: accepted, no
 *    effect (DEBUG line) [qvmsim];
 *  - `set VAR VALUE` [doc: typed configuration variables (address, boolean,
 *    tristate, number, string) in an implicit global/CPU/vdev context;
 *    `qvm set ?` lists them] https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vm/set.html and
 *    https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vm/variables.html
 *    (7.1 adds grow-heap, slog-buffer, vdev-message-block-timeout,
 *    gic-hwassist, host-paddr-gicd/gich:
 *    https://www.qnx.com/developers/docs/7.1/com.qnx.doc.hypervisor.user/topic/vm/variables.html).
 *    qvmsim knows those variables, checks the value's type, refuses any
 *    other name (exit 65) [qvmsim: qvmsim's vdevs define none]; `set debug
 *    off` in a vdev context leaves it out of SIGUSR1's report; the others are
 *    accepted with a DEBUG "no effect" line.  There are no ${NAME} text
 *    macros (qvm has none): a word containing "${" is a configuration error
 *    [qvmsim] - QvmConfig.define() expands macros before qvm runs;
 *  - a word may be double-quoted to hold spaces or '#' [doc: the dump
 *    page's example dump "|gzip >dump_output.gz"]; no escapes [qvmsim];
 *  - `dryrun` ends with INFO "Exiting: dryrun completed", exit 0 [doc 7.1:
 *    https://www.qnx.com/developers/docs/7.1/com.qnx.doc.hypervisor.user/topic/vm/variables.html];
 *  - `pass [loc ...] [intr ...]` (a context) and `safety none|warn|required`
 *    are parsed and change nothing (DEBUG lines) [doc:
 *    https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vm/pass.html,
 *    https://www.qnx.com/developers/docs/7.1/com.qnx.doc.hypervisor.user/topic/vm/safety.html];
 *    a blob_type before `pass` is not supported [qvmsim];
 *  - VDEV_CTRL_TERMINATE goes to the vdevs in configuration order;
 *  - SIGTERM/SIGINT = the power button [doc: "makes qvm ask the guest nicely
 *    to terminate"] https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/start/guest_stop.html:
 *    BUTTON to every vdev, then the scripted guest reacts (GUEST.md: shuts
 *    down, after its `on button` handlers, unless `ignore button`); qvm exits
 *    0 once it has shut down.  A second SIGTERM/SIGINT before that forces the
 *    guest off: GTC_POWER_CUT (3) [qvmsim]; SIGQUIT: GTC_POWER_CUT (3) [doc:
 *    https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/debug/errcodes.html];
 *  - `dump DIR` / `dump "|COMMAND"` [doc] https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vm/dump.html:
 *    SIGUSR2 or WDOG_FLAG_DUMP writes DIR/<system or qvm-guest>-YYYYMMDD-
 *    hhmmss.gcore (host local time; if taken, -1 ... -9 before .gcore; if all
 *    are taken, no dump and an ERROR line), created with O_EXCL so nothing
 *    is overwritten; |COMMAND runs /bin/sh -c COMMAND with the dump on its
 *    stdin.  The content is text, not ELF64 [qvmsim: no guest CPU/memory].
 *    A missing DIR is a configuration error [qvmsim]; no `dump`: WARN line;
 *  - SIGUSR2 also sends VDEV_CTRL_STATUS to every vdev; their qvm_report()
 *    text goes into the dump as "<vdev>: <text>" lines; SIGUSR1 logs it at
 *    INFO [doc] https://www.qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.vdev.api/topic/qvm_report.html;
 *  - vread/vwrite get vopnd->location = the absolute address, cookie 0, and
 *    oopnd of type QST_CPUREGS (location 0, length = access size); `pic` is
 *    never called;
 *  - guest_cpu_read/write: blocks are packed in order into data; a
 *    QST_CPUREGS block needs the gcp of a vread/vwrite in progress (else
 *    EINVAL) and moves min(length, access size) bytes; QST_MEMORY blocks
 *    reach guest RAM with any gcp (NULL too) and return -1 when a byte is
 *    outside RAM (the vdev answers guest_cpu_to_vrs(-1) = VRS_BUS_ERROR: the
 *    guest access is a bus error, logged at ERROR); other types: ENOTSUP;
 *    flags are ignored;
 *  - `ram [START,]LENGTH`: START and LENGTH are numbers with an optional K,
 *    M or G suffix; without START the region follows the highest RAM address
 *    so far (0 for the first), as QNX documents
 *    (https://qnx.com/developers/docs/8.0/com.qnx.doc.hypervisor.user/topic/vm/ram.html);
 *    RAM regions must not overlap each other or a vdev's memory `loc`
 *    (configuration error); RAM is zeroed; `rom` is accepted and ignored;
 *  - gasp: a mapping is a pointer into qvmsim's RAM (no copy; flush is a
 *    no-op); it must lie inside one `ram` region (else NULL/EFAULT); flags
 *    must be GMF_READ, GMF_WRITE and/or GMF_EXEC (else EINVAL);
 *    gasp_unmap_handle() on an unmapped handle does nothing;
 *    gasp_map_firmware() maps guest RAM like gasp_map() (GMF_MAP_ANY:
 *    ENOTSUP), gasp_map_host_contig() is ENOTSUP, gasp_lock()/gasp_unlock()
 *    take one recursive lock (type QST_MEMORY or QST_X86_IO, else EINVAL);
 *  - `intr PIC:NUM`: PIC a word (letter first: gic, ioapic, apic ...), NUM a
 *    number; normalised to lower-case PIC and decimal NUM ("GIC:0x21" is
 *    "gic:33"); vdevs with the same interrupt share it; any other form is a
 *    configuration error naming the word;
 *  - guest_intr_signal(): EINVAL for a NULL gip, a vdev without `intr`,
 *    GIS_ON|GIS_OFF together or unknown bits; GIS_NOP and GIS_ISR alone
 *    return EOK (GIS_ISR alone asks "may this be signalled from an ISR?":
 *    yes, from any thread); GIS_ON counts one assertion of the interrupt and
 *    logs at DEBUG from qvm "guest interrupt <PIC:NUM> asserted by vdev
 *    '<name>' (count <N>)"; GIS_OFF logs at VERBOSE; the scripted guest sees
 *    the counts (`irq` commands, GUEST.md);
 *  - WDOG_ACTION_INTR: INFO "watchdog bite from vdev '<name>': raising
 *    interrupt <PIC:NUM>", then guest_intr_signal(&v_intr, GIS_ON); without
 *    `intr`: an ERROR line and nothing raised (the guest goes on);
 *  - vdev_pulse(): the sigevent gets SIGEV_NONE and a sigev_value pointing to
 *    a registration of qvmsim's; qvmsim_pulse_deliver() refuses other events
 *    (EINVAL), queues the pulse and returns; the "qvm-pulses" thread calls
 *    the factory's pulse callback (VFF_MUTEX rules apply) with
 *    pulse.code = code, type/subtype/value/scoid 0, in delivery order, from
 *    the moment the guest starts; a missing pulse callback is a WARN line;
 *    `priority` and `coid` are ignored;
 *  - guest timers: deadline 0 disarms with tdp NULL or a callback tdp; an
 *    absolute deadline in the past expires at once; the callback tdp
 *    (or a byte-for-byte copy) re-arms from the due time of the expiry
 *    handled (no drift); any other tdp counts from its guest_current;
 *    guest_notify_start/host_notify_start = when the wait began (the notify
 *    call, or the previous due time for a recurring re-arm);
 *  - v_sched: the priority and policy of qvm's main thread, which qvmsim's
 *    threads inherit;
 *  - /dev/qvm/<system>/env is written as $QVMSIM_ENV_DIR/<system>/env (JSON)
 *    only when QVMSIM_ENV_DIR is set;
 *  - vdev search: -L DIRs, then $QVMSIM_VDEV_PATH, then the normal library
 *    search (LD_LIBRARY_PATH ...); `vdev vdev-x.so` is `vdev x`, `vdev
 *    PATH/vdev-x.so` loads that file; a factory's .name = NULL becomes x;
 *  - a vdev's exit(N) (qvmsim's own endings use _exit()): WARN line,
 *    VDEV_CTRL_TERMINATE to every started vdev, "exit status=N", status N.
 */

/* The QVMSIM_* names of the values above.  qvmsim's own headers use the
 * reserved _QVMSIM_* spellings, so that portable mode can refuse every
 * QVMSIM_* name: with -DQVMSIM_PORTABLE (hil vdev build --portable) each use
 * is a compile error whose message names the documented way; QVMSIM is then
 * not defined (as on a QNX board).  See hil/qvmsim/PORTING.md.
 *
 * A public header adding names follows the same rules (tests/qvmsim/
 * test_portable.py and test_exports.py check every header of include/,
 * include/qvm and include/sys):
 *  - values it needs go here as _QVMSIM_NAME (with a QVMSIM_NAME line in both
 *    blocks below), never as a bare QVMSIM_* macro;
 *  - a qvmsim-only name sits in `#ifndef QVMSIM_PORTABLE` and, in its `#else`,
 *    #define NAME _QVMSIM_NOT_PORTABLE("NAME is qvmsim's own, refused by
 *    portable mode: <the documented way> (hil/qvmsim/PORTING.md)");
 *  - its function declarations sit between `#pragma GCC visibility
 *    push(default)` and `pop` (qvm is built with -fvisibility=hidden). */
#define _QVMSIM_PRAGMA(text) _Pragma(#text)
#define _QVMSIM_NOT_PORTABLE(message) _QVMSIM_PRAGMA(GCC error message)
#ifndef QVMSIM_PORTABLE
#define QVMSIM 1                    /* [qvmsim] defined only by qvmsim's headers */
#define QVMSIM_VERSION _QVMSIM_VERSION
#define QVMSIM_VDEV_ABI _QVMSIM_VDEV_ABI
#define QVMSIM_CTRL_OPTIONS_START _QVMSIM_CTRL_OPTIONS_START
#define QVMSIM_CTRL_OPTIONS_END _QVMSIM_CTRL_OPTIONS_END
#define QVMSIM_CTRL_GUEST_CONFIGURED _QVMSIM_CTRL_GUEST_CONFIGURED
#define QVMSIM_CTRL_TERMINATE _QVMSIM_CTRL_TERMINATE
#define QVMSIM_CTRL_STATUS _QVMSIM_CTRL_STATUS
#define QVMSIM_CTRL_GEN_ACPI _QVMSIM_CTRL_GEN_ACPI
#define QVMSIM_CTRL_GEN_FDT _QVMSIM_CTRL_GEN_FDT
#define QVMSIM_CTRL_BUTTON _QVMSIM_CTRL_BUTTON
#define QVMSIM_CTRL_PCI_BARS _QVMSIM_CTRL_PCI_BARS
#define QVMSIM_CTRL_ASSIGN _QVMSIM_CTRL_ASSIGN
#define QVMSIM_CTRL_GUEST_STARTING _QVMSIM_CTRL_GUEST_STARTING
#define QVMSIM_CTRL_BOOTUP _QVMSIM_CTRL_BOOTUP
#define QVMSIM_CTRL_FIRST_OPTIDX _QVMSIM_CTRL_FIRST_OPTIDX
#define QVMSIM_HOST_GEN_ACPI _QVMSIM_HOST_GEN_ACPI
#define QVMSIM_HOST_GEN_FDT _QVMSIM_HOST_GEN_FDT
#define QVMSIM_FDT_PARENT_NODE _QVMSIM_FDT_PARENT_NODE
#define QVMSIM_SETUP_END_GRACE_MS _QVMSIM_SETUP_END_GRACE_MS
#define QVMSIM_TERMINATE_GRACE_MS _QVMSIM_TERMINATE_GRACE_MS
#define QVMSIM_DEFAULT_MEM_LENGTH _QVMSIM_DEFAULT_MEM_LENGTH
#define QVMSIM_DEFAULT_IO_LENGTH _QVMSIM_DEFAULT_IO_LENGTH
#define QVMSIM_QL_FATAL _QVMSIM_QL_FATAL
#define QVMSIM_QL_INTERNAL _QVMSIM_QL_INTERNAL
#define QVMSIM_QL_ERR _QVMSIM_QL_ERR
#define QVMSIM_QL_WARN _QVMSIM_QL_WARN
#define QVMSIM_QL_INFO _QVMSIM_QL_INFO
#define QVMSIM_QL_DEBUG _QVMSIM_QL_DEBUG
#define QVMSIM_QL_VERBOSE _QVMSIM_QL_VERBOSE
#define QVMSIM_QL_CNF_FLAG _QVMSIM_QL_CNF_FLAG
#define QVMSIM_QLS_CNF _QVMSIM_QLS_CNF
#define QVMSIM_QLS_VDEV _QVMSIM_QLS_VDEV
#define QVMSIM_QLS_INTERNAL _QVMSIM_QLS_INTERNAL
#define QVMSIM_GTC_NORMAL_EXIT _QVMSIM_GTC_NORMAL_EXIT
#define QVMSIM_GTC_POWER_CUT _QVMSIM_GTC_POWER_CUT
#define QVMSIM_GTC_WATCHDOG _QVMSIM_GTC_WATCHDOG
#define QVMSIM_GTC_UNSUPPORTED _QVMSIM_GTC_UNSUPPORTED
#define QVMSIM_GTC_VDEV_ERROR _QVMSIM_GTC_VDEV_ERROR
#define QVMSIM_GTC_UNEXPECTED _QVMSIM_GTC_UNEXPECTED
#define QVMSIM_GTC_CUSTOM_MIN _QVMSIM_GTC_CUSTOM_MIN
#define QVMSIM_GTC_MAX _QVMSIM_GTC_MAX
#define QVMSIM_EXIT_FATAL_BEFORE_START _QVMSIM_EXIT_FATAL_BEFORE_START
#define QVMSIM_EXIT_FATAL_CONFIG _QVMSIM_EXIT_FATAL_CONFIG
#define QVMSIM_EXIT_FATAL_AFTER_START _QVMSIM_EXIT_FATAL_AFTER_START
#define QVMSIM_WDOG_ACTION_TERMINATE _QVMSIM_WDOG_ACTION_TERMINATE
#define QVMSIM_WDOG_ACTION_INTR _QVMSIM_WDOG_ACTION_INTR
#define QVMSIM_WDOG_ACTION_MASK _QVMSIM_WDOG_ACTION_MASK
#define QVMSIM_WDOG_FLAG_DUMP _QVMSIM_WDOG_FLAG_DUMP
#define QVMSIM_TIMER_FREQUENCY_HZ _QVMSIM_TIMER_FREQUENCY_HZ
#define QVMSIM_GUEST_TIMER_ABSOLUTE _QVMSIM_GUEST_TIMER_ABSOLUTE
#define QVMSIM_MAX_TIMERS _QVMSIM_MAX_TIMERS
#else
#define QVMSIM_VERSION _QVMSIM_NOT_PORTABLE("QVMSIM_VERSION is qvmsim's own, refused by portable mode: no QNX equivalent (hil/qvmsim/PORTING.md)")
#define QVMSIM_VDEV_ABI _QVMSIM_NOT_PORTABLE("QVMSIM_VDEV_ABI is qvmsim's own, refused by portable mode: use QVM_VDEV_ABI (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_OPTIONS_START _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_OPTIONS_START is qvmsim's own, refused by portable mode: use VDEV_CTRL_OPTIONS_START (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_OPTIONS_END _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_OPTIONS_END is qvmsim's own, refused by portable mode: use VDEV_CTRL_OPTIONS_END (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_GUEST_CONFIGURED _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_GUEST_CONFIGURED is qvmsim's own, refused by portable mode: use VDEV_CTRL_GUEST_CONFIGURED (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_TERMINATE _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_TERMINATE is qvmsim's own, refused by portable mode: use VDEV_CTRL_TERMINATE (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_STATUS _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_STATUS is qvmsim's own, refused by portable mode: use VDEV_CTRL_STATUS (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_GEN_ACPI _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_GEN_ACPI is qvmsim's own, refused by portable mode: use VDEV_CTRL_GEN_ACPI (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_GEN_FDT _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_GEN_FDT is qvmsim's own, refused by portable mode: use VDEV_CTRL_GEN_FDT (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_BUTTON _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_BUTTON is qvmsim's own, refused by portable mode: use VDEV_CTRL_BUTTON (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_PCI_BARS _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_PCI_BARS is qvmsim's own, refused by portable mode: use VDEV_CTRL_PCI_BARS (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_ASSIGN _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_ASSIGN is qvmsim's own, refused by portable mode: use VDEV_CTRL_ASSIGN (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_GUEST_STARTING _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_GUEST_STARTING is qvmsim's own, refused by portable mode: use VDEV_CTRL_GUEST_STARTING (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_BOOTUP _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_BOOTUP is qvmsim's own, refused by portable mode: use VDEV_CTRL_BOOTUP (hil/qvmsim/PORTING.md)")
#define QVMSIM_CTRL_FIRST_OPTIDX _QVMSIM_NOT_PORTABLE("QVMSIM_CTRL_FIRST_OPTIDX is qvmsim's own, refused by portable mode: use VDEV_CTRL_FIRST_OPTIDX (hil/qvmsim/PORTING.md)")
#define QVMSIM_HOST_GEN_ACPI _QVMSIM_NOT_PORTABLE("QVMSIM_HOST_GEN_ACPI is qvmsim's own, refused by portable mode: test __aarch64__ / __x86_64__, or answer both VDEV_CTRL_GEN_ACPI and VDEV_CTRL_GEN_FDT (hil/qvmsim/PORTING.md)")
#define QVMSIM_HOST_GEN_FDT _QVMSIM_NOT_PORTABLE("QVMSIM_HOST_GEN_FDT is qvmsim's own, refused by portable mode: test __aarch64__ / __x86_64__, or answer both VDEV_CTRL_GEN_ACPI and VDEV_CTRL_GEN_FDT (hil/qvmsim/PORTING.md)")
#define QVMSIM_FDT_PARENT_NODE _QVMSIM_NOT_PORTABLE("QVMSIM_FDT_PARENT_NODE is qvmsim's own, refused by portable mode: no QNX equivalent (hil/qvmsim/PORTING.md)")
#define QVMSIM_SETUP_END_GRACE_MS _QVMSIM_NOT_PORTABLE("QVMSIM_SETUP_END_GRACE_MS is qvmsim's own, refused by portable mode: no QNX equivalent (hil/qvmsim/PORTING.md)")
#define QVMSIM_TERMINATE_GRACE_MS _QVMSIM_NOT_PORTABLE("QVMSIM_TERMINATE_GRACE_MS is qvmsim's own, refused by portable mode: no QNX equivalent (hil/qvmsim/PORTING.md)")
#define QVMSIM_DEFAULT_MEM_LENGTH _QVMSIM_NOT_PORTABLE("QVMSIM_DEFAULT_MEM_LENGTH is qvmsim's own, refused by portable mode: no QNX equivalent (hil/qvmsim/PORTING.md)")
#define QVMSIM_DEFAULT_IO_LENGTH _QVMSIM_NOT_PORTABLE("QVMSIM_DEFAULT_IO_LENGTH is qvmsim's own, refused by portable mode: no QNX equivalent (hil/qvmsim/PORTING.md)")
#define QVMSIM_QL_FATAL _QVMSIM_NOT_PORTABLE("QVMSIM_QL_FATAL is qvmsim's own, refused by portable mode: QNX 8.0 documents only QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG (hil/qvmsim/PORTING.md)")
#define QVMSIM_QL_INTERNAL _QVMSIM_NOT_PORTABLE("QVMSIM_QL_INTERNAL is qvmsim's own, refused by portable mode: QNX 8.0 documents only QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG (hil/qvmsim/PORTING.md)")
#define QVMSIM_QL_ERR _QVMSIM_NOT_PORTABLE("QVMSIM_QL_ERR is qvmsim's own, refused by portable mode: use QL_QVM_ERR (hil/qvmsim/PORTING.md)")
#define QVMSIM_QL_WARN _QVMSIM_NOT_PORTABLE("QVMSIM_QL_WARN is qvmsim's own, refused by portable mode: QNX 8.0 documents only QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG (hil/qvmsim/PORTING.md)")
#define QVMSIM_QL_INFO _QVMSIM_NOT_PORTABLE("QVMSIM_QL_INFO is qvmsim's own, refused by portable mode: use QL_QVM_INFO (hil/qvmsim/PORTING.md)")
#define QVMSIM_QL_DEBUG _QVMSIM_NOT_PORTABLE("QVMSIM_QL_DEBUG is qvmsim's own, refused by portable mode: use QL_QVM_DBG (hil/qvmsim/PORTING.md)")
#define QVMSIM_QL_VERBOSE _QVMSIM_NOT_PORTABLE("QVMSIM_QL_VERBOSE is qvmsim's own, refused by portable mode: QNX 8.0 documents only QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG (hil/qvmsim/PORTING.md)")
#define QVMSIM_QL_CNF_FLAG _QVMSIM_NOT_PORTABLE("QVMSIM_QL_CNF_FLAG is qvmsim's own, refused by portable mode: QNX 8.0 documents only QL_QVM_ERR, QL_QVM_INFO and QL_QVM_DBG (hil/qvmsim/PORTING.md)")
#define QVMSIM_QLS_CNF _QVMSIM_NOT_PORTABLE("QVMSIM_QLS_CNF is qvmsim's own, refused by portable mode: use QLS_CNF (hil/qvmsim/PORTING.md)")
#define QVMSIM_QLS_VDEV _QVMSIM_NOT_PORTABLE("QVMSIM_QLS_VDEV is qvmsim's own, refused by portable mode: QNX 8.0 documents only QLS_CNF (hil/qvmsim/PORTING.md)")
#define QVMSIM_QLS_INTERNAL _QVMSIM_NOT_PORTABLE("QVMSIM_QLS_INTERNAL is qvmsim's own, refused by portable mode: QNX 8.0 documents only QLS_CNF (hil/qvmsim/PORTING.md)")
#define QVMSIM_GTC_NORMAL_EXIT _QVMSIM_NOT_PORTABLE("QVMSIM_GTC_NORMAL_EXIT is qvmsim's own, refused by portable mode: use GTC_NORMAL_EXIT (hil/qvmsim/PORTING.md)")
#define QVMSIM_GTC_POWER_CUT _QVMSIM_NOT_PORTABLE("QVMSIM_GTC_POWER_CUT is qvmsim's own, refused by portable mode: QNX documents the exit status, not a name: use GTC_CUSTOM_MIN + n or GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#define QVMSIM_GTC_WATCHDOG _QVMSIM_NOT_PORTABLE("QVMSIM_GTC_WATCHDOG is qvmsim's own, refused by portable mode: use GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#define QVMSIM_GTC_UNSUPPORTED _QVMSIM_NOT_PORTABLE("QVMSIM_GTC_UNSUPPORTED is qvmsim's own, refused by portable mode: QNX documents the exit status, not a name: use GTC_CUSTOM_MIN + n or GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#define QVMSIM_GTC_VDEV_ERROR _QVMSIM_NOT_PORTABLE("QVMSIM_GTC_VDEV_ERROR is qvmsim's own, refused by portable mode: QNX documents the exit status, not a name: use GTC_CUSTOM_MIN + n or GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#define QVMSIM_GTC_UNEXPECTED _QVMSIM_NOT_PORTABLE("QVMSIM_GTC_UNEXPECTED is qvmsim's own, refused by portable mode: QNX documents the exit status, not a name: use GTC_CUSTOM_MIN + n or GTC_WATCHDOG (hil/qvmsim/PORTING.md)")
#define QVMSIM_GTC_CUSTOM_MIN _QVMSIM_NOT_PORTABLE("QVMSIM_GTC_CUSTOM_MIN is qvmsim's own, refused by portable mode: use GTC_CUSTOM_MIN (hil/qvmsim/PORTING.md)")
#define QVMSIM_GTC_MAX _QVMSIM_NOT_PORTABLE("QVMSIM_GTC_MAX is qvmsim's own, refused by portable mode: use GTC_MAX (hil/qvmsim/PORTING.md)")
#define QVMSIM_EXIT_FATAL_BEFORE_START _QVMSIM_NOT_PORTABLE("QVMSIM_EXIT_FATAL_BEFORE_START is qvmsim's own, refused by portable mode: qvm chooses the exit status: end with qvm_fatal() or guest_terminate() (hil/qvmsim/PORTING.md)")
#define QVMSIM_EXIT_FATAL_CONFIG _QVMSIM_NOT_PORTABLE("QVMSIM_EXIT_FATAL_CONFIG is qvmsim's own, refused by portable mode: qvm chooses the exit status: end with qvm_fatal() or guest_terminate() (hil/qvmsim/PORTING.md)")
#define QVMSIM_EXIT_FATAL_AFTER_START _QVMSIM_NOT_PORTABLE("QVMSIM_EXIT_FATAL_AFTER_START is qvmsim's own, refused by portable mode: qvm chooses the exit status: end with qvm_fatal() or guest_terminate() (hil/qvmsim/PORTING.md)")
#define QVMSIM_WDOG_ACTION_TERMINATE _QVMSIM_NOT_PORTABLE("QVMSIM_WDOG_ACTION_TERMINATE is qvmsim's own, refused by portable mode: use WDOG_ACTION_TERMINATE (hil/qvmsim/PORTING.md)")
#define QVMSIM_WDOG_ACTION_INTR _QVMSIM_NOT_PORTABLE("QVMSIM_WDOG_ACTION_INTR is qvmsim's own, refused by portable mode: use WDOG_ACTION_INTR (hil/qvmsim/PORTING.md)")
#define QVMSIM_WDOG_ACTION_MASK _QVMSIM_NOT_PORTABLE("QVMSIM_WDOG_ACTION_MASK is qvmsim's own, refused by portable mode: compare ws_action with WDOG_ACTION_* (hil/qvmsim/PORTING.md)")
#define QVMSIM_WDOG_FLAG_DUMP _QVMSIM_NOT_PORTABLE("QVMSIM_WDOG_FLAG_DUMP is qvmsim's own, refused by portable mode: use WDOG_FLAG_DUMP (hil/qvmsim/PORTING.md)")
#define QVMSIM_TIMER_FREQUENCY_HZ _QVMSIM_NOT_PORTABLE("QVMSIM_TIMER_FREQUENCY_HZ is qvmsim's own, refused by portable mode: use the resolution guest_timer_create() returns (hil/qvmsim/PORTING.md)")
#define QVMSIM_GUEST_TIMER_ABSOLUTE _QVMSIM_NOT_PORTABLE("QVMSIM_GUEST_TIMER_ABSOLUTE is qvmsim's own, refused by portable mode: use GUEST_TIMER_ABSOLUTE (hil/qvmsim/PORTING.md)")
#define QVMSIM_MAX_TIMERS _QVMSIM_NOT_PORTABLE("QVMSIM_MAX_TIMERS is qvmsim's own, refused by portable mode: no QNX equivalent (hil/qvmsim/PORTING.md)")
#endif

#endif /* QVM_QVMSIM_CHOICES_H */

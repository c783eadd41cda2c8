/*
 * qvm/vdev-core.h - the core of the vdev API: vdev instances, the factory a
 * vdev registers, control commands, reference results, vdev threads and
 * pulses.
 *
 * Our own text, written from the names and signatures of QNX's public 8.0
 * Virtual Device Developer's API Reference; no QNX header or sample is copied.
 * Vdev sources written for QNX 8.0 compile unchanged against it (source
 * compatibility, not binary compatibility).  Every number the documentation
 * does not give is in qvm/qvmsim-choices.h.  -DQVMSIM_PORTABLE hides every
 * name QNX does not document (see qvm/types.h).
 */
#ifndef QVM_VDEV_CORE_H
#define QVM_VDEV_CORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <qvm/types.h>

#if defined(__GNUC__) || defined(__clang__)
#define QVM_NORETURN __attribute__((__noreturn__))
#define QVM_PRINTF_LIKE(fmt_idx, args_idx) __attribute__((__format__(__printf__, fmt_idx, args_idx)))
#elif defined(__cplusplus)
#define QVM_NORETURN [[noreturn]]
#define QVM_PRINTF_LIKE(fmt_idx, args_idx)
#else
#define QVM_NORETURN _Noreturn
#define QVM_PRINTF_LIKE(fmt_idx, args_idx)
#endif

/* A QNX pulse (what a vdev's pulse callback receives).  QNX declares it in
 * <sys/neutrino.h>; elsewhere qvmsim declares it with QNX's documented
 * members. */
#ifdef __QNX__
#include <sys/neutrino.h>
#else
struct _pulse {
    uint16_t type;
    uint16_t subtype;
    int8_t code;
    uint8_t zero[3];
    union {                     /* QNX: union sigval */
        int sival_int;
        void *sival_ptr;
    } value;
    int32_t scoid;
};
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* qvm exports exactly the functions its public headers declare (it is built
 * with -fvisibility=hidden; see hil/qvmsim/BEHAVIOUR.md) */
#pragma GCC visibility push(default)

/* ABI number to pass to vdev_register_factory(). */
#define QVM_VDEV_ABI _QVMSIM_VDEV_ABI

struct guest_cpu;               /* a guest CPU (opaque)                       */
struct guest_timer_data;        /* see qvm/guest.h                            */
struct sigevent;                /* <signal.h> (POSIX)                         */
struct vdev_pic_functions;      /* a PIC vdev's operations (qvmsim has no PIC vdevs) */
struct qvmsim_vdev_private;     /* qvmsim's bookkeeping (opaque)              */

/* One vdev instance: 8.0's vdev_s members, in the documented order, then
 * qvmsim's own bookkeeping. */
typedef struct vdev_s {
    void *v_device;                         /* extra_space bytes, zeroed        */
    const struct vdev_factory *v_factory;   /* the factory it was made from     */
    struct qvm_state_block v_block;         /* its `loc` (QSL_NO_LOCATION: none) */
    guest_intr_t v_intr;                    /* its `intr` (guest_intr_signal())  */
    pthread_mutex_t v_mtx;                  /* held around callbacks: VFF_MUTEX  */
    struct qvm_sched_info v_sched;          /* scheduling of its threads         */
    struct qvmsim_vdev_private *_QVMSIM_EXT(qvmsim_private); /* [qvmsim] not in QNX's vdev_s */
} vdev_t;

/* The control commands.  Use the names: numbers differ between releases. */
typedef unsigned vdev_ctrl_options_t;
#define VDEV_CTRL_OPTIONS_START    _QVMSIM_CTRL_OPTIONS_START
#define VDEV_CTRL_OPTIONS_END      _QVMSIM_CTRL_OPTIONS_END
#define VDEV_CTRL_ASSIGN           _QVMSIM_CTRL_ASSIGN
#define VDEV_CTRL_GUEST_CONFIGURED _QVMSIM_CTRL_GUEST_CONFIGURED
#define VDEV_CTRL_BOOTUP           _QVMSIM_CTRL_BOOTUP
#define VDEV_CTRL_GEN_ACPI         _QVMSIM_CTRL_GEN_ACPI
#define VDEV_CTRL_GEN_FDT          _QVMSIM_CTRL_GEN_FDT   /* arg: the FDT parent node, as (int)(uintptr_t) */
#define VDEV_CTRL_PCI_BARS         _QVMSIM_CTRL_PCI_BARS
#define VDEV_CTRL_GUEST_STARTING   _QVMSIM_CTRL_GUEST_STARTING
#define VDEV_CTRL_TERMINATE        _QVMSIM_CTRL_TERMINATE
#define VDEV_CTRL_STATUS           _QVMSIM_CTRL_STATUS
#define VDEV_CTRL_BUTTON           _QVMSIM_CTRL_BUTTON
/* Vdev option n of option_list arrives as VDEV_CTRL_FIRST_OPTIDX + n. */
#define VDEV_CTRL_FIRST_OPTIDX     _QVMSIM_CTRL_FIRST_OPTIDX

/* An option_list entry starting with this string is a flag without argument
 * (control() then gets arg == NULL). */
#define QVM_OPTION_NO_ARG_PREFIX "0"

/* Result of vread()/vwrite() (values [7.x]). */
typedef int vdev_ref_status_t;
#define VRS_NORMAL     0
#define VRS_NO_ADVANCE 1
#define VRS_ABORT      2
#define VRS_BUS_ERROR  3
#define VRS_CONTINUE   4
#define VRS_TERMINATE  5
#define VRS_ERRNO      0x100    /* VRS_ERRNO + errno */

/* factory_flags (8.0: vdev_factory_flags_t; values [7.x]). */
typedef uint32_t vdev_factory_flags_t;
#define VFF_NONE            0x000u
#define VFF_RESERVED        0x001u
#define VFF_INTR_NO         0x002u   /* takes no `intr`                    */
#define VFF_INTR_REQ        0x004u   /* needs an `intr`                    */
#define VFF_INTR_NONPCI     0x008u
#define VFF_LOC_NO          0x010u   /* takes no `loc`                     */
#define VFF_VDEV_MEM        0x020u   /* `loc` is guest memory (default)    */
#define VFF_VDEV_X86_IO     0x040u   /* `loc` is an x86 I/O port range     */
#define VFF_VDEV_PCI        0x080u
#define VFF_VDEV_LOC_TYPES  (VFF_VDEV_MEM | VFF_VDEV_X86_IO | VFF_VDEV_PCI)
#define VFF_MUTEX           0x100u   /* qvm holds v_mtx around callbacks   */
#define VFF_MUTEX_RECURSIVE 0x200u   /* ... and makes it recursive         */
#define VFF_RC              0x400u
#define VFF_MANUAL_REGION   0x800u

/* What a vdev registers: 8.0's fields in the documented order; use
 * designated initialisers. */
struct vdev_factory {
    struct vdev_factory *next;      /* set by qvm */
    int (*control)(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg);
    vdev_ref_status_t (*vread)(vdev_t *vdp, unsigned cookie,
                               const struct qvm_state_block *vopnd,
                               const struct qvm_state_block *oopnd,
                               struct guest_cpu *gcp);
    vdev_ref_status_t (*vwrite)(vdev_t *vdp, unsigned cookie,
                                const struct qvm_state_block *vopnd,
                                const struct qvm_state_block *oopnd,
                                struct guest_cpu *gcp);
    int (*pulse)(vdev_t *vdp, const struct _pulse *pulse);
    void (*timer)(vdev_t *vdp, void *data, const struct guest_timer_data *tdp,
                  struct guest_cpu *gcp);
    const struct vdev_pic_functions *pic;   /* PIC vdevs only */
    const char *const *option_list;  /* NULL-terminated vdev option names */
    const char *name;                /* NULL: from the .so name vdev-NAME.so */
    vdev_factory_flags_t factory_flags;     /* VFF_* */
    unsigned acc_sizes;              /* bitset of 1u << access size in bytes; 0 = any */
    unsigned extra_space;            /* bytes of per-instance state (v_device) */
};

/* Called from the vdev's constructor with QVM_VDEV_ABI.  A wrong ABI number
 * is refused: qvm exits 65 saying so. */
void vdev_register_factory(struct vdev_factory *factory, unsigned abi_version);

/* The start routine of a vdev thread. */
typedef void *(*vdev_thread_create_func_t)(void *arg);

/* A named pthread belonging to the vdev (the name goes to
 * pthread_setname_np()).  Returns pthread_create()'s value. */
int vdev_thread_create(const vdev_t *vdp, const char *name, pthread_t *thread,
                       pthread_attr_t *attr, vdev_thread_create_func_t start_routine,
                       void *arg);

/* Sets up `event` so that delivering it (MsgDeliverEvent() on QNX; any
 * thread on qvmsim: see qvmsim_pulse_deliver()) calls the vdev's pulse
 * callback with `code`.  `coid` is the connection qvm gave the vdev (qvmsim
 * ignores it). */
void vdev_pulse(vdev_t *vdp, const int8_t code, int priority, struct sigevent *event,
                const int coid);

/* The reference status that an error from guest_cpu_read()/guest_cpu_write()
 * calls for: -1 ("raise an exception in the guest") is VRS_BUS_ERROR, an
 * errno value e is VRS_ERRNO + e (EOK: VRS_NORMAL [inferred]). */
static inline vdev_ref_status_t guest_cpu_to_vrs(int errcode)
{
    if (errcode == -1)
        return VRS_BUS_ERROR;
    if (errcode == EOK)
        return VRS_NORMAL;
    return VRS_ERRNO + errcode;
}

#ifndef QVMSIM_PORTABLE
/* ---- qvmsim's own (not in QNX's API; hidden by -DQVMSIM_PORTABLE) ---- */
#define QST_CPU_DATA QST_CPUREGS    /* old qvmsim name of the CPU side of an access */
#define QST_NONE     QST_NO_TYPE    /* old qvmsim name                              */
#define QVMSIM_NO_LOCATION QSL_NO_LOCATION
/* The instance name (`name` option, else the vdev's name). */
const char *qvmsim_vdev_name(const vdev_t *vdp);
/* The `intr` text of the instance ("gic:33"), or NULL. */
const char *qvmsim_vdev_intr(const vdev_t *vdp);
/* Delivers an event set up by vdev_pulse(): the vdev's pulse callback runs
 * on qvmsim's pulse thread.  Returns EOK or an errno. */
int qvmsim_pulse_deliver(const struct sigevent *event);
#else
#define QST_CPU_DATA _QVMSIM_NOT_PORTABLE("QST_CPU_DATA is qvmsim's own, refused by portable mode: use QST_CPUREGS (hil/qvmsim/PORTING.md)")
#define QST_NONE _QVMSIM_NOT_PORTABLE("QST_NONE is qvmsim's own, refused by portable mode: use QST_NO_TYPE (hil/qvmsim/PORTING.md)")
#define QVMSIM_NO_LOCATION _QVMSIM_NOT_PORTABLE("QVMSIM_NO_LOCATION is qvmsim's own, refused by portable mode: use QSL_NO_LOCATION (hil/qvmsim/PORTING.md)")
#define qvmsim_vdev_name _QVMSIM_NOT_PORTABLE("qvmsim_vdev_name is qvmsim's own, refused by portable mode: QNX 8.0 has no call for the instance name (hil/qvmsim/PORTING.md)")
#define qvmsim_vdev_intr _QVMSIM_NOT_PORTABLE("qvmsim_vdev_intr is qvmsim's own, refused by portable mode: use vdp->v_intr with guest_intr_signal() (hil/qvmsim/PORTING.md)")
#define qvmsim_pulse_deliver _QVMSIM_NOT_PORTABLE("qvmsim_pulse_deliver is qvmsim's own, refused by portable mode: deliver the event with MsgDeliverEvent() as on QNX (hil/qvmsim/PORTING.md)")
#define qvmsim_private _QVMSIM_NOT_PORTABLE("qvmsim_private is qvmsim's own, refused by portable mode: vdev_s has no such member in QNX 8.0 (hil/qvmsim/PORTING.md)")
#define qvmsim_vdev_private _QVMSIM_NOT_PORTABLE("qvmsim_vdev_private is qvmsim's own, refused by portable mode: vdev_s has no such member in QNX 8.0 (hil/qvmsim/PORTING.md)")
#endif

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* QVM_VDEV_CORE_H */

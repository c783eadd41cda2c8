/*
 * qvm/vdev-core.h - the core of the vdev API, as implemented by qvmsim.
 *
 * Our own text, written from the names and signatures in QNX's public
 * documentation (Virtual Device Developer's API Reference); no QNX header or
 * sample is copied.  Vdev sources written for QNX 8.0 compile unchanged
 * against it (source compatibility, not binary compatibility).  Every number
 * that the documentation does not give is in qvm/qvmsim-choices.h.
 */
#ifndef QVM_VDEV_CORE_H
#define QVM_VDEV_CORE_H

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <qvm/qvmsim-choices.h>

#ifndef EOK
#define EOK 0   /* QNX-ism: "no error" */
#endif

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

#ifdef __cplusplus
extern "C" {
#endif

/* ABI number to pass to vdev_register_factory(). */
#define QVM_VDEV_ABI QVMSIM_VDEV_ABI

struct guest_cpu;           /* a guest CPU (opaque; qvmsim has one scripted CPU) */
struct guest_timer_data;    /* see qvm/guest.h */

/* A location: guest-physical memory, x86 I/O ports, or the CPU side of an
 * access (QST_CPU_DATA, only through guest_cpu_read()/guest_cpu_write()). */
struct qvm_state_block {
    unsigned qst_type;          /* QST_* */
    unsigned qst_flags;         /* [qvmsim] always 0 */
    uint64_t location;          /* address (absolute, guest-physical or port) */
    uint64_t length;            /* bytes (access size for an operand)         */
};

#define QST_NONE     QVMSIM_QST_NONE
#define QST_MEMORY   QVMSIM_QST_MEMORY
#define QST_X86_IO   QVMSIM_QST_X86_IO
#define QST_PCI      QVMSIM_QST_PCI
#define QST_CPU_DATA QVMSIM_QST_CPU_DATA

struct qvmsim_vdev_private;     /* qvmsim's bookkeeping, opaque */

/* One vdev instance. */
typedef struct vdev_s {
    void *v_device;                     /* extra_space bytes, zeroed, per instance */
    struct qvm_state_block v_block;     /* the `loc` (location, length, qst_type)  */
    pthread_mutex_t v_mtx;              /* held around callbacks when VFF_MUTEX    */
    const char *v_name;                 /* [qvmsim] instance name (`name` option)  */
    const char *v_intr;                 /* [qvmsim] `intr` option text, or NULL    */
    struct qvmsim_vdev_private *v_qvmsim;
} vdev_t;

/* The control commands.  Use the names: numbers differ between releases. */
typedef unsigned vdev_ctrl_options_t;
#define VDEV_CTRL_OPTIONS_START    QVMSIM_CTRL_OPTIONS_START
#define VDEV_CTRL_OPTIONS_END      QVMSIM_CTRL_OPTIONS_END
#define VDEV_CTRL_ASSIGN           QVMSIM_CTRL_ASSIGN
#define VDEV_CTRL_GUEST_CONFIGURED QVMSIM_CTRL_GUEST_CONFIGURED
#define VDEV_CTRL_GUEST_STARTING   QVMSIM_CTRL_GUEST_STARTING
#define VDEV_CTRL_TERMINATE        QVMSIM_CTRL_TERMINATE
#define VDEV_CTRL_STATUS           QVMSIM_CTRL_STATUS
#define VDEV_CTRL_BUTTON           QVMSIM_CTRL_BUTTON
/* Vdev option n of option_list arrives as VDEV_CTRL_FIRST_OPTIDX + n. */
#define VDEV_CTRL_FIRST_OPTIDX     QVMSIM_CTRL_FIRST_OPTIDX

/* An option_list entry starting with this string is a flag without argument
 * (control() then gets arg == NULL). */
#define QVM_OPTION_NO_ARG_PREFIX "0"

/* Result of vread()/vwrite(). */
typedef int vdev_ref_status_t;
#define VRS_NORMAL     QVMSIM_VRS_NORMAL
#define VRS_NO_ADVANCE QVMSIM_VRS_NO_ADVANCE
#define VRS_ABORT      QVMSIM_VRS_ABORT
#define VRS_BUS_ERROR  QVMSIM_VRS_BUS_ERROR
#define VRS_CONTINUE   QVMSIM_VRS_CONTINUE
#define VRS_TERMINATE  QVMSIM_VRS_TERMINATE
#define VRS_ERRNO      QVMSIM_VRS_ERRNO      /* VRS_ERRNO + errno */

/* factory_flags (7.x values). */
#define VFF_NONE            0x000u
#define VFF_INTR_NO         0x002u   /* takes no `intr`                    */
#define VFF_INTR_REQ        0x004u   /* needs an `intr` (after ASSIGN)     */
#define VFF_INTR_NONPCI     0x008u
#define VFF_LOC_NO          0x010u   /* takes no `loc`                     */
#define VFF_VDEV_MEM        0x020u   /* `loc` is guest memory (default)    */
#define VFF_VDEV_X86_IO     0x040u   /* `loc` is an x86 I/O port range     */
#define VFF_VDEV_PCI        0x080u
#define VFF_MUTEX           0x100u   /* qvm holds v_mtx around callbacks   */
#define VFF_MUTEX_RECURSIVE 0x200u   /* ... and makes it recursive         */
#define VFF_MANUAL_REGION   0x800u

/* What a vdev registers.  Fields in the documented order; use designated
 * initialisers. */
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
    void (*pulse)(vdev_t *vdp, int8_t code);                  /* [qvmsim] never called */
    void (*timer)(vdev_t *vdp, void *data, const struct guest_timer_data *tdp,
                  struct guest_cpu *gcp);
    void (*pic)(vdev_t *vdp, unsigned input, unsigned level); /* [qvmsim] never called */
    const char *const *option_list;  /* NULL-terminated vdev option names */
    const char *name;                /* NULL: from the .so name vdev-NAME.so */
    unsigned factory_flags;          /* VFF_* */
    unsigned acc_sizes;              /* bitset of 1u << access size in bytes; 0 = any */
    unsigned extra_space;            /* bytes of per-instance state (v_device) */
};

/* Called from the vdev's constructor with QVM_VDEV_ABI.  A wrong ABI number
 * is refused: qvm exits 65 saying so. */
void vdev_register_factory(struct vdev_factory *factory, unsigned abi_version);

/* A named pthread belonging to the vdev; allowed from
 * VDEV_CTRL_GUEST_CONFIGURED on.  Returns EOK or an errno. */
int vdev_thread_create(vdev_t *vdp, const char *name, pthread_t *thread,
                       const pthread_attr_t *attr, void *(*start)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* QVM_VDEV_CORE_H */

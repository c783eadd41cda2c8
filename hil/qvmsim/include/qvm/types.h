/*
 * qvm/types.h - the data types shared by the vdev API: state blocks (a
 * location in the guest, a CPU register, an immediate), guest interrupts and
 * their states, scheduling information.
 *
 * Our own text, written from the names and signatures of QNX's public 8.0
 * Virtual Device Developer's API Reference (pages cited in
 * qvm/qvmsim-choices.h and hil/qvmsim/QNX80-API.md); no QNX header or sample
 * is copied.  Numbers the 8.0 documentation does not give come from the 7.x
 * pages or are qvmsim's own; each is tagged in qvm/qvmsim-choices.h.
 *
 * Portable mode: compile with -DQVMSIM_PORTABLE and only the names QNX
 * documents are visible (qvmsim's own names are not), so a vdev that builds
 * in portable mode uses nothing a real QNX 8.0 board lacks.  The layout of
 * every structure is the same in both modes.
 */
#ifndef QVM_TYPES_H
#define QVM_TYPES_H

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include <qvm/qvmsim-choices.h>

#ifndef EOK
#define EOK 0   /* QNX's "no error" */
#endif

/* errno_t: QNX's type for errno values (returned by guest_intr_signal()).
 * glibc has none; QNX's <errno.h> has it. */
#if !defined(__QNX__) && !defined(_QVMSIM_HAVE_ERRNO_T)
#define _QVMSIM_HAVE_ERRNO_T 1
typedef int errno_t;
#endif

/* A qvmsim-only member keeps its place (same layout in both modes) but gets
 * a reserved name in portable mode, so portable code cannot use it. */
#ifdef QVMSIM_PORTABLE
#define _QVMSIM_EXT(name) __qvmsim_##name
#else
#define _QVMSIM_EXT(name) name
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* qvm exports exactly the functions its public headers declare (it is built
 * with -fvisibility=hidden; see hil/qvmsim/BEHAVIOUR.md) */
#pragma GCC visibility push(default)

/* ---- state blocks ------------------------------------------------------ */

/* What qvm_state_block.location means (8.0: qvm_state_types_t; values [7.x]). */
typedef uint16_t qvm_state_types_t;
#define QST_MEMORY        0x0000u   /* guest-physical address                 */
#define QST_VIRTUAL       0x0001u   /* guest-virtual address                  */
#define QST_CPUREGS       0x0002u   /* offset in the CPU register context     */
#define QST_FPUREGS       0x0003u   /* offset in the FPU register context     */
#define QST_HOST          0x0004u   /* host-virtual address                   */
#define QST_PCI           0x0005u   /* PCI bus/device/function (+ offset)     */
#define QST_PCI_IO        0x0006u   /* PCI I/O BAR on non-x86: as QST_MEMORY  */
#define QST_IMMEDIATE     0x0007u   /* location is the value itself           */
#define QST_ARCH_SPECIFIC 0x8000u   /* from here on: architecture-specific    */
#define QST_X86_IO        0x8000u   /* x86 I/O port number                    */
#define QST_X86_SEGREGS   0x8001u
#define QST_X86_CTRLREGS  0x8002u
#define QST_X86_DBGREGS   0x8003u
#define QST_X86_MSR       0x8004u
#define QST_ARM_SR        0x8000u   /* Arm system register                    */
#define QST_NO_TYPE       0xffffu

/* Flags of a state block (8.0: qvm_state_flags_t; values [7.x]). */
typedef uint16_t qvm_state_flags_t;
#define QSF_NONE             0x0000u
#define QSF_SEXT_SHIFT       0u      /* bits 0-3: bytes to sign-extend          */
#define QSF_ZEXT_SHIFT       4u      /* bits 4-7: bytes to zero-extend          */
#define QSF_EXT_MASK         0xfu
#define QSF_REPORT_EXCEPTION 0x8000u /* a failed access raises a guest exception */

/* A data element: in guest memory, an I/O port, a CPU register, a value. */
struct qvm_state_block {
    uint64_t location;              /* meaning set by qst_type                  */
    uint64_t length;                /* bytes                                    */
    qvm_state_types_t qst_type;     /* QST_*                                    */
    qvm_state_flags_t qst_flags;    /* QSF_*                                    */
    uint32_t spare;                 /* reserved: 0                              */
};

/* v_block.location of a vdev that has no location (yet). [inferred] value */
#define QSL_NO_LOCATION (~(uint64_t)0)

/* ---- guest interrupts -------------------------------------------------- */

/* What guest_intr_signal() does (8.0: guest_intr_state_t; values [7.x]). */
typedef unsigned guest_intr_state_t;
#define GIS_NOP 0x00u   /* nothing                                            */
#define GIS_ON  0x01u   /* assert the interrupt                               */
#define GIS_OFF 0x02u   /* de-assert it                                       */
#define GIS_ISR 0x04u   /* alone: "can this be signalled from an ISR?";
                           OR'ed with GIS_ON/GIS_OFF: "called from an ISR"    */

/* The guest interrupt a vdev raises (vdev_t.v_intr, set from the vdev's
 * `intr PIC:NUMBER` option).  Its contents are qvm's: use it only through
 * guest_intr_signal(). */
typedef struct guest_intr {
    uint64_t _QVMSIM_EXT(gi_id);     /* [qvmsim] 0: none; else 1 + qvmsim's index */
    uint64_t _QVMSIM_EXT(gi_spare);
} guest_intr_t;

/* Notifications a PIC vdev gets about an interrupt (8.0 type; GIN_* values
 * are not public and qvmsim has no PIC vdevs). */
typedef uint32_t guest_intr_notifications_t;

/* ---- scheduling ---------------------------------------------------------- */

/* Scheduling information for a vdev's threads (vdev_t.v_sched).  8.0 does
 * not show its members; these are 7.0's (policy -1: not set). */
struct qvm_sched_info {
    int policy;
    struct sched_param sched;
};

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* QVM_TYPES_H */

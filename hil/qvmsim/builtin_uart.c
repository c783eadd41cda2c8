/*
 * builtin_uart.c - qvmsim's stand-ins for QNX's guest console UARTs `pl011`
 * (ARM) and `ser8250` (x86), built into qvm (builtin.c).  What the guest
 * stores to the data register comes out on qvm's stdout, the guest console,
 * one line per '\n' (a partial line when qvm ends).  Input is not modelled:
 * the receive FIFO is always empty.  Written from the documented behaviour
 * only; no QNX or third-party source was used.
 *
 * Sources:
 *  - QNX Hypervisor User's Guide, "vdev pl011" (7.0, 7.1:
 *    .../topic/vdev_ref/vdev_pl011.html): options `batch timeout`,
 *    `delayed seconds|forever`, `hostdev [<|>]host_device_name`,
 *    `sched priority`; no default location (the "Devices" page's example:
 *    `vdev vdev-pl011 loc 0x1c090000 intr gic:37`, qvmsim's default).
 *  - QNX Hypervisor User's Guide, "vdev ser8250" (7.0, 7.1, 8.0:
 *    .../topic/vdev_ref/vdev_ser8250.html): options `batch`, `delayed`,
 *    `hostdev`, `intr`, `loc` ("Default space is io:"), `name`, `sched`;
 *    no default address (qvmsim: io:0x3f8, the PC's first serial port).
 *  - ARM PrimeCell UART (PL011) Technical Reference Manual, ARM DDI 0183:
 *    UARTDR 0x000, UARTFR 0x018 (TXFE 0x80, RXFE 0x10), the control
 *    registers up to 0x048, the identification registers 0xFE0-0xFFC.
 *  - the 8250/16550 UART register map: THR/RBR 0, IER 1, IIR 2, LCR 3
 *    (DLAB 0x80 selects the divisor latch at 0 and 1), MCR 4, LSR 5
 *    (THRE 0x20, TEMT 0x40), MSR 6, SCR 7.
 */
#include "qvmsim.h"

#include <inttypes.h>
#include <string.h>

#define UART_LINE_MAX 4000

struct uart {
    bool is_8250;
    char line[UART_LINE_MAX];
    size_t len;
    uint32_t regs[0x50 / 4];    /* PL011: the control registers, read back as written */
    uint8_t r8250[8];           /* 8250: IER, LCR, MCR, SCR, DLL, DLM ... by offset */
    uint8_t dll, dlm;
    unsigned long bytes;
};

static const char *const uart_options[] = { "batch", "delayed", "hostdev", "sched", NULL };
enum { UART_OPT_BATCH, UART_OPT_DELAYED, UART_OPT_HOSTDEV, UART_OPT_SCHED };

static void uart_flush(struct uart *u)
{
    if (u->len == 0)
        return;
    u->line[u->len] = '\0';
    console_puts(u->line);
    u->len = 0;
}

static void uart_tx(struct uart *u, uint8_t c)
{
    u->bytes++;
    if (c == '\n') {
        if (u->len == 0)
            console_puts("");
        uart_flush(u);
        return;
    }
    if (c == '\r')
        return;
    if (u->len == UART_LINE_MAX - 1)
        uart_flush(u);
    u->line[u->len++] = (char)c;
}

static int uart_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct uart *u = vdp->v_device;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_START:
        u->is_8250 = strcmp(vdp->v_factory->name, "ser8250") == 0;
        if (vdp->v_block.location == QSL_NO_LOCATION) {
            if (u->is_8250) {
                vdp->v_block.qst_type = QST_X86_IO;
                vdp->v_block.location = 0x3f8;
                vdp->v_block.length = 8;
            } else {
                vdp->v_block.location = 0x1c090000;
                vdp->v_block.length = 0x1000;
            }
        }
        break;
    case VDEV_CTRL_FIRST_OPTIDX + UART_OPT_HOSTDEV:
        vdev_logf(QL_QVM_INFO, vdp, "hostdev %s: accepted; qvmsim writes this UART's output to qvm's stdout "
                  "(the guest console) and gives the guest no input", arg);
        break;
    case VDEV_CTRL_FIRST_OPTIDX + UART_OPT_BATCH:
    case VDEV_CTRL_FIRST_OPTIDX + UART_OPT_DELAYED:
    case VDEV_CTRL_FIRST_OPTIDX + UART_OPT_SCHED:
        break;
    case VDEV_CTRL_GUEST_CONFIGURED:
        vdev_logf(QL_QVM_INFO, vdp, "built-in %s UART at %s0x%" PRIx64 ": what the guest writes to its data "
                  "register is the guest console (qvm's stdout); no input", u->is_8250 ? "8250" : "PL011",
                  vdp->v_block.qst_type == QST_X86_IO ? "io:" : "", vdp->v_block.location);
        break;
    case VDEV_CTRL_STATUS:
        qvm_report("uart bytes=%lu", u->bytes);
        break;
    case VDEV_CTRL_TERMINATE:
        uart_flush(u);
        break;
    default:
        break;
    }
    return EOK;
}

static uint64_t operand(const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    uint64_t v = 0;
    if (guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &v, sizeof v) != EOK)
        return 0;
    return v;
}

static vdev_ref_status_t uart_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                     const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct uart *u = vdp->v_device;
    (void)cookie;
    uint64_t off = vopnd->location - vdp->v_block.location;
    uint64_t v = operand(oopnd, gcp);
    if (u->is_8250) {
        bool dlab = u->r8250[3] & 0x80;
        if (off == 0 && !dlab)
            uart_tx(u, (uint8_t)v);
        else if (off == 0)
            u->dll = (uint8_t)v;
        else if (off == 1 && dlab)
            u->dlm = (uint8_t)v;
        else if (off < 8)
            u->r8250[off] = (uint8_t)v;
        return VRS_NORMAL;
    }
    if (off == 0)
        uart_tx(u, (uint8_t)v);
    else if (off < sizeof u->regs && off % 4 == 0)
        u->regs[off / 4] = (uint32_t)v;
    return VRS_NORMAL;
}

static vdev_ref_status_t uart_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                    const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    /* PL011 identification [TRM]: peripheral 0x011, PrimeCell 0xB105F00D */
    static const uint8_t ids[8] = { 0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1 };
    struct uart *u = vdp->v_device;
    (void)cookie;
    uint64_t off = vopnd->location - vdp->v_block.location;
    uint64_t v = 0;
    if (u->is_8250) {
        bool dlab = u->r8250[3] & 0x80;
        switch (off) {
        case 0: v = dlab ? u->dll : 0; break;               /* no input */
        case 1: v = dlab ? u->dlm : u->r8250[1]; break;
        case 2: v = 0x01; break;                            /* IIR: no interrupt pending */
        case 5: v = 0x60; break;                            /* LSR: THRE | TEMT, no data */
        case 6: v = 0xB0; break;                            /* MSR: DCD, DSR, CTS */
        default: v = off < 8 ? u->r8250[off] : 0; break;
        }
    } else if (off == 0x018) {
        v = 0x90;                                           /* UARTFR: TXFE | RXFE */
    } else if (off >= 0xFE0 && off <= 0xFFC && off % 4 == 0) {
        v = ids[(off - 0xFE0) / 4];
    } else if (off != 0 && off < sizeof u->regs && off % 4 == 0) {
        v = u->regs[off / 4];
    }
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &v, oopnd->length));
}

static struct vdev_factory pl011_factory = {
    .control = uart_control,
    .vread = uart_vread,
    .vwrite = uart_vwrite,
    .option_list = uart_options,
    .name = "pl011",
    .factory_flags = VFF_MUTEX | VFF_VDEV_MEM,
    .extra_space = sizeof(struct uart),
};

static struct vdev_factory ser8250_factory = {
    .control = uart_control,
    .vread = uart_vread,
    .vwrite = uart_vwrite,
    .option_list = uart_options,
    .name = "ser8250",
    .factory_flags = VFF_MUTEX | VFF_VDEV_X86_IO,
    .extra_space = sizeof(struct uart),
};

void builtin_register_pl011(void)
{
    vdev_register_factory(&pl011_factory, QVM_VDEV_ABI);
}

void builtin_register_ser8250(void)
{
    vdev_register_factory(&ser8250_factory, QVM_VDEV_ABI);
}

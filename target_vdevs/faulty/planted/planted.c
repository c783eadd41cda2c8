/*
 * vdev planted - a test vdev for `hil vdev fuzz` (tests/fuzz) with one planted
 * bug that a guest reaches only in two steps: it must write the 32-bit key
 * PLANTED_KEY to the KEY register (offset 0x00), which unlocks the table,
 * then write an out-of-range index to the INDEX register (offset 0x04): the
 * bound check is off by one (`>` where `>=` was meant), so index 16 writes one
 * entry past the end of the heap table (AddressSanitizer: heap-buffer-overflow).
 *
 * Registers (offsets from loc; 4-byte accesses, other sizes are bus errors):
 *   0x00 W  KEY      PLANTED_KEY unlocks the table, any other value locks it
 *   0x04 W  INDEX    table[INDEX] = 1 while unlocked (INDEX up to 15 is fine)
 *   0x08 R  COUNT    how many table writes were done
 *   0x0c RW SCRATCH  a plain register
 *   0x10 W  TICK     arms a guest timer of VALUE ms (0 = off); each expiry counts in COUNT
 */
#include <qvm/vdev.h>

#include <stdlib.h>
#include <string.h>

#define PLANTED_KEY 0x5ec0de42u
#define TABLE_ENTRIES 16u

struct planted {
    int unlocked;
    uint32_t *table;            /* TABLE_ENTRIES entries, on the heap */
    uint32_t count;
    uint32_t scratch;
    struct guest_timer *timer;
    uint64_t ticks_per_s;
};

static int planted_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    struct planted *p = (struct planted *)vdp->v_device;
    (void)arg;
    switch (ctrl) {
    case VDEV_CTRL_OPTIONS_END:
        p->table = (uint32_t *)calloc(TABLE_ENTRIES, sizeof *p->table);
        if (p->table == NULL)
            qvm_fatal(QLS_CNF, "planted: out of memory");
        break;
    case VDEV_CTRL_GUEST_CONFIGURED:
        p->timer = guest_timer_create(NULL, vdp, p, &p->ticks_per_s);
        if (p->ticks_per_s == 0)
            p->ticks_per_s = 1000000000ull;
        break;
    case VDEV_CTRL_TERMINATE:
        if (p->timer != NULL)
            guest_timer_notify(p->timer, NULL, 0);
        free(p->table);
        p->table = NULL;
        break;
    default:
        break;
    }
    return EOK;
}

static vdev_ref_status_t planted_vwrite(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                        const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct planted *p = (struct planted *)vdp->v_device;
    (void)cookie;
    uint32_t value = 0;
    if (guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &value, sizeof value) != EOK)
        return VRS_ERRNO + EINVAL;
    switch (vopnd->location - vdp->v_block.location) {
    case 0x00:
        p->unlocked = value == PLANTED_KEY;
        break;
    case 0x04:
        if (!p->unlocked)
            break;
        if (value > TABLE_ENTRIES)      /* the planted bug: should be >= */
            return VRS_BUS_ERROR;
        p->table[value] = 1;
        p->count++;
        break;
    case 0x0c:
        p->scratch = value;
        break;
    case 0x10:
        if (p->timer != NULL)
            guest_timer_notify(p->timer, NULL, (uint64_t)value * p->ticks_per_s / 1000u);
        break;
    default:
        return VRS_BUS_ERROR;
    }
    return VRS_NORMAL;
}

static vdev_ref_status_t planted_vread(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                                       const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    struct planted *p = (struct planted *)vdp->v_device;
    (void)cookie;
    uint32_t value;
    switch (vopnd->location - vdp->v_block.location) {
    case 0x08:
        value = p->count;
        break;
    case 0x0c:
        value = p->scratch;
        break;
    default:
        return VRS_BUS_ERROR;
    }
    return guest_cpu_to_vrs(guest_cpu_write(gcp, GXF_NONE, oopnd, 1, &value, sizeof value));
}

static void planted_timer(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    struct planted *p = (struct planted *)data;
    (void)vdp;
    (void)tdp;
    (void)gcp;
    p->count++;
}

static struct vdev_factory planted_factory = {
    .next = NULL,
    .control = planted_control,
    .vread = planted_vread,
    .vwrite = planted_vwrite,
    .pulse = NULL,
    .timer = planted_timer,
    .pic = NULL,
    .option_list = NULL,
    .name = NULL,
    .factory_flags = VFF_MUTEX,
    .acc_sizes = 1u << 4,
    .extra_space = sizeof(struct planted),
};

static void __attribute__((constructor)) planted_register(void)
{
    vdev_register_factory(&planted_factory, QVM_VDEV_ABI);
}

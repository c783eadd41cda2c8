/*
 * vdev rangey - a register vdev whose bugs only large in-range numbers and the ends of a
 * declared range find (the configuration-fault sweep's tests, tests/sweep):
 *   depth N   0..1000 (declared in sweep.ranges), refused above 1001 - but 1001 itself is
 *             let through and indexes one past the table (the planted crash at the range's end)
 *   count N   any count >= 1 - but it is kept in an int, so a count of 2^31 or more turns
 *             negative and indexes before the table (the planted crash of a large number)
 * Every other bad value is refused with EINVAL (qvm: a configuration error, exit 65).
 */
#include <qvm/vdev.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const rangey_options[] = { "depth", "count", NULL };

static int *volatile no_table;

static int rangey_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)vdp;
    if (ctrl < VDEV_CTRL_FIRST_OPTIDX)
        return EOK;
    char *end = NULL;
    if (arg == NULL || arg[0] < '0' || arg[0] > '9')
        return EINVAL;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 0);
    if (*end != '\0' || errno == ERANGE)
        return EINVAL;
    switch (ctrl - VDEV_CTRL_FIRST_OPTIDX) {
    case 0:                     /* depth */
        if (v > 1001)
            return EINVAL;      /* planted: the bound is off by one */
        if (v == 1001)
            return no_table[0]; /* one past the table: NULL dereference (SIGSEGV) */
        return EOK;
    case 1: {                   /* count */
        int n = (int)v;         /* planted: a large count turns negative */
        if (v == 0)
            return EINVAL;
        if (n < 0)
            return no_table[0];
        return EOK;
    }
    default:
        return EINVAL;
    }
}

static void rangey_register(void) __attribute__((constructor));
static void rangey_register(void)
{
    static struct vdev_factory factory;
    memset(&factory, 0, sizeof factory);
    factory.name = "rangey";
    factory.control = rangey_control;
    factory.option_list = rangey_options;
    factory.factory_flags = VFF_INTR_NO;
    vdev_register_factory(&factory, QVM_VDEV_ABI);
}

/*
 * vdev sweepy - a register vdev with two planted configuration faults, for the
 * configuration-fault sweep's tests (tests/sweep):
 *   depth N     1..1000, refused otherwise - but 0 dereferences NULL (the planted crash)
 *   retries N   1..100, refused otherwise - but a negative N is taken as a huge
 *               unsigned count that the option's callback never finishes (the planted hang)
 *   quiet       (flag) log nothing at INFO
 * Every other bad value is refused with EINVAL (qvm: a configuration error, exit 65).
 */
#include <qvm/vdev.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const sweepy_options[] = { "depth", "retries", QVM_OPTION_NO_ARG_PREFIX "quiet", NULL };

static int *volatile no_table;
static volatile unsigned tries;

static int sweepy_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)vdp;
    if (ctrl < VDEV_CTRL_FIRST_OPTIDX)
        return EOK;
    char *end = NULL;
    long v = 0;
    switch (ctrl - VDEV_CTRL_FIRST_OPTIDX) {
    case 0:                     /* depth */
        if (arg == NULL || arg[0] < '0' || arg[0] > '9')
            return EINVAL;
        v = strtol(arg, &end, 10);
        if (*end != '\0' || v > 1000)
            return EINVAL;
        if (v == 0)
            return no_table[0];         /* planted: NULL dereference (SIGSEGV) */
        return EOK;
    case 1:                     /* retries */
        if (arg == NULL)
            return EINVAL;
        v = strtol(arg, &end, 10);
        if (end == arg || *end != '\0' || v == 0 || v > 100)
            return EINVAL;              /* planted: a negative count is not refused */
        for (unsigned n = (unsigned)v, i = 0; i != n; i += 2)
            tries = i, usleep(1000);    /* an odd huge count never ends */
        return EOK;
    case 2:                     /* quiet */
        return arg == NULL ? EOK : EINVAL;
    default:
        return EINVAL;
    }
}

static void sweepy_register(void) __attribute__((constructor));
static void sweepy_register(void)
{
    static struct vdev_factory factory;
    memset(&factory, 0, sizeof factory);
    factory.name = "sweepy";
    factory.control = sweepy_control;
    factory.option_list = sweepy_options;
    factory.factory_flags = VFF_INTR_NO;
    vdev_register_factory(&factory, QVM_VDEV_ABI);
}

/*
 * vdev buggy - deliberately buggy, for the quality gates' tests (tests/gates):
 *   mode a|b    logs which branch it took (coverage: one more branch per mode)
 *   overflow    (flag) writes one byte past an 8-byte heap buffer (ASan: heap-buffer-overflow)
 *   shift N     computes 1 << N, N up to 40 (UBSan: shift exponent too large for N >= 32)
 *   leak        (flag) loses a heap block (LeakSanitizer, at qvm's end)
 */
#include <qvm/vdev.h>
#include <stdlib.h>
#include <string.h>

static const char *const buggy_options[] = {
    "mode", QVM_OPTION_NO_ARG_PREFIX "overflow", "shift", QVM_OPTION_NO_ARG_PREFIX "leak", NULL,
};

static volatile int sink;
static char *volatile lost;

static int buggy_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    if (ctrl < VDEV_CTRL_FIRST_OPTIDX)
        return EOK;
    switch (ctrl - VDEV_CTRL_FIRST_OPTIDX) {
    case 0:
        if (arg != NULL && strcmp(arg, "a") == 0)
            vdev_logf(QL_QVM_INFO, vdp, "mode a");
        else if (arg != NULL && strcmp(arg, "b") == 0)
            vdev_logf(QL_QVM_INFO, vdp, "mode b");
        else
            return EINVAL;
        return EOK;
    case 1: {
        char *buf = malloc(8);
        memset(buf, 0, 8);
        volatile int i = 8;
        buf[i] = 1;             /* one past the end */
        sink = buf[0];
        free(buf);
        return EOK;
    }
    case 2: {
        int n = arg != NULL ? atoi(arg) : 0;
        if (n < 0 || n > 40)
            return EINVAL;
        volatile int one = 1;
        sink = one << n;        /* undefined for n >= 32 */
        return EOK;
    }
    case 3:
        lost = malloc(100);
        lost = NULL;
        return EOK;
    default:
        return EINVAL;
    }
}

static void buggy_register(void) __attribute__((constructor));
static void buggy_register(void)
{
    static struct vdev_factory factory;
    memset(&factory, 0, sizeof factory);
    factory.name = "buggy";
    factory.control = buggy_control;
    factory.option_list = buggy_options;
    factory.factory_flags = VFF_INTR_NO;
    vdev_register_factory(&factory, QVM_VDEV_ABI);
}

"""The public headers compile warning-free in C11 (pedantic) and C++, and the vdevs against them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hil.targets.sdk import include_dir
from hil.targets.toolchain import Toolchain, VdevBuildError, build_vdev
from tests.support.paths import FAULTY_VDEVS, TARGET_VDEVS

HEADERS = sorted(p.name for p in (include_dir() / "qvm").glob("*.h"))

USE = r"""
#include <qvm/vdev.h>

static const char *const opts[] = { "timeout", QVM_OPTION_NO_ARG_PREFIX "quiet", 0 };

static int ctl(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)arg;
    if (ctrl == VDEV_CTRL_FIRST_OPTIDX + 1)
        vdev_logf(QL_QVM_INFO, vdp, "flag %s", "quiet");
    if (ctrl == VDEV_CTRL_GUEST_CONFIGURED && vdp->v_device == 0)
        qvm_fatal(QLS_CNF, "no state %d", 1);
    if (ctrl == VDEV_CTRL_STATUS)
        qvm_report("ok %u", 1u);
    return ctrl == VDEV_CTRL_OPTIONS_START ? EOK : EINVAL;
}

static vdev_ref_status_t wr(vdev_t *vdp, unsigned cookie, const struct qvm_state_block *vopnd,
                            const struct qvm_state_block *oopnd, struct guest_cpu *gcp)
{
    unsigned v = 0;
    (void)cookie;
    (void)vopnd;
    int err = guest_cpu_read(gcp, GXF_NONE, oopnd, 1, &v, sizeof v);
    if (err != EOK)
        return guest_cpu_to_vrs(err);
    if (v == 1) {
        struct wdog_state ws;
        memset(&ws, 0, sizeof ws);
        ws.ws_action = WDOG_ACTION_TERMINATE | WDOG_FLAG_DUMP;
        wdog_bite(&ws);
    }
    if (v >= GTC_CUSTOM_MIN && v <= GTC_MAX)
        guest_terminate((guest_termination_cause_t)v);
    (void)vdp;
    return VRS_NORMAL;
}

static void tm(vdev_t *vdp, void *data, const struct guest_timer_data *tdp, struct guest_cpu *gcp)
{
    (void)vdp;
    (void)gcp;
    guest_timer_notify((struct guest_timer *)data, tdp, 1000000u);
}

static int never_returns(void)
{
    guest_terminate(GTC_WATCHDOG);      /* noreturn: no -Wreturn-type warning */
}

static struct vdev_factory factory = {
    .next = 0,
    .control = ctl,
    .vread = 0,
    .vwrite = wr,
    .pulse = 0,
    .timer = tm,
    .pic = 0,
    .option_list = opts,
    .name = "use",
    .factory_flags = VFF_MUTEX | VFF_INTR_NO,
    .acc_sizes = 1u << 4,
    .extra_space = 16,
};

void use_register(void);
void use_register(void)
{
    pthread_t t;
    (void)t;
    (void)never_returns;
    vdev_register_factory(&factory, QVM_VDEV_ABI);
}
"""


def _compile(compiler: list[str], source: str, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(source)
    proc = subprocess.run(
        [*compiler, "-Wall", "-Wextra", "-Wpedantic", "-Werror", f"-I{include_dir()}", "-fsyntax-only", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize("header", HEADERS)
def test_each_header_alone_c11_and_cxx(header: str, tmp_path: Path) -> None:
    src = f"#include <qvm/{header}>\n#include <qvm/{header}>\nint main(void) {{ return 0; }}\n"
    _compile(["gcc", "-std=c11"], src, tmp_path, "h.c")
    _compile(["g++", "-std=c++17"], src, tmp_path, "h.cc")


def test_documented_api_in_use_c11_and_cxx20(tmp_path: Path) -> None:
    src = (
        "#include <string.h>\n"
        + USE
        + """
_Static_assert(GTC_WATCHDOG == 4, "GTC_WATCHDOG");
_Static_assert(GTC_CUSTOM_MIN == 32 && GTC_MAX == 63, "custom range");
_Static_assert(EOK == 0, "EOK");
"""
    )
    _compile(["gcc", "-std=c11"], src, tmp_path, "use.c")
    cxx = src.replace("_Static_assert", "static_assert").replace(
        "static int never_returns(void)\n{", "[[maybe_unused]] static int never_returns(void)\n{"
    )
    _compile(["g++", "-std=c++20"], cxx, tmp_path, "use.cc")


@pytest.mark.parametrize("portable", [False, True], ids=["qvmsim", "portable"])
@pytest.mark.parametrize(
    "folder",
    [TARGET_VDEVS / "wdog", TARGET_VDEVS / "trace", FAULTY_VDEVS / "badabi", TARGET_VDEVS / "vecho"],
    ids=lambda p: p.name,
)
def test_target_vdevs_compile_warning_free(folder: Path, portable: bool, tmp_path: Path) -> None:
    tc = Toolchain(cflags=("-Werror", "-Wpedantic"), portable=portable)
    built = build_vdev(folder, tc, out_dir=tmp_path)
    assert built.path == tmp_path / f"vdev-{folder.name}.so"
    assert ("-DQVMSIM_PORTABLE" in built.command) == portable
    nm = subprocess.run(["nm", "-D", "--undefined-only", str(built.path)], capture_output=True, text=True)
    assert "vdev_register_factory" in nm.stdout  # the API stays undefined: qvm exports it


@pytest.mark.parametrize(
    "source",
    [*(TARGET_VDEVS / n / f"{n}.c" for n in ("wdog", "trace", "vecho", "dma80")), FAULTY_VDEVS / "badabi" / "badabi.c"],
    ids=lambda p: p.stem,
)
def test_vdevs_compile_as_cxx_in_portable_mode(source: Path, tmp_path: Path) -> None:
    """The same vdev sources are valid C++20 against the headers, with only documented names."""
    _compile(["g++", "-x", "c++", "-std=gnu++20", "-DQVMSIM_PORTABLE"], source.read_text(), tmp_path, source.name)


def test_portable_mode_hides_qvmsim_names(tmp_path: Path) -> None:
    """A vdev using a qvmsim-only name builds normally but not in portable mode, and says which name."""
    src = tmp_path / "own.c"
    src.write_text('#include <qvm/vdev.h>\nvoid own(void);\nvoid own(void) { qvm_fatal(QLS_VDEV, "x"); }\n')
    assert build_vdev(src, Toolchain(), out_dir=tmp_path / "a").path.is_file()
    with pytest.raises(VdevBuildError, match=r"(?s)own\.c:3:.*QLS_VDEV.*-DQVMSIM_PORTABLE"):
        build_vdev(src, Toolchain(portable=True), out_dir=tmp_path / "b")

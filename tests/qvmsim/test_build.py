"""hil.targets.sdk (host qvmsim build) and hil.targets.toolchain (vdev .so for gcc and qcc)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from hil.core.errors import SetupError
from hil.targets import sdk
from hil.targets.sdk import build_qvmsim, include_dir, qvmsim_source_hash
from hil.targets.toolchain import BuiltVdev, Toolchain, VdevBuildError, build_vdev, parse_depfile, vdev_name
from tests.support.needs import require_program
from tests.support.paths import FAULTY_VDEVS, QCC_STANDIN, TARGET_VDEVS

STANDIN = QCC_STANDIN
GOOD = "#include <qvm/vdev.h>\nint vdev_good(void);\nint vdev_good(void) { return EOK; }\n"


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def _fake_cc(tmp_path: Path, body: str) -> Path:
    cc = tmp_path / "fakecc"
    cc.write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo fakecc 1.0; exit 0; fi\n' + body)
    cc.chmod(0o755)
    return cc


def test_include_dir_holds_the_headers() -> None:
    assert (include_dir() / "qvm" / "vdev.h").is_file()
    assert len(qvmsim_source_hash()) == 16
    assert qvmsim_source_hash() == qvmsim_source_hash()


def test_flags_have_one_place(tmp_path: Path) -> None:
    """flags.mk holds the flags: hil.targets.sdk reads it, the Makefile includes it, the hash covers it."""
    flags = sdk.read_flags()
    assert flags["QVMSIM_CFLAGS"] + flags["QVMSIM_OPTFLAGS"] == sdk.QVMSIM_CFLAGS
    assert flags["QVMSIM_LDFLAGS"] == sdk.QVMSIM_LDFLAGS
    assert "-Werror" in sdk.QVMSIM_CFLAGS
    assert sdk.QVMSIM_FLAGS_FILE in sdk._hashed_files()
    makefile = (sdk.QVMSIM_DIR / "Makefile").read_text()
    assert "include flags.mk" in makefile and "-W" not in makefile
    require_program("make", "make")
    dry = subprocess.run(
        ["make", "-n", "-B", "-C", str(sdk.QVMSIM_DIR), f"OUT={tmp_path / 'qvm'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    python = sdk.qvmsim_compile_command("cc", tmp_path / "qvm")
    assert sorted(w for w in dry if w.startswith("-") and not w.startswith("-I")) == sorted(
        w for w in python if w.startswith("-") and not w.startswith("-I")
    )
    assert sorted(Path(w).name for w in dry if w.endswith(".c")) == [p.name for p in sdk.qvmsim_sources()]


def test_build_qvmsim_is_cached_and_copied(fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk, "_built", {})
    out = build_qvmsim(out_dir=tmp_path / "bin")
    assert out == tmp_path / "bin" / "qvm"
    version = subprocess.run([str(out), "-V"], capture_output=True, text=True).stdout
    assert version.startswith("qvmsim ")
    cached = list((fresh_cache / "qnx-hil" / "qvmsim").glob("*/qvm"))
    assert len(cached) == 1
    # second call: no compiler run at all (a broken PATH would fail any compile)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert build_qvmsim(out_dir=tmp_path / "bin") == out
    monkeypatch.setattr(sdk, "_built", {})
    assert build_qvmsim(out_dir=tmp_path / "bin") == out  # from the cache folder


def test_build_qvmsim_error_carries_compiler_output(fresh_cache: Path, tmp_path: Path) -> None:
    cc = _fake_cc(tmp_path, "echo 'main.c:12:5: error: nope' >&2\nexit 1\n")
    with pytest.raises(SetupError, match=r"(?s)main\.c:12:5: error: nope.*command: "):
        build_qvmsim(cc=str(cc))


def test_vdev_name_rules(tmp_path: Path) -> None:
    (tmp_path / "vdev-foo.c").write_text(GOOD)
    (tmp_path / "bar.c").write_text(GOOD)
    assert vdev_name(TARGET_VDEVS / "wdog") == "wdog"
    assert vdev_name(tmp_path / "vdev-foo.c") == "foo"
    assert vdev_name([tmp_path / "bar.c", tmp_path / "vdev-foo.c"]) == "bar"
    assert vdev_name(tmp_path / "bar.c", name="baz") == "baz"
    with pytest.raises(VdevBuildError, match="bad vdev name 'a b'"):
        vdev_name(tmp_path / "bar.c", name="a b")
    with pytest.raises(VdevBuildError, match="does not exist"):
        vdev_name(tmp_path / "nope.c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VdevBuildError, match=r"holds no .c file"):
        build_vdev(tmp_path / "empty")


def test_build_vdev_caches_by_content(fresh_cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "vdev-foo.c"
    src.write_text(GOOD)
    first = build_vdev(src)
    assert isinstance(first, BuiltVdev)
    assert (first.name, first.cached, first.path.name) == ("foo", False, "vdev-foo.so")
    assert first.path.is_relative_to(fresh_cache / "qnx-hil" / "vdevs")
    assert first.command[:8] == ("gcc", "-std=gnu11", "-Wall", "-Wextra", "-O2", "-g", "-fPIC", "-shared")
    assert f"-I{include_dir()}" in first.command
    again = build_vdev(src, out_dir=tmp_path / "out")
    assert again.cached and again.path == tmp_path / "out" / "vdev-foo.so" and again.path.is_file()
    src.write_text(GOOD + "/* changed */\n")
    assert not build_vdev(src).cached


def test_warnings_shown_not_fatal_unless_werror(
    fresh_cache: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "warn.c"
    src.write_text(GOOD + "int vdev_w(void);\nint vdev_w(void) { int unused; return 0; }\n")
    built = build_vdev(src)
    assert built.path.is_file()
    assert "unused variable" in capfd.readouterr().err
    with pytest.raises(VdevBuildError, match=r"(?s)warn\.c:5:\d+: error: unused variable.*command: gcc "):
        build_vdev(src, Toolchain(cflags=("-Werror",)))


def test_compile_error_names_file_and_line(fresh_cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "broken.c"
    src.write_text("#include <qvm/vdev.h>\nint x(void) { return missing; }\n")
    with pytest.raises(VdevBuildError) as info:
        build_vdev(src)
    assert f"{src}:2:" in str(info.value) and "missing" in str(info.value)


@pytest.fixture
def qnx_sdp(tmp_path: Path) -> tuple[Path, Path]:
    """A fake SDP: QNX_HOST with usr/bin, QNX_TARGET whose usr/include/qvm holds the headers."""
    host, target = tmp_path / "qnx" / "host", tmp_path / "qnx" / "target"
    (host / "usr" / "bin").mkdir(parents=True)
    (target / "usr" / "include").mkdir(parents=True)
    (target / "usr" / "include" / "qvm").symlink_to(include_dir() / "qvm")
    return host, target


@pytest.mark.parametrize("variant", ["gcc_ntoaarch64le", "gcc_ntox86_64"])
def test_qcc_path_with_a_standin(
    fresh_cache: Path, tmp_path: Path, qnx_sdp: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    log = tmp_path / "qcc.log"
    monkeypatch.setenv("QCC_STANDIN_LOG", str(log))
    host, target = qnx_sdp
    tc = Toolchain(kind="qcc", cc=str(STANDIN), variant=variant, qnx_host=str(host), qnx_target=str(target))
    built = build_vdev(TARGET_VDEVS / "wdog", tc)
    assert built.path.read_bytes()[:4] == b"\x7fELF"
    assert built.command[:3] == (str(STANDIN), f"-V{variant}", "-shared")
    assert "-fPIC" in built.command
    assert not any(a.startswith("-I") for a in built.command)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[-1]["QNX_HOST"] == str(host) and calls[-1]["QNX_TARGET"] == str(target)
    assert build_vdev(TARGET_VDEVS / "wdog", tc).cached


def test_qcc_path_errors(fresh_cache: Path, qnx_sdp: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    host, target = qnx_sdp
    with pytest.raises(VdevBuildError, match="needs a variant"):
        build_vdev(
            TARGET_VDEVS / "wdog", Toolchain(kind="qcc", cc=str(STANDIN), qnx_host=str(host), qnx_target=str(target))
        )
    with pytest.raises(VdevBuildError, match=r"(?s)unknown variant 'gcc_ntoppcbe'.*command: "):
        build_vdev(
            TARGET_VDEVS / "wdog",
            Toolchain(kind="qcc", cc=str(STANDIN), variant="gcc_ntoppcbe", qnx_host=str(host), qnx_target=str(target)),
        )
    monkeypatch.delenv("QNX_HOST", raising=False)
    monkeypatch.delenv("QNX_TARGET", raising=False)
    with pytest.raises(VdevBuildError, match="QNX_HOST and QNX_TARGET"):
        build_vdev(TARGET_VDEVS / "wdog", Toolchain(kind="qcc", cc=str(STANDIN), variant="gcc_ntox86_64"))
    # from the environment, as after sourcing qnxsdp-env.sh
    monkeypatch.setenv("QNX_HOST", str(host))
    monkeypatch.setenv("QNX_TARGET", str(target))
    assert build_vdev(
        TARGET_VDEVS / "wdog", Toolchain(kind="qcc", cc=str(STANDIN), variant="gcc_ntox86_64")
    ).path.is_file()


def test_missing_compiler(fresh_cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "a.c"
    src.write_text(GOOD)
    with pytest.raises(VdevBuildError, match="cannot be run"):
        build_vdev(src, Toolchain(cc=str(tmp_path / "no-such-cc")))
    assert os.environ.get("XDG_CACHE_HOME") == str(fresh_cache)


@pytest.mark.parametrize(
    "vdev",
    [
        TARGET_VDEVS / "wdog",
        TARGET_VDEVS / "trace",
        FAULTY_VDEVS / "badabi",
        TARGET_VDEVS / "dma80",
    ],
    ids=lambda p: p.name,
)
def test_vdevs_build_portable_and_with_qcc(
    fresh_cache: Path, tmp_path: Path, qnx_sdp: tuple[Path, Path], vdev: Path
) -> None:
    """The same sources build warning-free in portable mode (gcc) and with the qcc stand-in (QNX's names only)."""
    portable = build_vdev(vdev, Toolchain(cflags=("-Werror",), portable=True), out_dir=tmp_path / "portable")
    assert "-DQVMSIM_PORTABLE" in portable.command
    host, target = qnx_sdp
    qcc = build_vdev(
        vdev,
        Toolchain(
            kind="qcc",
            cc=str(STANDIN),
            variant="gcc_ntox86_64",
            qnx_host=str(host),
            qnx_target=str(target),
            cflags=("-Werror",),
        ),
        out_dir=tmp_path / "qcc",
    )
    assert qcc.path.read_bytes()[:4] == b"\x7fELF"


INCLUDING_VDEV = """#include <qvm/vdev.h>
#include "../shared/level.h"
#include "table.inc"
#include "impl/part.c"
static int inc_control(vdev_t *vdp, vdev_ctrl_options_t ctrl, const char *arg)
{
    (void)arg;
    if (ctrl == VDEV_CTRL_GUEST_CONFIGURED)
        vdev_logf(QL_QVM_INFO, vdp, "values %d %d %d", LEVEL, TABLE_VALUE, part_value());
    return EOK;
}
static struct vdev_factory inc_factory = { .control = inc_control, .factory_flags = VFF_NONE };
static void __attribute__((constructor)) inc_register(void) { vdev_register_factory(&inc_factory, QVM_VDEV_ABI); }
"""


def _including_vdev(root: Path) -> Path:
    """A vdev folder including a .inc beside it, a .c in a subfolder and a header of another folder."""
    (root / "inc" / "impl").mkdir(parents=True)
    (root / "shared").mkdir()
    (root / "inc" / "inc.c").write_text(INCLUDING_VDEV)
    (root / "inc" / "table.inc").write_text("#define TABLE_VALUE 1\n")
    (root / "inc" / "impl" / "part.c").write_text("static int part_value(void) { return 1; }\n")
    (root / "shared" / "level.h").write_text("#define LEVEL 1\n")
    return root / "inc"


def _values(so: Path, tmp_path: Path) -> str:
    """What the vdev logs: "values LEVEL TABLE_VALUE part_value()" (a dryrun of the host qvmsim)."""
    (tmp_path / "c.qvmconf").write_text(f"system t\nvdev {so}\ndryrun\n")
    out = subprocess.run([str(build_qvmsim()), "@c.qvmconf"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return next(line.split("values ", 1)[1] for line in out.stderr.splitlines() if " values " in line)


def test_an_edit_to_any_included_file_rebuilds(tmp_path: Path) -> None:
    """The cache key covers every file the compiler read (its -M output): an included .inc, an
    included .c in a subfolder, a header in another folder."""
    vdev = _including_vdev(tmp_path)
    first = build_vdev(vdev, out_dir=tmp_path / "out")
    assert not first.cached and _values(first.path, tmp_path) == "1 1 1"
    assert build_vdev(vdev, out_dir=tmp_path / "out").cached
    for n, (edited, text) in enumerate(
        [
            (vdev / "table.inc", "#define TABLE_VALUE 2\n"),
            (vdev / "impl" / "part.c", "static int part_value(void) { return 3; }\n"),
            (tmp_path / "shared" / "level.h", "#define LEVEL 4\n"),
        ]
    ):
        edited.write_text(text)
        built = build_vdev(vdev, out_dir=tmp_path / f"out{n}")
        assert not built.cached, f"{edited.name} edited but the build came from the cache"
        assert build_vdev(vdev, out_dir=tmp_path / f"out{n}").cached
    assert _values(built.path, tmp_path) == "4 2 3"
    # back to an earlier content: that earlier build is found again
    (tmp_path / "shared" / "level.h").write_text("#define LEVEL 1\n")
    (vdev / "table.inc").write_text("#define TABLE_VALUE 1\n")
    (vdev / "impl" / "part.c").write_text("static int part_value(void) { return 1; }\n")
    assert build_vdev(vdev).cached


def test_an_edit_to_an_included_file_rebuilds_with_qcc(
    tmp_path: Path, qnx_sdp: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "qcc.log"
    monkeypatch.setenv("QCC_STANDIN_LOG", str(log))
    host, target = qnx_sdp
    tc = Toolchain(kind="qcc", cc=str(STANDIN), variant="gcc_ntox86_64", qnx_host=str(host), qnx_target=str(target))
    vdev = _including_vdev(tmp_path / "src")
    assert not build_vdev(vdev, tc).cached
    assert build_vdev(vdev, tc).cached
    (vdev / "table.inc").write_text("#define TABLE_VALUE 5\n")
    built = build_vdev(vdev, tc)
    assert not built.cached
    assert "-M" in json.loads(log.read_text().splitlines()[-2])["argv"]  # the stand-in's dependency run
    assert _values(built.path, tmp_path) == "1 5 1"


def test_parse_depfile(tmp_path: Path) -> None:
    text = "x.o: a.c /usr/include/stdio.h \\\n  sub/b\\ c.h x$$y.inc\nother: ignored.h\n"
    assert parse_depfile(text, tmp_path) == [
        tmp_path / "a.c",
        Path("/usr/include/stdio.h"),
        tmp_path / "sub" / "b c.h",
        tmp_path / "x$y.inc",
        tmp_path / "ignored.h",
    ]

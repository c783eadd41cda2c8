"""`hil host check` / `hil host install`: what the selected targets need on this host, run as a user runs it.

This machine has everything (scripts/install-host-deps ran), so a narrowed PATH (a folder of
symlinks to some of the real programs) stands for a host that lacks the others.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.support.cli import hil

TARGETS = ("--target", "local", "--target", "qemu", "--target", "qemu-arm64")
#: What the narrowed PATH keeps: apt's and dpkg's tools, the native gcc, clang (hil vdev fuzz), the x86_64 QEMU.
KEPT = ("dpkg", "dpkg-deb", "apt-get", "apt-cache", "gcc", "clang", "qemu-system-x86_64")
SUDO = "" if os.geteuid() == 0 else "sudo "


def narrowed_path(tmp_path: Path, programs: tuple[str, ...] = KEPT) -> str:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in programs:
        real = shutil.which(name)
        assert real, f"{name} is not installed here (scripts/install-host-deps installs it)"
        (folder / name).symlink_to(real)
    return str(folder)


def test_check_finds_nothing_missing_here() -> None:
    done = hil("host", "check", *TARGETS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "hil host check: nothing missing for local, qemu, qemu-arm64"


def test_check_names_each_missing_program_its_package_and_targets(tmp_path: Path) -> None:
    path = narrowed_path(tmp_path)
    done = hil("host", "check", *TARGETS, env={"PATH": path})
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "addr2line: package binutils" in out and "needed by local, qemu, qemu-arm64" in out
    assert "qemu-system-aarch64: package qemu-system-arm; runs the VM; needed by qemu-arm64" in out
    assert "aarch64-linux-gnu-gcc: package gcc-aarch64-linux-gnu" in out
    assert f"  {SUDO}apt-get install -y --no-install-recommends binutils gcc-aarch64-linux-gnu qemu-system-arm\n" in out
    for kept in KEPT:
        assert f"  {kept}:" not in out

    as_json = hil("host", "check", *TARGETS, "--json", env={"PATH": path})
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["targets"] == ["local", "qemu", "qemu-arm64"]
    found = {m["name"]: (m["package"], m["targets"]) for m in data["missing"]}
    assert found == {
        "addr2line": ("binutils", ["local", "qemu", "qemu-arm64"]),
        "aarch64-linux-gnu-gcc": ("gcc-aarch64-linux-gnu", ["qemu-arm64"]),
        "qemu-system-aarch64": ("qemu-system-arm", ["qemu-arm64"]),
    }


def test_check_selects_as_nightly_does_and_asks_only_for_what_the_selection_needs(tmp_path: Path) -> None:
    path = narrowed_path(tmp_path, (*KEPT, "addr2line"))
    done = hil("host", "check", "--target", "label:x86_64", env={"PATH": path})  # local and qemu
    assert done.returncode == 0, done.stdout + done.stderr
    done = hil("host", "check", env={"PATH": path})  # no --target: the whole inventory, qemu-arm64 included
    assert done.returncode == 1 and "needed by qemu-arm64" in done.stdout


def test_install_dry_run_prints_the_apt_commands_for_exactly_what_is_missing(tmp_path: Path) -> None:
    path = narrowed_path(tmp_path)
    done = hil("host", "install", "--dry-run", *TARGETS, env={"PATH": path})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"{SUDO}DEBIAN_FRONTEND=noninteractive apt-get update",
        f"{SUDO}DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        "binutils gcc-aarch64-linux-gnu qemu-system-arm",
    ]
    done = hil("host", "install", "--dry-run", "--target", "local", env={"PATH": path})
    assert done.stdout.splitlines()[-1].endswith("apt-get install -y --no-install-recommends binutils")


def test_install_with_nothing_missing_runs_nothing() -> None:
    done = hil("host", "install", *TARGETS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "hil host install: nothing missing for local, qemu, qemu-arm64"


def test_install_refuses_on_a_host_without_apt(tmp_path: Path) -> None:
    path = narrowed_path(tmp_path, ("gcc",))
    done = hil("host", "install", "--target", "local", env={"PATH": path})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no apt-get or no dpkg" in lines[0] and "addr2line (binutils)" in lines[0], lines


def test_unknown_target_is_bad_input_in_one_line() -> None:
    for action in ("check", "install"):
        done = hil("host", action, "--target", "no-such-target")
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "no target matches 'no-such-target'" in lines[0], lines


def test_a_qcc_board_needs_qcc_from_the_sdp_never_apt(tmp_path: Path) -> None:
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "imx8.toml").write_text(
        'name = "imx8"\nkind = "board"\narch = "aarch64"\n'
        '[ssh]\nhost = "10.0.0.20"\nhost_key = "ssh-ed25519 AAAA"\n'
        f'[toolchain]\nkind = "qcc"\nvariant = "gcc_ntoaarch64le"\nqnx_host = "{tmp_path / "no-sdp"}"\n'
    )
    done = hil("host", "check", "--targets-dir", str(folder), "--target", "imx8", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "qcc: from the QNX SDP, never apt" in done.stdout and "needed by imx8" in done.stdout
    assert "apt-get install" not in done.stdout  # nothing else is missing, and qcc is no package
    # the SDP's qcc, in qnx_host/usr/bin, is found there
    sdp_bin = tmp_path / "no-sdp" / "usr" / "bin"
    sdp_bin.mkdir(parents=True)
    (sdp_bin / "qcc").write_text("#!/bin/sh\n")
    (sdp_bin / "qcc").chmod(0o755)
    done = hil("host", "check", "--targets-dir", str(folder), "--target", "imx8", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_host_check_names_a_missing_labgrid_for_a_labgrid_target(tmp_path: Path) -> None:
    """labgrid missing from the Python running qnx-hil: hil host check says so (it passed, then the
    run had setup errors in some tests and infrastructure errors in the others)."""
    import subprocess
    import sys

    (tmp_path / "lab.toml").write_text(
        'kind = "labgrid"\n[labgrid]\nplace = "bench-1"\n[ssh]\nhost_key = "ssh-ed25519 '
        'AAAAC3NzaC1lZDI1NTE5AAAAIB2eRgiEwB8SMcNtBmQx3klNptJNfZ8lzC4lh0X4NU7b"\n'
    )
    code = (
        "import sys; sys.modules['labgrid'] = None; from hil.cli.main import main; "
        f"sys.exit(main(['host', 'check', '--target', {str(tmp_path / 'lab.toml')!r}]))"
    )
    # (only qnx-hil's plugin: a venv without labgrid has no labgrid pytest plugin either)
    env = {
        **os.environ,
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTEST_PLUGINS": "xdist.plugin,hil.pytestplugin.plugin",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "  labgrid: pip install 'qnx-hil[labgrid]' in the environment that runs qnx-hil; "
        "the labgrid target kind's client; needed by lab" in done.stdout
    )

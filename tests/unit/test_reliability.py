"""Issue 11: bad inputs are one clear line, names never become dangerous paths, checks that can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hil.core.errors import ConfigError
from hil.qvm.config import QvmConfig
from hil.targets.definition import load_definition, parse_definition
from tests.support.cli import hil
from tests.support.procs import pids_running


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


# -- 8: [lease] values are range-checked ------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [("ttl", 0, "10 to 86400"), ("ttl", 9, "10 to 86400"), ("wait", -5, "0 to 86400"), ("wait", float("nan"), "0 to")],
)
def test_lease_values_are_range_checked(key: str, value: float, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_definition({"kind": "local", "lease": {key: value}}, "lab/box.toml", "box")
    message = str(info.value)
    assert message.startswith(f"lab/box.toml: key 'lease.{key}': ") and allowed in message


def test_lease_values_in_range_are_accepted() -> None:
    definition = parse_definition({"kind": "local", "lease": {"ttl": 10, "wait": 0}}, "t.toml", "box")
    assert (definition.lease.ttl, definition.lease.wait) == (10, 0)


# -- 11: bounded reads of input files ---------------------------------------------------------


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_special_files_as_inputs_are_refused_without_reading(tmp_path: Path, special: str) -> None:
    path = special
    if special == "fifo":
        path = str(tmp_path / "conf.fifo")
        os.mkfifo(path)  # nobody writes to it: reading it would hang for ever
    vdev = tmp_path / "vdev-x.so"
    vdev.write_bytes(b"")
    done = hil(
        "qvm",
        "run",
        "--target",
        "local",
        "--conf",
        path,
        "--vdev",
        str(vdev),
        "--artifacts",
        str(tmp_path / "a"),
        timeout=30,
    )
    line = one_line_error(done)
    assert path in line and "not a regular file" in line
    done = hil("vdev", "build", "target_vdevs/wdog", "--target", path if special == "fifo" else "/dev/zero", timeout=30)
    line = one_line_error(done)
    assert "not a regular file" in line


def test_oversized_input_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    with pytest.raises(ConfigError, match=r"more than the 1 MiB allowed"):
        load_definition(big)


# -- 13: a target name is never a path --------------------------------------------------------


def test_target_status_with_a_folder_as_target_touches_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "some" / "dir"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text('{"pid": 1}')
    for action in ("status", "down"):
        line = one_line_error(
            hil("target", action, "--target", str(folder), env={"XDG_CACHE_HOME": str(tmp_path)}, timeout=60)
        )
        assert str(folder) in line and "directory" in line
    assert (folder / "state.json").read_text() == '{"pid": 1}'
    line = one_line_error(hil("target", "status", "--target", "..", env={"XDG_CACHE_HOME": str(tmp_path)}, timeout=60))
    assert "not a plain name" in line


def test_toml_path_as_target_uses_the_definitions_name(tmp_path: Path) -> None:
    toml = tmp_path / "odd file.toml"
    toml.write_text('name = "vm9"\nkind = "qemu"\n')
    done = hil("target", "status", "--target", str(toml), "--json", env={"XDG_CACHE_HOME": str(tmp_path)}, timeout=60)
    assert done.returncode == 1 and '"name": "vm9"' in done.stdout, done.stderr


def test_target_names_in_definitions_are_plain_names() -> None:
    for bad in ("../x", "a/b", "..", "", ".hidden"):
        with pytest.raises(ConfigError, match=r"key 'name': .*not a plain name"):
            parse_definition({"kind": "local", "name": bad}, "t.toml")


# -- 14: artifact folders never collide -------------------------------------------------------


def test_safe_names_do_not_collide() -> None:
    from hil.core.inputs import safe_name

    ids = ["test_x[a;b]", "test_x[a|b]", "test_x[a_b]", "test_x[a b]", "a" * 200, "a" * 199 + "b", "..", ".", ""]
    names = [safe_name(i) for i in ids]
    assert len(set(names)) == len(ids), names
    assert all(n and "/" not in n and not n.startswith(".") and len(n) <= 150 for n in names)
    assert safe_name("test_plain-1.2=3") == "test_plain-1.2=3"  # readable when nothing needs replacing


# -- 15: a fixture's load path cannot reach out of its folder --------------------------------------


def test_fixture_load_outside_its_folder_is_refused(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    conf = fixtures / "leak.qvmconf"
    conf.write_text("system vm\nload ../../../../../../../../etc/hostname\n")
    with pytest.raises(ConfigError) as info:
        QvmConfig.from_file(conf)
    assert str(info.value).startswith(f"{conf}:2: key 'load': load path '../../../../../../../../etc/hostname'")
    (fixtures / "link.gs").symlink_to("/etc/hostname")
    conf.write_text("system vm\nload link.gs\n")
    with pytest.raises(ConfigError, match="leaves the folder"):
        QvmConfig.from_file(conf)
    (fixtures / "guest.gs").write_text("sleep 1\n")
    conf.write_text("system vm\nload guest.gs\nload /boot/on-target.ifs\n")
    assert set(QvmConfig.from_file(conf).files()) == {"guest.gs"}


# -- 16: a NUL byte in a .qvmconf -------------------------------------------------------------------


def test_nul_byte_in_qvmconf_names_line_and_column(tmp_path: Path) -> None:
    conf = tmp_path / "nul.qvmconf"
    conf.write_bytes(b"system vm\nram 16\x00M\n")
    with pytest.raises(ConfigError) as info:
        QvmConfig.from_file(conf)
    assert str(info.value) == f"{conf}:2: NUL byte at line 2, column 7; a .qvmconf is text: remove it"


# -- 17: a process check by full command line -------------------------------------------------------


def test_processes_with_long_names_are_found_by_command_line(tmp_path: Path) -> None:
    program = tmp_path / "qemu-system-x86_64"
    shutil.copy(shutil.which("sh") or "/bin/sh", program)
    proc = subprocess.Popen([str(program), "-c", "sleep 30; :", str(tmp_path / "marker")])
    try:
        time.sleep(0.1)
        pgrep = subprocess.run(["pgrep", "-x", "qemu-system-x86_64"], capture_output=True, text=True).stdout.split()
        assert str(proc.pid) not in pgrep  # why the old check could never fail
        assert proc.pid in pids_running("qemu-system-x86_64", mentioning=tmp_path / "marker")
        assert proc.pid not in pids_running("qemu-system-x86_64", mentioning=tmp_path / "elsewhere")
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in pids_running("qemu-system-x86_64")

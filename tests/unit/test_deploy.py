"""Deployment folders on the local target: private, removed, and stale ones cleaned up."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.core.errors import ConfigError, InfrastructureError
from hil.targets import deploy, make_target
from hil.targets.base import Target
from hil.targets.definition import parse_definition
from hil.targets.deploy import cleanup_stale, create_deployment


@pytest.fixture
def target(tmp_path: Path) -> Target:
    definition = parse_definition({"kind": "local", "qvm": {"workdir": str(tmp_path / "work")}}, "t.toml", "box")
    return make_target(definition, tmp_path / "run")


def test_private_folder_removed_unless_kept(target: Target, tmp_path: Path) -> None:
    d = create_deployment(target, "test_x[local]")
    assert oct(Path(d.path).stat().st_mode & 0o777) == "0o700"
    (tmp_path / "f").write_text("x")
    assert Path(d.put_file(tmp_path / "f", "g", 0o600)).read_text() == "x"
    d.cleanup()
    assert not Path(d.path).exists()
    kept = create_deployment(target, "test_y", keep=True)
    kept.cleanup()
    assert Path(kept.path).exists()


def test_stale_qvm_of_a_dead_run_is_killed_and_its_folder_removed(target: Target) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs: the "dead pytest" that left things behind
    from hil.targets import deploy

    workdir = Path(target.definition.qvm.workdir)
    stale = workdir / f"hil-{deploy._HOST}-{dead.pid}-1-test_old"
    live = workdir / f"hil-{deploy._HOST}-{os.getpid()}-99-test_mine"
    other_host = workdir / f"hil-otherhost-{dead.pid}-1-test_theirs"
    for folder in (stale, live, other_host):
        folder.mkdir(parents=True)
    # the qvm it left running, recorded as the runner records it (pid, start time, command line)
    argv = ["tail", "-F", f"@{stale}/run.qvmconf"]  # like qvm's: it names the folder's configuration
    orphan = subprocess.Popen(
        ["sh", "-c", f"cd {stale} && {deploy.record_pid(argv)} && exec {' '.join(argv)}"], stderr=subprocess.DEVNULL
    )
    while (
        not (stale / "qvm.pid").exists()
        or Path(f"/proc/{orphan.pid}/cmdline").read_bytes() != ("\0".join(argv) + "\0").encode()
    ):
        time.sleep(0.01)
    removed = cleanup_stale(target)
    assert removed == [str(stale)]
    assert orphan.wait(timeout=10) == -9
    assert not stale.exists() and live.exists() and other_host.exists()


def _dead_pid() -> int:
    dead = subprocess.Popen(["true"])
    dead.wait()
    return dead.pid


@pytest.mark.parametrize("record", ["old", "start", "cmdline"])
def test_stale_cleanup_spares_a_process_that_reused_the_recorded_pid(target: Target, record: str) -> None:
    """Issue 11.4: a reused pid in a stale qvm.pid must not get an innocent process killed."""
    stale = Path(target.definition.qvm.workdir) / f"hil-{deploy._HOST}-{_dead_pid()}-1-test_old"
    stale.mkdir(parents=True)
    innocent = subprocess.Popen(["sleep", "60"])  # now runs under the pid the dead run recorded
    start = Path(f"/proc/{innocent.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    lines = {
        "old": f"{innocent.pid}\n",  # the old format: a bare pid proves nothing
        "start": f"{innocent.pid}\n{int(start) + 1}\nsleep 60\n",  # another process's start time
        "cmdline": f"{innocent.pid}\n{start}\n/usr/bin/qvm @{stale}/run.qvmconf\n",
    }  # another command line
    (stale / "qvm.pid").write_text(lines[record])
    try:
        assert cleanup_stale(target) == [str(stale)]
        assert innocent.poll() is None, "an innocent process was killed"
        assert not stale.exists()
    finally:
        innocent.kill()
        innocent.wait()


def test_deploy_paths_stay_inside_the_private_folder(target: Target, tmp_path: Path) -> None:
    """Issue 11.15: absolute names, '..' and symlinks out of the folder are refused before anything is written."""
    d = create_deployment(target, "test_confined")
    src = tmp_path / "f"
    src.write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("../../../tmp/x", "/tmp/x", "a/../../x", "."):
        with pytest.raises(ConfigError, match="deploy path"):
            d.put_file(src, name)
    os.symlink(outside, Path(d.path) / "sub")
    with pytest.raises(ConfigError, match="symlink"):
        d.put_file(src, "sub/x")
    os.symlink(outside / "target", Path(d.path) / "link")
    with pytest.raises(ConfigError, match="symlink"):
        d.put_file(src, "link")
    assert list(outside.iterdir()) == []
    (Path(d.path) / "inner").mkdir()
    assert Path(d.put_file(src, "inner/./y")).read_text() == "x"
    d.cleanup()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs as the target's workdir (needs root, as CI has)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.fail("this test needs root to mount a 64 KiB tmpfs (CI runs as root)", pytrace=False)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_reported_as_such_and_checked_before_deploying(small_disk: Path, tmp_path: Path) -> None:
    """Issue 11.6: a put that runs out of space says so (an infrastructure error), leaves no partial file,
    and the next deployment refuses a workdir without free space instead of poisoning the session."""
    definition = parse_definition({"kind": "local", "qvm": {"workdir": str(small_disk / "work")}}, "t.toml", "box")
    target = make_target(definition, tmp_path / "run")
    d = create_deployment(target, "test_fill", min_free=16 << 10)
    big = tmp_path / "big"
    big.write_bytes(b"\xa5" * (200 << 10))
    with pytest.raises(InfrastructureError) as info:
        d.put_file(big, "vdev-big.so")
    message = str(info.value)
    assert "no space left on device on box at " + d.path in message
    assert f"{200 << 10} bytes needed" in message and " free" in message
    assert not (Path(d.path) / "vdev-big.so").exists()  # no partial file left
    # someone else filled the disk: the next test's deployment says so up front
    filler = small_disk / "filler"
    with pytest.raises(OSError):
        filler.write_bytes(b"\0" * (200 << 10))
    with pytest.raises(InfrastructureError, match=r"no space left on device on box at .*free"):
        create_deployment(target, "test_next")
    assert [p.name for p in (small_disk / "work").iterdir()] == [Path(d.path).name]  # no half-made folder
    filler.unlink()
    d.cleanup()
    assert create_deployment(target, "test_after", min_free=16 << 10).path


def test_deployment_folder_names_do_not_collide() -> None:
    """Issue 11.14 (deploy side): test ids that differ only in replaced characters get different folders."""
    from hil.core.inputs import safe_name

    assert safe_name("test_a[a;b]", 60) != safe_name("test_a[a|b]", 60)

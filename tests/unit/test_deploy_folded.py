"""Deployments on a target reached over SSH (issue 27): the folder, the vdevs and qvm's start in one
exchange; vdevs kept in this run's cache on the target by content; every safety check of a deployment
folder still made (private workdir, no symlink followed, free space), its failure reported as before.
A board (kind ``board``) against a real SSH server on loopback (``tests.support.sshd``), running this
host's qvmsim: its files are this host's, so the tests look at them directly."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.core.deadline import Deadline
from hil.core.errors import ConfigError, InfrastructureError, SetupError
from hil.qvm import QvmConfig
from hil.qvmrun.runner import QvmRunner
from hil.targets import deploy, make_target
from hil.targets.board import BoardTarget
from hil.targets.definition import parse_definition
from hil.targets.deploy import create_deployment, flush_cleanups
from hil.targets.sdk import build_qvmsim
from hil.targets.toolchain import BuiltVdev, build_vdev
from tests.support.needs import require_nothing_missing
from tests.support.paths import REPO
from tests.support.sshd import DropbearServer, missing_tools


@pytest.fixture(autouse=True)
def _ssh_server_tools() -> None:
    require_nothing_missing(missing_tools())


@pytest.fixture(params=["sh", "busybox"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DropbearServer]:
    srv = DropbearServer(tmp_path / "sshd", shell=request.param).start()
    yield srv
    srv.stop()


def make_board(server: DropbearServer, workdir: Path, run_dir: Path) -> BoardTarget:
    data = {
        "kind": "board",
        "os": "linux",
        "ssh": {"host": server.host, "port": server.port, "user": server.user, "key": str(server.client_key),
                "host_key": server.host_key, "connect_timeout": 5.0},
        "qvm": {"workdir": str(workdir), "command": str(build_qvmsim())},
        "lease": {"enabled": False},
    }  # fmt: skip
    target = make_target(parse_definition(data, "<test>", "dut"), run_dir)
    assert isinstance(target, BoardTarget) and target.lazy_deployments
    target.up(Deadline.after(60))
    return target


@pytest.fixture
def board(server: DropbearServer, tmp_path: Path) -> Iterator[BoardTarget]:
    target = make_board(server, tmp_path / "work", tmp_path / "run")
    yield target
    target.down()


@pytest.fixture
def trace(board: BoardTarget) -> BuiltVdev:
    return build_vdev(REPO / "target_vdevs" / "trace", board.toolchain())


class Exchanges:
    """Counts the commands the board's SSH connection runs and starts."""

    def __init__(self, target: BoardTarget, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commands: list[str] = []
        ssh = target.ssh
        assert ssh is not None
        for name in ("run", "start"):
            original = getattr(ssh, name)

            def counted(command: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.commands.append(str(command))
                return _original(command, *args, **kwargs)

            monkeypatch.setattr(ssh, name, counted)


def dryrun(trace: BuiltVdev) -> QvmConfig:
    return QvmConfig("t").vdev(trace, loc=0x2000, tick=0).dryrun()


def test_folder_deployment_and_qvm_start_are_one_exchange(
    board: BoardTarget, trace: BuiltVdev, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = create_deployment(board, "test_first")
    assert not Path(first.path).exists()  # made by the next command that reaches the target
    first.put_file(trace.path, trace.path.name, 0o755)  # not cached yet: one exchange, through its stdin
    assert Path(first.path).is_dir() and oct(Path(first.path).stat().st_mode & 0o777) == "0o700"
    (tmp_path / "a1").mkdir()
    QvmRunner(board, first, tmp_path / "a1").run(dryrun(trace), timeout=30).assert_reason("NORMAL")
    first.cleanup(defer=True)
    exchanges = Exchanges(board, monkeypatch)
    second = create_deployment(board, "test_second")
    remote = second.put_file(trace.path, trace.path.name, 0o755)  # cached: copied by the start command
    (tmp_path / "a2").mkdir()
    result = QvmRunner(board, second, tmp_path / "a2").run(dryrun(trace), timeout=30)
    result.assert_reason("NORMAL")
    assert len(exchanges.commands) == 1, exchanges.commands  # folder, copy, configuration, qvm: one command
    assert Path(remote).read_bytes() == trace.path.read_bytes()
    assert oct(Path(remote).stat().st_mode & 0o777) == "0o755"
    assert not Path(first.path).exists()  # the deferred removal went with it
    second.cleanup(defer=True)
    flush_cleanups(board)  # the session's end: its folders and its vdev cache are removed
    assert [p.name for p in Path(board.workdir()).iterdir()] == []


def test_a_waiting_folder_is_made_before_any_other_command(board: BoardTarget, trace: BuiltVdev) -> None:
    first = create_deployment(board, "test_a")
    first.put_file(trace.path, trace.path.name, 0o755)
    second = create_deployment(board, "test_b")
    remote = second.put_file(trace.path, "copy.so", 0o755)  # cached: waits with the folder
    assert not Path(second.path).exists()
    assert board.run(["cmp", remote, str(trace.path)]).exit_status == 0  # what a test's command sees
    unused = create_deployment(board, "test_c")
    unused.cleanup()  # never made: nothing to remove, and nothing made later
    board.run("true")
    assert not Path(unused.path).exists()


def test_the_cache_is_by_content(board: BoardTarget, tmp_path: Path) -> None:
    lib = tmp_path / "vdev-x.so"
    for n, content in enumerate((b"one", b"two", b"one")):
        lib.write_bytes(content)
        d = create_deployment(board, f"test_{n}")
        remote = d.put_file(lib, lib.name, 0o644)
        board.run("true")
        assert Path(remote).read_bytes() == content
        assert oct(Path(remote).stat().st_mode & 0o777) == "0o644"


def test_a_workdir_others_can_write_is_a_setup_error_at_the_folded_start(
    board: BoardTarget, trace: BuiltVdev, tmp_path: Path
) -> None:
    warm = create_deployment(board, "test_warm")
    warm.put_file(trace.path, trace.path.name, 0o755)  # cached now
    workdir = Path(board.workdir())
    workdir.chmod(0o777)
    d = create_deployment(board, "test_open")
    d.put_file(trace.path, trace.path.name, 0o755)
    (tmp_path / "a").mkdir()
    with pytest.raises(SetupError, match=r"workdir .* is writable by group or others"):
        QvmRunner(board, d, tmp_path / "a").run(dryrun(trace), timeout=30)
    assert not Path(d.path).exists()
    with pytest.raises(SetupError, match="writable by group or others"):  # a file not cached: at its put
        create_deployment(board, "test_open2").put_file(tmp_path / "a" / "run1.qvmconf", "x.conf")
    workdir.chmod(0o700)


def test_a_symlink_in_place_of_a_deployed_file_is_refused(board: BoardTarget, trace: BuiltVdev, tmp_path: Path) -> None:
    d = create_deployment(board, "test_link")
    d.put_file(trace.path, trace.path.name, 0o755)
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    os.symlink(outside, Path(d.path) / "planted.so")
    with pytest.raises(ConfigError, match=r"'planted\.so' is a symlink"):
        d.put_file(trace.path, "planted.so", 0o755)  # cached: a copy in one command
    assert outside.read_bytes() == b"keep"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs as the target's workdir (needs root, as CI has)."""
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if os.geteuid() != 0 or mounted.returncode != 0:
        pytest.fail("this test needs root to mount a 64 KiB tmpfs (CI runs as root)", pytrace=False)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_reported_at_the_folded_set_up(server: DropbearServer, small_disk: Path, tmp_path: Path) -> None:
    board = make_board(server, small_disk / "work", tmp_path / "run")
    try:
        d = create_deployment(board, "test_fill", min_free=16 << 10)
        big = tmp_path / "vdev-big.so"
        big.write_bytes(b"\xa5" * (200 << 10))
        with pytest.raises(InfrastructureError) as info:
            d.put_file(big, big.name)
        assert f"no space left on device on dut at {d.path}" in str(info.value)
        assert f"{200 << 10} bytes needed" in str(info.value)
        assert not (Path(d.path) / big.name).exists()  # no partial file left
        assert not [p for p in Path(deploy._cache_folder(board)).iterdir()]  # nor in the cache
        small = tmp_path / "vdev-small.so"
        small.write_bytes(b"x")
        with pytest.raises(InfrastructureError, match=r"no space left on device on dut at .*bytes needed"):
            create_deployment(board, "test_next", min_free=1 << 20).put_file(small, small.name)  # made with it
        with pytest.raises(InfrastructureError, match=r"no space left on device on dut at .*bytes needed"):
            create_deployment(board, "test_then", min_free=1 << 20)
            board.run("true")  # any command makes the waiting folder first
        assert not any(p.name.endswith(("test_next", "test_then")) for p in (small_disk / "work").iterdir())
    finally:
        board.down()


def test_a_qvm_left_running_is_killed_with_its_folder_by_the_next_set_up(
    board: BoardTarget, trace: BuiltVdev, tmp_path: Path
) -> None:
    d = create_deployment(board, "test_left")
    d.put_file(trace.path, trace.path.name, 0o755)
    (tmp_path / "a").mkdir()
    session = QvmRunner(board, d, tmp_path / "a").start(QvmConfig("t").vdev(trace, loc=0x2000, tick=0), timeout=60)
    assert session.running()
    d.cleanup(defer=True)  # the test ended without stopping it
    create_deployment(board, "test_next")
    board.run("true")  # the next test's folder: the deferred removal (qvm.pid proved ours) goes first
    result = session.wait(20)
    assert result.signal == "SIGKILL" and not Path(d.path).exists()


def test_a_folder_another_thread_is_making_is_waited_for(
    board: BoardTarget, trace: BuiltVdev, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads on one target (a sweep's jobs): one's command makes the other's folder; the other's qvm
    start waits for that command instead of starting qvm in a folder that is not there yet."""
    import threading
    import time

    warm = create_deployment(board, "test_warm")
    warm.put_file(trace.path, trace.path.name, 0o755)
    d = create_deployment(board, "test_raced")
    d.put_file(trace.path, trace.path.name, 0o755)  # cached: waits with the folder
    ssh = board.ssh
    assert ssh is not None
    original = ssh.run
    taken = threading.Event()

    def slow(command: Any, *args: Any, **kwargs: Any) -> Any:
        if d.path in str(command):  # the other thread's flush makes d's folder, slowly
            taken.set()
            time.sleep(1.0)
        return original(command, *args, **kwargs)

    monkeypatch.setattr(ssh, "run", slow)
    other = threading.Thread(target=lambda: board.run("true"))
    other.start()
    assert taken.wait(10)
    (tmp_path / "a").mkdir()
    QvmRunner(board, d, tmp_path / "a").run(dryrun(trace), timeout=30).assert_reason("NORMAL")
    other.join(10)

"""Bad input is one line (issue 11.10): unwritable or non-folder output paths of the CLI and the pytest
plugin, a non-UTF-8 target TOML, a state.json of the wrong shape, and an SSH server resetting the
connection during the banner.  Each is run the way a user meets it (``python -m hil``, ``pytest``, a
fresh interpreter) and must end with exit 2 (pytest: its usage status 4) and exactly one stderr line."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.core.errors import ConfigError
from hil.core.outputs import output_dir, output_file
from tests.support.cli import hil
from tests.support.keys import STRANGER_HOST_KEY
from tests.support.paths import REPO


def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def one_line(done: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == status, (done.returncode, done.stderr)
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "plain-file"
    path.write_text("not a folder\n")
    return path


def bad_paths(a_file: Path) -> dict[str, tuple[Path, str]]:
    """Output paths that cannot be written, with what the line must say."""
    return {
        "is-a-file": (a_file, "is a file"),
        "under-a-file": (a_file / "sub", "is a file"),
        "cannot-create": (Path("/proc/1/hil-out"), "cannot"),  # /proc: no folder can be made there, even as root
    }


@pytest.mark.parametrize("which", ["is-a-file", "under-a-file", "cannot-create"])
@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["vdev", "build", "target_vdevs/wdog", "-o"], "-o/--output"),
        (["qvm", "run", "--conf", "x.qvmconf", "--artifacts"], "--artifacts"),
        (["nightly", "--reports"], "--reports"),
        (["demo", "--reports"], "--reports"),
    ],
    ids=["vdev-build-o", "qvm-run-artifacts", "nightly-reports", "demo-reports"],
)
def test_cli_output_paths_are_one_line(a_file: Path, which: str, command: list[str], option: str) -> None:
    path, says = bad_paths(a_file)[which]
    done = hil(*command, str(path), timeout=120)
    line = one_line(done, 2, option, str(path), says)
    assert line.startswith("hil: error:"), line


@pytest.mark.parametrize("option", ["--hil-artifacts", "--hil-junit", "--hil-summary", "--hil-html"])
def test_plugin_output_paths_are_one_usage_line(tmp_path: Path, a_file: Path, option: str) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_x():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    target = a_file / "out" if option == "--hil-artifacts" else a_file / "report.file"
    done = run("-m", "pytest", "-p", "no:cacheprovider", option, str(target), "--hil-target", "local", cwd=tmp_path)
    line = one_line(done, 4, option, "is a file")  # pytest's status for a usage error
    assert line.startswith("ERROR:"), line
    assert not (tmp_path / "junit.xml").exists()


def test_output_checks_leave_nothing_behind_and_refuse_a_folder_as_a_file(tmp_path: Path) -> None:
    assert output_dir(tmp_path / "a" / "b", "--reports") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # the probe's folders are removed again
    output_file(tmp_path / "x" / "junit.xml", "--hil-junit")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError, match=r"^--hil-junit: cannot write output file .*: it is a folder"):
        output_file(tmp_path, "--hil-junit")


def test_non_utf8_target_toml_is_one_line(tmp_path: Path) -> None:
    toml = tmp_path / "lab" / "box.toml"
    toml.parent.mkdir()
    toml.write_bytes(b'name = "b\xe9"\nkind = "local"\n')  # Latin-1, as an editor may save it
    for args in (["--target", str(toml)], ["--targets-dir", str(toml.parent), "--target", "box"]):
        done = hil("qvm", "run", "--conf", "x.qvmconf", *args, timeout=120)
        one_line(done, 2, str(toml), "not UTF-8", "byte 9", "save it as UTF-8")


@pytest.mark.parametrize(
    "state",
    [
        [],
        "running",
        {"pid": "12x", "ssh_port": 1, "serial_port": 2, "image": "/", "run_dir": "/"},
        {"pid": 1, "ssh_port": 1, "serial_port": 2, "image": "/nonexistent/image", "run_dir": "/"},
        {"pid": True, "ssh_port": 1, "serial_port": 2, "image": "/", "run_dir": "/"},
    ],
    ids=["list", "string", "pid-text", "image-missing", "pid-bool"],
)
def test_state_json_of_the_wrong_shape_is_one_line(tmp_path: Path, state: object) -> None:
    path = tmp_path / "qnx-hil" / "targets" / "qemu" / "state.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(state))
    done = hil("target", "status", "--target", "qemu", env={"XDG_CACHE_HOME": str(tmp_path)}, timeout=120)
    one_line(done, 2, f"corrupt state file {path}", "delete it")


@pytest.fixture
def resetting_server() -> Iterator[int]:
    """A TCP server on loopback that reads the client's banner, sends half of its own and resets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(256)
                    conn.sendall(b"SSH-2.0-")
                except OSError:
                    pass
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


CONNECT = """
import sys
from pathlib import Path
from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError
from hil.links.ssh import SshConfig, SshConnection

cfg = SshConfig(host="127.0.0.1", port=int(sys.argv[1]), user="root", key_path=Path(sys.argv[2]),
                host_key=sys.argv[3], connect_timeout=2.0)
try:
    SshConnection(cfg, name="dut").connect(Deadline.after(5))
except InfrastructureError as exc:
    print("INFRA", exc)
"""


def test_ssh_server_resetting_during_the_banner_is_one_line(resetting_server: int, tmp_path: Path) -> None:
    from tests.support.sshd import make_client_key

    key = tmp_path / "key"
    make_client_key(key)
    done = run("-c", CONNECT, str(resetting_server), str(key), STRANGER_HOST_KEY)
    assert done.stderr == "", done.stderr  # paramiko's logged tracebacks are not printed
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("INFRA"), done.stdout
    assert f"SSH handshake with dut at 127.0.0.1:{resetting_server} failed" in lines[0], lines[0]
    assert "banner" in lines[0] or "reset" in lines[0], lines[0]

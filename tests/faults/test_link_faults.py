"""Fault matrix, link rows (issue 11: 2 and the matrix): a board (kind ``board``) against a real SSH
server on loopback (``tests.support.sshd``): its lease lost to another run while it was stopped, and its
SSH server killed under a running program.  No VM is booted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError
from hil.targets import make_target
from hil.targets.board import BoardTarget
from hil.targets.definition import parse_definition
from tests.support.needs import require_nothing_missing
from tests.support.paths import REPO
from tests.support.sshd import DropbearServer, missing_tools


@pytest.fixture(autouse=True)
def _ssh_server_tools() -> None:
    require_nothing_missing(missing_tools())


TTL = 10  # the smallest [lease] ttl allowed


def board_data(server: DropbearServer, workdir: Path) -> dict[str, object]:
    return {
        "kind": "board",
        "os": "linux",
        "ssh": {
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "key": str(server.client_key),
            "host_key": server.host_key,
            "connect_timeout": 5.0,
        },
        "qvm": {"workdir": str(workdir)},
        "lease": {"ttl": TTL, "wait": 60},
    }


def board(server: DropbearServer, workdir: Path, run_dir: Path) -> BoardTarget:
    target = make_target(parse_definition(board_data(server, workdir), "<test>", "dut"), run_dir)
    assert isinstance(target, BoardTarget)
    return target


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DropbearServer]:
    srv = DropbearServer(tmp_path / "sshd").start()
    yield srv
    srv.stop()


# Run A: takes the board (lease, renewer thread), then uses it in a loop, one line per operation.
HOLDER = """
import json, sys, time
from pathlib import Path
from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError
from hil.targets import make_target
from hil.targets.definition import parse_definition

target = make_target(parse_definition(json.loads(sys.argv[1]), "<a>", "dut"), Path(sys.argv[2]))
target.up(Deadline.after(60))
print("UP", flush=True)
for n in range(400):
    try:
        target.run("true", timeout=10)
        target.put(Path(sys.argv[3]), sys.argv[3] + ".copy")
    except InfrastructureError as exc:
        print("ERR", exc, flush=True)
        target.down()
        sys.exit(3)
    print("OK", n, flush=True)
    time.sleep(0.1)
target.down()
"""


def test_lease_lost_while_stopped_refuses_every_further_operation(server: DropbearServer, tmp_path: Path) -> None:
    """Issue 11.2: run A stalls (SIGSTOP) past its lease's expiry, run B takes the board over; when A
    resumes, its next operation is an InfrastructureError naming B, and A does not keep using the board."""
    import json

    payload = tmp_path / "payload"
    payload.write_text("x")
    a = subprocess.Popen(
        [sys.executable, "-c", HOLDER, json.dumps(board_data(server, tmp_path / "work")), str(tmp_path / "a"),
         str(payload)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert a.stdout is not None
        assert a.stdout.readline().strip() == "UP", a.stderr.read() if a.stderr else ""
        assert a.stdout.readline().startswith("OK")
        os.kill(a.pid, signal.SIGSTOP)  # A and its renewer stall
        b = board(server, tmp_path / "work", tmp_path / "b")
        b.up(Deadline.after(60))  # waits out A's expiry, then takes the lease over
        try:
            holder = b.lease.owner if b.lease is not None else "?"
            os.kill(a.pid, signal.SIGCONT)
            out, err = a.communicate(timeout=60)
        finally:
            b.down()
    finally:
        if a.poll() is None:
            os.kill(a.pid, signal.SIGCONT)
            a.kill()
            a.wait()
    lines = out.splitlines()
    assert a.returncode == 3, (out, err)
    assert lines[-1].startswith("ERR") and f"held by {holder}" in lines[-1] and "refused" in lines[-1], lines[-1]
    # at most the one operation already under way when A was stopped completes after it resumed
    assert len([ln for ln in lines if ln.startswith("OK")]) <= 2, lines


def test_ssh_server_killed_mid_test_is_an_infrastructure_error(server: DropbearServer, tmp_path: Path) -> None:
    """The SSH server dies while a program runs on the board (and stays dead): the wait for that program
    and the next command are infrastructure errors naming the board, not a test failure or a hang."""
    target = board(server, tmp_path / "work", tmp_path / "run")
    target.up(Deadline.after(60))
    try:
        proc = target.start("echo started; sleep 30")
        proc.wait_for(b"started", timeout=10)
        server.stop()  # the listener and every session with its commands
        with pytest.raises(InfrastructureError):
            proc.wait(timeout=20)
        with pytest.raises(InfrastructureError, match=r"dut"):
            target.run("true", timeout=10)
    finally:
        target.down()

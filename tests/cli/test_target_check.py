"""`hil target check`: every problem of a target definition in one run, one line each; exit 0/2/3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import hil
from tests.support.ports import ClosedPort, held_unused_ports
from tests.support.sshd import DropbearServer


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    """Loopback ports nobody listens on, held bound until the test ends (no bind-then-close race)."""
    with held_unused_ports() as make:
        yield make


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[DropbearServer]:
    srv = DropbearServer(tmp_path / "sshd").start()
    try:
        yield srv
    finally:
        srv.stop()


def test_a_board_with_four_problems_gets_all_four_in_one_run(tmp_path: Path, closed_port: ClosedPort) -> None:
    """The template's board, edited the way a first try goes: no key, no known_hosts, the console and
    SSH away, no qcc here.  Every problem in one run; the missing files make it a usage error (exit 2)."""
    assert hil("init", cwd=tmp_path).returncode == 0
    console, ssh = closed_port(), closed_port()
    text = (tmp_path / "targets" / "board.toml.example").read_text()
    text = text.replace("socket://192.0.2.1:4001", f"socket://127.0.0.1:{console}")
    text = text.replace('host = "192.0.2.10"\nport = 22', f'host = "127.0.0.1"\nport = {ssh}')
    text = text.replace("~/.ssh/hil_ed25519", str(tmp_path / "no-key")).replace(
        "~/.ssh/known_hosts", str(tmp_path / "no-known-hosts")
    )
    (tmp_path / "targets" / "board.toml").write_text(text)
    done = hil("target", "check", "--target", "example-board", cwd=tmp_path, env={"QNX_HOST": None})
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    expected = [
        f"AWAY    example-board: console: socket://127.0.0.1:{console} does not accept a connection: "
        "Connection refused",
        f"PROBLEM example-board: ssh key: no file {tmp_path / 'no-key'} ([ssh] key in "
        f"{tmp_path / 'targets' / 'board.toml'}); create it or correct [ssh] key",
        f"PROBLEM example-board: ssh known_hosts: no file {tmp_path / 'no-known-hosts'} ([ssh] known_hosts in "
        f"{tmp_path / 'targets' / 'board.toml'}); create it or correct [ssh] known_hosts",
        f"AWAY    example-board: ssh: 127.0.0.1:{ssh} does not accept a connection: Connection refused",
    ]
    assert lines[:4] == expected
    assert lines[4].startswith("AWAY    example-board: qcc: missing on this host: builds vdevs (qcc)")
    assert len(lines) == 5
    assert "hil target check: 5 problem(s) for example-board" in done.stderr


def test_a_board_only_away_is_infrastructure_and_a_reachable_one_is_fine(
    tmp_path: Path, sshd: DropbearServer, closed_port: ClosedPort
) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    common = 'kind = "board"\n[toolchain]\nkind = "gcc"\n[qvm]\ncommand = "sh"\n'
    (targets / "up.toml").write_text(
        common + f'[ssh]\nhost = "127.0.0.1"\nport = {sshd.port}\nuser = "{sshd.user}"\n'
        f'key = "{sshd.client_key}"\nknown_hosts = "{sshd.known_hosts}"\n'
    )
    (targets / "gone.toml").write_text(
        common + f'[ssh]\nhost = "127.0.0.1"\nport = {closed_port()}\nkey = "{sshd.client_key}"\n'
        f'host_key = "{sshd.host_key}"\n'
    )
    up = hil("target", "check", "--target", "up", "-v", cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"ok      up: ssh login: {sshd.user}@127.0.0.1:{sshd.port}, host key matches" in up.stdout
    assert "ok      up: qvm: " in up.stdout
    gone = hil("target", "check", "--target", "gone", "--target", "up", "--json", cwd=tmp_path)
    assert gone.returncode == 3, gone.stdout + gone.stderr
    findings = json.loads(gone.stdout)
    problems = {(f["target"], f["what"], f["kind"]) for f in findings if f["kind"] != "ok"}
    assert problems == {("gone", "ssh", "infra")}


def test_qvm_missing_on_the_board(tmp_path: Path, sshd: DropbearServer) -> None:
    (tmp_path / "b.toml").write_text(
        f'kind = "board"\n[qvm]\ncommand = "no-such-qvm"\n[ssh]\nhost = "127.0.0.1"\nport = {sshd.port}\n'
        f'user = "{sshd.user}"\nkey = "{sshd.client_key}"\nknown_hosts = "{sshd.known_hosts}"\n'
    )
    done = hil("target", "check", "--target", str(tmp_path / "b.toml"), cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"AWAY    b: qvm: 'no-such-qvm' is not on the target's PATH ([qvm] command in {tmp_path / 'b.toml'}): "
        "install the QNX Hypervisor's qvm on the board, or name its path"
    ]

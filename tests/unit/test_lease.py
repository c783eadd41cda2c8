"""Leases on a target, exercised on the local target (a real shell, real mkdir)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from hil.core.command import CommandResult
from hil.core.errors import InfrastructureError
from hil.targets import make_target
from hil.targets.base import Target
from hil.targets.definition import parse_definition
from hil.targets.lease import acquire, lease_path


@pytest.fixture
def target(tmp_path: Path) -> Target:
    definition = parse_definition({"kind": "local", "qvm": {"workdir": str(tmp_path / "work")}}, "t.toml", "box")
    return make_target(definition, tmp_path / "run")


def test_acquire_release(target: Target) -> None:
    lease = acquire(target, wait=1, owner="alice@host:1")
    info = Path(lease_path(target), "info").read_text()
    assert "owner=alice@host:1" in info and "expiry=" in info
    lease.release()
    assert not Path(lease_path(target)).exists()


def test_busy_target_names_holder(target: Target) -> None:
    held = acquire(target, wait=1, owner="alice@host:1", ttl=60)
    with pytest.raises(InfrastructureError, match=r"busy: lease .* held by alice@host:1.*waited 1 s"):
        acquire(target, wait=1, owner="bob@host:2", poll=0.2)
    held.release()
    acquire(target, wait=1, owner="bob@host:2").release()


def test_expired_lease_is_taken_over(target: Target) -> None:
    stale = acquire(target, wait=1, owner="crashed@host:1", ttl=1)
    time.sleep(2.1)
    fresh = acquire(target, wait=1, owner="bob@host:2", ttl=30)
    assert "owner=bob@host:2" in Path(lease_path(target), "info").read_text()
    stale.renew()
    assert stale.lost and "bob@host:2" in stale.lost
    stale.release()  # not ours any more: must not remove bob's lease
    assert Path(lease_path(target)).exists()
    fresh.release()


def test_renewal_keeps_lease_alive(target: Target) -> None:
    lease = acquire(target, wait=1, owner="alice@host:1", ttl=3)
    lease.keep_alive()
    time.sleep(4)
    with pytest.raises(InfrastructureError, match="held by alice"):
        acquire(target, wait=0, owner="bob@host:2")
    lease.release()


SCRIPT = """
import sys, time
from hil.targets.lease import acquire
from hil.targets.definition import parse_definition
from hil.targets import make_target
from pathlib import Path
d = parse_definition({"kind": "local", "qvm": {"workdir": sys.argv[1]}}, "t.toml", "box")
t = make_target(d, Path(sys.argv[2]))
lease = acquire(t, wait=float(sys.argv[3]), owner=sys.argv[4], poll=0.2)
print("GOT", flush=True)
if sys.argv[5] == "-":
    sys.stdin.readline()  # hold the lease until the test says so
else:
    time.sleep(float(sys.argv[5]))
lease.release()
print("RELEASED", flush=True)
"""


def test_contest_between_two_processes(tmp_path: Path) -> None:
    """Event-ordered, no wall-clock race: the first process holds the lease until the test tells it to
    let go, so the impatient third one always meets it held, and the patient second one gets it after."""

    def spawn(owner: str, wait: float, hold: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "w"), str(tmp_path / owner), str(wait), owner, hold],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = spawn("first", 30, "-")
    assert first.stdout is not None and first.stdin is not None
    assert first.stdout.readline().strip() == "GOT"
    waiter = spawn("second", 120, "0")  # waits for first, then gets it
    loser = spawn("third", 0.5, "0")  # gives up while first holds it
    out, err = loser.communicate(timeout=60)
    assert loser.returncode != 0 and "held by first" in err and "GOT" not in out
    first.stdin.write("release\n")
    first.stdin.flush()
    assert first.stdout.readline().strip() == "RELEASED"
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0 and "GOT" in out, err
    first.communicate(timeout=20)


@pytest.mark.parametrize("garbage", ["expiry=soon", "expiry=", "expiry=12x", "\x00\xff junk"])
def test_corrupt_lease_is_taken_over_with_a_warning(
    target: Target, garbage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11.7: an unparsable lease is expired-and-corrupt: taken over, a WARNING names file and content."""
    folder = Path(lease_path(target))
    folder.mkdir(parents=True)
    (folder / "info").write_text(
        f"owner=crashed@host:1\nhost=host\npid=1\nstart=1\n{garbage}\n", errors="surrogateescape"
    )
    with caplog.at_level("WARNING", logger="hil.targets.lease"):
        lease = acquire(target, wait=5, owner="bob@host:2", poll=0.1)
    assert "owner=bob@host:2" in (folder / "info").read_text()
    lease.release()
    if garbage.startswith("expiry=") and garbage != "expiry=":
        warning = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
        assert f"{folder}/info" in warning and garbage.split("=")[1] in warning and "corrupt" in warning


def test_check_is_local_until_overdue_then_names_the_new_holder(target: Target) -> None:
    """Issue 11.2: a fresh lease is checked without a round trip; an overdue one is verified by a renewal,
    which finds the run that took it over; from then on every check raises, naming that run."""
    calls: list[str | Sequence[str]] = []
    run = target.run

    def counting_run(
        command: str | Sequence[str], timeout: float | None = None, *, stdin: bytes | None = None, check: bool = False
    ) -> CommandResult:
        calls.append(command)
        return run(command, timeout, stdin=stdin, check=check)

    target.run = counting_run  # type: ignore[method-assign]  # this target's round trips, counted
    lease = acquire(target, wait=1, owner="alice@host:1", ttl=1)  # renewals paused: no keep_alive
    calls.clear()
    lease.check("running a command")
    assert calls == []  # fresh: local state only
    time.sleep(2.1)
    taker = acquire(target, wait=1, owner="bob@host:2", ttl=30)
    calls.clear()
    with pytest.raises(InfrastructureError, match=r"lost \(now held by bob@host:2\); running a command refused"):
        lease.check("running a command")
    assert len(calls) == 1  # one renewal round trip found bob
    with pytest.raises(InfrastructureError, match="held by bob@host:2"):
        lease.check("starting a program")
    assert len(calls) == 1  # lost: no further round trip
    lease.release()  # not ours: bob keeps it
    assert "owner=bob@host:2" in Path(lease_path(target), "info").read_text()
    taker.release()


def test_overdue_lease_nobody_took_is_renewed_and_kept(target: Target) -> None:
    lease = acquire(target, wait=1, owner="alice@host:1", ttl=1)
    time.sleep(1.2)
    assert lease.overdue()
    before = lease.renewed_at
    lease.check("running a command")  # still ours: renewed there and then (however slow the round trip)
    assert lease.renewed_at > before and lease.lost is None
    lease.release()


def test_a_lease_of_a_dead_run_of_this_host_is_taken_over_at_once(target: Target) -> None:
    """Issue 22.7/22.14: a SIGKILLed run's lease (this host, its pid gone) does not make the next run wait."""
    import socket

    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = Path(lease_path(target))
    folder.mkdir(parents=True)
    owner = f"ci@{socket.gethostname()}:{dead.pid}"
    expiry = int(time.time()) + 3600
    (folder / "info").write_text(
        f"owner={owner}\nhost={socket.gethostname()}\npid={dead.pid}\nstart=1\nexpiry={expiry}\n"
    )
    started = time.monotonic()
    lease = acquire(target, wait=0, owner="next@here:1")
    assert time.monotonic() - started < 10
    assert "owner=next@here:1" in (folder / "info").read_text()
    lease.release()

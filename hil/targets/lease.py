"""Leases: one run at a time on a shared target, with no central server.

The lease is a folder on the target itself, taken with ``mkdir`` (atomic on
every POSIX file system, QNX's included) and holding an ``info`` file::

    owner=ci@build-7:4242
    host=build-7
    pid=4242
    start=1764110000
    expiry=1764110090

Times are the *target's* clock (``date +%s`` there), so CI hosts with skewed
clocks agree.  The holder renews the expiry while its run lives and removes
the folder at the end.  A lease whose expiry has passed is taken over, under
a second ``mkdir`` lock so two contenders never both take it.  A busy target
is waited for up to ``wait`` seconds, then reported as an infrastructure
error naming the holder.

A holder that stalls (a stopped process, a suspended laptop) past its expiry may have lost the
lease to another run.  Once lost, every further operation of the board is refused:
``Lease.check()`` is called before each one and costs nothing while the last successful renewal
is recent (under two thirds of ``ttl`` ago, the renewer runs every third); an *overdue* lease is
renewed there and then (one round trip), which either finds it still ours or names its new
holder, and a lost lease raises ``InfrastructureError`` from then on.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hil.core.command import shell_command
from hil.core.errors import InfrastructureError

if TYPE_CHECKING:
    from hil.targets.base import Target

_ACQUIRE = r"""
L={lease}; now=$(date +%s)
mkdir -p {parent} 2>/dev/null
if mkdir "$L" 2>/dev/null; then
  printf 'owner=%s\nhost=%s\npid=%s\nstart=%s\nexpiry=%s\n' {owner} {host} {pid} "$now" $((now + {ttl})) > "$L/info"
  echo "ACQUIRED $now"; exit 0
fi
dd bs=4096 count=1 < "$L/info" 2>/dev/null; echo; echo "BUSY $now"
"""

_TAKEOVER = r"""
L={lease}; T="$L.takeover"; now=$(date +%s)
if [ -d "$T" ] && [ -f "$T/at" ] && [ $(( now - $(cat "$T/at") )) -gt 60 ]; then rm -rf "$T"; fi
mkdir "$T" 2>/dev/null || {{ echo CONTENDED; exit 0; }}
echo "$now" > "$T/at"
exp=$(sed -n 's/^expiry=//p' "$L/info" 2>/dev/null)
if [ -z "$exp" ]; then sleep 1; exp=$(sed -n 's/^expiry=//p' "$L/info" 2>/dev/null); fi
case "$exp" in
  ''|*[!0-9]*) rm -rf "$L"; echo TAKEN;;   # missing or garbage: expired and corrupt
  *) if [ "$exp" -lt "$now" ]; then rm -rf "$L"; echo TAKEN; else echo ALIVE; fi;;
esac
rm -rf "$T"
"""

#: Take over a lease whose holder is a dead process of this host (its owner line unchanged since seen).
_TAKEOVER_DEAD = r"""
L={lease}; T="$L.takeover"
mkdir "$T" 2>/dev/null || {{ echo CONTENDED; exit 0; }}
date +%s > "$T/at"
if grep -qx 'owner='{{dead}} "$L/info" 2>/dev/null; then rm -rf "$L"; echo TAKEN; else echo CHANGED; fi
rm -rf "$T"
"""

_RENEW = r"""
L={lease}; now=$(date +%s)
grep -qx 'owner='{owner} "$L/info" 2>/dev/null || {{ echo LOST; cat "$L/info" 2>/dev/null; exit 0; }}
printf 'owner=%s\nhost=%s\npid=%s\nstart=%s\nexpiry=%s\n' {owner} {host} {pid} {start} $((now + {ttl})) \
  > "$L/info.new" && mv "$L/info.new" "$L/info" && echo RENEWED
"""

_RELEASE = r"""
L={lease}
grep -qx 'owner='{owner} "$L/info" 2>/dev/null && rm -rf "$L" && echo RELEASED
"""


_log = logging.getLogger("hil.targets.lease")


def _parse_info(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _holder_dead_here(holder: dict[str, str]) -> bool:
    """The lease's holder is a process of this host that no longer runs (a zombie counts as gone)."""
    from hil.core.signals import process_alive

    pid = holder.get("pid", "")
    return holder.get("host") == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))


def default_owner() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}:{os.getpid()}"


@dataclass
class Lease:
    """A held lease on one target; renew it with ``keep_alive()``; ``release()`` at the end."""

    target: Target
    path: str
    owner: str
    ttl: int
    start: str
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None
    lost: str | None = None
    #: ``time.monotonic()`` when the last successful renewal (or the acquisition) was *sent*: the
    #: target's expiry is at least ``ttl`` seconds after it.
    renewed_at: float = field(default_factory=time.monotonic)
    _inside: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, script: str) -> str:
        """Run one of the lease's own scripts (never refused by ``check``: it is how we find out)."""
        self._inside.active = True
        try:
            return self.target.run(script, timeout=30).stdout_text
        finally:
            self._inside.active = False

    def _fill(self, script: str) -> str:
        return script.format(
            lease=shell_command([self.path]),
            owner=shell_command([self.owner]),
            host=shell_command([socket.gethostname()]),
            pid=os.getpid(),
            ttl=self.ttl,
            start=self.start,
        )

    def renew(self) -> bool:
        """Push the expiry ``ttl`` seconds ahead; notes (in ``lost``) when someone else holds it now.
        True when the target confirmed the renewal."""
        sent = time.monotonic()
        out = self._run(self._fill(_RENEW))
        if out.startswith("LOST"):
            holder = _parse_info(out).get("owner", "nobody")
            self.lost = f"lease {self.path} on {self.target.name} lost (now held by {holder})"
        elif out.strip().endswith("RENEWED"):
            self.renewed_at = max(self.renewed_at, sent)
            return True
        return False

    def overdue(self) -> float:
        """Seconds since the last successful renewal when that is two thirds of ``ttl`` or more, else 0."""
        age = time.monotonic() - self.renewed_at
        return age if age >= self.ttl * 2 / 3 else 0.0

    def check(self, what: str) -> None:
        """Raise ``InfrastructureError`` naming the new holder when the lease is lost; verify an overdue one.

        Local state only (the lost flag, the last renewal's time) unless the lease is overdue: then
        one renewal round trip decides (still ours: renewed; another owner: lost)."""
        if getattr(self._inside, "active", False):
            return
        if self.lost is None and self.overdue():
            with self._lock:  # one verification at a time; the others see its outcome
                age = self.overdue()
                if self.lost is None and age:
                    try:
                        renewed = self.renew()
                    except Exception as exc:  # noqa: BLE001
                        raise InfrastructureError(
                            f"lease {self.path} on {self.target.name} is overdue (last renewed {age:.0f} s ago, "
                            f"ttl {self.ttl} s) and could not be renewed ({exc}); another run may hold the "
                            f"target now, so {what} is refused"
                        ) from None
                    # not "overdue again": a slow round trip (a loaded host) that renewed is a renewal
                    if self.lost is None and not renewed:
                        raise InfrastructureError(
                            f"lease {self.path} on {self.target.name} is overdue (last renewed {age:.0f} s ago, "
                            f"ttl {self.ttl} s) and its renewal failed; {what} is refused"
                        )
        if self.lost is not None:
            raise InfrastructureError(
                f"{self.lost}; {what} refused: another run uses the target now (this run's lease expired "
                f"unrenewed, e.g. while the run was stopped)"
            )

    def keep_alive(self) -> None:
        """Renew from a background thread every ``ttl / 3`` seconds until released."""
        self._stop = threading.Event()

        def loop() -> None:
            assert self._stop is not None
            while not self._stop.wait(self.ttl / 3):
                try:
                    self.renew()
                except Exception:  # a dropped link: the next renewal tries again  # noqa: BLE001, S110
                    pass

        self._thread = threading.Thread(target=loop, name=f"lease-{self.target.name}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Give the lease back (only if still ours)."""
        if self._stop is not None:
            self._stop.set()
        try:
            self._run(self._fill(_RELEASE))
        except Exception:  # noqa: BLE001, S110
            pass  # it expires by itself


def lease_path(target: Target) -> str:
    return f"{target.workdir()}.lease"


def acquire(
    target: Target,
    *,
    wait: float = 300.0,
    ttl: int = 90,
    owner: str | None = None,
    poll: float = 2.0,
    on_wait: Callable[[str], None] | None = None,
) -> Lease:
    """Take the target's lease, waiting up to ``wait`` seconds for its holder."""
    owner = owner or default_owner()
    path = lease_path(target)
    lease = Lease(target, path, owner, ttl, "0")
    end = time.monotonic() + wait
    holder: dict[str, str] = {}
    parent = path.rsplit("/", 1)[0] or "/"
    while True:
        script = _ACQUIRE.format(
            lease=shell_command([path]),
            parent=shell_command([parent]),
            owner=shell_command([owner]),
            host=shell_command([socket.gethostname()]),
            pid=os.getpid(),
            ttl=ttl,
        )
        sent = time.monotonic()
        out = target.run(script, timeout=30).stdout_text
        last = out.strip().splitlines()[-1] if out.strip() else ""
        if last.startswith("ACQUIRED"):
            lease.start = last.split()[1]
            lease.renewed_at = sent
            return lease
        if not last.startswith("BUSY"):
            raise InfrastructureError(f"could not take lease {path} on {target.name}: unexpected answer {out!r}")
        info_text = out.strip().rsplit("\n", 1)[0] if "\n" in out.strip() else ""
        holder = _parse_info(info_text)
        now = int(last.split()[1])
        raw = holder.get("expiry", "").strip()
        if not raw.isdigit():  # garbage (or an info file being written): expired and corrupt, taken over
            if raw:
                _log.warning(
                    "lease %s/info on %s is corrupt (expiry=%r); taking it over as expired. Its content: %r",
                    path,
                    target.name,
                    raw,
                    info_text[:500],
                )
            target.run(lease._fill(_TAKEOVER), timeout=30)  # noqa: SLF001
            continue
        expiry = int(raw)
        if expiry < now:
            target.run(lease._fill(_TAKEOVER), timeout=30)  # noqa: SLF001
            continue
        if _holder_dead_here(holder):  # a run of this host that died (SIGKILL): no need to wait for the expiry
            _log.info("lease %s on %s: its holder %s is gone; taking it over", path, target.name, holder.get("owner"))
            dead = shell_command([holder.get("owner", "")])
            target.run(lease._fill(_TAKEOVER_DEAD).replace("{dead}", dead), timeout=30)  # noqa: SLF001
            continue
        if time.monotonic() >= end:
            raise InfrastructureError(
                f"target {target.name} is busy: lease {path} held by {holder.get('owner', '?')} "
                f"since {holder.get('start', '?')} (expires {expiry - now} s from now); "
                f"waited {wait:.0f} s"
            )
        if on_wait is not None:
            on_wait(f"target {target.name} busy (held by {holder.get('owner', '?')}), waiting")
        time.sleep(min(poll, max(0.0, end - time.monotonic())))

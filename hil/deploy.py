"""Per-test deployment folders on a target.

Each test gets a private folder (mode 0700) under the target's
``[qvm] workdir``, named ``hil-<host>-<pid>-<n>-<test>``; it is removed after
the test unless ``--hil-keep``.  Folders left by a dead run of this host
(its pytest process is gone) are cleaned up at session start, after killing
the qvm whose pid they recorded in ``qvm.pid``.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from hil.errors import InfrastructureError
from hil.targets.base import Target, shell_command

_counter = itertools.count(1)
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Deployment:
    """A private folder on a target and the files put there."""

    target: Target
    path: str
    keep: bool = False

    def remote(self, name: str) -> str:
        """The target path of ``name`` inside this folder."""
        return f"{self.path}/{name}"

    def put_file(self, local: Path, name: str | None = None, mode: int = 0o644) -> str:
        """Copy a host file into the folder; returns its target path."""
        remote = self.remote(name or local.name)
        try:
            self.target.put(local, remote, mode)
        except OSError as exc:
            raise InfrastructureError(f"deploying {local} to {self.target.name}:{remote} failed: {exc}") from exc
        return remote

    def cleanup(self) -> None:
        """Remove the folder (unless kept)."""
        if not self.keep:
            self.target.run(shell_command(["rm", "-rf", self.path]), timeout=30)


def create_deployment(target: Target, test_name: str, keep: bool = False) -> Deployment:
    """Make a fresh private folder for one test on ``target``."""
    workdir = target.definition.qvm.workdir
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:60]
    path = f"{workdir}/hil-{_HOST}-{os.getpid()}-{next(_counter)}-{name}"
    result = target.run(f"mkdir -p {shell_command([workdir])} && mkdir -m 700 {shell_command([path])}",
                        timeout=30)
    if result.exit_status != 0:
        raise InfrastructureError(
            f"cannot create deployment folder {path} on {target.name}: {result.stderr_text.strip()} "
            f"(check [qvm] workdir in {target.definition.source})")
    return Deployment(target, path, keep)


def cleanup_stale(target: Target) -> list[str]:
    """Kill qvms and remove folders that dead runs of this host left on ``target``.

    Returns the folders removed.  Folders of other hosts or of live runs are
    left alone (another run may be using the target; leases arbitrate that).
    """
    workdir = target.definition.qvm.workdir
    listing = target.run(f"ls -1 {shell_command([workdir])} 2>/dev/null", timeout=30)
    stale = []
    for entry in listing.stdout_text.split():
        match = re.fullmatch(r"hil-(.+)-(\d+)-\d+-.*", entry)
        if match and match.group(1) == _HOST and not _pid_alive(int(match.group(2))) \
                and int(match.group(2)) != os.getpid():
            stale.append(f"{workdir}/{entry}")
    for path in stale:
        pidfile = shell_command([f"{path}/qvm.pid"])
        target.run(f"[ -f {pidfile} ] && kill -KILL $(cat {pidfile}) 2>/dev/null; "
                   f"rm -rf {shell_command([path])}", timeout=30)
    return stale

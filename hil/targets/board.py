"""The ``board`` kind: a real QNX board (SSH, a serial console, optional power commands)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import ClassVar

from hil.core.deadline import Deadline
from hil.core.errors import ConfigError, ExpectTimeout, InfrastructureError
from hil.core.text import mask_secrets
from hil.links.console import Console
from hil.links.ssh import SshConfig, SshConnection
from hil.targets.base import GuestKind, Target, register
from hil.targets.definition import TargetDefinition
from hil.targets.lease import Lease, acquire
from hil.targets.remote import RemoteTarget


@register
class BoardTarget(RemoteTarget):
    """Attaches to a board: power it (if configured), watch its console, reach it over SSH."""

    kind = "board"
    guest_control: ClassVar[GuestKind] = "console"  # a real guest, driven through the serial console
    lease: Lease | None = None

    def power(self, action: str, timeout: float = 0.0) -> bool:
        """Run the ``[power] on|off|cycle`` host command; False when none is configured.

        It may take ``timeout`` seconds (0: ``[power] timeout``); its output goes to ``power.log``
        in the run's folder.  A command that fails or outlives its timeout (it is killed, with its
        process group) is an ``InfrastructureError`` naming the step."""
        command = getattr(self.definition.power, action)
        if not command:
            return False
        limit = timeout or self.definition.power.timeout
        log = self.run_dir / "power.log"
        shown = mask_secrets(command)  # never a password in a report, a log or the CLI's output
        with open(log, "ab") as out:
            out.write(f"$ {shown}   # power {action}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                command, shell=True, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
            try:
                status = proc.wait(limit)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # the command and what it started
                except ProcessLookupError:
                    pass
                proc.wait()
                out.write(f"# killed after {limit} s\n".encode())
                raise InfrastructureError(
                    f"board '{self.name}': step 'power {action}' timed out after {limit:g} s ([power] timeout in "
                    f"{self.definition.source}): {shown}; its output: {log}"
                ) from None
            out.write(f"# exit status {status}\n".encode())
        if status != 0:
            raise InfrastructureError(
                f"board '{self.name}': step 'power {action}' failed (exit status {status}): {shown}; its output: {log}"
            )
        return True

    #: The variant for a board without ``[ssh]`` (reached only by its console): set by
    #: ``hil.targets.serialboard`` when it is imported (``hil.targets`` imports it with this kind).
    serial_only: ClassVar[type[Target] | None] = None

    @classmethod
    def for_definition(cls, definition: TargetDefinition) -> type[Target]:
        """A board without ``[ssh]`` is reached only by its console: ``SerialBoardTarget``."""
        if definition.ssh is None:
            if BoardTarget.serial_only is None:
                raise ConfigError(
                    f"board '{definition.name}' has no [ssh]: a serial-only board needs hil.targets.serialboard "
                    "(make targets with hil.targets.make_target, which imports it)"
                )
            return BoardTarget.serial_only
        return cls

    def up(self, deadline: Deadline) -> None:
        d = self.definition
        try:
            self._power_up(deadline)
            self._connect(deadline)
            if d.lease.enabled:
                self.lease = acquire(self, wait=min(d.lease.wait, deadline.remaining()), ttl=d.lease.ttl)
                self.lease.keep_alive()
        except ConfigError as exc:
            self.down()
            raise ConfigError(str(exc), d.source) from exc
        except BaseException:
            self.down()
            raise

    def _power_up(self, deadline: Deadline) -> None:
        """Open the console (if any), switch the board on or cycle it, wait for ``[power] ready_regex``."""
        d = self.definition
        if d.console is not None:
            self.console = Console.for_url(
                d.console.url,
                d.console.baud,
                log_path=self.run_dir / "console.log",
                name=f"{self.name} console",
                fail_patterns=self.os.crash_banners,  # QNX: procnto's Shutdown[...] banner
            )
            self.console.start()
        mark = self.console.mark() if self.console is not None else None
        if (self.power("cycle") or self.power("on")) and self.console is not None and d.power.ready_regex:
            boot = deadline.child(d.power.boot_timeout).remaining()
            try:
                self.console.expect(d.power.ready_regex, boot, since=mark)
            except ExpectTimeout as exc:
                raise InfrastructureError(
                    f"board '{self.name}' did not come back after the power cycle: step 'wait for "
                    f"[power] ready_regex {d.power.ready_regex!r} on the console' timed out after {boot:.0f} s "
                    f"([power] boot_timeout); console log: {self.run_dir / 'console.log'}"
                ) from exc

    def _connect(self, deadline: Deadline) -> None:
        """Open the link commands and files go over: SSH."""
        d = self.definition
        assert d.ssh is not None  # validated with the definition
        config = SshConfig(
            host=d.ssh.host,
            port=d.ssh.port,
            user=d.ssh.user,
            key_path=d.ssh.key,  # type: ignore[arg-type]
            host_key=d.ssh.host_key,
            known_hosts=d.ssh.known_hosts,  # type: ignore[arg-type]
            connect_timeout=d.ssh.connect_timeout,
        )
        self.ssh = SshConnection(config, name=self.name)
        self.ssh.connect(deadline)

    def down(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        self._close_links()

    def _guard(self, what: str) -> None:
        if self.lease is not None:
            self.lease.check(f"board '{self.name}': {what}")

    def _checked(self, what: str, exc: Exception) -> Exception:
        if self.lease is not None and self.lease.lost:
            return InfrastructureError(f"{self.lease.lost} ({what} failed: {exc})")
        return exc

    def healthy(self) -> bool:
        return (self.lease is None or not self.lease.lost) and super().healthy()

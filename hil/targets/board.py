"""The ``board`` kind: a real QNX board (SSH, a serial console, optional power commands)."""

from __future__ import annotations

import subprocess

from hil.core.deadline import Deadline
from hil.core.errors import ConfigError, InfrastructureError
from hil.links.console import Console
from hil.links.ssh import SshConfig, SshConnection
from hil.targets.base import register
from hil.targets.lease import Lease, acquire
from hil.targets.remote import RemoteTarget


@register
class BoardTarget(RemoteTarget):
    """Attaches to a board: power it (if configured), watch its console, reach it over SSH."""

    kind = "board"
    guest_control = "console"  # a real guest, driven through the serial console
    lease: Lease | None = None

    def power(self, action: str, timeout: float = 60.0) -> bool:
        """Run the ``[power] on|off|cycle`` host command; False when none is configured."""
        command = getattr(self.definition.power, action)
        if not command:
            return False
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise InfrastructureError(
                f"power {action} of board '{self.name}' failed ({done.returncode}): {command}: {done.stderr.strip()}"
            )
        return True

    def up(self, deadline: Deadline) -> None:
        d = self.definition
        assert d.ssh is not None  # validated with the definition
        try:
            if d.console is not None:
                self.console = Console.for_url(
                    d.console.url, d.console.baud, log_path=self.run_dir / "console.log", name=f"{self.name} console"
                )
                self.console.start()
            mark = self.console.mark() if self.console is not None else None
            if (self.power("cycle") or self.power("on")) and self.console is not None and d.power.ready_regex:
                self.console.expect(d.power.ready_regex, deadline.child(d.power.boot_timeout).remaining(), since=mark)
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
            if d.lease.enabled:
                self.lease = acquire(self, wait=min(d.lease.wait, deadline.remaining()), ttl=d.lease.ttl)
                self.lease.keep_alive()
        except ConfigError as exc:
            self.down()
            raise ConfigError(str(exc), d.source) from exc
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        self._close_links()

    def _checked(self, what: str, exc: Exception) -> Exception:
        if self.lease is not None and self.lease.lost:
            return InfrastructureError(f"{self.lease.lost} ({what} failed: {exc})")
        return exc

    def healthy(self) -> bool:
        return (self.lease is None or not self.lease.lost) and super().healthy()

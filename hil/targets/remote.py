"""What the ``qemu`` and ``board`` kinds share: a shell over SSH and a serial console."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from hil.core.command import CommandResult
from hil.core.errors import InfrastructureError
from hil.targets.base import OutputCallback, Target

if TYPE_CHECKING:  # annotations only: importing this module does not load paramiko or pyserial
    from hil.links.console import Console
    from hil.links.ssh import RemoteProcess, SshConnection

#: Console lines that end a test at once, whatever it is waiting for, on a Linux target; each
#: target watches its own OS's (``Target.os.crash_banners``: QNX's ``Shutdown[...]`` banner).


class CommandLink(Protocol):
    """What a remote target's commands and files go over: SSH (``SshConnection``), or a shell on its
    console (``hil.links.consoleshell.ConsoleShell``, a serial-only board)."""

    def run(
        self,
        command: str | Sequence[str],
        timeout: float | None = None,
        *,
        stdin: bytes | None = None,
        check: bool = False,
    ) -> CommandResult: ...

    def put(self, local: Path, remote: str, mode: int | None = None) -> None: ...

    def get(self, remote: str, local: Path) -> None: ...


class RemoteTarget(Target):
    """A target reached over SSH (``self.ssh``) and watched on a serial console (``self.console``)."""

    ssh: SshConnection | None = None
    console: Console | None = None
    lazy_deployments: ClassVar[bool] = True  # each operation below makes the waiting folders first
    reached_over_link: ClassVar[bool] = True

    def _made(self) -> None:
        """Make the deployment folders waiting for this target's next command (``hil.targets.deploy``)."""
        from hil.targets.deploy import flush_setups

        flush_setups(self)

    def _connection(self) -> SshConnection:
        if self.ssh is None:
            raise InfrastructureError(f"target '{self.name}' is not up (no SSH connection)")
        return self.ssh

    def _link(self) -> CommandLink:
        """The link ``run``, ``put`` and ``get`` go over: SSH here (a serial-only board: its console's shell)."""
        return self._connection()

    def _guard(self, what: str) -> None:
        """Refuse an operation before it starts (hook for subclasses: a board's lost lease)."""

    def _checked(self, what: str, exc: Exception) -> Exception:
        """Say why an SSH operation failed when the target itself is gone (hook for subclasses)."""
        return exc

    def explain(self, what: str, exc: Exception) -> Exception:
        return self._checked(what, exc)

    def run(
        self,
        command: str | Sequence[str],
        timeout: float | None = None,
        *,
        stdin: bytes | None = None,
        check: bool = False,
    ) -> CommandResult:
        self._guard("running a command")
        try:
            self._made()
            return self._link().run(command, timeout, stdin=stdin, check=check)
        except InfrastructureError as exc:
            raise self._checked("running a command", exc) from exc

    def start(self, command: str | Sequence[str], *, on_output: OutputCallback | None = None) -> RemoteProcess:
        self._guard("starting a program")
        try:
            self._made()
            return self._connection().start(command, on_output=on_output)
        except InfrastructureError as exc:
            raise self._checked("starting a program", exc) from exc

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        self._guard(f"copying {local.name} to the target")
        try:
            self._made()
            self._link().put(local, remote, mode)
        except InfrastructureError as exc:
            raise self._checked("copying a file", exc) from exc

    def get(self, remote: str, local: Path) -> None:
        self._guard(f"copying {remote} from the target")
        try:
            self._made()
            self._link().get(remote, local)
        except InfrastructureError as exc:
            raise self._checked("copying a file", exc) from exc

    def _close_links(self) -> None:
        from hil.targets.deploy import forget_target

        forget_target(self)  # its vdev cache and unmade folders go with the link
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None
        if self.console is not None:
            self.console.close()
            self.console = None

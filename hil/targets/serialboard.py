"""A serial-only board: a ``board`` definition with a ``[console]`` and no ``[ssh]``.

A board in bring-up, or a production image without sshd, is reachable only by
its console (a serial port, ``rfc2217://``, ``socket://``).  This kind is the
``board`` kind (power commands, the console's death strings, the lease) with its
link swapped: commands, files and long-running programs go through a shell on
the console (``hil.links.consoleshell``: framed commands, base64 or
printf/``od`` transfers checked by ``md5sum``/``cksum``; ``hil.links.consoleprocess``:
programs in the background, their output and status read back from files).
So deployment, qvm runs and the HIL suite work unchanged.

The console carries that shell, so it cannot also take a real guest's
commands: the guest of a serial-only board is driven through qvm's standard
input (``[guest] control = "scripted"``, the default here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError, SetupError
from hil.links.consoleprocess import ConsoleProcess
from hil.links.consoleshell import ConsoleShell
from hil.targets.base import GuestKind, OutputCallback
from hil.targets.board import BoardTarget

#: Seconds to get a shell prompt on the console once the board is up.
ATTACH_TIMEOUT = 30.0


class SerialBoardTarget(BoardTarget):
    """A board reached only through its serial console (``BoardTarget.for_definition`` picks it)."""

    guest_control: ClassVar[GuestKind] = "scripted"
    lazy_deployments: ClassVar[bool] = False  # its start (below) makes no waiting folder
    shell: ConsoleShell | None = None
    _processes: list[ConsoleProcess] | None = None

    def _connect(self, deadline: Deadline) -> None:
        if self.console is None:  # validated with the definition
            raise SetupError(f"board '{self.name}' has neither [ssh] nor [console]: {self.definition.source}")
        workdir = f"{self.definition.qvm.workdir.rstrip('/')}/.console"
        self.shell = ConsoleShell(
            self.console, workdir, name=f"board '{self.name}' console shell", numbering=self.os.name
        )
        self.shell.attach(min(ATTACH_TIMEOUT, max(1.0, deadline.remaining())))

    def _link(self) -> ConsoleShell:
        """Commands and files (``run``, ``put``, ``get``: ``RemoteTarget``'s) go over the console's shell."""
        if self.shell is None or not self.shell.attached:
            raise InfrastructureError(f"target '{self.name}' is not up (no shell on its console)")
        return self.shell

    def start(self, command: str | Sequence[str], *, on_output: OutputCallback | None = None) -> ConsoleProcess:  # type: ignore[override]
        from hil.core.command import shell_command

        self._guard("starting a program")
        try:
            process = ConsoleProcess(self._link(), shell_command(command), on_output)
        except InfrastructureError as exc:
            raise self._checked("starting a program", exc) from exc
        if self._processes is None:
            self._processes = []
        self._processes = [p for p in self._processes if p.poll() is None] + [process]
        return process

    def _close_links(self) -> None:
        for process in self._processes or ():
            process.stop_polling()
        self._processes = None
        if self.shell is not None:
            self.shell.close()
            self.shell = None
        super()._close_links()


BoardTarget.serial_only = SerialBoardTarget

"""Driving the guest of a running qvm, the same way on every target.

On ``local`` and ``qemu`` the guest is qvmsim's scripted guest, driven by
lines on qvm's standard input.  On a board the guest is real: it is driven
through the serial console with the commands of the definition's ``[guest]``
table.  Tests only see ``GuestControl``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from hil.errors import ConfigError, InfrastructureError

if TYPE_CHECKING:
    from hil.qvm.runner import QvmSession
    from hil.targets.base import Target


class GuestControl(Protocol):
    """What a test can ask of the guest."""

    def send(self, command: str) -> None:
        """Send one guest-console command."""

    def kick_every(self, seconds: float) -> None:
        """Start kicking the watchdog every ``seconds``."""

    def stop_kicking(self) -> None:
        """Stop kicking: the watchdog will starve."""

    def shutdown(self) -> None:
        """Ask the guest to shut down."""

    def sleep(self, seconds: float) -> None:
        """Let the guest run on for ``seconds`` before the next command takes effect."""


class ScriptedGuest:
    """qvmsim's scripted guest: commands on qvm's stdin (see README, "Guest scripts")."""

    def __init__(self, target: "Target", session: "QvmSession") -> None:
        self.session = session

    def send(self, command: str) -> None:
        self.session.send(command)

    def kick_every(self, seconds: float) -> None:
        self.send(f"every {max(1, round(seconds * 1000))} kick")

    def stop_kicking(self) -> None:
        self.send("stop all")

    def shutdown(self) -> None:
        self.send("shutdown")

    def sleep(self, seconds: float) -> None:
        # Timed by qvmsim's own clock: the console stream waits, this call returns at once.
        self.send(f"sleep {max(0, round(seconds * 1000))}")


class ConsoleGuest:
    """A real guest on a board, driven through the serial console."""

    def __init__(self, target: "Target", session: "QvmSession") -> None:
        self.target = target
        self.commands = target.definition.guest

    def _command(self, key: str) -> str:
        command = getattr(self.commands, key)
        if command is None:
            raise ConfigError(f"no guest command configured for '{key}'; set it in the [guest] table",
                              self.target.definition.source, f"guest.{key}")
        return str(command)

    def send(self, command: str) -> None:
        if self.target.console is None:
            raise InfrastructureError(f"target '{self.target.name}' has no console to drive its guest")
        self.target.console.sendline(command)

    def kick_every(self, seconds: float) -> None:
        self.send(self._command("start_kicking").replace("{interval_ms}", str(round(seconds * 1000))))

    def stop_kicking(self) -> None:
        self.send(self._command("stop_kicking"))

    def shutdown(self) -> None:
        self.send(self._command("shutdown"))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


GUESTS: dict[str, type] = {"local": ScriptedGuest, "qemu": ScriptedGuest, "board": ConsoleGuest}


def guest_for(target: "Target", session: "QvmSession") -> GuestControl:
    """The guest control that fits the target's kind."""
    control: GuestControl = GUESTS[target.kind](target, session)
    return control

"""Driving the guest of a running qvm, the same way on every target.

Each target kind declares its guest (``Target.guest_control``): on ``local``
and ``qemu`` it is qvmsim's scripted guest, driven by lines on qvm's standard
input; on a board it is real, driven through the serial console with the
commands of the definition's ``[guest]`` table.  Tests only see ``GuestControl``.
"""

from __future__ import annotations

import re
import time
import warnings
from typing import TYPE_CHECKING, Literal, Protocol, overload

from hil.core.errors import ConfigError, InfrastructureError
from hil.qvm.log import normalize_intr

#: Seconds a command with an answer (load, dump, irq count/wait) waits for it
#: beyond its own timeout.
ANSWER_WAIT = 10.0

if TYPE_CHECKING:
    from hil.targets.base import GuestKind, Target


class QvmChannel(Protocol):
    """What a guest control needs of the running qvm (``hil.qvmrun.runner.QvmSession`` is one): its
    stdin and its guest console.  A protocol, so this module does not import the runner that uses it."""

    def send(self, line: str) -> None:
        """A line on qvm's stdin."""

    @property
    def stdout_end(self) -> int:
        """Characters of guest console so far, from its start."""

    def stdout_since(self, mark: int) -> str:
        """The guest console from offset ``mark`` on."""

    def wait_stdout(self, pattern: str, timeout: float = 10.0, since: int = 0) -> re.Match[str]:
        """Wait until the guest console (from ``since`` on) matches ``pattern``."""


def _sleep_is_deprecated() -> None:
    warnings.warn(
        "GuestControl.sleep() is deprecated: use guest.wait(seconds) (the same: blocks the test; "
        "guest.script_sleep(seconds) queues a pause in the guest instead)",
        DeprecationWarning,
        stacklevel=3,
    )


class GuestControl(Protocol):
    """What a test can ask of the guest."""

    def send(self, command: str) -> None:
        """Send one guest-console command."""

    def kick_every(self, seconds: float, vdev: str | None = None) -> None:
        """Start kicking the watchdog every ``seconds``: the vdev instance named ``vdev`` (its
        ``name``, or the vdev's own name), else qvmsim's default (the first whose name has
        ``wdog`` or ``wdt``); returns at once."""

    def stop_kicking(self) -> None:
        """Stop kicking: the watchdog will starve."""

    def shutdown(self) -> None:
        """Ask the guest to shut down."""

    def wait(self, seconds: float) -> None:
        """Block the test for ``seconds`` while qvm and its guest run on (a test-side wait)."""

    def sleep(self, seconds: float) -> None:
        """Deprecated: ``wait`` (one name per thing; a DeprecationWarning says so)."""

    def script_sleep(self, seconds: float) -> None:
        """Queue a guest-side pause: returns at once; the guest's next command takes effect
        ``seconds`` later, on qvm's own clock (a board's guest: the test waits instead)."""

    def wait_irq(self, intr: str, timeout: float | None = None) -> int | None:
        """Wait until the guest interrupt ``intr`` (``"gic:33"``) is pending; return its count,
        or None when ``timeout`` seconds passed first (guest time)."""

    def irq_count(self, intr: str) -> int:
        """How many times ``intr`` was asserted so far."""

    def irq_ack(self, intr: str) -> None:
        """Forget pending assertions of ``intr``: the next ``wait_irq`` waits for a new one."""

    def store(self, addr: int, size: int, value: int, *, done: bool = False) -> None:
        """A guest store of ``size`` bytes (1, 2, 4, 8) at guest-physical ``addr`` (RAM or a vdev).

        ``done=False`` (the default): returns once the store is *sent* (it happens after the commands
        sent before it, soon, while the test goes on); ``done=True``: returns once the guest has
        *done* it (the vdev's ``vwrite`` has returned)."""

    @overload
    def load(self, addr: int, size: int, *, done: Literal[True] = ...) -> int: ...

    @overload
    def load(self, addr: int, size: int, *, done: Literal[False]) -> None: ...

    def load(self, addr: int, size: int, *, done: bool = True) -> int | None:
        """A guest load.  ``done=True`` (the default): returns the value once the guest has *done* it;
        ``done=False``: returns ``None`` once it is *sent* (its answer, ``ADDR: 0xVALUE``, shows on
        the guest console)."""

    def fill(self, addr: int, length: int, byte: int) -> None:
        """Set ``length`` bytes of guest RAM at ``addr`` to ``byte``."""

    def dump(self, addr: int, length: int) -> bytes:
        """``length`` bytes of guest RAM at ``addr``."""


class ScriptedGuest:
    """qvmsim's scripted guest: commands on qvm's stdin (see README, "Guest scripts")."""

    def __init__(self, target: Target, session: QvmChannel) -> None:
        self._markers = 0  # store(done=True) markers so far
        self.session = session

    def send(self, command: str) -> None:
        self.session.send(command)

    def kick_every(self, seconds: float, vdev: str | None = None) -> None:
        self.send(f"every {max(1, round(seconds * 1000))} kick" + (f" {vdev}" if vdev else ""))

    def stop_kicking(self) -> None:
        self.send("stop all")

    def shutdown(self) -> None:
        self.send("shutdown")

    def wait(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def sleep(self, seconds: float) -> None:
        _sleep_is_deprecated()
        self.wait(seconds)

    def script_sleep(self, seconds: float) -> None:
        # Timed by qvmsim's own clock: the console stream waits, this call returns at once.
        self.send(f"sleep {max(0, round(seconds * 1000))}")

    # Commands with an answer wait for it on the guest console, after the
    # commands sent before them (the console stream runs in order).
    def _ask(self, command: str, pattern: str, wait: float) -> re.Match[str]:
        __tracebackhide__ = True
        mark = self.session.stdout_end
        self.send(command)
        return self.session.wait_stdout(pattern, timeout=wait, since=mark)

    def wait_irq(self, intr: str, timeout: float | None = None, wait: float = ANSWER_WAIT) -> int | None:
        name = normalize_intr(intr)
        command = f"irq wait {name}" + (f" {max(0, round(timeout * 1000))}" if timeout is not None else "")
        m = self._ask(command, rf"(?m)^irq {re.escape(name)} (timeout )?count=(\d+)$", wait + (timeout or 0.0))
        return None if m[1] else int(m[2])

    def irq_count(self, intr: str, wait: float = ANSWER_WAIT) -> int:
        name = normalize_intr(intr)
        return int(self._ask(f"irq count {name}", rf"(?m)^irq {re.escape(name)} count=(\d+)$", wait)[1])

    def irq_ack(self, intr: str) -> None:
        self.send(f"irq ack {normalize_intr(intr)}")

    def store(self, addr: int, size: int, value: int, *, done: bool = False, wait: float = ANSWER_WAIT) -> None:
        self.send(f"write {addr:#x} {size} {value:#x}")
        if done:  # the console stream runs in order: the marker prints once the store has been done
            self._markers += 1
            marker = f"hil-store-done-{self._markers}-{addr:#x}"
            self._ask(f"print {marker}", rf"(?m)^{re.escape(marker)}$", wait)

    @overload
    def load(self, addr: int, size: int, wait: float = ..., *, done: Literal[True] = ...) -> int: ...

    @overload
    def load(self, addr: int, size: int, wait: float = ..., *, done: Literal[False]) -> None: ...

    def load(self, addr: int, size: int, wait: float = ANSWER_WAIT, *, done: bool = True) -> int | None:
        if not done:
            self.send(f"read {addr:#x} {size}")
            return None
        m = self._ask(f"read {addr:#x} {size}", rf"(?m)^{addr:#x}: 0x([0-9a-f]+)$", wait)
        return int(m[1], 16)

    def fill(self, addr: int, length: int, byte: int) -> None:
        self.send(f"fill {addr:#x} {length} {byte:#x}")

    def dump(self, addr: int, length: int, wait: float = ANSWER_WAIT) -> bytes:
        last = addr + (length - 1) // 16 * 16
        mark = self.session.stdout_end
        self.send(f"dump {addr:#x} {length}")
        self.session.wait_stdout(rf"(?m)^dump {last:#x}:.*$", timeout=wait, since=mark)
        text = self.session.stdout_since(mark)
        out = bytearray()
        for line_addr in range(addr, addr + length, 16):
            m = re.search(rf"(?m)^dump {line_addr:#x}:((?: [0-9a-f]{{2}})+)$", text)
            if m is None:
                raise AssertionError(f"guest dump line for {line_addr:#x} missing:\n{text}")
            out.extend(bytes.fromhex(m[1]))
        return bytes(out)


class ConsoleGuest:
    """A real guest on a board, driven through the serial console."""

    def __init__(self, target: Target, session: QvmChannel) -> None:
        self.target = target
        self.commands = target.definition.guest

    def _command(self, key: str) -> str:
        command = getattr(self.commands, key)
        if command is None:
            raise ConfigError(
                f"no guest command configured for '{key}'; set it in the [guest] table",
                self.target.definition.source,
                f"guest.{key}",
            )
        return str(command)

    def send(self, command: str) -> None:
        if self.target.console is None:
            raise InfrastructureError(f"target '{self.target.name}' has no console to drive its guest")
        self.target.console.sendline(command)

    def kick_every(self, seconds: float, vdev: str | None = None) -> None:
        command = self._command("start_kicking").replace("{interval_ms}", str(round(seconds * 1000)))
        self.send(command.replace("{vdev}", vdev or ""))

    def stop_kicking(self) -> None:
        self.send(self._command("stop_kicking"))

    def shutdown(self) -> None:
        self.send(self._command("shutdown"))

    def wait(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def sleep(self, seconds: float) -> None:
        _sleep_is_deprecated()
        self.wait(seconds)

    def script_sleep(self, seconds: float) -> None:
        self.wait(seconds)  # a real guest's console cannot queue a pause: the test waits

    def _unsupported(self, what: str) -> InfrastructureError:
        return InfrastructureError(
            f"target '{self.target.name}': a real guest cannot be asked to {what} "
            "through the console (only qvmsim's scripted guest can); "
            "check the vdev's interrupt or memory from the qvm log instead"
        )

    def wait_irq(self, intr: str, timeout: float | None = None) -> int | None:
        raise self._unsupported(f"wait for interrupt {intr}")

    def irq_count(self, intr: str) -> int:
        raise self._unsupported(f"count interrupt {intr}")

    def irq_ack(self, intr: str) -> None:
        raise self._unsupported(f"acknowledge interrupt {intr}")

    def store(self, addr: int, size: int, value: int, *, done: bool = False) -> None:
        raise self._unsupported(f"store at {addr:#x}")

    @overload
    def load(self, addr: int, size: int, *, done: Literal[True] = ...) -> int: ...

    @overload
    def load(self, addr: int, size: int, *, done: Literal[False]) -> None: ...

    def load(self, addr: int, size: int, *, done: bool = True) -> int | None:
        raise self._unsupported(f"load from {addr:#x}")

    def fill(self, addr: int, length: int, byte: int) -> None:
        raise self._unsupported(f"fill RAM at {addr:#x}")

    def dump(self, addr: int, length: int) -> bytes:
        raise self._unsupported(f"dump RAM at {addr:#x}")


#: The guest control for each ``Target.guest_control``.
GUESTS: dict[GuestKind, type[ScriptedGuest] | type[ConsoleGuest]] = {"scripted": ScriptedGuest, "console": ConsoleGuest}


def guest_for(target: Target, session: QvmChannel) -> GuestControl:
    """The guest control the target's definition chooses (``[guest] control``), else the one its
    kind declares (``Target.guest_control``)."""
    control: GuestControl = GUESTS[target.definition.guest.control or target.guest_control](target, session)
    return control

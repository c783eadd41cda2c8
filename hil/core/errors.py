"""The failure vocabulary of qnx-hil.

Three kinds of trouble, after LAVA:

* ``InfrastructureError``: the lab failed (target unreachable, QEMU died, SSH
  dropped, console gone, lease not obtained).  Never a vdev's fault; reported
  as a test *error*, and the target is reset before the next test.
* ``SetupError``: the input was wrong (bad target definition, bad .qvmconf,
  compile error).  Also a test *error*: the test could not be set up.
* ``DeviceFailure`` (an ``AssertionError``), and anything else: the device
  under test misbehaved, a test *failure*.

One name per kind of trouble, whatever the target kind or link:

* ``CommandFailed``: a command run with ``check=True`` exited non-zero or was
  killed (``result`` holds its output), on every target kind;
* ``CommandTimeout``: a command outlived its timeout and was killed (``partial``
  holds its output so far);
* ``ExpectTimeout``: something expected never appeared (a console pattern, a
  qvm log line, a program's output); the message has the tail of what did
  appear and where the full log is;
* ``FailPatternSeen``: a death string appeared;
* ``WaitTimeout``: a wait for a process's end ran out while it still runs (also
  a ``TimeoutError``, so ``except TimeoutError`` keeps working); the caller
  decides what that means (qvm's runner escalates to signals).

Every message says what went wrong, where, and how to fix it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hil.core.text import tail_chars

if TYPE_CHECKING:
    from hil.core.command import CommandResult


class HilError(Exception):
    """Base of every error qnx-hil raises on purpose."""


class InfrastructureError(HilError):
    """The lab failed: not the vdev's fault."""


class SetupError(HilError):
    """The test could not be set up because an input is wrong."""


class ConfigError(SetupError):
    """A definition file or option is invalid.

    ``source`` names the file (or option) and ``key`` the offending key, so the
    message can say exactly where to look.
    """

    def __init__(self, message: str, source: str | None = None, key: str | None = None) -> None:
        where = ""
        if source and key:
            where = f"{source}: key '{key}': "
        elif source:
            where = f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.key = key
        self.detail = message


class TransportClosed(InfrastructureError):
    """A transport (serial port, socket, SSH channel) went away."""


class DeviceFailure(HilError, AssertionError):
    """The device under test did not do what the test expected: a test *failure*."""


class ExpectTimeout(DeviceFailure):
    """A pattern did not appear in time: the device did not do what was expected."""


class FailPatternSeen(DeviceFailure):
    """A registered fail pattern ("death string") appeared in a stream."""


class CommandFailed(DeviceFailure):
    """``run(..., check=True)``: the command exited non-zero or was killed; ``result`` holds its output."""

    def __init__(self, message: str, result: CommandResult) -> None:
        super().__init__(message)
        self.result = result

    @classmethod
    def of(cls, result: CommandResult, where: str) -> CommandFailed:
        """The error for ``result`` of a command run on ``where`` (the same message on every target kind)."""
        from hil.core.signals import signal_name  # "KILL" over SSH, "SIGKILL" locally: one spelling

        how = f"was killed by {signal_name(result.signal)}" if result.signal else f"exited {result.exit_status}"
        return cls(
            f"command on {where} {how}: {result.command}\n--- stderr:\n{tail_chars(result.stderr)}"
            f"\n--- stdout:\n{tail_chars(result.stdout)}",
            result,
        )


class CommandTimeout(DeviceFailure):
    """A command outlived its timeout; ``partial`` holds what it printed until it was killed."""

    def __init__(self, message: str, partial: CommandResult | None = None) -> None:
        super().__init__(message)
        self.partial = partial


class WaitTimeout(HilError, TimeoutError):
    """A wait for a process's end ran out: it still runs (``except TimeoutError`` catches it too)."""

"""The outcome of a command run on a target, whatever ran it (SSH, a local shell), and the one quoting rule.

This module depends on nothing else of ``hil``: the errors about a command
(``CommandFailed``, ``CommandTimeout``) live with the rest of the failure
vocabulary in ``hil.core.errors``, which imports ``CommandResult`` from here.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CommandResult", "shell_command"]


def shell_command(command: str | Sequence[str]) -> str:
    """A command line for POSIX sh/ksh (QNX boards run ksh): a string as is, a sequence
    quoted word by word."""
    if isinstance(command, str):
        return command
    words = [str(word) for word in command]
    if not words:
        raise ValueError("empty command")
    return " ".join(shlex.quote(word) for word in words)


@dataclass(frozen=True)
class CommandResult:
    """Exit status (``None`` when killed by a signal), signal name, output bytes, duration."""

    command: str
    exit_status: int | None
    signal: str | None
    stdout: bytes
    stderr: bytes
    duration: float

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

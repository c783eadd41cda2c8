"""Nested deadlines: a step never gets more time than its parent has left."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    """A point in monotonic time by which something must be done.

    ``Deadline.after(10).child(30).remaining()`` is at most 10: a child never
    outlives its parent.
    """

    at: float
    what: str = "operation"
    parent: Deadline | None = field(default=None, repr=False, compare=False)

    @classmethod
    def after(cls, seconds: float | None, what: str = "operation") -> Deadline:
        """A deadline ``seconds`` from now (``None``: no limit)."""
        at = float("inf") if seconds is None else time.monotonic() + seconds
        return cls(at, what)

    def child(self, seconds: float | None, what: str | None = None) -> Deadline:
        """A deadline for a sub-step: the earlier of ``seconds`` from now and this one."""
        mine = float("inf") if seconds is None else time.monotonic() + seconds
        return Deadline(min(mine, self.at), what or self.what, self)

    def remaining(self) -> float:
        """Seconds left, never negative (``inf`` for no limit)."""
        return max(0.0, self.at - time.monotonic())

    def timeout(self) -> float | None:
        """``remaining()`` as a timeout argument: ``None`` for no limit."""
        left = self.remaining()
        return None if left == float("inf") else left

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

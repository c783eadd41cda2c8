"""Cancellation: a run told to stop (SIGTERM from a cancelled CI job, SIGINT from Ctrl-C) stops.

One flag per process, set by the signal handler before it raises
``Cancelled`` (a ``KeyboardInterrupt``) into the main thread.  Whatever fails
while the run is being cancelled (an SSH link whose VM was stopped, a qvm that
could not be signalled) is part of the cancellation, never an infrastructure
error to retry: callers ask ``requested()`` before classifying or retrying.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_reason: str | None = None
_lock = threading.Lock()


class Cancelled(KeyboardInterrupt):
    """The run was cancelled (SIGTERM or SIGINT); it ends as interrupted, never retried."""


def request(reason: str) -> None:
    """Mark the run cancelled (the first reason wins)."""
    global _reason
    with _lock:
        if _reason is None:
            _reason = reason


def requested() -> str | None:
    """Why the run was cancelled (``"SIGTERM"``, ``"SIGINT"``...), or ``None``."""
    return _reason


def reset() -> None:
    """Forget a cancellation (for tests of this module only)."""
    global _reason
    with _lock:
        _reason = None


def _handler(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    first = requested() is None
    request(name)
    if first:  # a second signal while tearing down must not cut the teardown short
        raise Cancelled(f"cancelled by {name}")


def install(signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Make ``signals`` cancel the run, where they still have their default behaviour (SIGINT: Python's
    KeyboardInterrupt).  Only the main thread may set handlers: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in signals:
        current = signal.getsignal(sig)
        if current in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _handler)

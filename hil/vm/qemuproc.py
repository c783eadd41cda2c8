"""QEMU processes that are never orphaned: how they are spawned, kept track of, stopped, and told from a reused pid.

With ``die_with_parent`` the child gets ``PR_SET_PDEATHSIG(SIGKILL)``; it is
forked from a long-lived daemon thread, because the signal fires when the
*thread* that forked exits, not the process.  Owned machines (``own``) are also
stopped from ``atexit`` and on SIGTERM.  Without it, QEMU runs in its own
session (``hil target up``) and is stopped by pid (``stop_pid``), checked
against its pid file's path on its command line.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from hil.core.errors import SetupError


class Stoppable(Protocol):
    """What is stopped at exit and on SIGTERM: a running machine."""

    def stop(self, timeout: float = ...) -> None: ...


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


class _Spawner:
    """A daemon thread that lives as long as the process and forks every QEMU.

    PR_SET_PDEATHSIG fires when the forking *thread* exits: forking from a
    short-lived worker thread would kill QEMU with it.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="hil-qemu-spawner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            fn, future = self._jobs.get()
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def call(self, fn: Callable[[], Any]) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future.result()


_spawner: _Spawner | None = None
_owned: set[Stoppable] = set()
_owned_lock = threading.RLock()  # re-entered by the SIGTERM handler on the main thread
_atexit_registered = False
_sigterm_installed = False
_previous_sigterm: Any = None


def _get_spawner() -> _Spawner:
    global _spawner
    with _owned_lock:
        if _spawner is None:
            _spawner = _Spawner()
        return _spawner


def _stop_owned() -> None:
    with _owned_lock:
        machines = list(_owned)
    for machine in machines:
        try:
            machine.stop(timeout=2.0)
        except Exception:  # noqa: BLE001, S110 - best effort at exit
            pass


def _on_sigterm(signum: int, frame: Any) -> None:
    previous = _previous_sigterm
    if callable(previous):
        # The process ends its own way (pytest's cancellation tears the test down, then stops its
        # QEMU in order, atexit at the latest): QEMU is not pulled from under a test still using it.
        previous(signum, frame)
        return
    _stop_owned()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_handlers() -> None:
    """atexit once; a SIGTERM handler (chaining to the one before it) the first time this runs on
    the main thread, unless SIGTERM is ignored.  Signal handlers can only be set from there."""
    global _atexit_registered, _sigterm_installed, _previous_sigterm
    with _owned_lock:
        if not _atexit_registered:
            _atexit_registered = True
            atexit.register(_stop_owned)
        if _sigterm_installed or threading.current_thread() is not threading.main_thread():
            return
        _sigterm_installed = True
        previous = signal.getsignal(signal.SIGTERM)
        if previous is not signal.SIG_IGN:
            _previous_sigterm = previous
            signal.signal(signal.SIGTERM, _on_sigterm)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def own(machine: Stoppable) -> None:
    """Stop ``machine`` at exit and on SIGTERM (until ``disown``)."""
    with _owned_lock:
        _owned.add(machine)
    _install_handlers()


def disown(machine: Stoppable) -> None:
    with _owned_lock:
        _owned.discard(machine)


def spawn(argv: list[str], fds: tuple[int, ...], stderr: Any, die_with_parent: bool) -> subprocess.Popen[bytes]:
    """Start ``argv`` (passing ``fds``, output to ``stderr``): dying with this process, or in its own session."""

    def launch() -> subprocess.Popen[bytes]:
        try:
            if die_with_parent:
                return subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                    pass_fds=fds,
                    process_group=0,
                    preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509
                )
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                pass_fds=fds,
                start_new_session=True,
            )
        except OSError as exc:
            raise SetupError(
                f"cannot run {argv[0]}: {exc}; install qemu-system-x86 "
                f"(apt-get install --no-install-recommends qemu-system-x86)"
            ) from exc

    if die_with_parent:
        proc: subprocess.Popen[bytes] = _get_spawner().call(launch)
        return proc
    return launch()


def stop_pid(pid: int, pidfile: Path, timeout: float) -> None:
    """Stop the QEMU ``pid`` started with ``pidfile`` (not our child): SIGTERM, then SIGKILL after ``timeout``."""
    if pid and is_our_qemu(pid, pidfile):
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            until = time.monotonic() + wait
            while time.monotonic() < until:
                if process_state(pid) in (None, "Z", "X"):  # gone, or dead and awaiting its reaper
                    return
                time.sleep(0.02)


def process_state(pid: int) -> str | None:
    """The state letter of ``pid`` from /proc (``R``, ``S``, ``Z``...), ``None`` when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return None


def is_our_qemu(pid: int, pidfile: Path) -> bool:
    """True when ``pid`` is a live QEMU started with ``pidfile`` (guards against pid reuse).

    An exiting process has an empty command line: it no longer counts as ours.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return process_state(pid) not in (None, "Z", "X") and str(pidfile).encode() in cmdline

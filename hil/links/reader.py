"""The reader of a console: moves bytes from a ``Transport`` into a ``Capture``, reconnects, writes.

A background thread reads the transport and feeds the capture.  An ``expect``
that is waiting reads the transport itself instead (``await_data``): the data it
waits for is received, captured, logged and searched in its own thread, with no
hand-over between threads, so a round trip costs little more than the bare
transport's (``bench/bench_console.py``).  The thread stands aside while any
expect waits and for ``READER_PAUSE`` after the last one returns (the next one
usually follows at once), and is woken when a waiting expect's read failed (it
then reconnects or ends the console) or on ``stop()``.

On a dropped transport it keeps reopening it (0.05 s backoff rising to 1 s)
until ``stop()``, with a note such as ``[hil: console lost at ..., reconnected
after 1.23 s]`` in the log (never in what is matched).
"""

from __future__ import annotations

import threading
import time

from hil.core.errors import InfrastructureError, SetupError, TransportClosed
from hil.links.capture import Capture, utc
from hil.links.transports import Transport

__all__ = ["Reader"]


class Reader:
    """Reads ``transport`` into ``capture`` in a thread of its own or in a waiting expect's thread."""

    READ_CHUNK = 1 << 18
    READ_TIMEOUT = 0.2  # the longest wait per read; stop() interrupts it anyway
    READER_PAUSE = 0.05  # how long the thread stays aside after the last waiting expect returned
    WRITE_RECONNECT_WAIT = 5.0  # how long write() waits for a dropped console to come back

    def __init__(self, transport: Transport, capture: Capture, reconnect: bool = True) -> None:
        self.transport = transport
        self.capture = capture
        self.reconnect = reconnect
        self.thread: threading.Thread | None = None
        # at most a quarter of what the capture keeps, so that a chunk (a block of the store) never holds much more
        self.chunk = min(self.READ_CHUNK, max(1 << 12, capture.memory // 4))
        self._stop = threading.Event()
        self._write_lock = threading.Lock()  # also held while reopening the transport
        self._read_lock = threading.Lock()  # held while reading the transport and feeding what came
        self._turn = threading.Condition(threading.Lock())  # the thread waits here while expects read
        self._expects = 0  # expects waiting now: they read the transport themselves (lock: capture.cond)
        self._needed = False  # a waiting expect's read failed: the thread takes over
        self._left_at = -self.READER_PAUSE  # when the last waiting expect returned

    # ------------------------------------------------------------------ life cycle

    def start(self, name: str) -> None:
        """Open the transport and start the thread (``InfrastructureError`` if it cannot be opened)."""
        self.transport.open()
        with self.capture.cond:
            self.capture.connected = True
            self.capture.started = True
        self.thread = threading.Thread(target=self._run, name=f"hil-console-{name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop the thread and close the transport (the capture's state says it ended)."""
        self._stop.set()
        with self._turn:
            self._turn.notify_all()
        self._close_transport()
        if self.thread is not None:
            self.thread.join(timeout=10)
            self._close_transport()  # in case a reconnect reopened it meanwhile
        capture = self.capture
        with capture.cond:
            capture.ended = True
            capture.connected = False
            capture.end_reason = capture.end_reason or "closed by close()"
            capture.notify()

    def _close_transport(self) -> None:
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001, S110
            pass

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        reason = "reader stopped"
        capture = self.capture
        try:
            while not self._stop.is_set():
                if not self._needed and (self._expects or time.monotonic() - self._left_at < self.READER_PAUSE):
                    self._stand_aside()
                    continue
                if not self._read_lock.acquire(timeout=self.READ_TIMEOUT):
                    continue
                try:
                    try:
                        data = self.transport.read(self.chunk, self.READ_TIMEOUT)
                    except (InfrastructureError, OSError) as exc:
                        if self._stop.is_set():
                            break
                        if not self.reconnect or not getattr(self.transport, "can_reconnect", True):
                            reason = f"{self.transport.description} closed: {exc}"
                            break
                        if not self._reconnect_after(exc):
                            break
                        self._needed = False
                        continue
                    self._needed = False  # the transport works: waiting expects may read again
                    if data:
                        capture.feed(data)
                finally:
                    self._read_lock.release()
        except BaseException as exc:  # noqa: BLE001 - reported to every expect
            reason = f"console reader failed: {type(exc).__name__}: {exc}"
        finally:
            with capture.cond:
                capture.ended = True
                capture.connected = False
                if not capture.end_reason:
                    capture.end_reason = "closed by close()" if self._stop.is_set() else reason
                capture.notify()

    def _stand_aside(self) -> None:
        """Wait while expects read for themselves, and ``READER_PAUSE`` after the last one left (the next one
        usually comes soon: sendline, expect, sendline, expect ...); a failed read or ``stop()`` wake it."""
        with self._turn:
            while not self._needed and not self._stop.is_set():
                idle = time.monotonic() - self._left_at
                if not self._expects and idle >= self.READER_PAUSE:
                    return
                self._turn.wait(self.READER_PAUSE if self._expects else self.READER_PAUSE - idle)

    def _reconnect_after(self, exc: BaseException) -> bool:
        capture = self.capture
        lost_wall, lost = time.time(), time.monotonic()
        with capture.cond:
            capture.connected = False
            capture.lost_at = lost_wall
            capture.lost_reason = str(exc)
            capture.notify()
        self._close_transport()
        delay = 0.05
        while not self._stop.wait(delay):
            delay = min(1.0, delay * 2)
            try:
                with self._write_lock:
                    if self._stop.is_set():
                        return False
                    self.transport.open()
            except (InfrastructureError, OSError):
                continue
            gap = time.monotonic() - lost
            capture.log_note(f"[hil: console lost at {utc(lost_wall)}, reconnected after {gap:.2f} s]\n")
            with capture.cond:
                capture.connected = True
                capture.lost_at = None
                capture.reconnects += 1
                capture.notify()
            return True
        return False

    # ------------------------------------------------------------------ for waiting expects

    def enter(self) -> None:
        """An expect starts waiting: it reads the transport itself from now on (the capture's lock held: it
        guards the count; the thread only looks at it)."""
        self._expects += 1

    def leave(self) -> None:
        """An expect stops waiting; ``READER_PAUSE`` after the last one, the thread reads again (the capture's
        lock held)."""
        self._expects -= 1
        if not self._expects:
            self._left_at = time.monotonic()

    def await_data(self, timeout: float, seen: int) -> None:
        """Wait up to ``timeout`` for text beyond ``seen`` (an expect's wait): read the transport in this
        thread when no one else is, else wait for the one who is (at most ``READ_TIMEOUT`` at a time)."""
        capture = self.capture
        if timeout > 0 and capture.connected and not self._needed and self._read_lock.acquire(blocking=False):
            try:
                if capture.connected and not self._stop.is_set():
                    try:
                        data = self.transport.read(self.chunk, min(timeout, self.READ_TIMEOUT))
                    except (InfrastructureError, OSError):
                        data = b""
                        with self._turn:
                            self._needed = True  # the thread reconnects or ends the console
                            self._turn.notify()
                    if data:
                        capture.feed(data)
            finally:
                self._read_lock.release()
            return
        with capture.cond:
            if capture.store.length == seen and not capture.ended:
                capture.wait(min(timeout, self.READ_TIMEOUT) if timeout > 0 else 0)

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes) -> None:
        """Send ``data``; waits up to ``WRITE_RECONNECT_WAIT`` for a dropped console to come back."""
        capture = self.capture
        if not (capture.started and capture.connected and not capture.ended):  # else no need to wait or check
            self._wait_writable()
        with self._write_lock:
            try:
                self.transport.write(data)
            except (TransportClosed, OSError) as exc:
                raise InfrastructureError(
                    f"writing to console '{capture.name}' ({self.transport.description}) failed: {exc}"
                ) from exc

    def _wait_writable(self) -> None:
        capture = self.capture
        name = capture.name
        with capture.cond:
            if not capture.started:
                raise SetupError(f"console '{name}' is not started; call start() or use it in a with block")
            deadline = time.monotonic() + self.WRITE_RECONNECT_WAIT
            while not (capture.connected or capture.ended):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                capture.wait(left)
            if capture.ended:
                raise InfrastructureError(f"cannot write to console '{name}': {capture.end_reason}")
            if not capture.connected:
                raise InfrastructureError(
                    f"cannot write to console '{name}' ({self.transport.description}): disconnected "
                    f"for more than {self.WRITE_RECONNECT_WAIT:.0f} s ({capture.lost_reason})"
                )

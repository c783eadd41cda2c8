"""Crash forensics: the backtrace qvmsim writes when a signal kills it, symbolised on the host.

qvmsim's crash handler (``hil/qvmsim/crash.c``) writes, before dying of the
signal, a block of ``qvmsim crash: ...`` lines to its stderr (the qvm log): the
signal, the faulting address, the program counter, the thread, the raw frames
(each with the file it falls in and its offset from that file's load base) and
the ``/proc/self/maps`` lines of the loaded vdevs.  ``parse_crash`` reads that
block (pure: no I/O); ``hil.qvmrun.symbols.symbolize`` names the frames'
functions and source lines with ``addr2line`` on the host's own copy of each
file (the vdev ``.so`` that was deployed: vdevs are built with ``-g``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_PREFIX = "qvmsim crash: "
_HEAD_RE = re.compile(
    r"signal (?P<num>\d+) \((?P<sig>\w+)\) code (?P<code>\d+) address (?P<addr>0x[0-9a-f]+) "
    r"pc (?P<pc>0x[0-9a-f]+) thread (?P<thread>.*)$"
)
_FRAME_RE = re.compile(r"frame #(?P<n>\d+) (?P<addr>0x[0-9a-f]+)(?: (?P<path>.+)\+(?P<off>0x[0-9a-f]+))?$")


@dataclass(frozen=True)
class Frame:
    """One frame of the crashing thread: its address, the file it is in and the offset there,
    and (once symbolised) its function and ``file:line``."""

    address: int
    path: str | None = None
    offset: int | None = None
    function: str | None = None
    source: str | None = None

    def text(self) -> str:
        where = f"{PurePosixPath(self.path).name}+{self.offset:#x}" if self.path and self.offset is not None else "?"
        out = f"{self.address:#x} in {self.function or '??'} ({where})"
        return out + (f" at {self.source}" if self.source else "")


@dataclass(frozen=True)
class Crash:
    """What killed qvm: the signal, the faulting address, the crashing thread and its frames
    (the faulting instruction first)."""

    signal: str
    address: int
    pc: int
    thread: str
    frames: tuple[Frame, ...]
    maps: tuple[str, ...] = ()

    @property
    def top(self) -> Frame | None:
        """The first frame with a source line (the vdev's own code), else the faulting one."""
        for frame in self.frames:
            if frame.source:
                return frame
        return self.frames[0] if self.frames else None

    def headline(self) -> str:
        """``SIGSEGV at address 0x10 in trace_vwrite (trace.c:268)``."""
        out = f"{self.signal} at address {self.address:#x}"
        top = self.top
        if top is not None and top.function:
            out += f" in {top.function}"
            if top.source:
                out += f" ({PurePosixPath(top.source.split(':')[0]).name}:{top.source.rsplit(':', 1)[-1]})"
        return out

    def text(self) -> str:
        """The headline and the backtrace, one frame a line."""
        lines = [f"crash: {self.headline()}, thread {self.thread}", "backtrace (crashing thread):"]
        lines.extend(f"  #{i} {frame.text()}" for i, frame in enumerate(self.frames))
        if self.maps:
            lines.append("vdev mappings:")
            lines.extend(f"  {line}" for line in self.maps)
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "signal": self.signal,
            "address": self.address,
            "pc": self.pc,
            "thread": self.thread,
            "frames": [dataclasses.asdict(f) for f in self.frames],
            "maps": list(self.maps),
        }


def parse_crash(log_text: str) -> Crash | None:
    """The crash block of a qvm log, or None.  Frames before the faulting one (the handler's own)
    are dropped."""
    head = None
    frames: list[Frame] = []
    maps: list[str] = []
    for raw in log_text.splitlines():
        at = raw.find(_PREFIX)
        if at < 0:
            continue
        body = raw[at + len(_PREFIX) :].rstrip()
        if head is None:
            head = _HEAD_RE.match(body)
            continue
        m = _FRAME_RE.match(body)
        if m is not None:
            off = m["off"]
            frames.append(Frame(int(m["addr"], 16), m["path"], int(off, 16) if off else None))
        elif body.startswith("map "):
            maps.append(" ".join(body[4:].split()))
        elif body == "end":
            break
    if head is None:
        return None
    pc = int(head["pc"], 16)
    faulting = next((i for i, f in enumerate(frames) if f.address == pc), None)
    if faulting is not None:
        frames = frames[faulting:]
    return Crash(head["sig"], int(head["addr"], 16), pc, head["thread"], tuple(frames), tuple(maps))

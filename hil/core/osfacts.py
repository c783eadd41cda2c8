"""What differs between the target operating systems, in one place: QNX OS and Linux.

Every place that depends on the target's OS asks its ``OsFacts``
(``os_facts("qnx")``, or ``Target.os`` for a target): signal numbers (a status
or a ``kill`` number means another signal on QNX), the console lines that mean
the OS itself crashed ("death strings"), the shell and its quirks, how a
process is listed and signalled, where temporary files go, and whether qvm's
``slog`` destination and internal messages are read back with ``slog2info``.

Sources, per fact, in the comments below: [doc] a QNX or Linux page says so;
[inferred] nothing documents it and a board may differ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hil.core.signals import SIGNAL_NUMBERS, signal_name, signal_number, split_shell_status

__all__ = ["OS_NAMES", "OsFacts", "OsName", "os_facts"]

OsName = Literal["qnx", "linux"]
OS_NAMES: tuple[str, ...] = ("qnx", "linux")

#: Linux: the kernel's own oops/panic lines.
LINUX_CRASH_BANNERS: tuple[str, ...] = (
    r"Kernel panic - not syncing",
    r"BUG: unable to handle",
    r"general protection fault",
)

#: QNX: procnto's shutdown message when the kernel takes an exception it cannot handle [doc]:
#: ``Shutdown[5] S/C/F=11/1/11 C/D=...`` (8.0: the CPU) or ``Shutdown[0,0] S/C/F=5/3/3 ...``
#: (7.x: CPU and kernel lock holder), printed on the debug device (the serial console).
#: https://www.qnx.com/developers/docs/8.0/com.qnx.doc.neutrino.technotes/topic/proc_dump.html
QNX_CRASH_BANNERS: tuple[str, ...] = (r"Shutdown\[\d+(?:,\d+)?\] S/C/F=\d+/\d+/\d+",)

#: The signal/code/fault numbers of a QNX shutdown message.
QNX_SHUTDOWN_RE = re.compile(r"Shutdown\[(?P<cpu>\d+)(?:,\d+)?\] S/C/F=(?P<signal>\d+)/(?P<code>\d+)/(?P<fault>\d+)")


@dataclass(frozen=True)
class OsFacts:
    """One target OS's facts; see the module docstring."""

    name: OsName
    #: number -> "SIGNAME" in this OS's numbering (``hil.core.signals``).
    signals: Mapping[int, str]
    #: Console regexes that mean the OS itself went down (death strings on its console).
    crash_banners: tuple[str, ...]
    #: The shell SSH commands run in: QNX's default is ksh (pdksh), Linux targets' a POSIX sh
    #: (busybox ash, dash, bash).  Both take ``kill -s NAME``, ``$$``, ``exec``, ``${VAR:+...}``.
    shell: str
    #: Lists every process as ``PID PPID`` lines [doc: POSIX ps -A -o; QNX ships a POSIX ps
    #: beside its own pidin], with a busybox fallback (its ps has no -A).
    process_list: str
    #: A folder for run files that every target of this OS has.
    tmp_dir: str
    #: qvm's ``slog`` destination and internal messages go to slog2 and are read with slog2info.
    slog2: bool
    #: Where the OS writes a process's core file by default (for reports; [inferred] on QNX:
    #: dumper's default folder).
    core_dir: str

    # -- signals -----------------------------------------------------------------------------

    def signal_name(self, sig: int | str) -> str:
        """A number in this OS's numbering, or a name, as ``"SIGUSR1"``."""
        return signal_name(sig, self.name)

    def signal_number(self, sig: int | str) -> int:
        """This OS's number for a signal name (or number); a clear ValueError if it has none."""
        name = self.signal_name(sig)
        number = signal_number(name, self.name)
        if number is not None:
            return number
        raise ValueError(
            f"{self.name} has no signal {name}; its signals: {', '.join(sorted(set(self.signals.values())))}"
        )

    def kill_spec(self, sig: int | str) -> str:
        """The ``kill -s`` argument for ``sig`` on this OS: always a name (``USR1``), never a number,
        so a number given in this OS's numbering reaches the right signal whatever the shell."""
        return self.signal_name(self.signal_number(sig))[3:]

    def split_status(self, code: int) -> tuple[int | None, str | None]:
        """A shell's ``$?`` on this OS -> (exit status, signal name): 128+N is signal N here."""
        return split_shell_status(code, self.name)

    def crash_signal(self, line: str) -> str | None:
        """The signal a crash banner names (QNX ``S/C/F=11/...`` -> ``"SIGSEGV"``), or None."""
        m = QNX_SHUTDOWN_RE.search(line) if self.name == "qnx" else None
        return self.signal_name(int(m["signal"])) if m else None


_FACTS: dict[str, OsFacts] = {
    "linux": OsFacts(
        name="linux",
        signals=SIGNAL_NUMBERS["linux"],
        crash_banners=LINUX_CRASH_BANNERS,
        shell="sh",
        process_list="ps -A -o pid= -o ppid= 2>/dev/null || ps -o pid= -o ppid=",
        tmp_dir="/tmp",
        slog2=False,
        core_dir=".",
    ),
    "qnx": OsFacts(
        name="qnx",
        signals=SIGNAL_NUMBERS["qnx"],
        crash_banners=QNX_CRASH_BANNERS,
        shell="ksh",
        process_list="ps -A -o pid= -o ppid=",
        tmp_dir="/tmp",
        slog2=True,
        core_dir="/var/dumps",
    ),
}


def os_facts(name: str) -> OsFacts:
    """The facts of ``"qnx"`` or ``"linux"``; a ValueError naming the allowed ones otherwise."""
    try:
        return _FACTS[name]
    except KeyError:
        raise ValueError(f"unknown target OS {name!r}; allowed: {', '.join(OS_NAMES)}") from None

"""Signals by name and by number, in each target OS's numbering (Linux and QNX Neutrino).

A process killed by a signal has no exit status; ``signal_name()`` turns a
number (in the target OS's numbering) or a name into ``"SIGSEGV"`` form, and
``split_shell_status()`` reads a shell's ``$?`` (128 + N for signal N).
"""

from __future__ import annotations

from collections.abc import Mapping

#: Signal numbers of the target OS.  Linux: the generic numbering (x86, ARM).
#: QNX OS (Neutrino, 7.x and 8.0): [doc] the names and meanings are QNX's "Summary of signals"
#: (https://www.qnx.com/developers/docs/8.0/com.qnx.doc.neutrino.sys_arch/topic/ipc_Signal_summary.html);
#: the numbers are those of QNX's <signal.h> (SIGEMT/SIGDEADLK 7, SIGBUS 10, SIGSYS 12, SIGUSR1 16,
#: SIGUSR2 17, SIGCHLD 18, ... SIGSTOP 23, SIGCONT 25), as QNX's own shutdown-message technote
#: decodes S/C/F=11/... ("code 11 in signal.h is a SIGSEGV",
#: https://www.qnx.com/developers/docs/8.0/com.qnx.doc.neutrino.technotes/topic/proc_dump.html) and as
#: the QNX targets of GDB (nto-tdep: NTO_SIGBUS 10, NTO_SIGUSR1 16) and GNAT (s-osinte-qnx.ads) copy them.
SIGNAL_NUMBERS: Mapping[str, Mapping[int, str]] = {
    "linux": {
        1: "SIGHUP",
        2: "SIGINT",
        3: "SIGQUIT",
        4: "SIGILL",
        5: "SIGTRAP",
        6: "SIGABRT",
        7: "SIGBUS",
        8: "SIGFPE",
        9: "SIGKILL",
        10: "SIGUSR1",
        11: "SIGSEGV",
        12: "SIGUSR2",
        13: "SIGPIPE",
        14: "SIGALRM",
        15: "SIGTERM",
        16: "SIGSTKFLT",
        17: "SIGCHLD",
        18: "SIGCONT",
        19: "SIGSTOP",
        20: "SIGTSTP",
        21: "SIGTTIN",
        22: "SIGTTOU",
        23: "SIGURG",
        24: "SIGXCPU",
        25: "SIGXFSZ",
        26: "SIGVTALRM",
        27: "SIGPROF",
        28: "SIGWINCH",
        29: "SIGIO",
        30: "SIGPWR",
        31: "SIGSYS",
    },
    "qnx": {
        1: "SIGHUP",
        2: "SIGINT",
        3: "SIGQUIT",
        4: "SIGILL",
        5: "SIGTRAP",
        6: "SIGABRT",
        7: "SIGEMT",
        8: "SIGFPE",
        9: "SIGKILL",
        10: "SIGBUS",
        11: "SIGSEGV",
        12: "SIGSYS",
        13: "SIGPIPE",
        14: "SIGALRM",
        15: "SIGTERM",
        16: "SIGUSR1",
        17: "SIGUSR2",
        18: "SIGCHLD",
        19: "SIGPWR",
        20: "SIGWINCH",
        21: "SIGURG",
        22: "SIGPOLL",
        23: "SIGSTOP",
        24: "SIGTSTP",
        25: "SIGCONT",
        26: "SIGTTIN",
        27: "SIGTTOU",
        28: "SIGVTALRM",
        29: "SIGPROF",
        30: "SIGXCPU",
        31: "SIGXFSZ",
    },
}


def signal_name(sig: int | str, numbering: str = "linux") -> str:
    """``11``, ``"11"``, ``"SEGV"``, ``"sigsegv"`` -> ``"SIGSEGV"``.

    Numbers are read in the target OS's ``numbering`` ("linux" or "qnx");
    an unknown number gives ``"SIG<n>"``.  A name is upper-cased and given the
    ``SIG`` prefix; anything else is a ``ValueError``.
    """
    try:
        table = SIGNAL_NUMBERS[numbering]
    except KeyError:
        raise ValueError(f"unknown signal numbering {numbering!r}; allowed: {', '.join(SIGNAL_NUMBERS)}") from None
    if isinstance(sig, bool):
        raise ValueError(f"not a signal: {sig!r}")
    if isinstance(sig, str):
        text = sig.strip()
        if text.isdigit():
            sig = int(text)
        else:
            name = text.upper()
            name = name if name.startswith("SIG") else "SIG" + name
            if len(name) <= 3 or not name[3:].replace("_", "").isalnum():
                raise ValueError(f"not a signal name: {sig!r}")
            return name
    if sig <= 0:
        raise ValueError(f"not a signal number: {sig}")
    return table.get(sig, f"SIG{sig}")


def signal_number(name: str, numbering: str = "linux") -> int | None:
    """``"SIGSEGV"`` -> 11 in ``numbering`` (None if that OS has no such signal)."""
    wanted = signal_name(name, numbering)
    for number, sig in SIGNAL_NUMBERS[numbering].items():
        if sig == wanted:
            return number
    return None


def split_shell_status(code: int, numbering: str = "linux") -> tuple[int | None, str | None]:
    """A POSIX shell's ``$?`` -> (exit status, signal name).

    Shells report a process killed by signal N as 128+N.  qvm's own statuses
    stay below 128 (the highest is 96), so 129..128+31 is read as a signal.
    """
    if 128 < code <= 128 + 31 and (code - 128) in SIGNAL_NUMBERS[numbering]:
        return None, signal_name(code - 128, numbering)
    return code, None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie, dead but not yet reaped, does not)."""
    import os
    from pathlib import Path

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")

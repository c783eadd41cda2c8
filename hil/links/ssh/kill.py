"""Signalling a remote process, or its whole process tree, with portable ``kill`` commands."""

from __future__ import annotations

import re
import signal as signals

__all__ = ["kill_command", "signal_spec"]

_SIGNAL_NAME = re.compile(r"[A-Z][A-Z0-9+-]*")


def signal_spec(sig: str | int) -> str:
    """``kill`` argument for a signal: a name is portable (TERM), a number is the target's own."""
    if isinstance(sig, signals.Signals):
        return sig.name[3:]
    if isinstance(sig, int):
        if sig < 0:
            raise ValueError(f"bad signal number {sig}")
        return str(sig)
    name = sig.strip().upper()
    name = name[3:] if name.startswith("SIG") else name
    if not _SIGNAL_NAME.fullmatch(name):
        raise ValueError(f"bad signal name {sig!r}: use e.g. 'TERM', 'SIGUSR1' or a number")
    return name


#: Signal a process and all its descendants.  The pid alone is not enough: dropbear runs a
#: command without a pty in the connection's own process group, so ``kill -- -PID`` finds no
#: group.  The tree is listed (POSIX ``ps -A -o``, busybox ``ps -o``) and stopped, twice (so a
#: child forked meanwhile is caught), then signalled and continued.
_TREE_KILL = """kill -s 0 @PID@ 2>/dev/null || exit 1
hil_tree() {
  (ps -A -o pid= -o ppid= 2>/dev/null || ps -o pid= -o ppid=) | awk -v r=@PID@ \
    '{p[$1]=$2} END{d[r]=1; do{c=0; for(k in p) if(!(k in d) && (p[k] in d)){d[k]=1; c=1}} while(c);
     for(k in d) printf "%s ", k}'
}
kill -s STOP @PID@ 2>/dev/null
tree=$(hil_tree); kill -s STOP $tree 2>/dev/null
tree=$(hil_tree); kill -s STOP $tree 2>/dev/null
kill -s @SIG@ -- -@PID@ 2>/dev/null || kill -s @SIG@ -@PID@ 2>/dev/null
kill -s @SIG@ ${tree:-@PID@} 2>/dev/null
kill -s CONT ${tree:-@PID@} 2>/dev/null
exit 0"""


def kill_command(sig: str, pid: int, group: bool) -> str:
    """Send ``sig`` to ``pid`` (``group``: and to its process group and descendants); exit 1 if no such pid.

    Portable to dash, bash, busybox and ksh (dash needs ``--`` before a negative pid, busybox refuses it).
    """
    if not group:
        return f"kill -s {sig} {pid}"
    return _TREE_KILL.replace("@PID@", str(int(pid))).replace("@SIG@", sig)

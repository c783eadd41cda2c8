"""Per-test deployment folders on a target.

Each test gets a private folder (mode 0700) under the target's
``[qvm] workdir``, named ``hil-<host>-<pid>-<n>-<test>``; it is removed after
the test unless ``--hil-keep``.  Files are put only inside it: a name that is
absolute, has a ``..`` component or goes through a symlink out of the folder
is refused.

The workdir must be the target user's own: made mode 0700 when missing, and
before each folder is made in it (in the same command, ``_WORKDIR_CHECK``) it
must be a real folder (not a symlink) owned by that user and not writable by
group or others, in a parent owned by that user or root and not writable by
others unless sticky (``/tmp``).  Anything else is a ``SetupError`` naming it:
in a folder another user can write, that user could swap a new deployment
folder for a symlink or replace a ``vdev-*.so`` before qvm loads it.  A
deployment folder is made by ``mkdir`` (which never follows a link and fails
when the name exists), so once the workdir is proved private nothing else can
enter or replace it.

Folders left by a dead run of this host (its pytest process is gone) are
cleaned up at session start, in a workdir that passes the same check, and
only folders (not links) owned by the target user.  The qvm such a run started recorded itself in
``qvm.pid`` (``record_pid``): its pid, its start time (field 22 of
``/proc/PID/stat``) and its command line.  The clean-up kills that pid only
when ``qvm.pid`` is a file of the target user (not a link), the recorded
command line names that deployment folder's configuration, the process runs
as the target user and has the same start time *and* command line now
(``_KILL_IF_OURS``: busybox/ksh shell, no bash-isms); where that cannot be
proved (no ``/proc``, as on QNX, or an old one-line ``qvm.pid``) it is "not
ours" and left alone, so a reused pid never gets an innocent process killed.

A full target disk is reported as such: a failed put asks ``df`` on the
target and says "no space left on device on TARGET at PATH (N bytes needed,
M free)" as an infrastructure error, removing the partial file; and every new
folder checks the free space first (``MIN_FREE_BYTES``), so a full target is
an infrastructure error (the target is reset) at deployment, not a string of
mysterious test errors.

Round trips are what a test pays for on a remote target (~35 ms each over SSH), so:
a plain file name is written by one command (``cat`` from stdin, refusing a
symlink in its place, then ``chmod``), not a check plus an SFTP transfer;
``write_snippet`` lets the command that starts qvm write its configuration; and
``cleanup(defer=True)`` removes the folder with the target's next deployment
command (``flush_cleanups`` at the end of a session) instead of a round trip of
its own.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import re
import socket
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from hil.core.command import shell_command
from hil.core.errors import ConfigError, InfrastructureError, SetupError
from hil.core.inputs import confined, safe_name
from hil.targets.base import Target

_counter = itertools.count(1)
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40]

#: A new deployment folder needs at least this much free space on the target's workdir.
MIN_FREE_BYTES = 1 << 20

#: Files up to this size are written by one command (stdin to ``cat``); larger ones by ``put``.
_INLINE_PUT_BYTES = 8 << 20

#: Folders whose removal waits for the target's next deployment command (``cleanup(defer=True)``).
_pending: weakref.WeakKeyDictionary[Target, list[str]] = weakref.WeakKeyDictionary()
_pending_lock = threading.RLock()


#: Deployments of a target reached over a link whose folder is not made yet: the next command that
#: reaches the target makes them first (``flush_setups``), or the command starting qvm does (``take_setup``).
_unmade: weakref.WeakKeyDictionary[Target, list[Deployment]] = weakref.WeakKeyDictionary()

#: The files in each target's vdev cache (``_cache_folder``): ``<sha256>-<mode>`` names.
_cached: weakref.WeakKeyDictionary[Target, set[str]] = weakref.WeakKeyDictionary()

#: Seconds a thread waits for another's command making a deployment folder it needs.
_SETUP_WAIT = 120.0

#: Exit status of a command whose deployment set-up failed (its stderr's ``SETUP_MARKER`` line says how).
SETUP_FAILED = 125
SETUP_MARKER = "__HIL_SETUP__="


def _take_pending(target: Target) -> list[str]:
    with _pending_lock:
        return _pending.pop(target, [])


def _cache_folder(target: Target) -> str:
    """This run's vdev cache on ``target``: files deployed once, copied from there by later tests
    (named like a deployment folder of this run: a dead run's is removed by ``cleanup_stale``)."""
    return f"{target.workdir()}/hil-{_HOST}-{os.getpid()}-0-cache"


def forget_target(target: Target) -> None:
    """``target`` went down: its vdev cache is gone with it (a folder not made yet is made on the target
    that comes back; a copy from the old cache then fails as an infrastructure error, never a test's)."""
    with _pending_lock:
        _cached.pop(target, None)


def flush_setups(target: Target) -> None:
    """Make the folders (and their files) that deployments on ``target`` are waiting for, in one command:
    whatever reaches the target next sees them (``RemoteTarget`` calls this before every operation)."""
    with _pending_lock:
        waiting = _unmade.pop(target, [])
    taken = [(d, d.take_setup()) for d in waiting]  # one another thread took is waited for (''): not ours
    ours = [d for d, script in taken if script]
    try:
        if ours:
            result = target.run("".join(script for _, script in taken) + "true", timeout=60)
            failure = setup_failure(target, result.exit_status, result.stderr_text)
            if failure is not None:
                raise failure
    finally:
        for deployment in ours:
            deployment.setup_done()


def removal(paths: list[str]) -> str:
    """The command removing deployment folders: a qvm still running from one (its ``qvm.pid``, proved
    ours as the stale clean-up proves it) is killed first, so the record outlives the process."""
    # a shell function, not a subshell per folder: each fork costs milliseconds on an emulated target
    kill = _KILL_IF_OURS.format(folder='"$1"', pidfile='"$2"').replace("exit 0", "return 0")
    kills = "".join(f"_hil_kill {shell_command([p, f'{p}/qvm.pid'])} >/dev/null; " for p in paths)
    return f"_hil_kill() {{ {kill}}}; {kills}rm -rf {shell_command(paths)}"


def flush_cleanups(target: Target) -> None:
    """Remove the folders whose clean-up was deferred on ``target`` (best effort)."""
    paths = _take_pending(target)
    with _pending_lock:
        if _cached.pop(target, None) is not None:
            paths.append(_cache_folder(target))
    if paths:
        try:
            target.run(removal(paths), timeout=30)
        except Exception:  # noqa: BLE001, S110 - a gone target has no folders left to remove
            pass


# Start time of process $1 (field 22 of /proc/PID/stat; the command name, field 2, may hold
# spaces and parentheses, so cut after its last ')': field 22 is then field 20).
_START_TIME = "sed 's/.*) //' /proc/{pid}/stat 2>/dev/null | cut -d' ' -f20"

_KILL_IF_OURS = (
    r"""
d={folder}; f={pidfile}
[ -d "$d" ] && [ ! -L "$d" ] && [ -O "$d" ] || {{ echo "NOTOURS folder"; exit 0; }}
[ -f "$f" ] || exit 0
[ ! -L "$f" ] && [ -O "$f" ] || {{ echo "NOTOURS pidfile"; exit 0; }}
pid=; st=; cl=; {{ IFS= read -r pid; IFS= read -r st; IFS= read -r cl; }} < "$f"
case "$pid" in ''|*[!0-9]*) echo "NOTOURS bad pid"; exit 0;; esac
[ -n "$st" ] && [ -n "$cl" ] || {{ echo "NOTOURS unproven"; exit 0; }}
case "$cl" in *"@$d/"*) ;; *) echo "NOTOURS not this folder's"; exit 0;; esac
[ -O /proc/$pid ] || {{ echo "NOTOURS owner"; exit 0; }}
now=$("""
    + _START_TIME.format(pid="$pid")
    + r""")
[ "$now" = "$st" ] || {{ echo "NOTOURS start"; exit 0; }}
cmd=$(tr '\000' ' ' < /proc/$pid/cmdline 2>/dev/null)
[ "$cmd" = "$cl " ] || {{ echo "NOTOURS cmdline"; exit 0; }}
kill -KILL "$pid" 2>/dev/null && echo KILLED
"""
)


def record_pid(argv: list[str], pidfile: str = "qvm.pid") -> str:
    """A shell snippet recording ``$$`` (which then ``exec``s ``argv``) in ``pidfile``:
    pid, start time, command line (see the module's doc)."""
    # Shell builtins only (each fork and exec costs milliseconds on an emulated target): the
    # fields after the command name's last ") " are fields 3.., so field 22 is the 20th of them.
    return (
        "{ read -r _hil_stat < /proc/$$/stat; } 2>/dev/null; set -- ${_hil_stat##*) }; "
        f'printf \'%s\\n%s\\n%s\\n\' "$$" "${{20}}" '
        f"{shell_command([' '.join(argv)])} > {shell_command([pidfile])}"
    )


def _pid_alive(pid: int) -> bool:
    from hil.core.signals import process_alive

    return process_alive(pid)


def _free_bytes(target: Target, path: str) -> int | None:
    """Free bytes of the file system holding ``path`` on the target (``df``), ``None`` if unknown."""
    try:
        out = target.run(
            f"df -Pk {shell_command([path])} 2>/dev/null || df -k {shell_command([path])}", timeout=30
        ).stdout_text
    except Exception:  # noqa: BLE001 - only used to explain another failure
        return None
    return _parse_df(out)


def _parse_df(out: str) -> int | None:
    lines = [line.split() for line in out.strip().splitlines()[1:]]
    words = [w for line in lines for w in line]
    for i, word in enumerate(words):  # ... Available Capacity% Mounted-on
        if i > 0 and re.fullmatch(r"\d+%|-", word) and words[i - 1].isdigit():
            return int(words[i - 1]) * 1024
    return None


@dataclass
class Deployment:
    """A private folder on a target and the files put there.

    On a target reached over a link the folder is made by the next command that reaches the target
    (the one starting qvm: ``take_setup``; any other: ``flush_setups``), with the copies of files
    already in this run's vdev cache: one exchange for folder, deployment and qvm's start."""

    target: Target
    path: str
    keep: bool = False
    #: target path -> the host file it is a copy of (crash backtraces are symbolised on the host copy)
    local_copies: dict[str, Path] = field(default_factory=dict)
    #: what makes the folder on the target and copies files into it, not run yet (None: made)
    _setup: list[str] | None = field(default=None, repr=False)
    _min_free: int = field(default=MIN_FREE_BYTES, repr=False)
    #: set once the command that took the set-up has run it (other threads wait for it: ``take_setup``)
    _making: threading.Event | None = field(default=None, repr=False)

    def take_setup(self) -> str:
        """The shell commands that make this folder and its files ('' when made), each ending in ``;``;
        from now on they are the caller's to run, who calls ``setup_done`` once they ran (a failure:
        exit ``SETUP_FAILED`` with a ``SETUP_MARKER`` line on stderr, see ``setup_failure``).  Deferred
        removals of earlier folders go first.  While another thread's command makes the folder, this
        waits for it (a thread must not start qvm in a folder that is not there yet)."""
        with _pending_lock:
            steps, self._setup = self._setup, None
            making = self._making
            if steps is not None:
                self._making = threading.Event()
        if steps is None:
            if making is not None:
                making.wait(_SETUP_WAIT)
            return ""
        with _pending_lock:
            waiting = _unmade.get(self.target, [])
            if self in waiting:
                waiting.remove(self)
            pending = _take_pending(self.target)
        remove = f"{removal(pending)}; " if pending else ""
        return remove + _make_folder(self.target, self.path, self._min_free) + "".join(steps)

    def setup_done(self) -> None:
        """The set-up taken with ``take_setup`` has run (or failed): threads waiting for it go on."""
        with _pending_lock:
            making = self._making
        if making is not None:
            making.set()

    def _await_made(self) -> None:
        """Wait while another thread's command makes this folder."""
        with _pending_lock:
            making = self._making if self._setup is None else None
        if making is not None:
            making.wait(_SETUP_WAIT)

    def _run_setup(self, script: str, stdin: bytes | None = None) -> None:
        result = self.target.run(script + "true", timeout=60, stdin=stdin)
        failure = setup_failure(self.target, result.exit_status, result.stderr_text)
        if failure is not None:
            raise failure
        if result.exit_status != 0:
            raise InfrastructureError(
                f"deploying to {self.path} on {self.target.name} failed (exit status {result.exit_status}): "
                f"{result.stderr_text.strip()[-500:]}"
            )

    def remote(self, name: str) -> str:
        """The target path of ``name`` inside this folder (refused if it would leave it)."""
        where = f"the deployment folder {self.path} on {self.target.name}"
        return f"{self.path}/{confined(name, 'deploy path', where)}"

    def _check_inside(self, remote: str, name: str) -> None:
        """Refuse a name whose folder is a symlink out of the deployment folder, or that is a symlink."""
        rel = remote[len(self.path) + 1 :]
        parent = rel.rsplit("/", 1)[0] if "/" in rel else "."
        script = (
            f"cd {shell_command([self.path])} || exit 0; root=$(pwd -P); "
            f"d=$(cd {shell_command([parent])} 2>/dev/null && pwd -P) || exit 0; "
            f'case "$d/" in "$root"/*) ;; *) echo "ESCAPE $d"; exit 0;; esac; '
            f"[ -L {shell_command([rel])} ] && echo LINK; exit 0"
        )
        out = self.target.run(script, timeout=30).stdout_text.strip()
        if out.startswith("ESCAPE"):
            raise ConfigError(
                f"deploy path {name!r} goes through a symlink to {out[7:]}, outside the deployment "
                f"folder {self.path} on {self.target.name}; give a name inside it"
            )
        if out == "LINK":
            raise ConfigError(
                f"deploy path {name!r} is a symlink in the deployment folder {self.path} on "
                f"{self.target.name}; writing would follow it out of the folder: give another name"
            )

    def put_file(self, local: Path, name: str | None = None, mode: int = 0o644) -> str:
        """Copy a host file into the folder; returns its target path."""
        remote = self.remote(name or local.name)
        rel = remote[len(self.path) + 1 :]
        if self._inline(rel, local):
            self._put_cached(local, rel, mode)  # no round trip when cached and the folder not made yet
            self.local_copies[remote] = local.resolve()
            return remote
        self._check_inside(remote, name or local.name)
        try:
            self.target.put(local, remote, mode)
        except OSError as exc:
            raise self._put_failed(local, remote, exc) from exc
        self.local_copies[remote] = local.resolve()
        return remote

    def _inline(self, rel: str, local: Path) -> bool:
        """Whether to write ``local`` by one command: a small file of the folder itself, on a target
        reached over a link (on this host a copy costs no round trip)."""
        return (
            self.target.reached_over_link
            and "/" not in rel
            and local.is_file()
            and local.stat().st_size <= _INLINE_PUT_BYTES
        )

    def _put_cached(self, local: Path, rel: str, mode: int) -> None:
        """Put a file of the folder itself as a copy from this run's vdev cache on the target (by content
        and mode): queued with the folder's set-up while it is not made, else one command; a file not
        in the cache yet goes there first, through the command's stdin (one round trip)."""
        data = local.read_bytes()
        key = f"{hashlib.sha256(data).hexdigest()}-{mode:o}"
        cache = _cache_folder(self.target)
        q = shell_command([f"{self.path}/{rel}"])
        tag = shell_command([rel])
        fails = f">&2; exit {SETUP_FAILED}; }}; "
        copy = (
            f"[ -L {q} ] && {{ echo {SETUP_MARKER}link:{tag} {fails}"
            f"cp -p {shell_command([f'{cache}/{key}'])} {q} || {{ echo {SETUP_MARKER}copy:{tag} {fails}"
        )
        with _pending_lock:
            hit = key in _cached.get(self.target, set())
            if hit and self._setup is not None:
                self._setup.append(copy)
                return
        if hit:
            self._await_made()
            self._run_setup(copy)
            return
        part = shell_command([f"{cache}/.{key}.part"])
        fail = f"{{ rm -f {part}; echo {SETUP_MARKER}put:{tag} >&2; exit {SETUP_FAILED}; }}"
        fill = (
            f'c={shell_command([cache])}; {{ [ -d "$c" ] && [ ! -L "$c" ] && [ -O "$c" ]; }} || '
            f'mkdir -m 700 "$c" || {{ cat >/dev/null; {fail[2:]}; '
            f"cat > {part} || {fail}; "
            f"chmod {mode:o} {part} && mv -f {part} {shell_command([f'{cache}/{key}'])} || {fail}; "
        )
        try:
            self._run_setup(self.take_setup() + fill + copy, stdin=data)
        except OSError as exc:
            raise self._put_failed(local, f"{self.path}/{rel}", exc) from exc
        finally:
            self.setup_done()
        with _pending_lock:
            _cached.setdefault(self.target, set()).add(key)

    def _put_inline(self, local: Path, rel: str, remote: str, mode: int) -> None:
        """Write a file of the folder itself in one command, refusing a symlink in its place."""
        q = shell_command([rel])
        script = (
            f"cd {shell_command([self.path])} || {{ cat >/dev/null; exit 1; }}; "
            f"[ -L {q} ] && {{ cat >/dev/null; echo LINK; exit 3; }}; "
            f"cat > {q} && chmod {mode:o} {q}"
        )
        result = self.target.run(script, timeout=60, stdin=local.read_bytes())
        if result.exit_status == 0:
            return
        if result.exit_status == 3 and result.stdout_text.strip() == "LINK":
            raise ConfigError(
                f"deploy path {rel!r} is a symlink in the deployment folder {self.path} on "
                f"{self.target.name}; writing would follow it out of the folder: give another name"
            )
        text = result.stderr_text.strip() or f"exit status {result.exit_status}"
        code = errno.ENOSPC if "no space" in text.lower() else errno.EIO
        exc = OSError(code, f"{self.target.name}:{remote}: {text}")
        raise self._put_failed(local, remote, exc) from exc

    def write_snippet(self, name: str, text: str) -> str:
        """A shell snippet writing ``text`` to ``name`` in the folder (for a command that does more)."""
        return f"printf '%s' {shell_command([text])} > {shell_command([self.remote(name)])}"

    def _put_failed(self, local: Path, remote: str, exc: OSError) -> InfrastructureError:
        try:
            self.target.run(shell_command(["rm", "-f", remote]), timeout=30)  # no partial file left behind
        except Exception:  # noqa: BLE001, S110
            pass
        try:
            needed = local.stat().st_size
        except OSError:
            needed = 0
        free = _free_bytes(self.target, self.path)
        if free is not None and (free < needed or free < 4096 or "No space" in str(exc)):
            return InfrastructureError(
                f"no space left on device on {self.target.name} at {self.path} ({needed} bytes needed, {free} free) "
                f"while deploying {local.name}: free space on the target's [qvm] workdir "
                f"(put failed: {exc})"
            )
        return InfrastructureError(f"deploying {local} to {self.target.name}:{remote} failed: {exc}")

    def cleanup(self, defer: bool = False) -> None:
        """Remove the folder (unless kept); ``defer``: with the target's next deployment command
        (or ``flush_cleanups``), off the test's critical path."""
        with _pending_lock:
            if self._setup is not None:  # never made: nothing on the target to remove or keep
                self._setup = None
                waiting = _unmade.get(self.target, [])
                if self in waiting:
                    waiting.remove(self)
                return
        if self.keep:
            return
        if defer:
            with _pending_lock:
                _pending.setdefault(self.target, []).append(self.path)
            return
        self.target.run(removal([self.path]), timeout=30)


#: Exit status of ``_WORKDIR_CHECK`` when the workdir is not private (its last line says why).
_NOT_PRIVATE = 4

#: The workdir (made 0700 when missing) must be a folder of the target user, not writable by group or
#: others, in a parent of that user or root not writable by others unless sticky; else exit 4 saying why.
#: ``ls -ldn`` modes: ``drwxrwxrwt``, group write at index 5, others' at index 8, sticky at index 9.
_WORKDIR_CHECK = (
    "w={workdir}; p={parent}; "
    '{{ [ -d "$w" ] || [ -L "$w" ] || mkdir -p -m 700 "$w"; }} && '
    'if [ -L "$w" ] || [ ! -d "$w" ]; then echo "is a symlink or not a folder"; exit 4; fi && '
    # one ls for both (each fork and exec costs milliseconds on an emulated target): the parent's line first
    # (ls sorts its operands, and a path sorts after its own parent)
    '_hil_l=$(ls -ldn "$p" "$w"); _hil_n=\'\n\'; '
    'set -- ${{_hil_l#*"$_hil_n"}}; '
    'if [ ! -O "$w" ]; then echo "is owned by uid $3, not by $(id -u)"; exit 4; fi && '
    'case $1 in d????w*|d???????w*) echo "is writable by group or others"; exit 4;; esac && '
    'set -- ${{_hil_l%%"$_hil_n"*}} && '
    'if [ ! -O "$p" ] && [ "$3" != 0 ]; then echo "is in $p, owned by uid $3"; exit 4; fi && '
    'case $1 in d????????[tT]*) ;; d????w*|d???????w*) echo "is in $p, writable by others"; exit 4;; esac'
)


def workdir_check(target: Target) -> str:
    """The shell command proving ``target``'s workdir private (see ``_WORKDIR_CHECK``)."""
    workdir = target.workdir()
    return _WORKDIR_CHECK.format(
        workdir=shell_command([workdir]), parent=shell_command([os.path.dirname(workdir.rstrip("/")) or "/"])
    )


def _not_private(target: Target, result_text: str) -> SetupError:
    why = result_text.strip().splitlines()[-1] if result_text.strip() else "is not private"
    return SetupError(
        f"the workdir {target.workdir()} on {target.name} {why}: another user could replace what a run "
        f"deploys there; use a folder of your own that only you can write ([qvm] workdir in "
        f"{target.definition.source})"
    )


def _check_workdir_form(target: Target) -> None:
    """A workdir is an absolute path on one line (a relative or multi-line one is a set-up error)."""
    workdir = target.workdir()
    if not workdir.startswith("/") or any(c in workdir for c in "\n\r\0") or "/../" in f"{workdir}/":
        raise ConfigError(
            f"[qvm] workdir {workdir!r} of target {target.name} must be an absolute path on one line "
            f"without '..'; fix it in {target.definition.source}"
        )


def create_deployment(target: Target, test_name: str, keep: bool = False, min_free: int = MIN_FREE_BYTES) -> Deployment:
    """Make a fresh private folder for one test on ``target`` (its workdir must have ``min_free`` bytes free)."""
    _check_workdir_form(target)
    workdir = target.workdir()
    name = safe_name(test_name, 60)
    path = f"{workdir}/hil-{_HOST}-{os.getpid()}-{next(_counter)}-{name}"
    if target.lazy_deployments:  # made by the next command that reaches the target (see Deployment)
        deployment = Deployment(target, path, keep, _setup=[], _min_free=min_free)
        with _pending_lock:
            _unmade.setdefault(target, []).append(deployment)
        return deployment
    q = shell_command([path])
    pending = _take_pending(target)
    remove = f"{removal(pending)}; " if pending else ""  # deferred clean-ups of earlier tests
    result = target.run(
        f"{remove}( {workdir_check(target)} ) && mkdir -m 700 {q} && "  # `[` is a builtin: no fork
        f"{{ df -Pk {q} || df -k {q} || true; }} 2>/dev/null",
        timeout=30,
    )  # no df answer: not checked
    if result.exit_status == _NOT_PRIVATE:
        raise _not_private(target, result.stdout_text)
    if result.exit_status != 0:
        raise InfrastructureError(
            f"cannot create deployment folder {path} on {target.name}: {result.stderr_text.strip()} "
            f"(check [qvm] workdir in {target.definition.source})"
        )
    free = _parse_df(result.stdout_text)
    if free is not None and free < min_free:
        target.run(shell_command(["rm", "-rf", path]), timeout=30)
        raise InfrastructureError(
            f"no space left on device on {target.name} at {workdir} ({min_free} bytes needed for a deployment, "
            f"{free} free): free space there or point [qvm] workdir in {target.definition.source} elsewhere"
        )
    return Deployment(target, path, keep)


def _make_folder(target: Target, path: str, min_free: int) -> str:
    """Shell commands making the deployment folder ``path`` (mode 0700, by ``mkdir``, which never follows
    a link) after proving the workdir private, and checking its free space (``min_free`` bytes): each
    failure exits ``SETUP_FAILED`` with a ``SETUP_MARKER`` line saying which (see ``setup_failure``)."""
    q = shell_command([path])
    fail = f"echo {SETUP_MARKER}{{what}} >&2; exit {SETUP_FAILED}"
    return (
        # the check as a function (its exits returns), not a subshell: a fork less on the test's path
        f"_hil_wd() {{ {workdir_check(target).replace('exit 4', 'return 4')}; }}; "
        f"_hil_wd >&2 || {{ {fail.format(what='workdir:$?')}; }}; "
        f"mkdir -m 700 {q} || {{ {fail.format(what='mkdir:$?')}; }}; "
        # the free space: the number before the first "N%" (or "-") after the header, as _parse_df reads it
        f"set -- $(df -Pk {q} 2>/dev/null || df -k {q} 2>/dev/null); _hil_p=; _hil_f=; "
        f"for _hil_w; do case $_hil_w in *[0-9]%|-) case $_hil_p in ''|*[!0-9]*) ;; "
        f'*) [ -n "$_hil_f" ] || _hil_f=$_hil_p;; esac;; esac; _hil_p=$_hil_w; done; '
        f'[ -z "$_hil_f" ] || [ $((_hil_f * 1024)) -ge {min_free} ] || '
        f"{{ rm -rf {q}; {fail.format(what=f'space:$_hil_f:{min_free}')}; }}; "
    )


def setup_failure(target: Target, status: int | None, stderr: str) -> Exception | None:
    """The error of a command whose deployment set-up failed (``SETUP_FAILED`` and a ``SETUP_MARKER``
    line on its stderr), or None when it did not."""
    if status != SETUP_FAILED or SETUP_MARKER not in stderr:
        return None
    before, _, after = stderr.rpartition(SETUP_MARKER)
    what, _, detail = after.splitlines()[0].strip().partition(":") if after.strip() else ("", "", "")
    said = before.strip()
    workdir = target.workdir()
    where = f"the deployment folder {detail!r} in {workdir} on {target.name}"
    if what == "workdir" and detail == str(_NOT_PRIVATE):
        return _not_private(target, said)
    if what in ("workdir", "mkdir"):
        return InfrastructureError(
            f"cannot create a deployment folder in {workdir} on {target.name}: {said or f'exit status {detail}'} "
            f"(check [qvm] workdir in {target.definition.source})"
        )
    if what == "space":
        free, _, needed = detail.partition(":")
        return InfrastructureError(
            f"no space left on device on {target.name} at {workdir} ({needed} bytes needed for a deployment, "
            f"{int(free) * 1024 if free.isdigit() else free} free): free space there or point [qvm] workdir in "
            f"{target.definition.source} elsewhere"
        )
    if what == "link":
        return ConfigError(
            f"deploy path {detail!r} is a symlink in the deployment folder on {target.name}; "
            f"writing would follow it out of the folder: give another name"
        )
    if what == "put":
        code = errno.ENOSPC if "no space" in said.lower() else errno.EIO
        return OSError(code, f"{target.name}: writing {detail} failed: {said or 'no message'}")
    if what == "copy":
        with _pending_lock:
            _cached.pop(target, None)  # the cache is not what we think: refilled by the next put
        return InfrastructureError(f"copying {where} from this run's vdev cache failed: {said or 'no message'}")
    return InfrastructureError(f"deployment set-up on {target.name} failed: {stderr.strip()[-500:]}")


def cleanup_stale(target: Target) -> list[str]:
    """Kill qvms and remove folders that dead runs of this host left on ``target``.

    Returns the folders removed.  Folders of other hosts or of live runs are
    left alone (another run may be using the target; leases arbitrate that).
    A recorded qvm is killed only if it is provably still that qvm (see the module's doc).
    """
    _check_workdir_form(target)
    workdir = target.workdir()
    listing = target.run(
        f"( {workdir_check(target)} ) || exit $?; ls -1 {shell_command([workdir])} 2>/dev/null", timeout=30
    )
    if listing.exit_status == _NOT_PRIVATE:
        raise _not_private(target, listing.stdout_text)
    stale = []
    for entry in listing.stdout_text.split():
        match = re.fullmatch(r"hil-(.+)-(\d+)-\d+-.*", entry)
        if (
            match
            and match.group(1) == _HOST
            and not _pid_alive(int(match.group(2)))
            and int(match.group(2)) != os.getpid()
        ):
            stale.append(f"{workdir}/{entry}")
    for path in stale:
        script = _KILL_IF_OURS.format(folder=shell_command([path]), pidfile=shell_command([f"{path}/qvm.pid"]))
        target.run(f"( {script} ); rm -rf {shell_command([path])}", timeout=30)
    return stale

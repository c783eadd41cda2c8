"""A shell over a serial console: framed commands, their status and output, file transfer.

A board reachable only by its console (no sshd: in bring-up, or a production
image) still has a shell there: QNX's ``ksh``, or a Linux ``sh``/busybox ash.
``ConsoleShell`` drives it as labgrid's ShellDriver does, over any
``hil.links.console.Console`` (a serial port, ``rfc2217://``, ``socket://``):

* **attach**: Ctrl-C and Enter (a half-typed line is dropped), then the line
  editor off (ksh's ``emacs``/``vi`` modes redraw long lines), ``stty -echo``
  and an empty ``PS1``/``PS2``, then a framed no-op until one comes back (the
  prompt and echo are not relied upon either way);
* **framing**: every exchange is one block of lines between two markers made of
  a fresh random token; the shell prints ``HILB<token>`` first and ``HILE<token>
  <status>`` last, each split in the command text (``'HILB' 'token'``) so an
  echo of the command never matches;
* **commands** (``run``) run in ``sh -c 'COMMAND'`` (as over SSH: a fresh shell,
  no state kept between commands), stdin from a file, stdout and stderr into
  files, which then come back encoded and checked (``hil.links.consolecodec``:
  base64 or ``od``, ``md5sum``/``cksum``/size), so output is binary-safe and
  console noise (a kernel message) is detected, not mistaken for output;
* **timeouts**: past the timeout the shell gets Ctrl-C (SIGINT to the
  foreground command), then a framed no-op must come back (``CommandTimeout``
  with the output so far); if none does, it is an ``InfrastructureError``;
* **files** (``put``/``get``): in chunks (base64 here-documents or ``printf``
  octal lines) into ``PATH.hil-part``, compared on the target with the checksum
  computed here (``md5sum``, ``cksum`` or the size), then renamed; a mismatch
  (noise) is written again, three times at most, then an ``InfrastructureError``.
  A file of one chunk, a command's stdin and a command too long for a terminal
  line are written by the exchange that uses them: a command is one round trip.

One exchange at a time (a lock): processes (``hil.links.consoleprocess``) poll
their files through the same shell.  The shell's own files live in ``workdir``.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from hil.core.command import CommandResult, shell_command
from hil.core.errors import (
    CommandFailed,
    CommandTimeout,
    ExpectTimeout,
    InfrastructureError,
    TransportClosed,
)
from hil.core.signals import split_shell_status
from hil.links.console import Console
from hil.links.consolecodec import Checksum, Codec, Encoding, choose_codec

__all__ = ["ConsoleShell"]

#: Commands longer than this are written to a file first (a tty line holds 4 KiB at most).
_INLINE_COMMAND = 1500
#: Raw bytes per put exchange.
_PUT_CHUNK = 32 << 10
#: How often a transfer whose checksum did not match is tried again.
_TRIES = 3


class ConsoleShell:
    """A POSIX shell on ``console`` (started); ``workdir`` holds its files on the target.

    ``numbering``: the target OS's signal numbering (``"linux"``/``"qnx"``) for
    ``$?`` of 128+N.  ``encoding``/``checksum``: force ``"octal"`` (printf/od) or a
    checksum even where better ones exist (tests of the fallbacks), else chosen at ``attach``.
    """

    def __init__(
        self,
        console: Console,
        workdir: str = "/tmp/hil-console",
        *,
        name: str = "console shell",
        numbering: str = "linux",
        encoding: Encoding | None = None,
        checksum: Checksum | None = None,
    ) -> None:
        self.console = console
        self.workdir = workdir.rstrip("/") or "/"
        self.name = name
        self.numbering = numbering
        self._prefer = encoding
        self._prefer_checksum = checksum
        self.codec = Codec()
        self.tools: set[str] = set()
        self._lock = threading.RLock()
        self._serial = 0
        self.attached = False

    # ------------------------------------------------------------------ attaching

    def attach(self, timeout: float = 30.0) -> None:
        """Get the shell's attention and set it up for framed commands; ``InfrastructureError`` when no
        shell answers on the console within ``timeout``."""
        end = time.monotonic() + timeout
        with self._lock:
            last: Exception | None = None
            while time.monotonic() < end:
                self.console.write(b"\x03")  # drop a half-typed line, interrupt a foreground program
                time.sleep(0.1)
                # one setting a line: a shell without one (dash has no emacs mode) drops only that line
                self.console.write(
                    b"\nset +o emacs 2>/dev/null\nset +o vi 2>/dev/null\nset +o gmacs 2>/dev/null\n"
                    b"stty -echo 2>/dev/null\nPS1=''\nPS2=''\nunset HISTFILE 2>/dev/null\n"
                )
                try:
                    self._exchange("true", min(5.0, max(0.5, end - time.monotonic())))
                    break
                except (InfrastructureError, ExpectTimeout) as exc:
                    last = exc
            else:
                raise InfrastructureError(
                    f"{self.name}: no shell answered on console '{self.console.name}' within {timeout:g} s "
                    f"(the console must end at a shell prompt: sh or ksh, logged in); last: {last}; console "
                    f"log: {self.console.log_path}"
                )
            status, text = self._exchange(f"mkdir -p {shell_command([self.workdir])}", 30)
            if status != 0:
                raise InfrastructureError(
                    f"{self.name}: cannot create its folder {self.workdir} on the target: {text.strip()[-300:]!r}"
                )
            _, found = self.value(
                "for t in base64 md5sum cksum od mkfifo; do command -v $t >/dev/null 2>&1 && printf '%s ' $t; done", 30
            )
            self.tools = set(found.split())
            self.codec = choose_codec(self.tools, self._prefer, self._prefer_checksum)
            if self.codec.encoding == "octal" and "od" not in self.tools:
                raise InfrastructureError(
                    f"{self.name}: the target's shell has neither base64 nor od, so nothing can be read back "
                    f"from it over the console (found: {' '.join(sorted(self.tools)) or 'none'})"
                )
            self.attached = True

    # ------------------------------------------------------------------ framing

    def new_token(self) -> str:
        """A fresh marker token (random, and unique in this session)."""
        self._serial += 1
        return f"{secrets.token_hex(6)}{self._serial}"

    def _exchange(self, body: str, timeout: float) -> tuple[int, str]:
        """Send ``body`` (shell lines) framed by fresh markers; (its last status, the text between the
        markers).  ``ExpectTimeout`` when the end marker does not come within ``timeout``."""
        token = self.new_token()
        mark = self.console.mark()
        text = f"printf '%s%s\\n' 'HILB' '{token}'\n{body}\nprintf '\\n%s%s %s\\n' 'HILE' '{token}' \"$?\"\n"
        try:
            self.console.write(text)
            end = self.console.expect(rf"HILE{token} (\d+)\r?\n", timeout, since=mark)
        except TransportClosed as exc:
            raise InfrastructureError(f"{self.name}: the console closed: {exc}") from exc
        received = self.console.since(mark, end.end)
        begin = received.find(f"HILB{token}")
        inner = received[begin + len(f"HILB{token}") : received.rfind(f"HILE{token}")] if begin >= 0 else ""
        return int(end.match.group(1)), inner.lstrip("\r\n")

    def value(self, command: str, timeout: float = 30.0) -> tuple[int, str]:
        """(status, first line of stdout) of ``command``, marked so that an echo of the command or a
        prompt is never taken for it."""
        with self._lock:
            token = self.new_token()
            status, text = self.exchange(
                f"hil_v=$({command}); hil_s=$?; printf '%s%s %s\\n' 'HILV' '{token}' \"$hil_v\"; (exit $hil_s)", timeout
            )
        m = re.search(rf"HILV{token} ([^\r\n]*)", text)
        return status, m.group(1) if m else ""

    def _resync(self, timeout: float) -> bool:
        """After an interrupted exchange: Ctrl-C, then a framed no-op must come back."""
        for _ in range(3):
            self.console.write(b"\x03\n")
            try:
                self._exchange("true", timeout)
                return True
            except ExpectTimeout:
                continue
        return False

    def exchange(self, body: str, timeout: float = 30.0) -> tuple[int, str]:
        """One framed exchange of the link's own (a transfer, a poll) under the lock: past ``timeout`` it is
        interrupted and the shell resynchronised, and it is an ``InfrastructureError`` either way (the link
        failed, not the device)."""
        with self._lock:
            try:
                return self._exchange(body, timeout)
            except ExpectTimeout:
                back = self._resync(10)
                raise InfrastructureError(
                    f"{self.name}: no answer within {timeout:g} s to {body[:200]!r} "
                    + ("(interrupted with Ctrl-C)" if back else "and the shell stopped answering")
                    + f"; console log: {self.console.log_path}"
                ) from None

    # ------------------------------------------------------------------ reading files back

    def emit(self, label: str, token: str, path_q: str) -> str:
        """Shell lines printing the file ``path_q`` encoded between ``HILD<label><token>`` and its checksum
        (an empty or missing file: ``HILN<label><token>`` alone, without running a program)."""
        return (
            f"if [ -s {path_q} ]; then printf '%s%s\\n' 'HILD{label}' '{token}'; {self.codec.dump_command(path_q)}; "
            f"printf '\\n%s%s %s\\n' 'HILC{label}' '{token}' \"$({self.codec.sum_command(path_q)})\"; "
            f"else printf '%s%s\\n' 'HILN{label}' '{token}'; fi"
        )

    def parse(self, text: str, label: str, token: str) -> bytes | None:
        """The file an ``emit`` printed into ``text``, or None when it is missing or fails its checksum."""
        if re.search(rf"HILN{label}{token}\r?\n", text):
            return b""
        m = re.search(rf"HILD{label}{token}\r?\n(.*?)\r?\nHILC{label}{token} ([^\r\n]*)", text, re.DOTALL)
        if m is None:
            return None
        try:
            data = self.codec.decode(m.group(1))
        except ValueError:
            return None
        return data if self.codec.matches(data, m.group(2)) else None

    def read_files(self, paths: dict[str, str], timeout: float = 60.0, prefix: str = "") -> dict[str, bytes]:
        """The contents of target files (``label -> path``), each checked; ``prefix``: shell lines first."""
        with self._lock:
            wanted = dict(paths)
            got: dict[str, bytes] = {}
            for _ in range(_TRIES):
                token = self.new_token()
                body = "; ".join(self.emit(label, token, shell_command([p])) for label, p in wanted.items())
                _, text = self.exchange(f"{prefix}{body}", timeout)
                prefix = ""
                for label in list(wanted):
                    data = self.parse(text, label, token)
                    if data is not None:
                        got[label] = data
                        del wanted[label]
                if not wanted:
                    return got
            raise InfrastructureError(
                f"{self.name}: reading {', '.join(wanted.values())} back over the console failed its checksum "
                f"{_TRIES} times (noise on the console?); console log: {self.console.log_path}"
            )

    # ------------------------------------------------------------------ commands

    def _long(self, command: str) -> bool:
        return len(command) > _INLINE_COMMAND or any(len(line) >= 1000 for line in command.splitlines())

    def run(
        self,
        command: str | Sequence[str],
        timeout: float | None = None,
        *,
        stdin: bytes | None = None,
        check: bool = False,
    ) -> CommandResult:
        """Run ``command`` in a fresh ``sh -c`` to its end; as ``SshConnection.run``: ``CommandTimeout``
        (with the output so far) past ``timeout``, ``CommandFailed`` with ``check`` on a failure.

        Its stdin, and a command too long for a terminal line, are written into files by the same
        exchange (checked on the target), so a command is one round trip."""
        text = shell_command(command)
        limit = 3600.0 if timeout is None else timeout
        w = shell_command([self.workdir])
        started = time.monotonic()
        files: list[tuple[str, bytes]] = []
        source = "/dev/null"
        if stdin is not None:
            source = f"{self.workdir}/in"
            files.append((source, stdin))
        sh = f"sh -c {shell_command([text])}"
        if self._long(text):
            files.append((f"{self.workdir}/cmd", text.encode()))
            sh = f"sh {shell_command([f'{self.workdir}/cmd'])}"
        with self._lock:
            staged = [f for f in files if len(f[1]) <= _PUT_CHUNK]
            for path, data in files:
                if len(data) > _PUT_CHUNK:
                    self.write_file(path, data)
            token = self.new_token()
            body = (
                "hil_w=0\n"
                + "".join(self.write_snippet(path, data) + "\n" for path, data in staged)
                + f'if [ "$hil_w" = 0 ]; then cd / && {sh} < {shell_command([source])} > {w}/o 2> {w}/e; '
                f"hil_s=$?; {self.emit('o', token, f'{w}/o')}; {self.emit('e', token, f'{w}/e')}; "
                f"else hil_s=$hil_w; fi; printf '%s%s %s\\n' 'HILW' '{token}' \"$hil_w\"; (exit $hil_s)"
            )
            try:
                status, answer = self._exchange(body, limit)
            except ExpectTimeout:
                if not self._resync(10):
                    raise InfrastructureError(
                        f"{self.name}: {text[:200]!r} outlived its timeout ({limit:g} s) and the shell did not "
                        f"come back after Ctrl-C; console log: {self.console.log_path}"
                    ) from None
                partial = self._partial(text, started)
                raise CommandTimeout(
                    f"{self.name}: {text[:200]!r} timed out after {limit:g} s (interrupted with Ctrl-C)", partial
                ) from None
            written = re.search(rf"HILW{token} (\d+)", answer)
            if staged and (written is None or written.group(1) != "0"):  # noise in a staged file: write them apart
                for path, data in staged:
                    self.write_file(path, data)
                return self._run_written(text, sh, source, limit, started, check)
            out, err = self.parse(answer, "o", token), self.parse(answer, "e", token)
            if out is None or err is None:  # noise in the dump: read the files again
                again = self.read_files({"o": f"{self.workdir}/o", "e": f"{self.workdir}/e"})
                out, err = again["o"], again["e"]
        return self._result(text, status, out, err, started, check)

    def _run_written(self, text: str, sh: str, source: str, limit: float, started: float, check: bool) -> CommandResult:
        """``run`` once its files are on the target (written apart after a staged write failed)."""
        w = shell_command([self.workdir])
        token = self.new_token()
        body = (
            f"cd / && {sh} < {shell_command([source])} > {w}/o 2> {w}/e; hil_s=$?; "
            f"{self.emit('o', token, f'{w}/o')}; {self.emit('e', token, f'{w}/e')}; (exit $hil_s)"
        )
        try:
            status, answer = self._exchange(body, limit)
        except ExpectTimeout:
            if not self._resync(10):
                raise InfrastructureError(f"{self.name}: {text[:200]!r}: the shell did not come back") from None
            raise CommandTimeout(
                f"{self.name}: {text[:200]!r} timed out after {limit:g} s", self._partial(text, started)
            ) from None
        out, err = self.parse(answer, "o", token), self.parse(answer, "e", token)
        if out is None or err is None:
            again = self.read_files({"o": f"{self.workdir}/o", "e": f"{self.workdir}/e"})
            out, err = again["o"], again["e"]
        return self._result(text, status, out, err, started, check)

    def _result(self, text: str, status: int, out: bytes, err: bytes, started: float, check: bool) -> CommandResult:
        code, sig = split_shell_status(status, self.numbering)
        result = CommandResult(text, code, sig, out, err, time.monotonic() - started)
        if check and not result.ok:
            raise CommandFailed.of(result, self.name)
        return result

    def _partial(self, command: str, started: float) -> CommandResult:
        try:
            files = self.read_files({"o": f"{self.workdir}/o", "e": f"{self.workdir}/e"}, 30)
        except InfrastructureError:
            files = {"o": b"", "e": b""}
        return CommandResult(command, None, "SIGINT", files["o"], files["e"], time.monotonic() - started)

    # ------------------------------------------------------------------ files

    def write_snippet(self, path: str, data: bytes, mode: int | None = None) -> str:
        """Shell lines writing ``data`` (at most one chunk) to ``path`` within a larger exchange, when
        ``$hil_w`` is 0: checked against the checksum on the target, then renamed into place; they leave
        ``hil_w`` 0 (written), 97 (checksum mismatch: noise) or 1 (cannot write)."""
        dest, part = shell_command([path]), shell_command([f"{path}.hil-part"])
        chmod = f"chmod {mode:o} {part} && " if mode is not None else ""
        return (
            f'if [ "$hil_w" = 0 ]; then if : > {part}; then\n'
            + "".join(line + "\n" for line in self.codec.put_lines(data, part))
            + f"if {self.codec.check_command(part, data)}; then {chmod}mv -f {part} {dest} || hil_w=1; "
            f"else rm -f {part}; hil_w=97; fi\nelse hil_w=1; fi; fi"
        )

    def write_file(self, path: str, data: bytes, mode: int | None = None) -> None:
        """Write ``data`` to ``path`` on the target: chunked, checked there, then renamed into place (one
        exchange for a file of one chunk).  A transfer spoiled on the way (noise, or characters a loaded
        target's UART lost: a checksum mismatch, a chunk's command failing) is sent again, up to ``_TRIES``
        times; a file the target cannot create or rename is an ``InfrastructureError`` at once."""
        part = shell_command([f"{path}.hil-part"])
        last = ""
        with self._lock:
            for _ in range(_TRIES):
                if len(data) <= _PUT_CHUNK:
                    status, text = self.exchange(f"hil_w=0\n{self.write_snippet(path, data, mode)}\n(exit $hil_w)", 60)
                    if status == 1:  # the snippet's own 'cannot write'
                        raise self._cannot_write(path, text)
                else:
                    status, text = self.exchange(f": > {part}", 30)
                    if status != 0:
                        raise self._cannot_write(path, text, f" (status {status})")
                    for i in range(0, len(data), _PUT_CHUNK):
                        chunk = data[i : i + _PUT_CHUNK]
                        if status == 0:
                            status, text = self.exchange(
                                "\n".join(self.codec.put_lines(chunk, part)), 60 + len(chunk) / 2000
                            )
                    if status == 0:
                        dest = shell_command([path])
                        chmod = f"chmod {mode:o} {part} && " if mode is not None else ""
                        status, text = self.exchange(
                            f"if {self.codec.check_command(part, data)}; then {chmod}mv -f {part} {dest}; "
                            f"else rm -f {part}; (exit 97); fi",
                            60 + len(data) / 20000,
                        )
                        if status == 1:
                            raise self._cannot_write(path, text)
                if status == 0:
                    return
                last = "its checksum did not match" if status == 97 else f"status {status}: {text.strip()[-200:]!r}"
            raise InfrastructureError(
                f"{self.name}: copying {len(data)} bytes to {path} over the console failed {_TRIES} times "
                f"(noise on the console, or characters lost; last: {last}); console log: {self.console.log_path}"
            )

    def _cannot_write(self, path: str, said: str, status: str = "") -> InfrastructureError:
        return InfrastructureError(f"{self.name}: cannot write {path} on the target{status}: {said.strip()[-300:]}")

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        """Copy a host file to the target (its mode, unless ``mode`` is given)."""
        data = local.read_bytes()
        self.write_file(remote, data, mode if mode is not None else local.stat().st_mode & 0o777)

    def get(self, remote: str, local: Path) -> None:
        """Copy a target file to the host; a missing file is ``FileNotFoundError``."""
        with self._lock:
            status, _ = self.exchange(f"[ -f {shell_command([remote])} ]", 30)
            if status != 0:
                raise FileNotFoundError(f"{self.name}: no file {remote} on the target")
            data = self.read_files({"f": remote}, 300)["f"]
        local.write_bytes(data)

    def close(self) -> None:
        """Nothing to release but the console, which its owner closes."""
        self.attached = False

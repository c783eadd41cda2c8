"""``hil qvm check``: what qvmsim does with each line of a configuration, asked of qvmsim itself.

``qvm --check @CONF`` (hil/qvmsim/check.c) reads and checks the configuration as
for a run (options, vdevs and their options, regions) without starting the guest,
and prints one line per VM-wide option or ``vdev``::

    check: board.qvmconf:12: modelled: vdev wdt-sp805: built into qvmsim: ...
    check: board.qvmconf:14: accepted, not modelled: vdev gic: built into qvmsim: ...
    check: board.qvmconf:20: refused: unknown option 'foo' for vdev 'gic'
    check: ok

This module runs it and reads those lines, so the Python side never decides a
line's fate on its own.  The qvmsim sources are the same on ``local``, ``qemu``
and ``qemu-arm64``: the host build answers for all three.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hil.core.errors import ConfigError, SetupError

MODELLED = "modelled"
ACCEPTED = "accepted, not modelled"
REFUSED = "refused"
FATES: tuple[str, ...] = (MODELLED, ACCEPTED, REFUSED)

_LINE = re.compile(
    r"^check: (?P<file>.*?):(?P<line>\d+): (?P<fate>modelled|accepted, not modelled|refused): (?P<text>.*)$"
)


@dataclass(frozen=True)
class LineFate:
    """One configuration line: where it is, its fate (``MODELLED``, ``ACCEPTED``, ``REFUSED``), what qvmsim said."""

    file: str
    line: int
    fate: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "fate": self.fate, "text": self.text}


@dataclass(frozen=True)
class CheckReport:
    """Every line's fate; ``ok`` when qvmsim accepted the whole configuration."""

    lines: tuple[LineFate, ...]
    ok: bool
    exit_status: int

    @property
    def refused(self) -> list[LineFate]:
        return [f for f in self.lines if f.fate == REFUSED]

    def table(self) -> str:
        """One line per configuration line, then the verdict."""
        width = max((len(f.where) for f in self.lines), default=0)
        out = [f"{f.where:<{width}}  {f.fate:<22}  {f.text}" for f in self.lines]
        if self.ok:
            out.append("ok: qvmsim runs this configuration")
        else:
            out.append("refused: qvmsim (and, for a QNX-documented reason, qvm) would end with exit 65")
        return "\n".join(out) + "\n"

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "exit_status": self.exit_status, "lines": [f.as_dict() for f in self.lines]}


def parse_check_output(stdout: str, exit_status: int, stderr: str = "") -> CheckReport:
    """The report from ``qvm --check``'s stdout (and its exit status; stderr for an unexpected end)."""
    lines: list[LineFate] = []
    ok = False
    for raw in stdout.splitlines():
        if raw == "check: ok":
            ok = True
            continue
        m = _LINE.match(raw)
        if m:
            lines.append(LineFate(m["file"], int(m["line"]), m["fate"], m["text"]))
    if exit_status == 0 and not ok:
        raise SetupError(f"qvm --check ended with status 0 but printed no verdict: {stdout[-500:]!r}")
    if exit_status != 0 and not any(f.fate == REFUSED for f in lines):
        raise SetupError(f"qvm --check ended with status {exit_status} without a refusal line: {stderr[-800:]}")
    return CheckReport(tuple(lines), ok and exit_status == 0, exit_status)


def check_config(
    conf: str | Path, *, vdev_dirs: Sequence[str | Path] = (), qvm: Path | None = None, timeout: float = 30.0
) -> CheckReport:
    """Run ``qvm --check`` (the host qvmsim, built if needed) on the file ``conf``.

    ``vdev_dirs``: folders holding the configuration's own ``vdev-NAME.so`` files (``-L``).
    """
    path = Path(conf)
    if not path.is_file():
        raise ConfigError(f"configuration file {path} not found", str(path), "conf")
    if qvm is None:
        from hil.targets.sdk import build_qvmsim

        qvm = build_qvmsim()
    args = [str(qvm), "--check"]
    for d in vdev_dirs:
        args += ["-L", str(d)]
    args.append(f"@{path.name}")
    proc = subprocess.run(
        args, cwd=path.resolve().parent, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return parse_check_output(proc.stdout, proc.returncode, proc.stderr)

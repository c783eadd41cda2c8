"""The summary writer: the plain-text summary of a HIL run (``--hil-summary``, ``counts.json`` beside it), vdev
warnings, measurements and coverage included."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.core.text import terminal_safe
from hil.pytestplugin.measure import summary_lines as measurement_lines
from hil.pytestplugin.results import CaseResult, Counts, RunRecord
from hil.pytestplugin.text import one_line
from hil.pytestplugin.writers import replace_file

if TYPE_CHECKING:
    from hil.pytestplugin.writers import WriterOptions

#: The file beside the summary with each target's outcome counts (``hil nightly`` takes its verdict from it).
COUNTS_NAME = "counts.json"


def write(record: RunRecord, path: Path, options: WriterOptions) -> None:
    """Write the summary table (then the coverage lines) to ``path``, and each target's counts to
    ``counts.json`` beside it."""
    replace_file(path, (summary_table(record) + record.coverage_text).encode("utf-8"))
    counts = {name: dataclasses.asdict(c) for name, c in record.counts().items()}
    replace_file(path.with_name(COUNTS_NAME), json.dumps(counts, indent=2).encode("utf-8"))


def summary_table(record: RunRecord, slowest: int = 10) -> str:
    """The plain-text summary of a run.

    A table target x passed/failed/errors/infra/skipped/total with a TOTAL row
    ("infra" counts the errors the lab caused, which "errors" includes), the
    ``slowest`` longest tests, and one line per infrastructure error with its cause.
    """
    counts = record.counts()
    total = Counts()
    for c in counts.values():
        total.add(c)
    columns = ("passed", "failed", "errors", "infra", "skipped", "total")
    rows = [(name, c) for name, c in counts.items()] + [("TOTAL", total)]
    width = max([len("target"), *(len(name) for name, _ in rows)])

    def row(name: str, values: Sequence[object]) -> str:
        return f"{name:<{width}}" + "".join(f"  {v!s:>7}" for v in values)

    lines = [row("target", columns), "-" * (width + 9 * len(columns))]
    for name, c in rows:
        if name == "TOTAL":
            lines.append("-" * (width + 9 * len(columns)))
        lines.append(row(name, (c.passed, c.failed, c.errors, c.infrastructure, c.skipped, c.total)))

    results = record.results
    ranked = sorted(results, key=lambda c: c.duration, reverse=True)[: max(slowest, 0)]
    lines += ["", f"Slowest tests ({len(ranked)}):"]
    lines += [f"  {c.duration:9.2f} s  {c.suite:<{width}}  {c.nodeid}" for c in ranked] or ["  (none)"]

    infra = [c for c in results if c.infrastructure is not None]
    lines += ["", f"Infrastructure errors ({len(infra)}):"]
    lines += [f"  {c.suite}  {c.nodeid}: {one_line(c.infrastructure or '') or 'unknown cause'}" for c in infra] or [
        "  (none)"
    ]
    lines += _warning_lines(results)
    lines += measurement_lines(results)
    quarantined = [c for c in results if c.message.startswith("xfail: quarantined")]
    if quarantined:
        lines += ["", f"Quarantined ({len(quarantined)}; they ran, their failures do not count):"]
        lines += [f"  {c.suite}  {c.nodeid}: {'failed' if c.outcome == 'skipped' else c.outcome}" for c in quarantined]
    return terminal_safe("\n".join(lines) + "\n")  # test ids and causes carry target and vdev text


_WARNING = re.compile(r"^(?P<file>[^\s:][^:\n]*):(?P<line>\d+):(?:\d+:)? warning: (?P<message>.*)$", re.MULTILINE)


def vdev_warnings_property(vdev: str, text: str, root: Path | None = None) -> str:
    """The ``hil.vdev_warnings`` value of a vdev built with compiler warnings: its name, the number of
    warnings and the first one as ``file:line: message`` (the file relative to ``root`` when inside it)."""
    found = list(_WARNING.finditer(text))
    if not found:  # not gcc's form (a linker's, ...): the first line, counted as one
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return json.dumps({"vdev": vdev, "count": 1, "first": first})
    file = found[0]["file"]
    if root is not None:
        try:
            file = str(Path(file).relative_to(root))
        except ValueError:
            pass
    first = f"{file}:{found[0]['line']}: {found[0]['message'].strip()}"
    return json.dumps({"vdev": vdev, "count": len(found), "first": first})


def _warning_lines(results: Sequence[CaseResult]) -> list[str]:
    """One line per vdev built with compiler warnings (any target): its count, its first warning, the targets."""
    by_vdev: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for case in results:
        for warned in case.vdev_warnings:
            entry, suites = by_vdev.setdefault(str(warned["vdev"]), (warned, []))
            if case.suite not in suites:
                suites.append(case.suite)
    if not by_vdev:
        return []
    lines = ["", f"Vdev compiler warnings ({len(by_vdev)} vdevs):" if len(by_vdev) > 1 else "Vdev compiler warnings:"]
    for vdev, (entry, suites) in by_vdev.items():
        count = int(entry.get("count") or 1)
        noun = "warning" if count == 1 else "warnings"
        first = one_line(str(entry.get("first") or ""))
        lines.append(f"  vdev {vdev}: {count} {noun}, first at {first} [{', '.join(suites)}]")
    return lines

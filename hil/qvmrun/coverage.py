"""The coverage report of a session: every qvm run's vdev counters, merged per vdev and over targets.

Each run's ``.gcda`` files are in ``<artifacts>/<target>/<test>/runN.gcov/`` (``hil.qvmrun.gates``),
under the absolute host path of the coverage build's ``.gcno`` files (kept in the vdev build
cache, with ``vdev.json`` naming the vdev and its sources).  ``build_report`` pairs each ``.gcda``
with its ``.gcno`` in a scratch folder, has **gcovr** (a kept coverage library, run as
``python -m gcovr``) read each target's runs into a JSON tracefile, then merges the targets'
tracefiles into the report folder:

* ``index.html`` (+ one page per source file): lines and branches, line by line;
* ``coverage.xml``: Cobertura XML, which Jenkins, GitLab and GitHub tooling read;
* ``coverage.json`` / ``summary.json``: gcovr's own formats; ``targets/<target>.json`` per target;
* ``summary.txt``: one line per vdev (lines and branches covered, the targets it ran on) and the
  runs whose counters were lost (qvm killed by a signal: SIGKILL, a crash).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hil.core.errors import ConfigError, SetupError


@dataclass
class VdevCoverage:
    """One vdev's totals over the session (all its source files, all targets)."""

    name: str
    lines: tuple[int, int] = (0, 0)
    branches: tuple[int, int] = (0, 0)
    targets: set[str] = field(default_factory=set)

    @staticmethod
    def rate_text(part: tuple[int, int]) -> str:
        covered, total = part
        return f"{covered}/{total} ({100.0 * covered / total:.1f}%)" if total else "0/0 (-)"

    def line(self) -> str:
        return (
            f"coverage vdev {self.name}: lines {self.rate_text(self.lines)}, branches {self.rate_text(self.branches)} "
            f"[{', '.join(sorted(self.targets))}]"
        )


@dataclass
class CoverageReport:
    """What ``build_report`` made: the folder, per-vdev totals and the runs whose counters were lost."""

    folder: Path
    vdevs: dict[str, VdevCoverage]
    runs: int
    lost: list[str]

    def text(self) -> str:
        out = [v.line() for v in sorted(self.vdevs.values(), key=lambda v: v.name)]
        if not out:
            out.append("coverage: no vdev coverage counters were collected")
        if self.lost:
            out.append(f"coverage: {len(self.lost)} of {self.runs} run(s) lost their counters:")
            out += [f"  {what}" for what in self.lost]
        out.append(f"coverage report: {self.folder / 'index.html'} (Cobertura: {self.folder / 'coverage.xml'})")
        return "\n".join(out) + "\n"


def _gcovr(*args: str) -> None:
    command = [sys.executable, "-m", "gcovr", *args]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"coverage report: cannot run gcovr: {exc}") from exc
    if proc.returncode != 0:
        if "No module named gcovr" in proc.stderr:
            raise SetupError("coverage report: gcovr is not installed (pip install 'qnx-hil[coverage]')")
        raise SetupError(f"coverage report: gcovr failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def build_report(artifacts: Path, out: Path, root: Path) -> CoverageReport:
    """Merge every run's counters under ``artifacts`` into the report folder ``out`` (replaced)."""
    runs = sorted(artifacts.glob("*/*/run*.gcov"))
    lost: list[str] = []
    builds: dict[Path, dict[str, object]] = {}  # the cache's cov/ folder -> vdev.json
    shutil.rmtree(out, ignore_errors=True)
    (out / "targets").mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="hil-coverage-") as scratch:
        work = Path(scratch)
        per_target: dict[str, int] = {}
        for n, run in enumerate(runs):
            target = run.parent.parent.name
            note = run / "LOST"
            if note.exists():
                lost.append(f"{target}/{run.parent.name}/{run.stem}: {note.read_text().strip()}")
            for gcda in run.rglob("*.gcda"):
                original = Path("/") / gcda.relative_to(run)
                gcno = original.with_suffix(".gcno")
                if not gcno.exists():
                    lost.append(f"{target}/{run.parent.name}/{run.stem}: {gcno} is gone (vdev build cache cleared)")
                    continue
                info = original.parent / "vdev.json"
                if original.parent not in builds and info.exists():
                    builds[original.parent] = json.loads(info.read_text())
                place = work / target / str(n) / re.sub(r"[^A-Za-z0-9]", "_", str(original.parent))
                place.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(gcno, place / gcno.name)
                shutil.copyfile(gcda, place / gcda.name)
                per_target[target] = per_target.get(target, 0) + 1
        sources = sorted({s for b in builds.values() for s in b["sources"]})  # type: ignore[attr-defined]
        if not sources:
            (out / "summary.txt").write_text("coverage: no vdev coverage counters were collected\n")
            return CoverageReport(out, {}, len(runs), lost)
        base = Path(os.path.commonpath([str(root), *(str(Path(s).parent) for s in sources)]))
        filters = [arg for s in sources for arg in ("--filter", re.escape(s))]
        tracefiles: list[Path] = []
        for target in sorted(per_target):
            trace = out / "targets" / f"{target}.json"
            _gcovr("-r", str(base), *filters, "--json", str(trace), str(work / target))
            tracefiles.append(trace)
        merged = [arg for t in tracefiles for arg in ("--add-tracefile", str(t))]
        _gcovr(
            "-r",
            str(base),
            *merged,
            "--html-details",
            str(out / "index.html"),
            "--cobertura",
            str(out / "coverage.xml"),
            "--cobertura-pretty",
            "--json",
            str(out / "coverage.json"),
            "--json-summary",
            str(out / "summary.json"),
        )
    vdevs = _per_vdev(out, base, builds, tracefiles)
    report = CoverageReport(out, vdevs, len(runs), lost)
    (out / "summary.txt").write_text(report.text(), encoding="utf-8")
    return report


def _per_vdev(
    out: Path, base: Path, builds: dict[Path, dict[str, object]], traces: list[Path]
) -> dict[str, VdevCoverage]:
    owner = {s: str(b["name"]) for b in builds.values() for s in b["sources"]}  # type: ignore[attr-defined]
    vdevs: dict[str, VdevCoverage] = {}
    summary = json.loads((out / "summary.json").read_text())
    for entry in summary.get("files", []):
        path = str((base / entry["filename"]).resolve())
        name = owner.get(path)
        if name is None:
            continue
        v = vdevs.setdefault(name, VdevCoverage(name))
        v.lines = (v.lines[0] + entry["line_covered"], v.lines[1] + entry["line_total"])
        v.branches = (v.branches[0] + entry["branch_covered"], v.branches[1] + entry["branch_total"])
    for trace in traces:
        for entry in json.loads(trace.read_text()).get("files", []):
            name = owner.get(str((base / entry["file"]).resolve()))
            if name in vdevs and any(line.get("count", 0) for line in entry.get("lines", [])):
                vdevs[name].targets.add(trace.stem)
    return vdevs


@dataclass(frozen=True)
class CoverageThresholds:
    """``--hil-coverage-fail-under``: a line-coverage minimum (percent) for every vdev and per vdev."""

    every: float | None = None
    per_vdev: tuple[tuple[str, float], ...] = ()

    @staticmethod
    def parse(values: list[str]) -> CoverageThresholds:
        """``["80", "mywdog=90%"]`` -> thresholds; a bad value is a ``ConfigError`` saying the form."""
        every: float | None = None
        per: dict[str, float] = {}
        for raw in values:
            vdev, sep, number = raw.rpartition("=") if "=" in raw else ("", "", raw)
            text = number.strip().removesuffix("%")
            try:
                percent = float(text)
            except ValueError:
                percent = -1.0
            if not 0.0 <= percent <= 100.0 or (sep and not vdev.strip()):
                raise ConfigError(
                    f"--hil-coverage-fail-under {raw!r}: expected LINE% (0..100, e.g. 80 or 80%) or VDEV=LINE%",
                    "command line",
                )
            if sep:
                per[vdev.strip()] = percent
            else:
                every = percent
        return CoverageThresholds(every, tuple(sorted(per.items())))

    def __bool__(self) -> bool:
        return self.every is not None or bool(self.per_vdev)

    def failures(self, report: CoverageReport) -> list[str]:
        """One line per vdev below its minimum (or named but without coverage)."""
        per = dict(self.per_vdev)
        out: list[str] = []
        for name in sorted(set(report.vdevs) | set(per)):
            minimum = per.get(name, self.every)
            if minimum is None:
                continue
            vdev = report.vdevs.get(name)
            if vdev is None:
                out.append(f"coverage: FAIL vdev {name}: no coverage collected (minimum {minimum:g}% of lines)")
                continue
            covered, total = vdev.lines
            percent = 100.0 * covered / total if total else 0.0
            if percent < minimum:
                option = f"{name}={minimum:g}%" if name in per else f"{minimum:g}%"
                out.append(
                    f"coverage: FAIL vdev {name}: lines {percent:.1f}% is below the minimum {minimum:g}% "
                    f"(--hil-coverage-fail-under {option})"
                )
        return out

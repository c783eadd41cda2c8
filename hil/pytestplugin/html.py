"""The HTML report of a HIL run: one self-contained static file (``report.html`` beside ``junit.xml``).

Made from data, not from markup strings: the reporter's finished tests (``CaseResult``),
the suites' properties (target kind, image, qvm version, toolchain) and each run's
``runN.data.json`` (written by the qvm runner: log lines and session events on qvm's
clock, termination, exit, bite latency), rendered by a Jinja2 template shipped with the
package; the plots are SVG from pygal, inlined.  Earlier report folders (``history``)
are read from their ``junit.xml``, so any earlier run of qnx-hil can be compared.

Sections: the overview (targets x outcomes, provenance, the failures first with their
reason), per test a timeline of every qvm run (lifecycle, stores, interrupts, log lines
by level, signals and guest-console lines sent, termination and exit) with the assertion
message and the folded console and qvm log, the plots across the night (bite latency per
target, durations per target) and, with history, pass-rate and duration trends and the
tests whose outcome flips between runs.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Width of a timeline's drawing area (SVG user units) and its left margin for the row names.
TIMELINE_WIDTH = 900.0
TIMELINE_LEFT = 90.0
ROW_HEIGHT = 16.0
#: Log lines drawn per run at most (the rest are in the folded log).
MAX_MARKS = 2000

#: Timeline rows, in order (hil.qvm.timeline.KINDS, repeated here: this layer reads only its JSON).
ROWS = ("lifecycle", "store", "interrupt", "log", "signal", "stdin", "end")
#: Rows whose marks come from qvm's DEBUG/VERBOSE log lines (a run at the default level has none).
VERBOSE_ROWS = ("lifecycle", "store")
OUTCOMES = ("passed", "failed", "error", "infrastructure", "skipped")
#: Suite properties shown as the provenance of a target.
PROVENANCE = ("target.kind", "target.arch", "image", "qvm.version", "toolchain", "target.setup.seconds")

REPORT_NAME = "report.html"


@dataclass
class HistoryRun:
    """One earlier report folder: its name and, per test key, (outcome, duration)."""

    name: str
    tests: dict[str, tuple[str, float]] = field(default_factory=dict)


def test_key(suite: str, classname: str, name: str) -> str:
    """The key a test has across runs: suite, classname and name (the JUnit identity)."""
    return f"{suite} :: {classname}.{name}"


def read_history(folders: Iterable[Path], current: Path | None = None) -> list[HistoryRun]:
    """Earlier runs from their report folders' ``junit.xml`` (oldest first, by folder name); a folder
    given that holds report folders rather than a report is taken as all of them.  The ``current``
    report folder is never one of them (``--history reports`` with ``--reports reports`` holds it)."""
    found: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if (folder / "junit.xml").is_file():
            found.append(folder)
        elif folder.is_dir():
            found += sorted(p for p in folder.iterdir() if (p / "junit.xml").is_file())
    if current is not None:
        found = [f for f in found if f.resolve() != current.resolve()]
    runs = []
    for folder in sorted(found, key=lambda p: p.name):
        run = HistoryRun(folder.name)
        try:
            root = ET.parse(folder / "junit.xml").getroot()
        except (ET.ParseError, OSError):
            continue
        for suite in root.iter("testsuite"):
            for case in suite.iter("testcase"):
                outcome = "passed"
                if case.find("failure") is not None:
                    outcome = "failed"
                elif case.find("error") is not None:
                    error = case.find("error")
                    outcome = (
                        "infrastructure" if error is not None and error.get("type") == "infrastructure" else "error"
                    )
                elif case.find("skipped") is not None:
                    outcome = "skipped"
                key = test_key(suite.get("name", ""), case.get("classname", ""), case.get("name", ""))
                run.tests[key] = (outcome, float(case.get("time") or 0.0))
        runs.append(run)
    return runs


def _outcome(case: Any) -> str:
    return "infrastructure" if case.outcome == "error" and case.infrastructure is not None else str(case.outcome)


def load_runs(artifacts: str | None) -> list[dict[str, Any]]:
    """The ``runN.data.json`` of a test's artifacts folder, in run order (unreadable ones left out)."""
    if not artifacts:
        return []
    folder = Path(artifacts)
    out = []
    for path in sorted(
        folder.glob("run*.data.json"), key=lambda p: int("".join(c for c in p.name if c.isdigit()) or 0)
    ):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            data["name"] = path.name.removesuffix(".data.json")
            out.append(data)
    return out


def timeline(run: dict[str, Any]) -> dict[str, Any]:
    """Drawing data of one run: the axis (t0, t1, ticks) and every mark with its x, row and time."""
    marks: list[dict[str, Any]] = []
    for line in run.get("log", [])[:MAX_MARKS]:
        if line.get("t") is None:
            continue
        label = f"{line.get('level') or ''} {line.get('source') or ''}: {line.get('message', '')}".strip()
        marks.append(
            {"t": line["t"], "kind": line.get("kind", "log"), "level": line.get("level") or "", "label": label}
        )
    for event in run.get("events", []):
        marks.append(
            {"t": event["t"], "kind": event["kind"], "level": "", "label": f"{event['kind']}: {event['detail']}"}
        )
    times = [m["t"] for m in marks] + [t for t in (run.get("start"), run.get("end")) if isinstance(t, int | float)]
    t0 = min(times, default=0.0)
    t1 = max(times, default=1.0)
    span = max(t1 - t0, 1e-3)
    for mark in marks:
        mark["x"] = TIMELINE_LEFT + (mark["t"] - t0) / span * TIMELINE_WIDTH
        mark["y"] = ROWS.index(mark["kind"]) * ROW_HEIGHT + ROW_HEIGHT / 2 if mark["kind"] in ROWS else 0.0
    ticks = [{"x": TIMELINE_LEFT + i / 5 * TIMELINE_WIDTH, "label": f"+{i / 5 * span:.3f} s"} for i in range(6)]
    # qvm logs vdev control calls at DEBUG and guest stores at VERBOSE: say so rather than leave the rows blank
    quiet = [r for r in VERBOSE_ROWS if not any(m["kind"] == r for m in marks)]
    return {
        "quiet_rows": quiet,
        "t0": t0,
        "t1": t0 + span,
        "marks": marks,
        "ticks": ticks,
        "rows": [{"name": r, "y": i * ROW_HEIGHT + ROW_HEIGHT / 2} for i, r in enumerate(ROWS)],
        "width": TIMELINE_LEFT + TIMELINE_WIDTH + 10,
        "height": len(ROWS) * ROW_HEIGHT + 20,
    }


def _chart(kind: str, title: str, **config: Any) -> Any:
    import pygal

    chart_class = getattr(pygal, kind)
    return chart_class(
        title=title,
        js=[],  # no external script: the file must open offline
        disable_xml_declaration=True,
        width=560,
        height=300,
        explicit_size=True,
        style=pygal.style.LightStyle,
        **config,
    )


def _histogram(
    values: Sequence[float], bins: int = 12, span: tuple[float, float] | None = None
) -> list[tuple[int, float, float]]:
    """``values`` counted into ``bins`` equal bins over ``span`` (default: their own range).  Every
    series of a chart takes the same span, so no series' bars are a sliver of the axis; a span of
    one value is widened to +-0.5 (bars 0.03 px wide made the chart look empty)."""
    low, high = span if span is not None else (min(values), max(values))
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[max(min(int((v - low) / width), bins - 1), 0)] += 1
    return [(n, low + i * width, low + (i + 1) * width) for i, n in enumerate(counts) if n]


def plots(cases: Sequence[dict[str, Any]], history: Sequence[HistoryRun], current: str) -> dict[str, str]:
    """The SVG plots: bite latency (ms) per target, durations per target, and the trends with history."""
    out: dict[str, str] = {}
    by_target: dict[str, list[float]] = {}
    for case in cases:
        for run in case["runs"]:
            if run.get("bite_latency_s") is not None:
                by_target.setdefault(case["suite"], []).append(run["bite_latency_s"] * 1000.0)
    if by_target:
        chart = _chart("Histogram", "Watchdog bite latency (ms past the timeout)", x_title="ms")
        every = [v for values in by_target.values() for v in values]
        for target, values in sorted(by_target.items()):
            chart.add(target, _histogram(values, span=(min(every), max(every))))
        out["latency"] = chart.render()
    durations: dict[str, list[float]] = {}
    for case in cases:
        durations.setdefault(case["suite"], []).append(case["duration"])
    if durations:
        chart = _chart("Box", "Test durations per target (s)", box_mode="tukey")
        for target, values in sorted(durations.items()):
            chart.add(target, values)
        out["durations"] = chart.render()
    if history:
        labels = [run.name for run in history] + [current]
        rates = _chart("Line", "Pass rate per run (%)", x_label_rotation=20, range=(0, 100))
        rates.x_labels = labels
        totals = _chart("Line", "Total test time per run (s)", x_label_rotation=20)
        totals.x_labels = labels
        suites = sorted({c["suite"] for c in cases} | {k.split(" :: ")[0] for r in history for k in r.tests})
        now = {c["key"]: (c["outcome"], c["duration"]) for c in cases}
        for suite in suites:
            series_rate: list[float | None] = []
            series_time: list[float | None] = []
            for tests in [r.tests for r in history] + [now]:
                mine = [v for k, v in tests.items() if k.startswith(suite + " :: ")]
                ran = [o for o, _ in mine if o != "skipped"]
                series_rate.append(100.0 * sum(o == "passed" for o in ran) / len(ran) if ran else None)
                series_time.append(sum(d for _, d in mine) if mine else None)
            rates.add(suite, series_rate)
            totals.add(suite, series_time)
        out["pass_rate"] = rates.render()
        out["total_time"] = totals.render()
    return out


def build(
    results: Sequence[Any],
    properties: dict[str, dict[str, str]],
    history: Sequence[HistoryRun] = (),
    title: str = "HIL run",
    current: str = "this run",
) -> dict[str, Any]:
    """The template's data: targets x outcomes, failures first, per-test cases with timelines, plots, trends."""
    cases: list[dict[str, Any]] = []
    for case in results:
        runs = load_runs(case.artifacts)
        outcome = _outcome(case)
        cases.append(
            {
                "id": f"t{len(cases)}",
                "key": test_key(case.suite, case.classname, case.name),
                "suite": case.suite,
                "nodeid": case.nodeid,
                "name": case.name,
                "classname": case.classname,
                "outcome": outcome,
                "duration": case.duration,
                "message": case.message,
                "details": case.details,
                "console": case.system_out,
                "qvm_log": case.qvm_log,
                "artifacts": case.artifacts,
                "runs": [{**run, "timeline": timeline(run)} for run in runs],
            }
        )
    targets: dict[str, dict[str, int]] = {}
    for c in cases:
        counts = targets.setdefault(c["suite"], dict.fromkeys(OUTCOMES, 0))
        counts[c["outcome"]] += 1
    rank = {"failed": 0, "error": 1, "infrastructure": 2}
    failures = sorted((c for c in cases if c["outcome"] in rank), key=lambda c: (rank[c["outcome"]], c["suite"]))
    trends = []
    flaky = []
    if history:
        for c in cases:
            past = [r.tests.get(c["key"]) for r in history]
            outcomes = [p[0] if p else None for p in past] + [c["outcome"]]
            durations = [p[1] if p else None for p in past] + [c["duration"]]
            ran = [o for o in outcomes if o not in (None, "skipped")]
            trend = {
                "case": c,
                "outcomes": outcomes,
                "durations": durations,
                "pass_rate": 100.0 * sum(o == "passed" for o in ran) / len(ran) if ran else None,
                "flips": len(set(o == "passed" for o in ran)) > 1,
            }
            top = max((d for d in durations if d is not None), default=0.0) or 1.0
            trend["bars"] = [
                None if d is None else {"x": i * 12, "h": max(d / top * 20, 1), "outcome": o}
                for i, (d, o) in enumerate(zip(durations, outcomes))
            ]
            trends.append(trend)
            if trend["flips"]:
                flaky.append(trend)
    return {
        "title": title,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "outcomes": OUTCOMES,
        "targets": [
            {
                "name": name,
                "counts": counts,
                "total": sum(counts.values()),
                "provenance": [
                    (k, properties.get(name, {}).get(k)) for k in PROVENANCE if properties.get(name, {}).get(k)
                ],
            }
            for name, counts in targets.items()
        ],
        "failures": failures,
        "cases": cases,
        "plots": plots(cases, history, current),
        "history": [r.name for r in history] + [current],
        "trends": trends,
        "flaky": flaky,
        "rows": ROWS,
    }


def render(
    path: Path,
    results: Sequence[Any],
    properties: dict[str, dict[str, str]],
    history_dirs: Sequence[Path] = (),
    title: str = "HIL run",
    coverage: Any = None,
) -> Path:
    """Write the report to ``path`` (atomically) and return it.  ``coverage``: the session's
    ``hil.qvm.coverage.CoverageReport`` (--hil-coverage), linked and summarised per vdev."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hil.pytestplugin", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt_t"] = lambda t: "" if t is None else f"{t:.6f}"
    history = read_history(history_dirs, current=path.parent)
    model = build(results, properties, history, title=title, current=path.parent.name or "this run")
    # hil_measure's values (issue 23): a table of their own, with their trend over the history
    from hil.pytestplugin.measure import history_values, html_rows

    model["measurements"] = html_rows(results, history_values(history_dirs, current=path.parent))
    model["coverage"] = None
    if coverage is not None:  # each vdev's line and branch rates, and a link to gcovr's report
        model["coverage"] = {
            "link": os.path.relpath(Path(coverage.folder) / "index.html", path.parent),
            "vdevs": [
                {
                    "name": v.name,
                    "lines": v.rate_text(v.lines),
                    "branches": v.rate_text(v.branches),
                    "targets": sorted(v.targets),
                }
                for v in sorted(coverage.vdevs.values(), key=lambda v: v.name)
            ],
        }
    for case in model["cases"]:  # artifact links relative to the report: they work once it is downloaded
        case["artifacts_link"] = os.path.relpath(case["artifacts"], path.parent) if case["artifacts"] else None
    html = env.get_template("report.html.j2").render(**model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path

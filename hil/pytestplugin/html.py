"""The HTML writer: the report of a HIL run as one self-contained static file (``report.html`` beside ``junit.xml``).

Made from data, not from markup strings: the record's finished tests (``CaseResult``),
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

Scale: the tests that failed (failed, error, infrastructure) are written in full; the
details of the others (timelines, console, qvm log) go to small script files in
``report.details/`` beside the report, ``DETAILS_CHUNK`` tests a file, loaded by the page
when such a test is opened (``report.html#t12`` opens one).  So a night of 5,000 tests
is a few MB and renders in seconds (``bench/bench_html.py``).

The report never fails the run: text from the target, the vdev or the session is made
safe to render first (lone surrogates and control characters become visible
replacements), an earlier run's entry that cannot be read (``time="1,5"``, ``nan``, a
junit.xml that does not parse) is skipped and named in the report, and the files being
written are removed if anything goes wrong (the caller reports the error and goes on).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.parsers.expat import ExpatError

if TYPE_CHECKING:
    from hil.pytestplugin.results import RunRecord
    from hil.pytestplugin.writers import WriterOptions

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
#: Tests per details file (the details of the tests that did not fail, loaded on demand).
DETAILS_CHUNK = 100
#: Outcomes shown in full in the report itself.
IN_FULL = ("failed", "error", "infrastructure")

#: Characters that are not safe to render: lone surrogates (not encodable) and control characters
#: other than tab and newline (C0, DEL, C1); they are shown as U+FFFD or as their control picture.
_UNSAFE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    c = ord(match.group())
    if c < 0x20:
        return chr(0x2400 + c)  # the control picture: \x1b is shown as U+241B
    return "\u2421" if c == 0x7F else "\ufffd"


def safe_text(text: str) -> str:
    """``text`` with what cannot be rendered (or would be invisible) replaced by a visible stand-in."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_visible, text.replace("\r\n", "\n"))


def _safe(value: Any) -> Any:
    """``safe_text`` applied to every string of a JSON-like value (dict keys too)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {_safe(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


@dataclass
class HistoryRun:
    """One earlier report folder: its name, per test key (outcome, duration), and its measurements
    (``<suite> :: <test>.<measurement>``: value, from the suites' properties)."""

    name: str
    tests: dict[str, tuple[str, float]] = field(default_factory=dict)
    measurements: dict[str, float] = field(default_factory=dict)


def test_key(suite: str, classname: str, name: str) -> str:
    """The key a test has across runs: suite, classname and name (the JUnit identity)."""
    return f"{suite} :: {classname}.{name}"


def _junit_cases(
    path: Path, measurements: dict[str, float] | None = None
) -> list[tuple[str, str, str, str | None, str]]:
    """(suite, classname, name, time, outcome) of every test case of a junit.xml, read with expat
    (the elements only: a night's junit.xml is tens of MB of logs, read three times as fast); the
    measurements among its properties go into ``measurements`` in the same pass."""
    from xml.parsers import expat

    from hil.pytestplugin.measure import parse_suite_property

    cases: list[list[Any]] = []
    suite = ""
    case: list[Any] | None = None
    rank = {"passed": 0, "skipped": 1, "error": 2, "infrastructure": 2, "failed": 3}

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal suite, case
        if tag == "testsuite":
            suite = attrs.get("name", "")
        elif tag == "testcase":
            case = [suite, attrs.get("classname", ""), attrs.get("name", ""), attrs.get("time"), "passed"]
            cases.append(case)
        elif case is not None and tag in ("failure", "error", "skipped"):
            outcome = {"failure": "failed", "skipped": "skipped"}.get(tag, "error")
            if outcome == "error" and attrs.get("type") == "infrastructure":
                outcome = "infrastructure"
            if rank[outcome] > rank[case[4]]:
                case[4] = outcome
        elif tag == "property" and measurements is not None:
            parsed = parse_suite_property(attrs.get("name", ""), attrs.get("value", ""))
            if parsed is not None:
                measurements[f"{suite} :: {parsed[0]}"] = parsed[1]

    def end(tag: str) -> None:
        nonlocal case
        if tag == "testcase":
            case = None

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    with open(path, "rb") as handle:
        parser.ParseFile(handle)
    return [(c[0], c[1], c[2], c[3], c[4]) for c in cases]


def _seconds(value: str | None) -> float | None:
    """A JUnit ``time`` attribute as seconds; ``None`` when it is not a finite, non-negative number."""
    try:
        seconds = float(value or 0.0)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def read_history(
    folders: Iterable[Path], notes: list[str] | None = None, current: Path | None = None
) -> list[HistoryRun]:
    """Earlier runs from their report folders' ``junit.xml`` (oldest first, by folder name); a folder
    given that holds report folders rather than a report is taken as all of them.

    What cannot be read is skipped, and named in ``notes``: a junit.xml that does not parse, a
    test case whose ``time`` is not a number of seconds (``1,5``, ``nan``).  The ``current``
    report folder is never one of them (``--history reports`` with ``--reports reports`` holds it)."""
    from hil.pytestplugin.junitxml import earlier_reports

    notes = [] if notes is None else notes
    runs = []
    for junit in earlier_reports(folders, current):
        run = HistoryRun(junit.parent.name)
        try:
            cases = _junit_cases(junit, run.measurements)
        except (ExpatError, OSError, ValueError) as exc:
            notes.append(f"{junit}: not read ({exc}); that run is left out")
            continue
        for suite, classname, name, time, outcome in cases:
            key = test_key(suite, classname, name)
            seconds = _seconds(time)
            if seconds is None:
                notes.append(f"{junit}: test {key}: time={time!r} is not a number of seconds; that entry is left out")
                continue
            run.tests[key] = (outcome, seconds)
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
            out.append(_run_data(data, safe_text(path.name.removesuffix(".data.json"))))
    return out


def _number(value: Any) -> float | None:
    """A finite number from run data (``None`` for anything else: a string, NaN, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _run_data(data: dict[str, Any], name: str) -> dict[str, Any]:
    """A run's data with what the template reads in the types it reads, its text safe (odd entries dropped)."""
    exit_: dict[str, Any] = data["exit"] if isinstance(data.get("exit"), dict) else {}
    termination: dict[str, Any] | None = data["termination"] if isinstance(data.get("termination"), dict) else None
    latency = _number(data.get("bite_latency_s"))
    return {
        **data,
        "name": name,
        "log": [e for e in data.get("log") or [] if isinstance(e, dict)] if isinstance(data.get("log"), list) else [],
        "events": [e for e in data.get("events") or [] if isinstance(e, dict)]
        if isinstance(data.get("events"), list)
        else [],
        "exit": {
            "reason": safe_text(str(exit_.get("reason") or "unknown")),
            "status": exit_.get("status") if isinstance(exit_.get("status"), int) else None,
            "signal": safe_text(str(exit_["signal"])) if exit_.get("signal") else None,
        },
        "termination": {"name": safe_text(str(termination.get("name") or ""))} if termination else None,
        "bite_latency_s": latency,
        "watchdog_timeout_s": _number(data.get("watchdog_timeout_s")) or 0.0,
        "duration_s": _number(data.get("duration_s")) or 0.0,
    }


_ROW_Y = {r: i * ROW_HEIGHT + ROW_HEIGHT / 2 for i, r in enumerate(ROWS)}


def timeline(run: dict[str, Any]) -> dict[str, Any]:
    """Drawing data of one run: the axis (t0, t1, ticks) and every mark as (t, kind, level, label), its
    text made safe; ``marks_svg`` is their markup (x from t on the axis, y from the kind's row)."""
    marks: list[tuple[float, str, str, str]] = []
    for line in run.get("log", [])[:MAX_MARKS]:
        t = line.get("t")
        if t.__class__ is not float and _number(t) is None:  # floats (nearly all) are checked below
            continue
        level = str(line.get("level") or "")
        label = f"{level} {line.get('source') or ''}: {line.get('message', '')}".strip()
        marks.append((t, str(line.get("kind", "log")), level, label))
    for event in run.get("events", []):
        t = event.get("t")
        if _number(t) is None:
            continue
        kind = str(event.get("kind", ""))
        marks.append((t, kind, "", f"{kind}: {event.get('detail', '')}"))
    marks = [
        (float(t), kind, level, label)
        if _UNSAFE.search(f"{kind}{level}{label}") is None
        else (float(t), safe_text(kind), safe_text(level), safe_text(label))
        for t, kind, level, label in marks
        if math.isfinite(t)
    ]
    times = [m[0] for m in marks] + [t for t in (_number(run.get("start")), _number(run.get("end"))) if t is not None]
    t0 = float(min(times, default=0.0))
    t1 = float(max(times, default=1.0))
    span = max(t1 - t0, 1e-3)
    ticks = [{"x": TIMELINE_LEFT + i / 5 * TIMELINE_WIDTH, "label": f"+{i / 5 * span:.3f} s"} for i in range(6)]
    # qvm logs vdev control calls at DEBUG and guest stores at VERBOSE: say so rather than leave the rows blank
    quiet = [r for r in VERBOSE_ROWS if not any(m[1] == r for m in marks)]
    return {
        "marks_svg": marks_svg(marks, t0, TIMELINE_WIDTH / span),
        "quiet_rows": quiet,
        "t0": t0,
        "t1": t0 + span,
        "marks": marks,
        "ticks": ticks,
        "rows": [{"name": r, "y": y} for r, y in _ROW_Y.items()],
        "width": TIMELINE_LEFT + TIMELINE_WIDTH + 10,
        "height": len(ROWS) * ROW_HEIGHT + 20,
    }


def marks_svg(marks: Sequence[tuple[float, str, str, str]], t0: float, scale: float) -> Any:
    """The marks of a timeline as SVG circles, ``scale`` pixels a second from ``t0`` (markup written here:
    many times faster than a template loop)."""
    from markupsafe import Markup

    escape = html.escape
    parts: dict[tuple[str, str], tuple[str, str, str]] = {}
    out = []
    for t, kind, level, label in marks:
        part = parts.get((kind, level))
        if part is None:
            k = escape(kind)
            lvl = f" lvl-{escape(level)}" if kind == "log" else ""
            part = parts[(kind, level)] = (
                f'<circle class="{k}{lvl}" cx="',
                f'" cy="{_ROW_Y.get(kind, 0.0)}" r="3.5" data-t="',
                f'" data-kind="{k}"><title>',
            )
        x = TIMELINE_LEFT + (t - t0) * scale
        out.append(f"{part[0]}{x:.2f}{part[1]}{t:.6f}{part[2]}{t:.6f} {escape(label, quote=False)}</title></circle>")
    return Markup("".join(out))


def trend_rows(trends: Sequence[dict[str, Any]], history: Sequence[str]) -> str:
    """The rows of the table of every test's outcomes, pass rate and durations over the runs (markup
    written here: thousands of rows, many times faster than a template loop)."""
    escape = html.escape
    names = [escape(h) for h in history]
    rows = []
    for tr in trends:
        case = tr["case"]
        cells = "".join(
            f'<span class="cell {o or "none"}" title="{names[i]}: {o or "not run"}"></span>'
            for i, o in enumerate(tr["outcomes"])
        )
        rate = "" if tr["pass_rate"] is None else f"{tr['pass_rate']:.0f} %"
        bars = "".join(
            f'<rect class="cell {b["outcome"]}" x="{b["x"]}" y="{21 - b["h"]}" width="10" height="{b["h"]}">'
            f"<title>{names[i]}: {tr['durations'][i] or 0:.2f} s</title></rect>"
            for i, b in enumerate(tr["bars"])
            if b
        )
        rows.append(
            f'<tr data-key="{escape(case["key"])}"><td>{escape(case["suite"])}</td><td>{escape(case["name"])}</td>'
            f"<td>{cells}</td><td>{rate}</td>"
            f'<td><svg width="{len(tr["bars"]) * 12}" height="22">{bars}</svg></td></tr>\n'
        )
    return "".join(rows)


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
    properties = _safe(properties)
    title, current = safe_text(title), safe_text(current)
    cases: list[dict[str, Any]] = []
    for case in results:
        runs = load_runs(case.artifacts)
        outcome = _outcome(case)
        text = _safe(
            {
                "suite": case.suite,
                "nodeid": case.nodeid,
                "name": case.name,
                "classname": case.classname,
                "message": case.message,
                "details": case.details,
                "console": case.system_out,
                "qvm_log": case.qvm_log,
                "artifacts": case.artifacts,
            }
        )
        cases.append(
            {
                **text,
                "id": f"t{len(cases)}",
                "key": safe_text(test_key(case.suite, case.classname, case.name)),
                "outcome": outcome,
                "duration": _number(case.duration) or 0.0,
                "runs": [{**run, "timeline": timeline(run)} for run in runs],
                "chunk": None,  # the details file of a test shown compact (``render``)
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
        "history": [safe_text(r.name) for r in history] + [current],
        "trends": trends,
        "flaky": flaky,
        "rows": ROWS,
        "timeline_rows": [{"name": r, "y": i * ROW_HEIGHT + ROW_HEIGHT / 2} for i, r in enumerate(ROWS)],
        "timeline_width": TIMELINE_LEFT + TIMELINE_WIDTH + 10,
    }


def details_dir(path: Path) -> Path:
    """Where the details of a report's tests that did not fail are: ``report.details/`` beside ``report.html``."""
    return path.with_name(f"{path.stem}.details")


def _details_chunks(cases: list[dict[str, Any]], folder_name: str) -> dict[str, list[dict[str, Any]]]:
    """The tests shown compact, ``DETAILS_CHUNK`` a file (by file name); sets each one's ``chunk``
    (its file, relative to the report)."""
    compact = [c for c in cases if c["outcome"] not in IN_FULL]
    chunks: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(compact), DETAILS_CHUNK):
        name = f"d{i // DETAILS_CHUNK:04d}.js"
        chunks[name] = compact[i : i + DETAILS_CHUNK]
        for case in chunks[name]:
            case["chunk"] = f"{folder_name}/{name}"
    return chunks


def _write_details(folder: Path, files: dict[str, dict[str, str]]) -> None:
    """Each file calls ``hilDetails({element id: its body's HTML})`` when the page loads it."""
    folder.mkdir()
    for name, bodies in files.items():
        text = f"hilDetails({json.dumps(bodies, ensure_ascii=False, separators=(',', ':'))});\n"
        (folder / name).write_text(text, encoding="utf-8")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def render(
    path: Path,
    results: Sequence[Any],
    properties: dict[str, dict[str, str]],
    history_dirs: Sequence[Path] = (),
    title: str = "HIL run",
    notes: list[str] | None = None,
    coverage: Any = None,
) -> Path:
    """Write the report to ``path`` and the details of the tests that did not fail to
    ``details_dir(path)`` (both replaced as a whole at the end; nothing is left behind on an
    error) and return ``path``.  ``notes`` gets the earlier runs' entries that were left out.
    ``coverage``: the session's ``hil.qvmrun.coverage.CoverageReport`` (--hil-coverage), linked and
    summarised per vdev."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hil.pytestplugin", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt_t"] = lambda t: "" if t is None else f"{t:.6f}"
    notes = [] if notes is None else notes
    history = read_history(history_dirs, notes, current=path.parent)
    model = build(results, properties, history, title=title, current=path.parent.name or "this run")
    model["history_notes"] = _safe(notes)
    details = details_dir(path)
    chunks = _details_chunks(model["cases"], details.name)
    model["lazy"] = bool(chunks)  # the tests' details: some in report.details/
    model["lazy_dir"] = details.name
    # hil_measure's values (issue 23): a table of their own, with their trend over the history
    from hil.pytestplugin.measure import html_rows

    model["measurements"] = html_rows(results, [(run.name, run.measurements) for run in history])
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.tmp"
    tmp, tmp_details, old_details = (
        path.with_name(f".{path.name}.{tag}"),
        path.with_name(f".{details.name}.{tag}"),
        path.with_name(f".{details.name}.old.{tag}"),
    )
    try:
        parts: Any = env.get_template("parts.html.j2").module
        files = {name: {c["id"]: str(parts.test_body(c)) for c in chunk} for name, chunk in chunks.items()}
        if model["trends"]:
            files["trends.js"] = {"all-trends": trend_rows(model["trends"], model["history"])}
        if files:
            _write_details(tmp_details, files)
        tmp.write_text(env.get_template("report.html.j2").render(**model), encoding="utf-8")
        moved = details.is_dir() and not details.is_symlink()
        if moved:
            os.replace(details, old_details)  # the earlier report's details: removed once the report is in place
        elif details.exists() or details.is_symlink():
            details.unlink()
        if files:
            os.replace(tmp_details, details)
        try:
            os.replace(tmp, path)
        except OSError:
            if moved:  # the earlier report stays whole
                _remove(details)
                os.replace(old_details, details)
            raise
    finally:
        for leftover in (tmp, tmp_details, old_details):
            _remove(leftover)
    return path


def write(record: RunRecord, path: Path, options: WriterOptions) -> None:
    """Write the record's HTML report to ``path`` (``render``), with the trends of ``options.history``;
    the earlier runs' entries left out go to ``options.notes``."""
    notes: list[str] = []
    render(
        path,
        record.results,
        record.suite_properties(),
        options.history,
        title=f"HIL run {path.resolve().parent.name}",
        notes=notes,
        coverage=record.coverage,
    )
    options.notes.extend(f"history entry left out: {note}" for note in notes)

"""``hil nightly`` and ``hil demo``: the suite over an inventory, one command.

``hil nightly`` runs pytest in the current folder, exactly as ``pytest`` would
there (its rootdir, configuration and ``testpaths``; test arguments after
``--``), with pytest-xdist, one worker per selected target, writes
``<reports>/<UTC timestamp>/`` with per-test artifacts and every report of the
writers' table (``hil.pytestplugin.writers``: ``junit.xml``, ``summary.txt``,
``report.html``, ``results.jsonl``), streams pytest's progress, and exits:

* 0: everything passed;
* 1: a test failed (a vdev misbehaved);
* 3: no test failed, but the infrastructure failed somewhere;
* 2: bad input (unknown target, bad pytest arguments, no test selected);
* 128 + the signal (130, 143): cancelled by SIGINT or SIGTERM, which ``hil`` passes on to
  pytest and then waits for its complete report.

``hil demo`` scaffolds the ``hil init`` project into the report folder and runs
its tests there: the demo suite and the scaffold are one and the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from hil.cli.status import EXIT_FAILED, EXIT_INFRA, EXIT_INPUT, EXIT_OK
from hil.pytestplugin.project import find_project
from hil.pytestplugin.writers import WRITERS, writer
from hil.targets.definition import TargetDefinition, inventory, resolve

#: pytest's exit status when no test was collected or all were deselected.
PYTEST_NO_TESTS = 5


def report_dir(reports: Path) -> Path:
    """A new ``<reports>/<UTC timestamp>/`` folder."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = reports / stamp
    n = 1
    while path.exists():
        n += 1
        path = reports / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def pytest_command(
    targets: list[str],
    out: Path,
    pytest_args: list[str],
    history: Sequence[Path] = (),
    rootdir: Path | None = None,
    inifile: Path | None = None,
) -> list[str]:
    """The pytest command line: one xdist worker per target, each bound to its target's group.

    The project's ``rootdir`` and configuration file are passed explicitly (``--rootdir``, ``-c``), and
    every option takes its value with ``=``: pytest (and each xdist worker) would otherwise take a
    report path outside the project for a test path and settle on another rootdir, losing the project's
    settings and target definitions."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    if rootdir is not None:
        command.append(f"--rootdir={rootdir}")
    if inifile is not None:
        command.append(f"--config-file={inifile}")
    command += [
        f"--hil-artifacts={out / 'artifacts'}",
        *(f"{w.option}={out / w.file_name}" for w in WRITERS),  # every report of the writers' table
        *(f"--hil-history={Path(h).resolve()}" for h in history),
    ]
    for name in targets:
        command.append(f"--hil-target={name}")
    if len(targets) > 1:
        command += ["-p", "xdist", "-n", str(len(targets)), "--dist", "loadgroup"]
    return command + pytest_args


def select_targets(selectors: Sequence[str], folders: Sequence[Path], cwd: Path) -> list[tuple[TargetDefinition, str]]:
    """The targets ``hil nightly`` runs (also what ``hil host`` checks): each selected definition once,
    with the ``--hil-target`` argument pytest gets for it; no selector: every target of the inventory.
    A path (``.toml`` or with a ``/``) is relative to ``cwd``; an unknown target is a ConfigError."""
    chosen: list[tuple[TargetDefinition, str]] = []
    for selector in selectors or list(inventory(folders)):
        is_path = selector.endswith(".toml") or "/" in selector
        for definition in resolve(str((cwd / selector).resolve()) if is_path else selector, folders):
            if all(definition.name != d.name for d, _ in chosen):
                # a path as given; labgrid:PLACE as given (pytest derives the same definition)
                argument = (
                    definition.source if is_path else selector if selector.startswith("labgrid:") else definition.name
                )
                chosen.append((definition, argument))
    return chosen


def nightly(
    selectors: Sequence[str],
    reports: Path,
    pytest_args: Sequence[str],
    targets_dirs: Sequence[str] = (),
    cwd: Path | None = None,
    out: Path | None = None,
    history: Sequence[Path] = (),
) -> int:
    """Run the project's tests in ``cwd`` over the selected targets (all of the inventory by default).

    ``reports`` is made absolute against the caller's folder; ``out`` is the report
    folder to use (default: a new ``<reports>/<UTC timestamp>/``).
    """
    cwd = (cwd or Path.cwd()).resolve()
    pytest_args = [*(f"--hil-targets-dir={Path(d).resolve()}" for d in targets_dirs), *pytest_args]
    project = find_project(pytest_args, cwd)
    chosen = select_targets(selectors, project.targets.folders, cwd)
    names = [definition.name for definition, _ in chosen]
    arguments = [argument for _, argument in chosen]  # what pytest gets: inventory names, or the .toml path given
    out = (out or report_dir(reports.resolve())).resolve()
    command = pytest_command(arguments, out, list(pytest_args), history, project.rootdir, project.inifile)
    print(
        f"hil nightly: targets {', '.join(names)}; definitions {project.targets.describe()}; "
        f"tests from {project.inifile or project.rootdir}; report folder {out}",
        flush=True,
    )
    (out / "command.txt").write_text(f"cd {cwd} && " + " ".join(command) + "\n")
    started = time.monotonic()
    rc, cancelled = run_forwarding_signals(command, cwd)
    elapsed = time.monotonic() - started
    summary = out / writer("summary").file_name
    if rc == PYTEST_NO_TESTS:
        where = f"testpaths in {project.inifile}" if project.inifile else f"test files under {project.rootdir}"
        print(
            f"hil nightly: no tests selected (pytest exit {rc}): check the {where}, or the test arguments "
            f"after '--' ({' '.join(pytest_args) or 'none given'})",
            file=sys.stderr,
        )
        return EXIT_INPUT
    if summary.exists():
        print(summary.read_text(), end="")
    junit = out / writer("junit").file_name
    if cancelled is not None and not junit.exists():
        write_cancelled_junit(junit, cancelled)
    written = "".join(f"; {w.label} {out / w.file_name}" for w in WRITERS if (out / w.file_name).exists())
    print(f"hil nightly: {elapsed:.1f} s{written}; artifacts {out / 'artifacts'}")
    if cancelled is not None:
        print(f"hil nightly: cancelled by {cancelled.name} (pytest exit {rc})", file=sys.stderr)
        return 128 + int(cancelled)
    from hil.pytestplugin.summary import COUNTS_NAME

    return _verdict(rc, summary.with_name(COUNTS_NAME))


def write_cancelled_junit(path: Path, cancelled: signal.Signals) -> None:
    """The junit.xml of a run cancelled before pytest could write one (the signal reached pytest before it
    had started a test and set up its handler): valid, with no test, saying so, so a CI server's JUnit
    step finds the report the nightly names (issue 22.7)."""
    why = f"cancelled by {cancelled.name} before pytest started a test"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<testsuites name="hil nightly" tests="0" failures="0" errors="0" skipped="0" time="0">\n'
        f'  <testsuite name="cancelled" tests="0" failures="0" errors="0" skipped="0" time="0">\n'
        f"    <system-err>{why}</system-err>\n"
        "  </testsuite>\n"
        "</testsuites>\n",
        encoding="utf-8",
    )


def run_forwarding_signals(command: list[str], cwd: Path) -> tuple[int, signal.Signals | None]:
    """Run pytest in a process group of its own; SIGINT and SIGTERM to ``hil`` (Ctrl-C, a cancelled
    CI job, to ``hil`` alone or to its whole group) are passed on to that group once, and ``hil`` waits
    for pytest to finish its report.  (pytest's exit status, the first signal forwarded or None.)"""
    received: list[signal.Signals] = []
    proc: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: object) -> None:
        sig = signal.Signals(signum)
        if not received and proc is not None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        received.append(sig)

    # the handlers first: a signal the moment pytest starts (before a handler was set) would otherwise end
    # hil alone, leaving pytest running with no report named
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        proc = subprocess.Popen(command, cwd=cwd, process_group=0)
        if received:  # arrived while pytest was being started: passed on now
            try:
                os.killpg(proc.pid, received[0])
            except ProcessLookupError:
                pass
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:  # a SIGINT that arrived before the handler was set
                forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return rc, (received[0] if received else None)


def _verdict(pytest_rc: int, counts_file: Path) -> int:
    try:
        counts = json.loads(counts_file.read_text())
    except (OSError, ValueError):
        return EXIT_OK if pytest_rc == 0 else (EXIT_INPUT if pytest_rc in (3, 4) else EXIT_FAILED)
    failed = sum(c.get("failed", 0) for c in counts.values())
    errors = sum(c.get("errors", 0) for c in counts.values())
    infra = sum(c.get("infrastructure", 0) for c in counts.values())
    if failed or errors > infra:
        return EXIT_FAILED
    if infra:
        return EXIT_INFRA
    return EXIT_OK if pytest_rc == 0 else EXIT_FAILED


def demo(reports: Path, selectors: Sequence[str] = ("qemu",)) -> int:
    """The ``hil init`` project, scaffolded into the report folder, run there on the public QEMU target."""
    from hil.cli.scaffold import scaffold

    out = report_dir(reports.resolve())
    project = out / "project"
    scaffold(project)
    print(f"hil demo: the 'hil init' project in {project}", flush=True)
    return nightly(selectors, reports, ["-v"], cwd=project, out=out)

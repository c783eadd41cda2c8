"""qvmsim's headers provide the QNX 8.0 vdev API as QNX documents it.

The probes live in ``qnx80_api.toml`` next to this file: one per identifier or
shape documented for QNX SDP 8.0 (a page of the public 8.0 documentation, or
the public 8.0 vdev source), each a small C body that compiles only if the
name exists with the documented shape.  All probes are compiled in one
translation unit per language (C11 and C++17, ``-fsyntax-only -Wall -Wextra
-Werror``), once plain and once with ``-DQVMSIM_PORTABLE``; when that fails,
each probe is compiled alone to name exactly the identifiers that fail.

``python -m tests.qvmsim.test_qnx80_api --table`` prints the status of every
probe as a markdown table.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hil.targets.sdk import include_dir
from tests.support.needs import require_program

PROBES_FILE = Path(__file__).with_name("qnx80_api.toml")

HEADERS = ("qvm/vdev-core.h", "qvm/guest.h", "qvm/log.h", "qvm/wdog.h", "qvm/types.h", "qvm/gasp.h", "qvm/vdev.h")
"""The headers a probe may name (virtio helpers are out of scope)."""

DOC_PREFIX = "https://www.qnx.com/developers/docs/8.0/"
VDEV_PREFIX = "public 8.0 vdev: "
PROBE_KEYS = ("id", "header", "source", "fact", "code")
NEGATIVE_KEYS = ("id", "header", "why", "code")

PREAMBLE = (
    "#include <stdint.h>\n#include <stddef.h>\n#include <string.h>\n#include <pthread.h>\n#include <qvm/vdev.h>\n"
)

COMPILERS = {"c": ("gcc", "-x", "c", "-std=c11"), "c++": ("g++", "-x", "c++", "-std=c++17")}
WARNINGS = ("-fsyntax-only", "-Wall", "-Wextra", "-Werror")
CONFIGS = [("c", False), ("c++", False), ("c", True), ("c++", True)]
"""(language, portable): portable defines QVMSIM_PORTABLE (documented names only)."""


@dataclass(frozen=True)
class Probe:
    id: str
    header: str
    code: str
    source: str = ""
    fact: str = ""


BASELINE = Probe("(headers alone)", "qvm/vdev.h", "(void)0;")
"""An empty probe: it fails only if the headers themselves do not compile."""


def load(path: Path = PROBES_FILE) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def probes(data: dict[str, Any] | None = None) -> list[Probe]:
    data = load() if data is None else data
    return [Probe(p["id"], p["header"], p["code"], p["source"], p["fact"]) for p in data.get("probe", [])]


def negatives(data: dict[str, Any] | None = None) -> list[Probe]:
    data = load() if data is None else data
    return [Probe(p["id"], p["header"], p["code"], fact=p["why"]) for p in data.get("portable_must_not_compile", [])]


def config_name(lang: str, portable: bool) -> str:
    return f"{lang}{' portable' if portable else ''}"


def translation_unit(items: list[Probe]) -> str:
    """One source file: the preamble, each probe's header once, then one function per probe."""
    lines = [PREAMBLE]
    for header in dict.fromkeys(p.header for p in items):
        lines.append(f"#include <{header}>\n")
    for n, p in enumerate(items):
        body = "\n".join("        " + line if line.strip() else "" for line in p.code.splitlines())
        lines.append(
            f"\n/* {p.id} */\n"
            f"void qnx80_probe_{n}(vdev_t *vdp, struct guest_cpu *gcp);\n"
            f"void qnx80_probe_{n}(vdev_t *vdp, struct guest_cpu *gcp)\n"
            "{\n    (void)vdp;\n    (void)gcp;\n    {\n"
            f"{body}\n"
            "    }\n}\n"
        )
    return "".join(lines)


def compile_source(source: str, lang: str, portable: bool, inc: Path | None = None) -> tuple[bool, str]:
    """Compile ``source`` (syntax only); return (ok, compiler output)."""
    inc = include_dir() if inc is None else inc
    cc, *lang_flags = COMPILERS[lang]
    cmd = [cc, *lang_flags, *WARNINGS, f"-I{inc}"]
    if portable:
        cmd.append("-DQVMSIM_PORTABLE")
    with tempfile.TemporaryDirectory(prefix="qnx80-probe-") as tmp:
        src = Path(tmp) / ("probe.c" if lang == "c" else "probe.cc")
        src.write_text(source)
        proc = subprocess.run([*cmd, str(src)], capture_output=True, text=True, timeout=120)
    output = (proc.stdout + proc.stderr).replace(str(src), src.name).replace(f"{inc}/", "")
    return proc.returncode == 0, output


def first_error(output: str) -> str:
    """The first compiler diagnostic line that says error (else the first non-empty line).

    It keeps its location: ``probe.c:LINE:COL`` for the probe itself, ``qvm/x.h:LINE:COL``
    when the error is inside a header.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error" in line:
            return line
    return lines[0] if lines else "(no output)"


def failing_alone(items: list[Probe], lang: str, portable: bool, inc: Path | None = None) -> dict[str, str]:
    """Compile every probe in its own translation unit; return {id: first error line} of the failures."""

    def one(p: Probe) -> tuple[str, bool, str]:
        ok, out = compile_source(translation_unit([p]), lang, portable, inc)
        return p.id, ok, out

    failures: dict[str, str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for pid, ok, out in pool.map(one, items):
            if not ok:
                failures[pid] = first_error(out)
    return failures


def check(items: list[Probe], lang: str, portable: bool, inc: Path | None = None) -> dict[str, str]:
    """All probes at once; on failure, each alone.  Returns {id: error} (empty when all compile)."""
    ok, out = compile_source(translation_unit(items), lang, portable, inc)
    if ok:
        return {}
    failures = failing_alone(items, lang, portable, inc)
    if not failures:  # only fails together: report the whole-unit error
        failures["(all probes together)"] = first_error(out)
    return failures


def _need(lang: str) -> None:
    require_program(COMPILERS[lang][0], "g++" if lang == "c++" else "gcc")


@pytest.mark.parametrize("lang,portable", CONFIGS, ids=[config_name(*c).replace(" ", "-") for c in CONFIGS])
def test_documented_qnx80_api_compiles(lang: str, portable: bool) -> None:
    _need(lang)
    items = probes()
    failures = check(items, lang, portable)
    by_id = {p.id: p for p in items}
    report = [f"{pid} — {by_id[pid].source if pid in by_id else '-'} — {err}" for pid, err in failures.items()]
    assert not failures, (
        f"{len(failures)} of {len(items)} documented QNX 8.0 identifiers fail "
        f"({config_name(lang, portable)}):\n" + "\n".join(report)
    )


def test_probe_table_is_well_formed() -> None:
    data = load()
    items = data.get("probe", [])
    assert items, "no [[probe]] entries"
    problems = []
    seen: set[str] = set()
    for n, p in enumerate(items):
        name = p.get("id", f"probe #{n}")
        for key in PROBE_KEYS:
            if not isinstance(p.get(key), str) or not p[key].strip():
                problems.append(f"{name}: missing or empty '{key}'")
        if p.get("header") not in HEADERS:
            problems.append(f"{name}: header {p.get('header')!r} is not one of {HEADERS}")
        source = p.get("source", "")
        if not (source.startswith(DOC_PREFIX) or source.startswith(VDEV_PREFIX)):
            problems.append(f"{name}: source is neither a QNX 8.0 page nor the public 8.0 vdev: {source!r}")
        if "\n" in p.get("fact", ""):
            problems.append(f"{name}: fact must be one line")
        if name in seen:
            problems.append(f"{name}: duplicate id")
        seen.add(name)
    negative_ids: set[str] = set()
    for n, p in enumerate(data.get("portable_must_not_compile", [])):
        name = p.get("id", f"negative #{n}")
        for key in NEGATIVE_KEYS:
            if not isinstance(p.get(key), str) or not p[key].strip():
                problems.append(f"{name}: missing or empty '{key}'")
        if p.get("header") not in HEADERS:
            problems.append(f"{name}: header {p.get('header')!r} is not one of {HEADERS}")
        if name in seen or name in negative_ids:
            problems.append(f"{name}: duplicate id (or also a documented probe)")
        negative_ids.add(name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", ["c", "c++"])
def test_qvmsim_only_names_are_hidden_when_portable(lang: str) -> None:
    _need(lang)
    ok, out = compile_source(translation_unit([BASELINE]), lang, True)
    assert ok, f"the headers alone do not compile with -DQVMSIM_PORTABLE ({lang}): {first_error(out)}"
    visible = []
    for p in negatives():
        ok, _ = compile_source(translation_unit([p]), lang, True)
        if ok:
            visible.append(f"{p.id} ({p.header}): {p.fact}")
    assert not visible, f"qvmsim-only names still visible under -DQVMSIM_PORTABLE ({lang}):\n" + "\n".join(visible)


def table(inc: Path | None = None) -> str:
    """A markdown table: identifier | header | source page | status, and the count provided."""
    items = probes()
    failed: dict[str, list[str]] = {p.id: [] for p in items}
    errors: dict[str, str] = {}
    for lang, portable in CONFIGS:
        if shutil.which(COMPILERS[lang][0]) is None:
            for p in items:
                failed[p.id].append(config_name(lang, portable) + " (no compiler)")
            continue
        for pid, err in check(items, lang, portable, inc).items():
            if pid in failed:
                failed[pid].append(config_name(lang, portable))
                errors.setdefault(pid, err)
    rows = []
    for lang, portable in CONFIGS:
        if shutil.which(COMPILERS[lang][0]) is None:
            continue
        ok, out = compile_source(translation_unit([BASELINE]), lang, portable, inc)
        if not ok:
            rows.append(f"Note: the headers alone do not compile ({config_name(lang, portable)}): {first_error(out)}")
    if rows:
        rows.append("")
    rows += ["| identifier | header | source page | status |", "|---|---|---|---|"]
    for p in items:
        if failed[p.id]:
            status = f"fails ({', '.join(failed[p.id])}): {errors.get(p.id, '')}".replace("|", "\\|")
        else:
            status = "compiles"
        rows.append(f"| `{p.id}` | {p.header} | {p.source} | {status} |")
    provided = sum(1 for p in items if not failed[p.id])
    rows.append("")
    rows.append(
        f"{provided} of {len(items)} documented 8.0 identifiers provided "
        f"(compiling as C11 and C++17, with and without QVMSIM_PORTABLE)."
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="print the probe status as a markdown table")
    parser.add_argument(
        "--include",
        type=Path,
        default=None,
        help="folder holding qvm/*.h (default: qvmsim's own, hil.targets.sdk.include_dir())",
    )
    args = parser.parse_args(argv)
    if not args.table:
        parser.print_help()
        return 2
    print(table(args.include))
    return 0


if __name__ == "__main__":
    sys.exit(main())

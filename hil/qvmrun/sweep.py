"""The configuration-fault sweep: every option of a vdev given a bad value, each run required to end cleanly.

From the vdev factory's option list (qvmsim's ``qvm vdev NAME ?``: ``common loc``, ``common intr``,
``option NAME``, ``flag NAME``) ``cases`` makes one bad configuration per (option, fault kind) on top of
a valid baseline (the user's required options, e.g. ``loc 0x1c0f0000``):

* a value option: ``missing`` (the option as the last word: no argument), ``non-numeric``,
  ``negative``, ``zero``, ``overflow`` (2**64), ``huge`` (a 16 KiB word), ``repeat`` (an option of the
  baseline given twice: qvm's rule is that the last wins, so exit 0 is its documented acceptance);
* a flag: ``argument`` (a word after it), ``repeat``;
* ``common loc``: ``missing``, ``bad-loc`` (not an address), ``zero`` (length 0), ``overflow``;
  ``common intr``: ``missing``, ``bad-intr``;
* the vdev: ``unknown`` (an option it does not have);
* a value option, large numbers that a 64-bit parser takes: ``int31`` (2**31), ``int32`` (2**32),
  ``int63`` (2**63-1), ``billion`` (10**9): each may run or be refused, a crash or hang is a finding;
* an option with a declared range (a ``sweep.ranges`` file beside ``sweep.accept``: ``OPTION MIN MAX
  # why``): ``range-min``, ``range-max`` (they must run: a refusal is a finding), ``below-range``,
  ``above-range`` (they must be refused); every numeric case of that option is judged by the range.

Each case runs first as a ``dryrun`` (options, ``GUEST_CONFIGURED``, ``BOOTUP``: milliseconds); one
that passes the dryrun runs again with the guest started (a guest script that sleeps 50 ms, then
shuts down: ``GUEST_STARTING`` and ``TERMINATE`` run too).  Verdicts:

* ``CLEAN``: exit 65 or 64 with an ERROR/FATAL line from the vdev or naming it;
* ``ACCEPTED``: exit 0 for a ``repeat`` (qvm's documented rule), or for a case the vdev documents as
  accepted (``accept OPTION KIND`` in the vdev folder's ``sweep.accept``, or ``--accept OPTION=KIND``);
* ``FINDING``: a crash (killed by a signal), a hang (no end within the timeout), a sanitizer report,
  an exit 0 for a bad value nobody declared acceptable ("silent exit 0"), any other exit status, or
  exit 65/64 without a line naming the vdev.

Every finding keeps its configuration as ``findings/<case>.qvmconf`` (with the guest script it loads,
when it needed the guest started) to replay with ``hil qvm run --conf``.  The table is written as
``sweep.txt`` and ``sweep.json``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hil.core.command import shell_command
from hil.core.errors import SetupError
from hil.core.inputs import safe_name
from hil.core.text import terminal_safe
from hil.qvm.config import QvmConfig
from hil.qvm.result import QvmResult
from hil.qvmrun.gates import Gates

if TYPE_CHECKING:
    from hil.qvmrun.runner import QvmRunner
    from hil.targets.base import Target
    from hil.targets.deploy import Deployment

#: Fault kinds, in table order.
KINDS: tuple[str, ...] = (
    "missing", "argument", "non-numeric", "negative", "zero", "overflow", "huge", "repeat", "unknown",
    "bad-loc", "bad-intr", "int31", "int32", "int63", "billion", "range-min", "range-max", "below-range",
    "above-range",
)  # fmt: skip

#: Large numbers a value option is tried with: in range for a 64-bit parser, each past a common width
#: (a signed or unsigned 32-bit int, a signed 64-bit one) or simply big.  Without a declared range either
#: ending is fine (runs, or a clean configuration error); a crash or a hang is a finding.
_LARGE: dict[str, str] = {
    "int31": str(2**31),
    "int32": str(2**32),
    "int63": str(2**63 - 1),
    "billion": str(10**9),
}

#: What a case's run must do: be ``refused`` (a clean configuration error), ``run`` (a value inside the
#: option's declared range), or ``either``.
REFUSED, RUNS, EITHER = "refused", "runs", "either"

#: The bad word(s) of each kind for a value option (``None``: the option is the configuration's last word).
_VALUE_FAULTS: dict[str, str | None] = {
    "missing": None,
    "non-numeric": "x1",
    "negative": "-1",
    "zero": "0",
    "overflow": "18446744073709551616",
    "huge": "A" * 16384,
}
_LOC_FAULTS: dict[str, str | None] = {
    "missing": None,
    "bad-loc": "nowhere",
    "zero": "0x1c0f0000,0",
    "overflow": "0x10000000000000000",
}
_INTR_FAULTS: dict[str, str | None] = {"missing": None, "bad-intr": "nopic:x"}

#: The guest of a run that must start: it lets the vdevs see GUEST_STARTING, then shuts down (exit 0).
GUEST_SCRIPT = "sleep 50\nshutdown\n"
GUEST_NAME = "sweep-guest.gs"

CLEAN, ACCEPTED, FINDING = "CLEAN", "ACCEPTED", "FINDING"


@dataclass(frozen=True)
class VdevOption:
    """One entry of ``qvm vdev NAME ?``: kind ``common`` (loc, intr), ``option`` or ``flag``."""

    kind: str
    name: str


def parse_option_list(text: str) -> list[VdevOption]:
    """The options of ``qvm vdev NAME ?``'s output."""
    found = []
    for line in text.splitlines():
        m = re.match(r"^\s+(common|option|flag) (\S+)\s*$", line)
        if m:
            found.append(VdevOption(m.group(1), m.group(2)))
    return found


@dataclass(frozen=True)
class SweepCase:
    """One bad configuration: ``option`` given the fault ``kind`` (``words`` appended after the baseline)."""

    option: str
    kind: str
    words: tuple[str, ...]
    expect: str = REFUSED

    @property
    def id(self) -> str:
        return f"{self.option}-{self.kind}"

    @property
    def file_name(self) -> str:
        """``id`` as one file-name component (``safe_name``): option names come from the target, and a
        name such as ``../x`` must not put a run's files, or its clean-up, outside the sweep's folder."""
        return safe_name(self.id, 100)

    def shown(self) -> str:
        """The bad words as the table shows them (a huge word shortened)."""
        return " ".join(w if len(w) <= 24 else f"{w[:8]}...({len(w)} chars)" for w in self.words)


def _base_options(base: Sequence[str]) -> dict[str, list[str]]:
    """The baseline's words grouped by option (an option word followed by its argument, if it takes one)."""
    out: dict[str, list[str]] = {}
    i = 0
    while i < len(base):
        name = base[i]
        arg = base[i + 1 : i + 2]
        out[name] = [name, *arg]
        i += 1 + len(arg)
    return out


def _number(word: str | None) -> int | None:
    try:
        return None if word is None else int(word, 0)
    except ValueError:
        return None


def cases(
    options: Iterable[VdevOption],
    base: Sequence[str] = (),
    exclude: Iterable[str] = (),
    ranges: Mapping[str, tuple[int, int]] | None = None,
) -> list[SweepCase]:
    """One case per (option, fault kind) of the vdev's ``options`` (those in ``exclude`` left out);
    ``base``: the baseline's vdev option words (``["loc", "0x1c0f0000"]``); ``ranges``: an option's
    declared valid range (``sweep.ranges``): its ends and the numbers just outside are tried too, and
    every numeric case is judged by it (inside: it must run; outside: it must be refused)."""
    skip = set(exclude)
    ranges = ranges or {}
    given = _base_options(base)
    flags = {o.name for o in options if o.kind == "flag"}
    out: list[SweepCase] = []
    for opt in options:
        if opt.name in skip:
            continue
        if opt.kind == "flag":
            out += [SweepCase(opt.name, "argument", (opt.name, "1")), SweepCase(opt.name, "repeat", (opt.name,) * 2)]
            continue
        faults = _LOC_FAULTS if opt.name == "loc" else _INTR_FAULTS if opt.name == "intr" else _VALUE_FAULTS
        for kind, value in faults.items():
            out.append(SweepCase(opt.name, kind, (opt.name,) if value is None else (opt.name, value)))
        if faults is _VALUE_FAULTS:
            out += [SweepCase(opt.name, kind, (opt.name, value), EITHER) for kind, value in _LARGE.items()]
            if opt.name in ranges:
                low, high = ranges[opt.name]
                ends = {"range-min": low, "range-max": high, "below-range": low - 1, "above-range": high + 1}
                out += [SweepCase(opt.name, kind, (opt.name, str(v))) for kind, v in ends.items()]
                judged = []
                for case in out:
                    v = _number(case.words[1]) if case.option == opt.name and len(case.words) == 2 else None
                    if v is not None:
                        case = dataclasses.replace(case, expect=RUNS if low <= v <= high else REFUSED)
                    judged.append(case)
                out = judged
        if opt.name in given and opt.name not in flags:
            out.append(SweepCase(opt.name, "repeat", tuple(given[opt.name]) * 2))
    if "unknown" not in skip:
        out.append(SweepCase("unknown", "unknown", ("sweep_no_such_option", "1")))
    return out


@dataclass
class Acceptances:
    """Documented acceptances: (option, kind) pairs whose exit 0 is the vdev's documented behaviour
    (``*`` for any option or kind), each with its reason; and options left out of the sweep."""

    accept: dict[tuple[str, str], str] = field(default_factory=dict)
    exclude: dict[str, str] = field(default_factory=dict)
    #: option -> its valid range (inclusive), from ``sweep.ranges``
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)

    def read_ranges(self, path: Path) -> None:
        """A ``sweep.ranges`` file: ``OPTION MIN MAX  # why`` lines (integers, decimal or ``0x``)."""
        from hil.core.inputs import read_input_text

        text = read_input_text(path, "sweep.ranges", limit=1 << 20, fix="give a text file of OPTION MIN MAX lines")
        for n, raw in enumerate(text.splitlines(), 1):
            words = raw.partition("#")[0].split()
            if not words:
                continue
            bounds = [_number(w) for w in words[1:]]
            if len(words) != 3 or None in bounds or bounds[0] > bounds[1]:  # type: ignore[operator]
                raise SetupError(f"{path}:{n}: expected 'OPTION MIN MAX' with integers MIN <= MAX (then # why)")
            self.ranges[words[0]] = (int(bounds[0]), int(bounds[1]))  # type: ignore[arg-type]

    def reason(self, case: SweepCase) -> str | None:
        for key in ((case.option, case.kind), (case.option, "*"), ("*", case.kind)):
            if key in self.accept:
                return self.accept[key]
        return None

    def add(self, spec: str, reason: str = "accepted on the command line") -> None:
        """``OPTION=KIND[,KIND]`` (``*`` for any)."""
        option, sep, kinds = spec.partition("=")
        if not sep or not option or not kinds:
            raise SetupError(f"--accept {spec!r}: expected OPTION=KIND[,KIND...] (KIND one of {', '.join(KINDS)} or *)")
        for kind in kinds.split(","):
            if kind not in (*KINDS, "*"):
                raise SetupError(f"--accept {spec!r}: unknown fault kind {kind!r} (one of {', '.join(KINDS)} or *)")
            self.accept[(option, kind)] = reason

    @classmethod
    def read(cls, path: Path) -> Acceptances:
        """A ``sweep.accept`` file: ``accept OPTION KIND[,KIND]  # why`` and ``exclude OPTION  # why`` lines."""
        acc = cls()
        from hil.core.inputs import read_input_text

        text = read_input_text(path, "sweep.accept", limit=1 << 20, fix="give a text file of accept/exclude lines")
        for n, raw in enumerate(text.splitlines(), 1):
            text, _, why = raw.partition("#")
            words = text.split()
            if not words:
                continue
            reason = why.strip() or f"{path.name}:{n}"
            if words[0] == "accept" and len(words) == 3:
                try:
                    acc.add(f"{words[1]}={words[2]}", reason)
                except SetupError as exc:
                    raise SetupError(f"{path}:{n}: {exc}") from None
            elif words[0] == "exclude" and len(words) == 2:
                acc.exclude[words[1]] = reason
            else:
                raise SetupError(f"{path}:{n}: expected 'accept OPTION KIND[,KIND]' or 'exclude OPTION' (then # why)")
        return acc


@dataclass
class CaseResult:
    """A case's verdict (``CLEAN``, ``ACCEPTED``, ``FINDING``), what it saw and, for a finding, its replay file."""

    case: SweepCase
    verdict: str
    outcome: str  # "exit 65", "SIGSEGV", "HUNG", ...
    detail: str
    phase: str  # "dryrun" or "start"
    replay: Path | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "case": self.case.id,
            "option": self.case.option,
            "kind": self.case.kind,
            "words": self.case.shown(),
            "verdict": self.verdict,
            "outcome": self.outcome,
            "phase": self.phase,
            "detail": self.detail,
            "replay": str(self.replay) if self.replay else None,
        }


@dataclass
class SweepReport:
    """The sweep of one vdev on one target."""

    vdev: str
    target: str
    base: tuple[str, ...]
    results: list[CaseResult]
    excluded: dict[str, str]
    folder: Path
    #: the number of cases planned when the sweep was cancelled before the end (0: it ran to the end)
    planned: int = 0

    @property
    def findings(self) -> list[CaseResult]:
        return [r for r in self.results if r.verdict == FINDING]

    @property
    def clean(self) -> bool:
        return not self.findings

    def result(self, case_id: str) -> CaseResult:
        for r in self.results:
            if r.case.id == case_id:
                return r
        raise KeyError(case_id)

    def table(self) -> str:
        rows = [("case", "words", "verdict", "outcome", "phase", "detail")]
        rows += [(r.case.id, r.case.shown(), r.verdict, r.outcome, r.phase, r.detail) for r in self.results]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5] for row in rows]
        counts = {v: sum(r.verdict == v for r in self.results) for v in (CLEAN, ACCEPTED, FINDING)}
        head = (
            f"configuration-fault sweep of vdev {self.vdev} on {self.target} (baseline: {' '.join(self.base) or '-'}): "
            f"{len(self.results)} cases, {counts[CLEAN]} clean, {counts[ACCEPTED]} accepted, {counts[FINDING]} findings"
        )
        excluded = [f"excluded: {name} ({why})" for name, why in sorted(self.excluded.items())]
        if self.planned:
            head += f" - INTERRUPTED: {len(self.results)} of {self.planned} cases done"
        return "\n".join([head, *lines, *excluded]) + "\n"

    def to_json(self) -> dict[str, object]:
        return {
            "vdev": self.vdev,
            "target": self.target,
            "base": list(self.base),
            "clean": self.clean,
            "interrupted": bool(self.planned),
            "planned": self.planned or len(self.results),
            "excluded": self.excluded,
            "cases": [r.to_json() for r in self.results],
        }

    def write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "sweep.txt").write_text(terminal_safe(self.table()), encoding="utf-8")
        (self.folder / "sweep.json").write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


class _RawConfig(QvmConfig):
    """A configuration given as text, passed to qvm as it is (a bad one is the point: no checks)."""

    def __init__(self, text: str, files: Mapping[str, Path]) -> None:
        super().__init__()
        self._text = text
        self._files = dict(files)

    def render(self, path_map: Mapping[str, str] | None = None) -> str:
        text = self._text
        for name, remote in (path_map or {}).items():
            text = text.replace(f"load {name}\n", f"load {remote}\n")
        return text


def config_text(vdev: str, base: Sequence[str], case: SweepCase, dryrun: bool) -> str:
    """The case's ``.qvmconf``: ``dryrun`` (or the guest script) before the vdev, the bad words last."""
    head = "dryrun" if dryrun else f"load {GUEST_NAME}"
    words = " ".join(base)
    return (
        f"system sweep\n{head}\nvdev {vdev}\n" + (f"    {words}\n" if words else "") + f"    {' '.join(case.words)}\n"
    )


def _names_vdev(result: QvmResult, vdev: str) -> bool:
    pattern = re.compile(rf"\b{re.escape(vdev)}\b")
    return any(
        line.level in ("ERROR", "FATAL") and (line.source == vdev or bool(pattern.search(line.message)))
        for line in result.log
    )


def classify(
    case: SweepCase, result: QvmResult, vdev: str, dryrun: bool, accepted: str | None, sanitizer: Sequence[str] = ()
) -> tuple[str, str, str] | None:
    """(verdict, outcome, detail) of one run; None: a dryrun that passed (the case must start the guest)."""
    if result.hung:
        return FINDING, "HUNG", f"no end within the timeout: stopped by its escalation after {result.duration_s:.0f} s"
    if result.signal is not None:
        where = result.crash.headline() if result.crash is not None else f"killed by {result.signal}"
        return FINDING, result.signal, where
    if sanitizer:  # the run's sanitizer reports (``QvmRunner.sanitizer_findings``)
        first = next((ln for ln in sanitizer[0].splitlines() if "ERROR:" in ln or "runtime error" in ln), "")
        return FINDING, "SANITIZER", (first or sanitizer[0].splitlines()[0]).strip()[:160]
    status = result.exit_status
    if status in (64, 65):
        if _names_vdev(result, vdev):
            line = next(x for x in result.log if x.level in ("ERROR", "FATAL"))
            if case.expect == RUNS:
                return FINDING, f"exit {status}", "refused a value inside its declared range (sweep.ranges)"
            return CLEAN, f"exit {status}", re.sub(r"^\S+:\d+: ", "", line.message)[:120]
        return FINDING, f"exit {status}", "a configuration error without an ERROR/FATAL line naming the vdev"
    if status == 0:
        if dryrun:
            return None
        if case.expect in (RUNS, EITHER):
            return CLEAN, "exit 0", "a value in range: it runs" if case.expect == RUNS else "a large number: it runs"
        if case.kind == "repeat":
            return ACCEPTED, "exit 0", "a repeated option: the last wins (qvm's documented rule)"
        if accepted is not None:
            return ACCEPTED, "exit 0", f"documented: {accepted}"
        return FINDING, "exit 0", "silent exit 0: the bad value was accepted"
    return FINDING, f"exit {status}", f"unexpected ending {result.reason.name}"


def list_options(target: Target, deployment: Deployment, vdev: str, gates: Gates | None = None) -> list[VdevOption]:
    """``qvm vdev NAME ?`` on the target, with the vdev in ``deployment``'s folder (qvmsim targets only),
    started as every run of ``gates`` is (``Gates.launch``: a sanitizer vdev needs the sanitizer qvm)."""
    qvm, env = (gates or Gates()).launch(target, deployment)
    out = target.run(
        f"cd {shell_command([deployment.path])} && {env}{shell_command([qvm, 'vdev', vdev, '?'])}", timeout=30
    )
    options = parse_option_list(out.stdout_text)
    if out.exit_status != 0 or not re.search(rf"^vdev {re.escape(vdev)} options", out.stdout_text, re.MULTILINE):
        raise SetupError(
            f"'qvm vdev {vdev} ?' on {target.name} did not list the vdev's options (exit {out.exit_status}: "
            f"{(out.stderr_text or out.stdout_text).strip()[-300:]}); the sweep needs qvmsim's option listing"
        )
    return options


def run_sweep(
    target: Target,
    vdev_so: Path,
    vdev: str,
    folder: Path,
    *,
    base: Sequence[str] = (),
    acceptances: Acceptances | None = None,
    gates: Gates | None = None,
    timeout: float = 8.0,
    jobs: int = 2,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Sweep vdev ``vdev`` (the built ``vdev_so``) on ``target``; runs, findings and the table go to ``folder``."""
    from hil.qvmrun.runner import QvmRunner
    from hil.targets.deploy import create_deployment

    acc = acceptances or Acceptances()
    gates = gates or Gates()
    folder.mkdir(parents=True, exist_ok=True)
    findings_dir = folder / "findings"
    shutil.rmtree(findings_dir, ignore_errors=True)
    guest = folder / GUEST_NAME
    guest.write_text(GUEST_SCRIPT, encoding="utf-8")
    jobs = max(1, jobs)
    deployments: list[Deployment] = []
    free: list[int] = list(range(jobs))
    lock = threading.Lock()
    stopping = threading.Event()
    runners: list[QvmRunner] = []
    results: list[CaseResult] = []
    todo: list[SweepCase] = []

    def one(case: SweepCase) -> CaseResult:
        with lock:
            slot = free.pop()
        try:
            return _run_case(case, deployments[slot])
        finally:
            with lock:
                free.append(slot)

    def _run_case(case: SweepCase, deployment: Deployment) -> CaseResult:
        if stopping.is_set():
            raise _Stopped
        arts = folder / "runs" / case.file_name
        shutil.rmtree(arts, ignore_errors=True)
        arts.mkdir(parents=True)
        runner = QvmRunner(target, deployment, arts, None, gates)
        with lock:
            runners.append(runner)
        verdict: tuple[str, str, str] | None = None
        text = ""
        phase = "dryrun"
        for dry in (True, False):
            phase = "dryrun" if dry else "start"
            text = config_text(vdev, base, case, dry)
            files = {} if dry else {GUEST_NAME: guest}
            seen = len(runner.sanitizer_findings)
            result = runner.run(_RawConfig(text, files), timeout=timeout)
            reports = runner.sanitizer_findings[seen:]
            verdict = classify(case, result, vdev, dry, acc.reason(case), reports)
            if verdict is not None:
                break
        assert verdict is not None
        if stopping.is_set():
            raise _Stopped  # ended by the cancellation's kill: not a verdict
        replay = None
        if verdict[0] == FINDING:
            findings_dir.mkdir(exist_ok=True)
            replay = findings_dir / f"{case.file_name}.qvmconf"
            replay.write_text(text, encoding="utf-8")
            if phase == "start":
                shutil.copy(guest, findings_dir / GUEST_NAME)
        done = CaseResult(case, verdict[0], verdict[1], verdict[2], phase, replay)
        with lock:
            results.append(done)
        if log is not None:
            log(f"{case.id}: {done.verdict} ({done.outcome}) {done.detail}")
        return done

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for i in range(jobs):
            deployments.append(create_deployment(target, f"sweep-{vdev}-{i}"))
        for d in deployments:
            d.put_file(vdev_so, vdev_so.name, 0o755)
        todo = cases(list_options(target, deployments[0], vdev, gates), base, acc.exclude, acc.ranges)
        for future in [pool.submit(one, case) for case in todo]:
            future.result()
    except BaseException:  # cancelled (SIGTERM, Ctrl-C) or failed: stop every qvm, keep the table of what is done
        stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            running = [session for runner in runners for session in runner.sessions if session.running()]
        for session in running:
            try:
                session.process.signal("KILL")
            except Exception:  # noqa: BLE001, S110 - the deployment's clean-up kills what is left
                pass
        pool.shutdown(wait=True)
        if todo:
            _ordered(results, todo)
            SweepReport(vdev, target.name, tuple(base), results, dict(acc.exclude), folder, len(todo)).write()
        raise
    finally:
        pool.shutdown(wait=True)
        for d in deployments:
            try:
                d.cleanup()
            except Exception:  # noqa: BLE001, S110 - a clean-up never hides why the sweep ended
                pass
    _ordered(results, todo)
    report = SweepReport(vdev, target.name, tuple(base), results, dict(acc.exclude), folder)
    report.write()
    return report


class _Stopped(Exception):
    """A case not run, or not judged, because the sweep is being stopped."""


def _ordered(results: list[CaseResult], todo: list[SweepCase]) -> None:
    order = {case.id: i for i, case in enumerate(todo)}
    results.sort(key=lambda r: order.get(r.case.id, len(order)))


def default_acceptances(vdev_dir: Path | None) -> Acceptances:
    """The vdev folder's ``sweep.accept`` file and its ``sweep.ranges`` file (an option's valid range),
    if it has them."""
    acc = Acceptances()
    if vdev_dir is not None and vdev_dir.is_dir() and (vdev_dir / "sweep.accept").exists():
        acc = Acceptances.read(vdev_dir / "sweep.accept")
    if vdev_dir is not None and vdev_dir.is_dir() and (vdev_dir / "sweep.ranges").exists():
        acc.read_ranges(vdev_dir / "sweep.ranges")
    return acc


def folder_acceptances(
    vdev_dir: Path, accept: Iterable[str] = (), exclude: Iterable[str] = (), *, by: str = "on the command line",
    what: str = "sweep",
) -> Acceptances:  # fmt: skip
    """The sweep's acceptances for the vdev folder ``vdev_dir``: its ``sweep.accept``/``sweep.ranges`` files,
    with ``accept`` (``OPTION=KIND``: "accepted ``by``") and ``exclude`` (option names: "excluded ``by``")
    added.  A ``SetupError`` (``what``: who asks) when ``vdev_dir`` is not a folder.  Read before a target is
    brought up for the sweep (``hil vdev sweep``), so a bad ``--accept`` costs no boot."""
    if not vdev_dir.is_dir():
        raise SetupError(f"{what}: {vdev_dir} is not a vdev folder (a folder of .c files)")
    acceptances = default_acceptances(vdev_dir)
    for spec in accept:
        acceptances.add(spec, f"accepted {by}")
    for name in exclude:
        acceptances.exclude[name] = f"excluded {by}"
    return acceptances


def sweep_folder(
    target: Target,
    vdev_dir: Path,
    out: Path,
    acceptances: Acceptances,
    *,
    base: Sequence[str] = (),
    sanitize: tuple[str, ...] = (),
    timeout: float = 8.0,
    jobs: int = 2,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """The configuration-fault sweep of the vdev folder ``vdev_dir`` on ``target`` (up): the vdev built with
    the target's toolchain and the sanitizers of ``sanitize`` and its ``[toolchain] sanitize`` (whose
    reports are then findings), swept with ``acceptances`` (``folder_acceptances``); runs, findings,
    ``sweep.txt``/``sweep.json`` in ``out``.  The one set-up of ``hil vdev sweep`` (``orchestrate.sweep_once``)
    and the ``hil_sweep`` fixture."""
    from hil.targets.toolchain import build_vdev

    gates = Gates.for_target(target, False, sanitize)
    toolchain = target.toolchain().with_gates(False, gates.sanitize) if gates.sanitize else target.toolchain()
    built = build_vdev([vdev_dir], toolchain)
    return run_sweep(
        target, built.path, built.name, out, base=base, acceptances=acceptances,
        gates=Gates(sanitize=gates.sanitize), timeout=timeout, jobs=jobs, log=log,
    )  # fmt: skip

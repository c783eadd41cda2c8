"""A hostile guest: coverage-guided fuzzing of a vdev through its guest interface (``hil vdev fuzz``).

libFuzzer (clang's, from Debian's ``clang`` and ``libclang-rt-*-dev``) drives the vdev through qvmsim's
own guest paths: the harness (``hil/qvmsim/fuzz/harness.c``) is linked with qvmsim's sources built with
``-DQVMSIM_FUZZ`` under AddressSanitizer and UBSan, and loads the vdev built with
``-fsanitize=fuzzer-no-link,address,undefined``, so the vdev's edges and comparisons (``trace-cmp``: the
magic values it compares guest data with) guide the search.  Every input is a sequence of guest loads and
stores of every size at offsets of the vdev's regions, time passing on a virtual clock (its timers fire)
and interrupt acknowledgements, run against fresh vdev instances.

A finding (a sanitizer report, a crash, a hang, a broken qvmsim invariant; never a clean guest-visible
ending such as a watchdog bite or ``guest_terminate``) is minimised and saved in ``OUT/findings/N/``:
the input, the symbolised report, a guest script and configuration, and ``replay.sh``, which replays it
with ``hil qvm run --sanitize address,undefined`` against a gcc sanitizer build of the vdev.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hil.core.errors import SetupError
from hil.core.paths import cache_dir, hash_inputs
from hil.targets.sdk import QVMSIM_CFLAGS, QVMSIM_DIR, compiler_identity, include_dir, qvmsim_source_hash

#: The harness source (package data beside qvmsim's sources, not part of the ``qvm`` build).
HARNESS_SOURCE = QVMSIM_DIR / "fuzz" / "harness.c"
#: The compiler: clang (Debian's ``clang``; libFuzzer is in ``libclang-rt-N-dev``).
FUZZ_CC = "clang"
#: Both the harness and the vdev: ASan and UBSan, every report fatal, frames kept for the stacks.
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")
#: qvmsim's core: sanitized but not coverage-instrumented (the vdev's edges are what guide the search).
CORE_FLAGS = ("-O1", "-g", "-DQVMSIM_FUZZ", "-Dmain=qvmsim_main", *SANITIZE)
#: The vdev: coverage and comparison tracing for libFuzzer (``fuzzer-no-link``), sanitized.
VDEV_FLAGS = (
    "-std=gnu11", "-Wall", "-Wextra", "-O1", "-g", "-fPIC", "-shared",
    "-fsanitize=fuzzer-no-link", *SANITIZE,
)  # fmt: skip
#: A loc given when the base configuration has none (qvmsim's default region length, 0x1000).
DEFAULT_LOC = "0x1c0f0000"
#: The guest RAM of the generated configuration: where a driver puts virtqueues and DMA buffers (the
#: fuzzer writes and clears the first 64 KiB of the first RAM region).
DEFAULT_RAM = "0x80000000,0x10000"
#: qvmsim's sources instrumented like the vdev (their edges and comparisons guide the fuzzer too): the
#: virtio helper library a virtio vdev is built on, and guest RAM's address checks (hints of the RAM base).
INSTRUMENTED_CORE = ("vio.c", "ram.c")
#: libFuzzer's options for every worker: comparisons' distances guide it (value profile), and the vdev's
#: source constants are its dictionary (``source_dictionary``): magic values are found in seconds; leaks are
#: not memory errors a guest can exploit: off.
LIBFUZZER_ARGS = ("-detect_leaks=0", "-use_value_profile=1", "-print_final_stats=1", "-max_len=1024", "-reload=1")
#: How long minimising a finding may take at most, and how many tries each of libFuzzer's -minimize_crash
#: steps may take to find a smaller input before it stops (without a bound on the tries it goes on until the
#: time is up: 15 s for every finding; with it the planted bug's input comes down to its two accesses in ~1.5 s).
MINIMISE_SECONDS = 15
MINIMISE_RUNS = 10_000
#: ``sleep`` after a finding's guest script, before it shuts the guest down (lets timers act).
REPLAY_TAIL_MS = 200

# Op bytes of an input (harness.c): kind | size code << 3 | region << 5.
_OP_WRITE, _OP_READ, _OP_TIME, _OP_ACK, _OP_RAM = 0, 3, 5, 6, 7
_SIZE_CODE = {1: 0, 2: 1, 4: 2, 8: 3}

_STATUS_RE = re.compile(
    r"^#(?P<execs>\d+)\s+\w+\s+cov: (?P<cov>\d+) ft: \d+ corp: (?P<corp>\d+)/\S+"
    r"(?: lim: \d+)? exec/s: (?P<eps>\d+)"
)
_STAT_RE = re.compile(r"^stat::(\w+):\s+(\d+)")
_ACCESS_RE = re.compile(r"^qvmsim-fuzz: (\d+) inputs, (\d+) guest accesses")
_RAM_RE = re.compile(r"^qvmsim-fuzz: ram: 0x([0-9a-f]+),0x([0-9a-f]+)")
_REGION_RE = re.compile(r"^qvmsim-fuzz: region (\d+): vdev '([^']*)' at (io:)?0x([0-9a-f]+),0x([0-9a-f]+)")
_ARTIFACT_RE = re.compile(r"Test unit written to (\S+)")
_SUMMARY_RE = re.compile(r"^(SUMMARY: .*|==\d+== ?ERROR: .*)$", re.MULTILINE)
_INVARIANT_RE = re.compile(r"^==\d+==ERROR: (qvmsim-fuzz: invariant broken: .*)$", re.MULTILINE)


@dataclass(frozen=True)
class Region:
    """A vdev region the fuzzed guest reaches (what the harness reports at start)."""

    vdev: str
    space: str  # "" (memory) or "io:"
    loc: int
    length: int


@dataclass
class Finding:
    """One finding, saved in ``folder``: ``input`` (minimised), ``report.txt``, ``guest.script``,
    ``fuzz.qvmconf``, ``replay.sh``."""

    kind: str  # crash, timeout, oom, invariant
    summary: str  # the report's SUMMARY / ERROR line
    folder: Path

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "summary": self.summary, "folder": str(self.folder)}


@dataclass
class FuzzReport:
    """How a fuzz campaign went: throughput, coverage, findings."""

    vdev: str
    seconds: float
    jobs: int
    execs: int = 0
    accesses: int = 0
    edges: int = 0
    corpus: int = 0
    regions: list[Region] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    out: Path = Path()
    runs: int | None = None  # the inputs each worker was to run (--runs), if a number was asked for

    @property
    def short_of_runs(self) -> bool:
        """``--time`` was up before the workers ran the ``--runs`` asked for (and no finding stopped them):
        a smaller campaign than asked, which a slow machine gives (the summary says so)."""
        return self.runs is not None and not self.findings and self.execs < self.runs * self.jobs

    @property
    def execs_per_s(self) -> float:
        return self.execs / self.seconds if self.seconds > 0 else 0.0

    @property
    def accesses_per_s_per_worker(self) -> float:
        return self.accesses / self.seconds / max(self.jobs, 1) if self.seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [
            f"fuzz {self.vdev}: {self.seconds:.0f} s, {self.jobs} worker(s): {self.execs} inputs "
            f"({self.execs_per_s:.0f}/s), {self.accesses} guest accesses "
            f"({self.accesses_per_s_per_worker:.0f}/s per worker), {self.edges} edges, "
            f"corpus folder {self.corpus} inputs",
        ]
        if self.short_of_runs:
            lines.append(
                f"  SHORT: --time was up after {self.execs} of the {(self.runs or 0) * self.jobs} inputs "
                f"--runs {self.runs} asked for ({self.jobs} worker(s)): give it more --time"
            )
        for r in self.regions:
            lines.append(f"  region: vdev '{r.vdev}' at {r.space}0x{r.loc:x},0x{r.length:x}")
        if not self.findings:
            lines.append("  no finding")
        for f in self.findings:
            lines.append(f"  FINDING ({f.kind}): {f.summary}")
            lines.append(f"    replay: {f.folder / 'replay.sh'}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, object]:
        return {
            "vdev": self.vdev,
            "seconds": round(self.seconds, 3),
            "jobs": self.jobs,
            "execs": self.execs,
            "execs_per_s": round(self.execs_per_s, 1),
            "accesses": self.accesses,
            "accesses_per_s_per_worker": round(self.accesses_per_s_per_worker, 1),
            "edges": self.edges,
            "corpus": self.corpus,
            "regions": [{"vdev": r.vdev, "loc": f"{r.space}0x{r.loc:x}", "length": r.length} for r in self.regions],
            "findings": [f.to_json() for f in self.findings],
            "runs": self.runs,
            "short_of_runs": self.short_of_runs,
        }

    def write(self) -> None:
        (self.out / "fuzz.txt").write_text(self.summary())
        (self.out / "fuzz.json").write_text(json.dumps(self.to_json(), indent=2) + "\n")


# -- building ------------------------------------------------------------------------------------


def _need_clang() -> str:
    cc = shutil.which(FUZZ_CC)
    if cc is None:
        raise SetupError(
            "hil vdev fuzz needs clang with libFuzzer: install Debian's 'clang' and 'libclang-rt-14-dev' "
            "(scripts/install-host-deps, or hil host install)"
        )
    return cc


def _run_compile(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"building {what}: cannot run '{cmd[0]}': {exc}") from exc
    if proc.returncode != 0:
        hint = ""
        if "libclang_rt.fuzzer" in proc.stderr:
            hint = "\nlibFuzzer is missing: install Debian's libclang-rt-dev (or the libclang-rt-N-dev of your clang)"
        raise SetupError(
            f"building {what} failed (exit {proc.returncode}):\n{proc.stderr}{proc.stdout}"
            f"command: {shlex.join(cmd)}{hint}"
        )


def build_harness() -> Path:
    """The fuzzing qvm (``fuzz-qvm``): qvmsim's sources + the harness, cached by their hash and clang's."""
    cc = _need_clang()
    core = [*QVMSIM_CFLAGS, *CORE_FLAGS]
    key = hash_inputs(qvmsim_source_hash(), HARNESS_SOURCE, compiler_identity(cc), *core, *INSTRUMENTED_CORE, "fuzz-2")
    exe = cache_dir("fuzz", f"harness-{key}") / "fuzz-qvm"
    if exe.exists():
        return exe
    sources = [*sorted(QVMSIM_DIR.glob("*.c")), HARNESS_SOURCE]
    with tempfile.TemporaryDirectory(dir=exe.parent) as tmp:
        objs: list[str] = []
        for src in sources:
            obj = Path(tmp) / f"{src.stem}{'-fuzz' if src == HARNESS_SOURCE else ''}.o"
            cov = ["-fsanitize=fuzzer-no-link"] if src.name in INSTRUMENTED_CORE else []
            _run_compile([cc, *core, *cov, f"-I{include_dir()}", "-c", "-o", str(obj), str(src)], "the fuzz harness")
            objs.append(str(obj))
        out = Path(tmp) / "fuzz-qvm"
        link = [cc, "-fsanitize=fuzzer,address,undefined", "-o", str(out), *objs, "-rdynamic", "-ldl", "-lpthread"]
        _run_compile(link, "the fuzz harness")
        os.replace(out, exe)
    return exe


def build_fuzz_vdev(vdev_dir: Path, name: str) -> Path:
    """``vdev-NAME.so`` for fuzzing (clang, coverage + comparison tracing, ASan, UBSan), cached."""
    cc = _need_clang()
    files = sorted(vdev_dir.resolve().glob("*.c"))
    if not files:
        raise SetupError(f"hil vdev fuzz: {vdev_dir} holds no .c file (give the vdev's folder)")
    headers = sorted(vdev_dir.resolve().glob("*.h")) + sorted((include_dir() / "qvm").glob("*.h"))
    key = hash_inputs(compiler_identity(cc), *VDEV_FLAGS, *files, *headers)
    folder = cache_dir("fuzz", f"vdev-{name}-{key}")
    so = folder / f"vdev-{name}.so"
    if so.exists():
        return so
    tmp = folder / f".vdev-{name}.{os.getpid()}.so"
    _run_compile([cc, *VDEV_FLAGS, f"-I{include_dir()}", "-o", str(tmp), *map(str, files)], f"vdev {name} for fuzzing")
    os.replace(tmp, so)
    return so


# -- the configuration and the seeds -------------------------------------------------------------


def config_text(name: str, base: Sequence[str]) -> str:
    """The fuzzed guest's configuration: 64 KiB of guest RAM and one ``vdev NAME`` with the base words (a
    default loc if none)."""
    words = list(base)
    if "loc" not in words:
        words = ["loc", DEFAULT_LOC, *words]
    return f"system fuzz\nram {DEFAULT_RAM}\nvdev {name}\n    {shlex.join(words)}\n"


def _num(text: str) -> int:
    return int(text, 0)


def encode_script(lines: Sequence[str], regions: Sequence[Region], ram: Region | None = None) -> bytes:
    """A guest script (GUEST.md) as a fuzz input: its writes, reads, kicks, sleeps and irq acks that
    fall in the fuzzed regions, and its writes to the fuzzed guest RAM ``ram`` (the other commands are
    left out)."""
    out = bytearray()
    for raw in lines:
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        cmd = words[0]
        if cmd == "sleep" and len(words) == 2:
            out += bytes([_OP_TIME]) + struct.pack("<H", min(_num(words[1]), 0xFFFF))
        elif cmd == "irq" and len(words) >= 2 and words[1] == "ack":
            out += bytes([_OP_ACK, 0])
        elif cmd in ("write", "read", "kick"):
            if cmd == "kick":
                if not regions:
                    continue
                space, addr, size, value = regions[0].space, regions[0].loc, 4, 0
            else:
                if len(words) < (4 if cmd == "write" else 3):
                    continue
                space = "io:" if words[1].startswith("io:") else ""
                addr = _num(words[1].removeprefix("io:").removeprefix("mem:"))
                size = _num(words[2])
                value = _num(words[3]) if cmd == "write" else 0
            if cmd == "write" and ram is not None and not space and ram.loc <= addr <= ram.loc + ram.length - size:
                if size in _SIZE_CODE:
                    out.append(_OP_RAM | _SIZE_CODE[size] << 3)
                    out += struct.pack("<H", addr - ram.loc)
                    out += (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
                continue
            idx = next(
                (i for i, r in enumerate(regions) if r.space == space and r.loc <= addr < r.loc + r.length), None
            )
            if idx is None or size not in _SIZE_CODE or idx > 7:
                continue
            kind = _OP_WRITE if cmd != "read" else _OP_READ
            out.append(kind | _SIZE_CODE[size] << 3 | idx << 5)
            out += struct.pack("<H", (addr - regions[idx].loc) & 0xFFFF)
            if kind == _OP_WRITE:
                out += (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return bytes(out)


#: The default seeds' register walk: 4-byte accesses at the first offsets of a region (where registers are).
SEED_REGISTERS = 16


def default_seeds(regions: Sequence[Region]) -> list[bytes]:
    """Simple accesses: every size read and written at the start of each region; 4-byte reads and writes
    of each of its first registers; time passing."""
    seeds: list[bytes] = []
    for r in regions[:8]:
        lines = []
        for size in (1, 2, 4, 8):
            lines += [f"read {r.space}0x{r.loc:x} {size}", f"write {r.space}0x{r.loc:x} {size} 0"]
        one = encode_script(lines, regions)
        seeds.append(one)
        seeds.append(one + encode_script(["sleep 1500", f"read {r.space}0x{r.loc:x} 4"], regions))
        walk = [f"{op} {r.space}0x{r.loc + 4 * k:x} 4{' 0' if op == 'write' else ''}" for op in ("read", "write")
                for k in range(min(SEED_REGISTERS, r.length // 4))]  # fmt: skip
        seeds.append(encode_script(walk, regions))
    return seeds


#: A vdev's own fuzz settings, beside its source: ``base WORDS...`` (its options) and ``skip OFF[,LEN]``
#: lines (``#`` starts a comment); what ``hil vdev fuzz`` and ``hil nightly --fuzz`` use by default.
SETTINGS_FILE = "fuzz.settings"


@dataclass
class FuzzSettings:
    """``VDEV_DIR/fuzz.settings``: the base options and the skipped offsets of a vdev's fuzzing."""

    base: list[str] = field(default_factory=list)
    skip: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def read(cls, vdev_dir: Path) -> FuzzSettings:
        path = vdev_dir / SETTINGS_FILE
        settings = cls()
        if not path.is_file():
            return settings
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            try:
                if words[0] == "base":
                    settings.base += words[1:]
                    continue
                if words[0] == "skip" and len(words) == 2:
                    off, _, length = words[1].partition(",")
                    settings.skip.append((int(off, 0), int(length, 0) if length else 1))
                    continue
            except ValueError:
                pass
            raise SetupError(
                f"{path}:{number}: expected 'base OPTION WORDS...' or 'skip OFFSET[,LENGTH]', got '{raw.strip()}'"
            )
        return settings


#: At most this many of a vdev's source constants go into libFuzzer's dictionary.
DICTIONARY_LIMIT = 256
_INTEGER = re.compile(r"(?<![\w.])(0[xX][0-9a-fA-F]+|[1-9][0-9]*)[uUlL]*(?![\w.])")


def source_dictionary(vdev_dir: Path) -> str:
    """libFuzzer's dictionary (its ``-dict`` format) of the integer constants in the vdev's C sources and
    headers, each as the little-endian bytes of a 2-, 4- or 8-byte guest store: an unlock key or a magic
    value the vdev compares a register with (sp805's 0x1ACCE551) is then tried where a store's value goes,
    instead of waiting for the comparison feedback to reach it bit by bit."""
    values: dict[int, None] = {}
    for path in sorted({*vdev_dir.rglob("*.c"), *vdev_dir.rglob("*.h")}):
        if len(values) >= DICTIONARY_LIMIT:
            break
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for m in _INTEGER.finditer(text):
            value = int(m.group(1), 0)
            if 16 <= value < 1 << 64:  # small ones: the mutations' own
                values.setdefault(value, None)
                if len(values) >= DICTIONARY_LIMIT:
                    break
    lines = []
    for value in values:
        for size in (2, 4, 8):
            if value < 1 << (8 * size):
                lines.append('"' + "".join(f"\\x{b:02x}" for b in value.to_bytes(size, "little")) + '"')
                break
    return "\n".join(lines) + ("\n" if lines else "")


def find_seed_scripts(vdev_dir: Path) -> list[Path]:
    """The vdev's own guest scripts: ``*.guest`` and ``*.gs`` files in its folder and below."""
    return sorted({*vdev_dir.rglob("*.guest"), *vdev_dir.rglob("*.gs")})


# -- running -------------------------------------------------------------------------------------


def _symbolizer_env() -> dict[str, str]:
    env = dict(os.environ)
    sym = shutil.which("llvm-symbolizer") or next(
        (str(p) for p in sorted(Path("/usr/bin").glob("llvm-symbolizer-*"), reverse=True)), None
    )
    if sym:
        env["ASAN_SYMBOLIZER_PATH"] = sym
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0:symbolize=1:allocator_may_return_null=0"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:symbolize=1"
    return env


def probe_regions(harness: Path, conf: Path, vdev_path: Path, work: Path) -> tuple[list[Region], Region | None]:
    """Start the harness once with no input: the configuration must start; the regions it fuzzes and
    the guest RAM it writes (None without a ``ram``)."""
    empty = work / "empty-input"
    empty.write_bytes(b"")
    env = _harness_env(conf, vdev_path)
    proc = subprocess.run(
        [str(harness), "-runs=0", str(empty)], env=env, capture_output=True, text=True, timeout=120, cwd=work
    )
    regions = [
        Region(m.group(2), m.group(3) or "", int(m.group(4), 16), int(m.group(5), 16))
        for m in (_REGION_RE.match(line) for line in proc.stderr.splitlines())
        if m
    ]
    ram = next(
        (Region("ram", "", int(m.group(1), 16), int(m.group(2), 16))
         for m in (_RAM_RE.match(line) for line in proc.stderr.splitlines()) if m),
        None,
    )  # fmt: skip
    if proc.returncode != 0 or not regions:
        raise SetupError(
            f"hil vdev fuzz: the configuration does not start a guest (exit {proc.returncode}):\n"
            f"{proc.stderr[-4000:]}\nconfiguration {conf}:\n{conf.read_text()}"
        )
    return regions, ram


def _harness_env(conf: Path, vdev_path: Path) -> dict[str, str]:
    env = _symbolizer_env()
    env["QVMSIM_FUZZ_CONF"] = str(conf)
    env["QVMSIM_VDEV_PATH"] = str(vdev_path)
    env.pop("QVMSIM_FUZZ_SCRIPT", None)
    return env


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes]
    log: Path
    offset: int = 0
    execs: int = 0
    eps: int = 0
    edges: int = 0
    corpus: int = 0
    accesses: int = 0
    artifact: Path | None = None
    partial: str = ""

    def poll_log(self) -> None:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        text = self.partial + chunk.decode("utf-8", "replace")
        lines = text.split("\n")
        self.partial = lines.pop()
        for line in lines:
            m = _STATUS_RE.match(line)
            if m:
                self.execs, self.edges = int(m.group("execs")), int(m.group("cov"))
                self.corpus, self.eps = int(m.group("corp")), int(m.group("eps"))
                continue
            s = _STAT_RE.match(line)
            if s and s.group(1) == "number_of_executed_units":
                self.execs = int(s.group(2))
            a = _ACCESS_RE.match(line)
            if a:
                self.accesses = int(a.group(2))
            art = _ARTIFACT_RE.search(line)
            if art:
                self.artifact = Path(art.group(1))


def _artifact_kind(artifact: Path) -> str:
    """libFuzzer's kind of a finding from its file name (``w0-timeout-<sha1>``, ``w1-crash-...``)."""
    name = re.sub(r"^w\d+-", "", artifact.name)
    return next((k for k in ("timeout", "oom", "slow-unit", "leak") if name.startswith(k)), "crash")


def _kind_of(artifact: Path, report: str) -> str:
    if "qvmsim-fuzz: invariant broken" in report:
        return "invariant"
    kind = _artifact_kind(artifact)
    return "hang" if kind == "timeout" else kind


_FRAME_RE = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ in (\S+) (\S+\.c:\d+)", re.MULTILINE)


def _summary_line(report: str) -> str:
    invariant = _INVARIANT_RE.search(report)
    if invariant:
        return invariant.group(1)
    timeout = re.search(r"ERROR: libFuzzer: (timeout after \d+ seconds)", report)
    if timeout:  # where it was: the first frame with a C source line (the vdev's, or qvmsim's)
        frame = _FRAME_RE.search(report[timeout.end() :])
        return f"hang: {timeout.group(1)}" + (f" in {frame.group(1)} {frame.group(2)}" if frame else "")
    lines = _SUMMARY_RE.findall(report)
    summary = next((ln for ln in lines if ln.startswith("SUMMARY:")), None)
    return summary or (lines[0] if lines else "(no report line: see report.txt)")


def fuzz_vdev(
    vdev_dir: Path,
    out: Path,
    *,
    base: Sequence[str] = (),
    base_conf: Path | None = None,
    seconds: float = 60.0,
    runs: int | None = None,
    jobs: int = 1,
    corpus: Path | None = None,
    hang_timeout: float = 10.0,
    seed_scripts: Sequence[Path] = (),
    skip: Sequence[tuple[int, int]] = (),
    progress: Callable[[str], None] | None = None,
    interval: float = 5.0,
) -> FuzzReport:
    """Fuzz the vdev folder ``vdev_dir`` for ``seconds`` with ``jobs`` libFuzzer workers sharing the corpus
    folder ``corpus`` (default ``OUT/corpus``, kept between runs); progress lines go to ``progress`` every
    ``interval`` s.  ``base``: the vdev's options (words, e.g. ``loc 0x1c0f0000 timeout 500``), or
    ``base_conf``: a whole .qvmconf naming the vdev ``vdev NAME``.  ``skip``: (offset, length) ranges of
    the regions the guest never touches (documented fault-injection registers).  A finding's folder
    also gets the vdev's gcc sanitizer build its ``replay.sh`` runs.  ``runs``: each worker stops after that
    many inputs (libFuzzer's ``-runs``) if ``seconds`` are not up first: a campaign of a fixed size, the same
    on a fast machine and a slow one (a CI gate), where ``seconds`` alone gives a slow runner fewer inputs."""
    if not vdev_dir.is_dir():
        raise SetupError(f"hil vdev fuzz: {vdev_dir} is not a vdev folder (a folder of .c files)")
    if seconds <= 0 or jobs < 1:
        raise SetupError("hil vdev fuzz: --time must be above 0 and --jobs at least 1")
    if runs is not None and runs < 1:
        raise SetupError(f"hil vdev fuzz: --runs must be at least 1 (got {runs}): the inputs each worker runs")
    name = vdev_dir.resolve().name
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    corpus = corpus or out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    harness = build_harness()
    so = build_fuzz_vdev(vdev_dir, name)
    conf = out / "fuzz.qvmconf"
    conf.write_text(base_conf.read_text() if base_conf is not None else config_text(name, base))
    skip_env = ";".join(f"0x{off:x},0x{length:x}" for off, length in skip)
    regions, ram = probe_regions(harness, conf.resolve(), so.parent, work)
    seeds = work / "seeds"
    seeds.mkdir()
    for i, seed in enumerate(default_seeds(regions)):
        (seeds / f"simple-{i}").write_bytes(seed)
    for path in [*find_seed_scripts(vdev_dir), *seed_scripts]:
        data = encode_script(path.read_text().splitlines(), regions, ram)
        if data:
            (seeds / f"script-{path.stem}").write_bytes(data)
    dictionary = work / "vdev.dict"
    dictionary.write_text(source_dictionary(vdev_dir))
    report = FuzzReport(name, 0.0, jobs, regions=regions, out=out, runs=runs)
    crashes = work / "crashes"
    crashes.mkdir()
    env = _harness_env(conf.resolve(), so.parent)
    env["QVMSIM_FUZZ_SKIP"] = skip_env
    start = time.monotonic()
    workers: list[_Worker] = []
    for i in range(jobs):
        log = work / f"worker{i}.log"
        cmd = [
            str(harness), *LIBFUZZER_ARGS, f"-max_total_time={max(1, int(seconds))}",
            f"-timeout={max(1, int(hang_timeout))}", f"-artifact_prefix={crashes}/w{i}-",
            f"-dict={dictionary.resolve()}", *([f"-runs={runs}"] if runs is not None else []),
            str(corpus.resolve()), str(seeds.resolve()),
        ]  # fmt: skip
        with log.open("wb") as logf:
            proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=work)
        workers.append(_Worker(i, proc, log))
    try:
        next_line = start + interval
        while any(w.proc.poll() is None for w in workers):
            time.sleep(0.25)
            for w in workers:
                w.poll_log()
            if any(w.artifact is not None for w in workers):
                break  # one finding stops the campaign (as libFuzzer does): fix it, fuzz again
            if progress is not None and time.monotonic() >= next_line:
                next_line += interval
                progress(_progress_line(time.monotonic() - start, workers))
            if time.monotonic() - start > seconds + 60:
                break
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in workers:
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            w.poll_log()
    report.seconds = time.monotonic() - start
    report.execs = sum(w.execs for w in workers)
    report.accesses = sum(w.accesses for w in workers)
    report.edges = max((w.edges for w in workers), default=0)
    report.corpus = sum(1 for _ in corpus.iterdir())
    if progress is not None:
        progress(_progress_line(report.seconds, workers))
    for n, w in enumerate(w for w in workers if w.artifact is not None):
        assert w.artifact is not None
        artifact = w.artifact if w.artifact.is_absolute() else work / w.artifact
        report.findings.append(
            _save_finding(harness, env, artifact, out / "findings" / str(n + 1), vdev_dir, conf, hang_timeout, progress)
        )
    report.write()
    return report


def _progress_line(elapsed: float, workers: Sequence[_Worker]) -> str:
    execs = sum(w.execs for w in workers)
    eps = sum(w.eps for w in workers)
    edges = max((w.edges for w in workers), default=0)
    corpus = max((w.corpus for w in workers), default=0)
    found = sum(1 for w in workers if w.artifact is not None)
    return (
        f"fuzz {elapsed:6.0f} s  {execs:>10} inputs  {eps:>7} exec/s  edges {edges:>5}  "
        f"corpus {corpus:>5}  findings {found}"
    )


def _save_finding(
    harness: Path,
    env: dict[str, str],
    artifact: Path,
    folder: Path,
    vdev_dir: Path,
    conf: Path,
    hang_timeout: float,
    progress: Callable[[str], None] | None,
) -> Finding:
    """Minimise the finding's input, translate it into a guest script, keep its symbolised report."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(artifact, folder / "input.orig")
    minimised = folder / "input"
    if _artifact_kind(artifact) == "crash":  # a hang or an oom is kept as found (each try would cost it again)
        if progress is not None:
            progress(f"fuzz: minimising {artifact.name}")
        try:
            subprocess.run(
                [str(harness), "-minimize_crash=1", f"-max_total_time={MINIMISE_SECONDS}", "-detect_leaks=0",
                 f"-runs={MINIMISE_RUNS}",
                 f"-exact_artifact_path={minimised}", str(artifact)],
                env=env, capture_output=True, timeout=MINIMISE_SECONDS + 60, cwd=artifact.parent,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            minimised.unlink(missing_ok=True)
    if not minimised.exists():
        shutil.copy2(artifact, minimised)
    script = folder / "guest.script"
    run_env = dict(env)
    run_env["QVMSIM_FUZZ_SCRIPT"] = str(script)
    proc = subprocess.run(
        [str(harness), f"-timeout={max(1, int(hang_timeout))}", str(minimised)],
        env=run_env, capture_output=True, text=True, timeout=hang_timeout + 120,
    )  # fmt: skip
    report = proc.stderr
    (folder / "report.txt").write_text(report)
    kind = _kind_of(artifact, report)
    lines = script.read_text().splitlines() if script.exists() else []
    lines += [f"sleep {REPLAY_TAIL_MS}", "shutdown"]
    script.write_text("\n".join(lines) + "\n")
    shutil.copy2(conf, folder / "fuzz.qvmconf")
    from hil.targets.sdk import SANITIZERS
    from hil.targets.toolchain import Toolchain, build_vdev

    built = build_vdev([vdev_dir], Toolchain().with_gates(False, SANITIZERS), out_dir=folder)
    name = built.name
    so_note = built.path.name
    (folder / "replay.sh").write_text(
        "#!/bin/sh\n"
        f"# Replays fuzz finding '{_summary_line(report)}' of vdev {name}\n"
        "# with qvmsim's sanitizer build and a gcc sanitizer build of the vdev (beside this file).\n"
        'cd "$(dirname "$0")" || exit 2\n'
        f"exec hil qvm run --target local --sanitize address,undefined --conf fuzz.qvmconf --vdev {so_note} "
        '--guest guest.script --timeout 30 --artifacts replay "$@"\n'
    )
    (folder / "replay.sh").chmod(0o755)
    return Finding(kind, _summary_line(report), folder)

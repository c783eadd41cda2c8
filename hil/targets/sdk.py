"""The vdev SDK on the host: qvmsim's public headers and the host qvmsim build.

``include_dir()`` is the folder holding ``qvm/vdev.h`` (and its siblings);
``build_qvmsim()`` compiles qvmsim (``hil/qvmsim/*.c``) into a ``qvm``
executable, cached by the hash of its sources, the compiler and the flags.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from hil.core.errors import SetupError
from hil.core.paths import PACKAGE_DIR, cache_dir, hash_inputs

QVMSIM_DIR = PACKAGE_DIR / "qvmsim"
"""qvmsim's C sources (and its Makefile, for builds outside Python)."""

QVMSIM_FLAGS_FILE = QVMSIM_DIR / "flags.mk"
"""qvmsim's compiler flags, shared with its Makefile: comments and ``NAME = words`` lines."""


def read_flags(path: Path = QVMSIM_FLAGS_FILE) -> dict[str, tuple[str, ...]]:
    """The ``NAME = words`` lines of ``flags.mk`` (``#`` starts a comment)."""
    flags: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, eq, value = line.partition("=")
        if not eq or not name.strip().isidentifier():
            raise SetupError(f"{path}:{number}: expected NAME = flags, got '{line}'")
        flags[name.strip()] = tuple(shlex.split(value))
    return flags


_FLAGS = read_flags()
QVMSIM_CFLAGS: tuple[str, ...] = _FLAGS["QVMSIM_CFLAGS"] + _FLAGS["QVMSIM_OPTFLAGS"]
QVMSIM_LDFLAGS: tuple[str, ...] = _FLAGS["QVMSIM_LDFLAGS"]
QVMSIM_EXECUTABLE = "qvm"

SANITIZERS: tuple[str, ...] = ("address", "undefined")
"""The sanitizers of ``--hil-sanitize``: ASan (with LeakSanitizer) and UBSan."""
SANITIZE_FLAGS: tuple[str, ...] = ("-fno-omit-frame-pointer", "-fno-sanitize-recover=address")
"""Added with ``-fsanitize=...`` to a sanitizer build (qvmsim's and the vdevs')."""

_built: dict[tuple[str, ...], Path] = {}


def include_dir() -> Path:
    """The folder that contains ``qvm/`` (pass it as ``-I`` to build a vdev for qvmsim)."""
    return QVMSIM_DIR / "include"


def qvmsim_sources() -> list[Path]:
    """qvmsim's C files, in a stable order."""
    return sorted(QVMSIM_DIR.glob("*.c"))


def _hashed_files() -> list[Path]:
    files = [
        *QVMSIM_DIR.glob("*.c"),
        *QVMSIM_DIR.glob("*.h"),
        *include_dir().glob("*.h"),
        *(include_dir() / "qvm").glob("*.h"),
        *(include_dir() / "sys").glob("*.h"),
        QVMSIM_FLAGS_FILE,
    ]
    return sorted(files)


def qvmsim_source_hash() -> str:
    """A short hash of qvmsim's sources, headers and flags (for caches, e.g. the image build)."""
    items: list[str | Path] = []
    for path in _hashed_files():
        items.append(str(path.relative_to(QVMSIM_DIR)))
        items.append(path)
    return hash_inputs(*items)


@functools.cache
def compiler_identity(cc: str, env_items: tuple[tuple[str, str], ...] = ()) -> str:
    """What identifies a compiler for cache keys: its resolved path and ``--version`` output.

    Cached per process.  Raises SetupError if the compiler cannot be run.
    """
    env = dict(os.environ)
    env.update(env_items)
    resolved = shutil.which(cc, path=env.get("PATH")) or cc
    try:
        proc = subprocess.run([resolved, "--version"], env=env, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"compiler '{cc}' cannot be run ({exc}): install it or put it on PATH") from exc
    return f"{resolved}\n{proc.stdout}{proc.stderr}"


def qvmsim_compile_command(cc: str, output: Path, sanitize: tuple[str, ...] = ()) -> list[str]:
    """The command that builds qvmsim into ``output`` (also what the Makefile does); with
    ``sanitize``, a sanitizer build (its runtime then comes first in the initial library list)."""
    gates = [*SANITIZE_FLAGS, f"-fsanitize={','.join(sanitize)}"] if sanitize else []
    return [
        cc,
        *QVMSIM_CFLAGS,
        *gates,
        f"-I{include_dir()}",
        "-o",
        str(output),
        *(str(p) for p in qvmsim_sources()),
        *QVMSIM_LDFLAGS,
    ]


SLOG2INFO_SOURCE = QVMSIM_DIR / "tools" / "slog2info.c"
"""qvmsim's stand-in for QNX's ``slog2info`` (it reads what qvmsim's ``slog`` destination writes)."""


def build_slog2info(cc: str = "gcc") -> Path:
    """Build qvmsim's ``slog2info`` stand-in like qvmsim (same compiler and flags), cached by the
    hash of its source, the compiler and the flags; returns the executable's path."""
    key = hash_inputs(SLOG2INFO_SOURCE, compiler_identity(cc), *QVMSIM_CFLAGS)
    exe = cache_dir("qvmsim", f"slog2info-{key}") / "slog2info"
    if exe.exists():
        return exe
    _compile_executable("slog2info", exe, lambda out: [cc, *QVMSIM_CFLAGS, "-o", str(out), str(SLOG2INFO_SOURCE)], 120)
    return exe


def _compile_executable(what: str, exe: Path, command: Callable[[Path], list[str]], timeout: float) -> None:
    """Run the compile ``command(output)`` into a temporary file beside ``exe``, then move it into place
    (never a half-written ``exe``); a compiler that cannot run or fails is a SetupError with its output."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{what}-", dir=exe.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = command(tmp)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        tmp.unlink(missing_ok=True)
        raise SetupError(f"building {what}: cannot run '{cmd[0]}': {exc}") from exc
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise SetupError(
            f"building {what} failed (exit {proc.returncode}):\n{proc.stderr}{proc.stdout}command: {' '.join(cmd)}"
        )
    tmp.chmod(0o755)
    os.replace(tmp, exe)


def build_qvmsim(cc: str = "gcc", out_dir: Path | None = None, sanitize: tuple[str, ...] = ()) -> Path:
    """Build the host qvmsim (``qvm``) if needed and return the executable's path.

    Cached under ``cache_dir("qvmsim", <hash of sources, compiler, flags>)``;
    with ``out_dir`` the executable is also copied there (``out_dir/qvm``).
    A second call in the same process costs nothing.  A compile error raises
    SetupError carrying the compiler's output.  ``sanitize`` (some of ``SANITIZERS``):
    the sanitizer build, cached apart.
    """
    sanitize = tuple(sorted(set(sanitize)))
    memo_key = (cc, str(out_dir) if out_dir is not None else "", *sanitize)
    hit = _built.get(memo_key)
    if hit is not None and hit.exists():
        return hit
    key = hash_inputs(qvmsim_source_hash(), compiler_identity(cc), *QVMSIM_CFLAGS, *QVMSIM_LDFLAGS, *sanitize)
    target_dir = cache_dir("qvmsim", key)
    exe = target_dir / QVMSIM_EXECUTABLE
    if not exe.exists():
        _compile_executable("qvmsim", exe, lambda out: qvmsim_compile_command(cc, out, sanitize), 300)
    result = exe
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        result = out_dir / QVMSIM_EXECUTABLE
        if not result.exists() or result.read_bytes() != exe.read_bytes():
            tmp = out_dir / f".{QVMSIM_EXECUTABLE}.{os.getpid()}"
            shutil.copy2(exe, tmp)
            os.replace(tmp, result)
    _built[memo_key] = result
    return result

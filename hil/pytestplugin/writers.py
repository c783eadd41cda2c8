"""The report writers of a HIL run, in one table that the pytest plugin and ``hil nightly`` both read.

A writer is a module with one function, ``write(record, path, options)``: it writes
the run's record (``hil.pytestplugin.results.RunRecord``) as one format to ``path``.
Its entry in ``WRITERS`` gives it everything else:

* the pytest option ``--hil-NAME PATH`` (``hil.pytestplugin.options``),
* the file ``hil nightly`` writes it to in a report folder (``file_name``),
* whether it is rewritten after every finished test (``live``: the JUnit report, so an
  interrupted or crashed run always leaves a complete file) or written once at the end,
* the writers written beside it when their own option is not given (``beside``).

So a new format (TAP, a dashboard feed) is one module and one entry here; a writer
kept outside qnx-hil registers itself with ``register_writer`` (``from hil import Writer,
register_writer``) from a pytest plugin module loaded with ``-p MODULE`` (pytest imports
those before it asks plugins for options).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hil.pytestplugin.results import RunRecord


@dataclass(frozen=True)
class WriterOptions:
    """What a run's options tell every writer (each takes what it needs)."""

    #: earlier report folders (``--hil-history``): the HTML report's trends
    history: tuple[Path, ...] = ()
    #: what the writer has to tell the user (an entry it left out, ...): the caller prints them
    notes: list[str] = field(default_factory=list)


WriteFunction = Callable[["RunRecord", Path, WriterOptions], None]


@dataclass(frozen=True)
class Writer:
    """One report format: its name (the option ``--hil-NAME``), its module (which has ``write``), the file
    it has in a report folder, how messages name it and the option's help."""

    name: str
    module: str
    file_name: str
    label: str
    help: str
    #: rewritten (atomically) after every finished test, at the start and on Ctrl-C, not only at the end
    live: bool = False
    #: writers also written (to their ``file_name`` beside this one's file) when their own option is not given
    beside: tuple[str, ...] = ()

    @property
    def option(self) -> str:
        """The pytest option naming its path."""
        return f"--hil-{self.name}"

    @property
    def dest(self) -> str:
        """The option's destination (``config.getoption(dest)``)."""
        return f"hil_{self.name.replace('-', '_')}"

    def load(self) -> WriteFunction:
        """Its ``write`` function (the module imported on first use: the table stays cheap to read)."""
        write: WriteFunction = importlib.import_module(self.module).write
        return write


#: The writers, in the order they are written at the end of a run.
WRITERS: list[Writer] = [
    Writer(
        "junit",
        "hil.pytestplugin.junitxml",
        "junit.xml",
        "JUnit report",
        "write a JUnit report (one testsuite per target), updated after every test",
        live=True,
    ),
    Writer(
        "summary",
        "hil.pytestplugin.summary",
        "summary.txt",
        "summary",
        "write a plain-text summary table (and counts.json beside it) at the end",
        beside=("junit",),
    ),
    Writer(
        "html",
        "hil.pytestplugin.html",
        "report.html",
        "HTML report",
        "write an HTML report at the end (self-contained: overview, per-test qvm timelines, plots); "
        "a JUnit report is written beside it unless --hil-junit names one",
        beside=("junit",),
    ),
    Writer(
        "jsonl",
        "hil.pytestplugin.jsonlines",
        "results.jsonl",
        "JSON lines",
        "write the run as JSON lines at the end (one object a line: the run, its events, each suite, each test)",
    ),
]


def register_writer(writer: Writer) -> Writer:
    """Add ``writer`` to the table (replacing one of the same name) and return it."""
    if not writer.name or not all(c.isalnum() or c == "-" for c in writer.name):
        raise ValueError(f"report writer name {writer.name!r}: use letters, digits and '-' (it makes --hil-NAME)")
    WRITERS[:] = [w for w in WRITERS if w.name != writer.name] + [writer]
    return writer


def writer(name: str) -> Writer:
    """The writer named ``name``."""
    for w in WRITERS:
        if w.name == name:
            return w
    raise KeyError(f"no report writer {name!r}; known: {', '.join(w.name for w in WRITERS)}")


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: to a temporary file next to it, then ``os.replace``
    (a reader, or a run killed meanwhile, sees the old file or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

"""The report files of a run: each chosen writer (``hil.pytestplugin.writers``) writing the recorder's record.

``ReportFiles`` listens to the recorder (``hil.pytestplugin.recorder.RunRecorder``):
the ``live`` writers (the JUnit report) are rewritten after every finished test, at
the start and on Ctrl-C; every writer writes at the end of the session.  A writer
that fails never fails the run: what went wrong is said on stderr, the outcome
stays the tests', and the other writers still write.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hil.pytestplugin.recorder import Change
from hil.pytestplugin.results import RunRecord
from hil.pytestplugin.writers import WRITERS, Writer, WriterOptions

#: A live write slower than this (seconds) makes the next one wait WRITE_SHARE_GAP times as long.
SLOW_WRITE = 0.25
WRITE_SHARE_GAP = 9.0


@dataclass
class _Output:
    writer: Writer
    path: Path
    cost: float = 0.0  # seconds the last write took
    written_at: float = 0.0  # time.monotonic() of the last write
    failed: bool = False  # a live write failed: said once, tried again at the end


def chosen_outputs(paths: dict[str, str | None], writers: Sequence[Writer] | None = None) -> list[tuple[Writer, Path]]:
    """The writers a run writes and their paths, from the option values by writer name (``None``: not
    asked for): each one asked for, and each writer another one wants beside it (``beside``: the JUnit
    report beside the summary and the HTML report) when its own option is not given."""
    writers = WRITERS if writers is None else writers
    chosen: dict[str, Path] = {w.name: Path(p) for w in writers if (p := paths.get(w.name))}
    for w in writers:
        for other in w.beside:
            if w.name in chosen and other not in chosen:
                partner = next((x for x in writers if x.name == other), None)
                if partner is not None:
                    chosen[other] = chosen[w.name].with_name(partner.file_name)
    return [(w, chosen[w.name].resolve()) for w in writers if w.name in chosen]


class ReportFiles:
    """A recorder's listener writing each of ``outputs`` (writer, path) from the record.

    Rewriting a live file costs about 0.1 s per 1 MB of report (mostly junit-xml's
    invalid-character scan); once a write takes more than SLOW_WRITE seconds, the next one after
    a finished test waits until WRITE_SHARE_GAP times that has passed, so writing stays under ~10 %
    of the run; the start, Ctrl-C and the end always write (``slow_write``: that threshold).  ``echo``:
    name each file written at the end on stdout (``hil: HTML report PATH``).
    """

    def __init__(
        self,
        outputs: Sequence[tuple[Writer, Path]],
        options: WriterOptions | None = None,
        echo: bool = True,
        slow_write: float = SLOW_WRITE,
    ) -> None:
        self.outputs = [_Output(writer, Path(path)) for writer, path in outputs]
        self.options = options or WriterOptions()
        self.echo = echo
        self.slow_write = slow_write

    def __call__(self, record: RunRecord, change: Change) -> None:
        if change == "finish":
            self.write_all(record)
            return
        for out in self.outputs:
            if out.writer.live and not (change == "test" and self._busy(out)):
                self._write(out, record)

    def _busy(self, out: _Output) -> bool:
        return out.cost > self.slow_write and time.monotonic() - out.written_at < WRITE_SHARE_GAP * out.cost

    def _write(self, out: _Output, record: RunRecord, final: bool = False) -> bool:
        started = time.monotonic()
        notes = self.options.notes
        told = len(notes)
        try:
            out.writer.load()(record, out.path, self.options)
            for note in notes[told:]:
                print(f"hil: {out.writer.label}: {note}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - a report never fails the run
            if final or not out.failed:
                print(
                    f"\nhil: {out.writer.label} not written ({out.path}): {type(exc).__name__}: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
            out.failed = True
            return False
        finally:
            del notes[told:]  # each writer's own, said once
            out.written_at = time.monotonic()
            out.cost = out.written_at - started
        return True

    def write_all(self, record: RunRecord) -> None:
        """Every output, now (the end of the session); the writers' notes go to stderr as they come."""
        written = [out for out in self.outputs if self._write(out, record, final=True)]
        if self.echo and written:
            print("\n" + "".join(f"hil: {out.writer.label} {out.path}\n" for out in written), end="", flush=True)

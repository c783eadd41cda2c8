"""The writers' table and the report files: the choice of writers, a writer that fails, the session's events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.pytestplugin import writers
from hil.pytestplugin.recorder import RunRecorder
from hil.pytestplugin.reporting import ReportFiles, chosen_outputs
from hil.pytestplugin.results import RunRecord
from hil.pytestplugin.writers import Writer, WriterOptions, writer
from hil.pytestplugin.writers import register_writer as register

pytestmark = pytest.mark.quick  # no process: reads and writes files only

#: A writer whose write fails (a full disk).
BROKEN = """
def write(record, path, options):
    options.notes.append("a note that is never said: the write failed")
    raise OSError(28, "No space left on device")
"""


@pytest.fixture
def table() -> Iterator[list[Writer]]:
    """The writers' table, restored after the test (``register_writer`` changes it in place)."""
    saved = list(writers.WRITERS)
    yield writers.WRITERS
    writers.WRITERS[:] = saved


def test_the_chosen_writers_and_those_beside_them(tmp_path: Path) -> None:
    chosen = chosen_outputs({"html": str(tmp_path / "out" / "page.html"), "jsonl": None})
    assert [(w.name, p) for w, p in chosen] == [
        ("junit", tmp_path / "out" / "junit.xml"),  # beside the HTML report, as --hil-html says
        ("html", tmp_path / "out" / "page.html"),
    ]
    named = chosen_outputs({"junit": str(tmp_path / "j.xml"), "summary": str(tmp_path / "s" / "summary.txt")})
    assert [(w.name, p) for w, p in named] == [
        ("junit", tmp_path / "j.xml"),
        ("summary", tmp_path / "s" / "summary.txt"),
    ]
    assert chosen_outputs({}) == []


def test_register_adds_or_replaces_by_name_and_checks_the_name(table: list[Writer]) -> None:
    tap = register(Writer("tap", __name__, "r.tap", "TAP", "TAP"))
    assert writer("tap") is tap and table[-1] is tap
    again = register(Writer("tap", __name__, "other.tap", "TAP", "TAP"))
    assert [w for w in table if w.name == "tap"] == [again]
    with pytest.raises(ValueError, match="use letters, digits and '-'"):
        register(Writer("t a p", __name__, "r.tap", "TAP", "TAP"))
    with pytest.raises(KeyError, match="no report writer 'nope'; known: junit, summary, html, jsonl, tap"):
        writer("nope")
    assert (again.option, again.dest, again.load()) == ("--hil-tap", "hil_tap", write)


def write(record: RunRecord, path: Path, options: WriterOptions) -> None:  # the "tap" writer of the test above
    path.write_text("1..0\n")


def test_a_failing_writer_is_said_and_the_others_still_write(
    tmp_path: Path, table: list[Writer], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_writer.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    bad = register(Writer("broken", "broken_writer", "b.txt", "broken report", "never written"))
    files = ReportFiles([(bad, tmp_path / "b.txt"), (writer("jsonl"), tmp_path / "r.jsonl")])
    recorder = RunRecorder(hostname="lab", listeners=[files])
    recorder.pytest_sessionfinish(None, 0)  # type: ignore[arg-type]  # the hook ignores the session
    out, err = capsys.readouterr()
    assert f"hil: broken report not written ({tmp_path / 'b.txt'}): OSError: [Errno 28] No space left" in err
    assert "never said" not in err and f"hil: JSON lines {tmp_path / 'r.jsonl'}" in out
    assert json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])["final"] is True


def test_the_record_holds_the_sessions_events_and_an_interrupted_test(tmp_path: Path) -> None:
    files = ReportFiles([(writer("jsonl"), tmp_path / "r.jsonl")], echo=False)
    recorder = RunRecorder(hostname="lab", target_names=["qemu"], listeners=[files])
    recorder.pytest_sessionstart(None)  # type: ignore[arg-type]
    recorder.pytest_runtest_logstart("t.py::test_long[qemu]", None)
    with pytest.raises(KeyboardInterrupt) as ctrl_c:
        raise KeyboardInterrupt("Ctrl-C")
    recorder.pytest_keyboard_interrupt(ctrl_c)
    assert not (tmp_path / "r.jsonl").exists()  # not a live writer: written at the end only
    recorder.pytest_sessionfinish(None, 2)  # type: ignore[arg-type]
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines[0] == {
        "record": "run", "hostname": "lab", "started": lines[0]["started"], "exitstatus": 2, "final": True,
    }  # fmt: skip
    events = [(r["kind"], r["detail"]) for r in lines if r["record"] == "event"]
    assert events == [("start", ""), ("interrupted", "KeyboardInterrupt: Ctrl-C"), ("finish", "exit status 2")]
    (test,) = [r for r in lines if r["record"] == "test"]
    assert (test["suite"], test["name"], test["outcome"]) == ("qemu", "test_long", "error")
    assert test["message"] == "interrupted: test did not finish (KeyboardInterrupt: Ctrl-C)"

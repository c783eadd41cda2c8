"""Issue 22.14's bad inputs: each a one-line error before anything runs, nothing hangs on a FIFO."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hil.core.errors import ConfigError, SetupError
from hil.targets.definition import parse_definition
from tests.support.paths import REPO
from tests.unit.test_deploy import small_disk  # noqa: F401 - a fixture


@pytest.mark.parametrize("workdir", ["relative/work", "/tmp/a\nb", "/tmp/x/../y"])
def test_a_workdir_that_is_not_an_absolute_line_is_a_definition_error(workdir: str) -> None:
    with pytest.raises(ConfigError, match=r"must be an absolute path on one line") as caught:
        parse_definition({"kind": "local", "qvm": {"workdir": workdir}}, "box.toml", "box")
    assert "qvm.workdir" in str(caught.value) and "box.toml" in str(caught.value)


def test_an_unwritable_coverage_dir_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_x.py"), "--hil-target",
         "local", "--hil-coverage", "--hil-coverage-dir=/proc/x", "--hil-artifacts", str(tmp_path / "a")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]  # pytest's usage error
    assert "--hil-coverage-dir" in done.stderr and "/proc/x" in done.stderr and "Traceback" not in done.stderr
    assert "test_x" not in done.stdout  # nothing ran


def _fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def _within(seconds: float, fn: Callable[[], object]) -> object:
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(_call(fn)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung reading a FIFO"
    return out[0]


def _call(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except Exception as exc:
        return exc


def test_sweep_accept_and_snapshot_records_are_bounded_inputs(tmp_path: Path) -> None:
    from hil.qvmrun.sweep import Acceptances
    from hil.vm.snapshot import Snapshot

    accept = _within(10, lambda: Acceptances.read(_fifo(tmp_path, "sweep.accept")))
    assert isinstance(accept, ConfigError) and "FIFO" in str(accept)
    zeros = tmp_path / "zeros"
    zeros.mkdir()
    (zeros / "sweep.accept").symlink_to("/dev/zero")  # would fill memory if read
    device = _within(10, lambda: Acceptances.read(zeros / "sweep.accept"))
    assert isinstance(device, ConfigError) and "character device" in str(device)
    folder = tmp_path / "snapshots"
    folder.mkdir()
    snap = Snapshot(folder, "k")
    _fifo(folder, "k.json")
    snap.path.write_bytes(b"QEVM")
    assert _within(10, snap.usable) is False


def test_a_full_disk_writing_the_target_state_is_a_setup_error(small_disk: Path) -> None:  # noqa: F811
    from hil.targets.qemu import write_state

    (small_disk / "filler").write_bytes(b"x" * (60 << 10))
    path = small_disk / "state.json"
    with pytest.raises(SetupError, match=r"cannot write the target state .*state.json: No space left"):
        write_state(path, {"pid": 1, "blob": "y" * (64 << 10)})
    assert not path.exists() and sorted(p.name for p in small_disk.iterdir()) == ["filler"]
    write_state(small_disk / "ok.json", {"pid": 1})
    assert json.loads((small_disk / "ok.json").read_text()) == {"pid": 1}


def test_suite_properties_are_cut_to_a_few_kb() -> None:
    """Issue 22.11: a target fact of any size (a 10 MB qvm -V line, labels) is cut in every suite's properties."""
    from hil.pytestplugin.recorder import PROPERTY_MAX, RunRecorder

    reporter = RunRecorder()
    facts = reporter._facts(json.dumps({"qvm.version": "v" * 10_000_000, "target.labels": "a,\x1b]0;t\x07b"}))
    assert len(facts["qvm.version"]) <= PROPERTY_MAX and facts["qvm.version"].endswith("[10000000 chars]")
    assert facts["target.labels"] == "a,b"


def _header(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith(("rootdir:", "configfile:"))]


def test_hil_junit_as_a_separate_word_keeps_the_rootdir(tmp_path: Path) -> None:
    """Issue 22.14: pytest takes the value of ``--hil-junit PATH`` for a test path (it finds its rootdir before it
    loads the plugin): once PATH exists, a PATH outside the project moved the rootdir to a common parent and the
    project's pytest.ini went unread.  Both forms now give the project's rootdir and configuration file, run
    after run; when pytest had already taken another file's addopts, a one-line usage error says to use '='."""
    project, out = tmp_path / "project", tmp_path / "out"
    (project / "tests").mkdir(parents=True)
    out.mkdir()
    (project / "pytest.ini").write_text("[pytest]\ntestpaths = tests\naddopts = -v\n")
    (project / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("PYTEST_ADDOPTS", None)
    junit = out / "junit.xml"
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--hil-target", "local"]
    runs = {}
    for form in ("joined", "spaced", "spaced again", "joined again"):  # the first run makes junit.xml
        option = [f"--hil-junit={junit}"] if form.startswith("joined") else ["--hil-junit", str(junit)]
        done = subprocess.run([*base, *option], cwd=project, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (form, done.stdout[-2000:], done.stderr[-2000:])
        assert "tests/test_x.py::test_x PASSED" in done.stdout, (form, done.stdout[-2000:])  # pytest.ini's -v
        runs[form] = _header(done)
    assert junit.is_file()
    expected = [f"rootdir: {project}", "configfile: pytest.ini"]
    assert runs == {form: expected for form in runs}
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -q\n")  # pytest would take this file and its addopts
    done = subprocess.run(
        [*base, "--hil-junit", str(junit)], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"--hil-junit {junit}: pytest took the value for a test path" in done.stderr, done.stderr
    assert "write it with '=' (e.g. --hil-junit=PATH)" in done.stderr and "Traceback" not in done.stderr
    joined = subprocess.run(
        [*base, f"--hil-junit={junit}"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert joined.returncode == 0 and _header(joined) == expected, joined.stdout[-2000:]

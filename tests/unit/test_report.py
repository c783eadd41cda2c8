"""The recorder and the JUnit and summary writers: real inner pytest sessions (pytester) record a run, the JUnit
writer writes it into a file checked against junit-10.xsd."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import junit_xml
import pytest

import hil.pytestplugin.junitxml as junitxml_mod
import hil.pytestplugin.reporting as reporting_mod
from hil.core.errors import SetupError
from hil.pytestplugin.junitxml import validate_junit
from hil.pytestplugin.recorder import RunRecorder
from hil.pytestplugin.reporting import ReportFiles
from hil.pytestplugin.summary import summary_table
from hil.pytestplugin.text import bound_text
from hil.pytestplugin.writers import WriterOptions, writer
from tests.support.junit import assert_valid, junit_xsd

pytest_plugins = ["pytester"]

FACTS = {
    "qemu-a": {
        "target.kind": "qemu",
        "target.arch": "x86_64",
        "image": "ifs-x86_64.bin",
        "qvm.version": "qvmsim 0.1 (built 2024-05-01)",
        "toolchain": "gcc 12.2",
    },
    "board-b": {
        "target.kind": "board",
        "target.arch": "aarch64",
        "board.id": "rpi4-17",
        "qvm.version": "qvm 2.2",
        "toolchain": "gcc 12.2",
    },
}

# The inner sessions' conftest: what the qnx-hil plugin does, reduced to the contract
# (user_properties), plus a snapshot of the report after every finished test.
CONFTEST = f"""
import json, os, shutil
from pathlib import Path
import pytest
from hil.pytestplugin.recorder import RunRecorder
from hil.pytestplugin.reporting import ReportFiles
from hil.pytestplugin.summary import summary_table
from hil.pytestplugin.writers import writer

FACTS = {FACTS!r}
MAX_OUTPUT = 4096

class Snapshots:
    def __init__(self, recorder, path):
        self.recorder, self.path, self.n = recorder, path, 0

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        if report.when == "teardown":
            self.n += 1
            shutil.copy(self.path, self.path.parent / f"snap-{{self.n:03d}}.xml")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        (self.path.parent / "summary.txt").write_text(summary_table(self.recorder.record(), slowest=3))

def pytest_configure(config):
    role = config.workerinput["workerid"] if hasattr(config, "workerinput") else "controller"
    path = config.rootpath / f"junit-{{role}}.xml"
    # a write after every test, however loaded the machine (spacing slow writes out has its own test)
    files = ReportFiles([(writer("junit"), path)], echo=False, slow_write=float("inf"))
    recorder = RunRecorder(max_output=MAX_OUTPUT, hostname="lab-7", listeners=[files])
    config.pluginmanager.register(recorder, "hil-recorder")
    if role == "controller" and not os.environ.get("NO_SNAPSHOTS"):
        config.pluginmanager.register(Snapshots(recorder, path), "snapshots")

def bind(request, name):
    props = request.node.user_properties
    props.append(("hil.target", name))
    props.append(("hil.target.facts", json.dumps(FACTS[name])))
    props.append(("hil.artifacts", f"artifacts/{{request.node.name}}"))
    return name
"""

PARAMETRIZED = """
def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        metafunc.parametrize("target", sorted(FACTS), indirect=True)

@pytest.fixture
def target(request):
    return bind(request, request.param)
"""

# One target per xdist worker (gw0 -> qemu-a, gw1 -> board-b), no parameter in the test id.
PER_WORKER = """
@pytest.fixture
def target(request, worker_id):
    return bind(request, {"gw0": "qemu-a", "gw1": "board-b"}[worker_id])
"""

OUTCOMES = (Path(__file__).resolve().parents[2] / "fixtures" / "suites" / "report" / "test_outcomes.py").read_text()


def suites_of(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {s.get("name", ""): s for s in root.findall("testsuite")}


def cases_of(suite: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in suite.findall("testcase")}


def props_of(suite: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}


@pytest.fixture
def outcomes_run(pytester: pytest.Pytester) -> tuple[pytest.RunResult, Path]:
    pytester.makeconftest(CONFTEST + PARAMETRIZED)
    pytester.makepyfile(test_outcomes=OUTCOMES)
    result = pytester.runpytest("-p", "no:qnx_hil", "-p", "no:labgrid", "-p", "no:cacheprovider")
    return result, pytester.path


def test_outcomes_suites_and_properties(outcomes_run: tuple[pytest.RunResult, Path]) -> None:
    result, where = outcomes_run
    result.assert_outcomes(passed=8, failed=4, errors=3, skipped=2)  # pytest: infra = failed
    report = where / "junit-controller.xml"
    assert_valid(report)
    suites = suites_of(report)
    assert list(suites) == ["board-b", "qemu-a", "host"]
    for name, facts in FACTS.items():
        suite = suites[name]
        assert suite.get("hostname") == "lab-7"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp", ""))
        assert props_of(suite) == {**facts, "pytest.exitstatus": "1"}
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
            "7",
            "1",
            "2",
            "1",
        )
        cases = cases_of(suite)
        assert set(cases) == {
            "test_pass",
            "test_fail",
            "test_setup_error",
            "test_infra",
            "test_skip",
            "test_console",
            "test_big_console",
        }
        assert {c.get("classname") for c in cases.values()} == {f"test_outcomes.{name}"}
        # every case carries system-out (xunit-viewer shows a passing case without it as "unknown")
        assert [c.tag for c in cases["test_pass"]] == ["system-out"]
        assert cases["test_pass"].findtext("system-out") == "(no console output)"
        failure = cases["test_fail"].find("failure")
        assert failure is not None and cases["test_fail"].find("error") is None
        assert failure.get("message", "").startswith("AssertionError: vdev answered wrong")
        assert "def test_fail" in (failure.text or "")
        error = cases["test_setup_error"].find("error")
        assert error is not None and error.get("message") == "error in setup: RuntimeError: fixture exploded"
        infra = cases["test_infra"].find("error")
        assert infra is not None and cases["test_infra"].find("failure") is None
        assert infra.get("type") == "infrastructure"
        assert infra.get("message") == f"infrastructure: target {name} unreachable: ssh timed out after 30 s"
        assert "ConnectionError: ssh dropped" in (infra.text or "")
        skipped = cases["test_skip"].find("skipped")
        assert skipped is not None and skipped.get("message") == f"no watchdog on {name}"
        assert float(cases["test_pass"].get("time", "0")) >= 0
    host = cases_of(suites["host"])
    assert set(host) == {"test_teardown_error", "test_slow"}
    assert host["test_teardown_error"].get("classname") == "test_outcomes.host"
    teardown = host["test_teardown_error"].find("error")
    assert teardown is not None and teardown.get("message") == "error in teardown: RuntimeError: teardown exploded"
    assert float(host["test_slow"].get("time", "0")) >= 0.3


def test_console_slices_are_cleaned_and_bounded(outcomes_run: tuple[pytest.RunResult, Path]) -> None:
    _, where = outcomes_run
    cases = cases_of(suites_of(where / "junit-controller.xml")["qemu-a"])
    out = cases["test_console"].find("system-out")
    err = cases["test_console"].find("system-err")
    assert out is not None and err is not None
    assert out.text == "bootOK \u00e9 \nlogin: done"
    assert err.text == "qvm: vdev wdt started <&>"
    big = cases["test_big_console"].find("system-out")
    assert big is not None and big.text is not None
    full = "".join(f"line {i:06d}\n" for i in range(30000))
    note, _, tail = big.text.partition("\n")
    assert len(big.text) <= 4096 and len(tail) > 3500
    assert full.endswith(tail) and tail.startswith("line ")
    assert note == f"[... {len(full) - len(tail)} bytes cut; full log: artifacts/test_big_console[qemu-a]/console.log]"


def test_report_is_valid_after_every_test(outcomes_run: tuple[pytest.RunResult, Path]) -> None:
    _, where = outcomes_run
    snapshots = sorted(where.glob("snap-*.xml"))
    assert len(snapshots) == 16
    for n, snap in enumerate(snapshots, start=1):
        assert_valid(snap)
        assert sum(len(s.findall("testcase")) for s in suites_of(snap).values()) == n
    # The exit status is only known at the end.
    assert "pytest.exitstatus" not in snapshots[-1].read_text()
    assert not list(where.glob(".junit-controller.xml.*.tmp"))


def test_summary_of_a_run(outcomes_run: tuple[pytest.RunResult, Path]) -> None:
    _, where = outcomes_run
    lines = (where / "summary.txt").read_text().splitlines()
    assert lines[0].split() == ["target", "passed", "failed", "errors", "infra", "skipped", "total"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:7] if not line.startswith("-")}
    assert rows == {
        "qemu-a": ["3", "1", "2", "1", "1", "7"],
        "board-b": ["3", "1", "2", "1", "1", "7"],
        "host": ["1", "0", "1", "0", "0", "2"],
        "TOTAL": ["7", "2", "5", "2", "2", "16"],
    }
    slow = lines.index("Slowest tests (3):")
    assert lines[slow + 1].split()[2:] == ["host", "test_outcomes.py::test_slow"]
    infra = lines.index("Infrastructure errors (2):")
    assert lines[infra + 1 : infra + 3] == [
        f"  {t}  test_outcomes.py::test_infra[{t}]: target {t} unreachable: ssh timed out after 30 s"
        for t in ("board-b", "qemu-a")
    ]


def test_keyboard_interrupt_leaves_a_valid_report(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST + PARAMETRIZED)
    pytester.makepyfile(
        test_ctrl_c="""
        def test_first(target):
            pass

        def test_interrupted(target):
            if target == "qemu-a":
                raise KeyboardInterrupt

        def test_never_runs():
            pass
    """
    )
    # In a subprocess: pytester re-raises an in-process KeyboardInterrupt into this session.
    result = pytester.runpytest_subprocess("-p", "no:qnx_hil", "-p", "no:labgrid", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = pytester.path / "junit-controller.xml"
    assert_valid(report)
    suites = suites_of(report)
    assert set(suites) == {"board-b", "qemu-a"}
    qemu = cases_of(suites["qemu-a"])
    assert set(qemu) == {"test_first", "test_interrupted"}
    error = qemu["test_interrupted"].find("error")
    assert error is not None
    assert error.get("message", "").startswith("interrupted: test did not finish (KeyboardInterrupt")
    assert props_of(suites["qemu-a"])["pytest.exitstatus"] == "2"
    assert set(cases_of(suites["board-b"])) == {"test_first", "test_interrupted"}


def test_xdist_workers_report_through_the_controller(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_SNAPSHOTS", "1")
    pytester.makeconftest(CONFTEST + PER_WORKER)
    pytester.makepyfile(
        test_dist="""
        import os

        def test_one(target):
            pass

        def test_two(target, record_property):
            record_property("hil.console", f"console of {target}")
            assert target == "qemu-a"

        def test_host():
            pass

        def test_worker_dies(target):
            if target == "board-b":
                os._exit(3)
    """
    )
    result = pytester.runpytest(
        "-p", "no:qnx_hil", "-p", "no:labgrid", "-p", "no:cacheprovider", "-p", "xdist", "-n", "2", "--dist", "each"
    )
    result.assert_outcomes(passed=6, failed=2)
    assert sorted(p.name for p in pytester.path.glob("junit-*.xml")) == ["junit-controller.xml"]
    report = pytester.path / "junit-controller.xml"
    assert_valid(report)
    suites = suites_of(report)
    assert set(suites) == {"qemu-a", "board-b", "host"}
    for name in ("qemu-a", "board-b"):
        cases = cases_of(suites[name])
        assert set(cases) == {"test_one", "test_two", "test_worker_dies"}
        assert {c.get("classname") for c in cases.values()} == {f"test_dist.{name}"}
        assert cases["test_two"].findtext("system-out") == f"console of {name}"
        assert props_of(suites[name])["target.kind"] == FACTS[name]["target.kind"]
    assert (
        cases_of(suites["board-b"])["test_two"].find("failure") is not None
        and cases_of(suites["qemu-a"])["test_two"].find("failure") is None
    )
    assert len(suites["host"].findall("testcase")) == 2
    # A worker that dies in a test: that test is an error of its target, the report is complete.
    died = cases_of(suites["board-b"])["test_worker_dies"].find("error")
    assert (
        died is not None
        and died.get("message") == "worker 'gw1' crashed while running 'test_dist.py::test_worker_dies'"
    )
    assert [c.tag for c in cases_of(suites["qemu-a"])["test_worker_dies"]] == ["system-out"]


# ---- the pieces, without an inner session ------------------------------------------------


When = Literal["setup", "call", "teardown"]
Outcome = Literal["passed", "failed", "skipped"]


def fake(
    nodeid: str,
    when: When,
    outcome: Outcome = "passed",
    duration: float = 0.0,
    props: list[tuple[str, object]] | None = None,
    longrepr: str | None = None,
) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid=nodeid,
        location=(nodeid.split("::")[0], 0, nodeid),
        keywords={},
        outcome=outcome,
        longrepr=longrepr,
        when=when,
        duration=duration,
        user_properties=props or [],
    )


def junit_recorder(path: Path) -> RunRecorder:
    """A recorder whose JUnit report (``path``) is rewritten after every finished test, as in a run."""
    return RunRecorder(listeners=[ReportFiles([(writer("junit"), path)], echo=False)])


def write_junit(recorder: RunRecorder, path: Path) -> None:
    """The JUnit writer, writing the recorder's record now."""
    writer("junit").load()(recorder.record(), path, WriterOptions())


def run_fake(
    reporter: RunRecorder,
    nodeid: str,
    call_duration: float,
    target: str | None = None,
    infra: str | None = None,
    call_outcome: Outcome = "passed",
) -> None:
    props: list[tuple[str, object]] = [("hil.target", target)] if target else []
    if infra:
        props.append(("hil.infrastructure", infra))
    reporter.pytest_runtest_logreport(fake(nodeid, "setup", duration=0.5, props=props))
    reporter.pytest_runtest_logreport(
        fake(
            nodeid,
            "call",
            call_outcome,
            call_duration,
            props,
            longrepr="E   boom" if call_outcome == "failed" else None,
        )
    )
    reporter.pytest_runtest_logreport(fake(nodeid, "teardown", duration=0.25, props=props))


def test_summary_table_layout(tmp_path: Path) -> None:
    reporter = junit_recorder(tmp_path / "r" / "junit.xml")
    run_fake(reporter, "tests/hil/test_wdt.py::test_bark[qemu]", 4.0, target="qemu")
    run_fake(reporter, "tests/hil/test_wdt.py::test_bite[qemu]", 9.0, target="qemu", call_outcome="failed")
    run_fake(
        reporter,
        "tests/hil/test_wdt.py::test_bark[rpi4]",
        1.0,
        target="rpi4",
        infra="lease not obtained: held by ci@lab-2 pid 77 until 02:10Z",
        call_outcome="failed",
    )
    run_fake(reporter, "tests/unit/test_x.py::test_y", 0.0)
    assert summary_table(reporter.record(), slowest=2) == (
        "target   passed   failed   errors    infra  skipped    total\n"
        "------------------------------------------------------------\n"
        "qemu          1        1        0        0        0        2\n"
        "rpi4          0        0        1        1        0        1\n"
        "host          1        0        0        0        0        1\n"
        "------------------------------------------------------------\n"
        "TOTAL         2        1        1        1        0        4\n"
        "\n"
        "Slowest tests (2):\n"
        "       9.75 s  qemu    tests/hil/test_wdt.py::test_bite[qemu]\n"
        "       4.75 s  qemu    tests/hil/test_wdt.py::test_bark[qemu]\n"
        "\n"
        "Infrastructure errors (1):\n"
        "  rpi4  tests/hil/test_wdt.py::test_bark[rpi4]: lease not obtained: held by ci@lab-2 pid 77 until 02:10Z\n"
    )
    counts = reporter.counts()
    assert counts["rpi4"].errors == 1 and counts["rpi4"].infrastructure == 1 and counts["qemu"].failed == 1
    # The report was written incrementally (no sessionfinish here), classname and name as documented.
    root = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    assert_valid(tmp_path / "r" / "junit.xml")
    case = root.find("testsuite[@name='qemu']/testcase[@name='test_bite']")
    assert case is not None and case.get("classname") == "tests.hil.test_wdt.qemu"
    assert case.get("time") == "9.750000"


def test_same_test_id_on_two_workers_interleaved(tmp_path: Path) -> None:
    reporter = junit_recorder(tmp_path / "junit.xml")
    nodeid = "tests/hil/test_wdt.py::test_bark"

    def on(worker: str, report: pytest.TestReport) -> pytest.TestReport:
        info = {"id": worker, "sysplatform": "linux", "version_info": (3, 11, 7), "executable": "python"}
        report.node = SimpleNamespace(gateway=SimpleNamespace(id=worker), workerinfo=info)  # type: ignore[attr-defined]  # xdist sets it
        return report

    qemu: list[tuple[str, object]] = [
        ("hil.target", "qemu"),
        ("hil.console", "bark \ud800 on qemu"),
    ]  # lone surrogate from a bad decode
    rpi: list[tuple[str, object]] = [("hil.target", "rpi4")]
    for worker, rep in [
        ("gw0", fake(nodeid, "setup", props=qemu)),
        ("gw1", fake(nodeid, "setup", props=rpi)),
        ("gw0", fake(nodeid, "call", "failed", 1.0, qemu, "E   no bark")),
        ("gw1", fake(nodeid, "call", "passed", 2.0, rpi)),
        ("gw0", fake(nodeid, "teardown", props=qemu)),
        ("gw1", fake(nodeid, "teardown", props=rpi)),
    ]:
        reporter.pytest_runtest_logreport(on(worker, rep))
    assert {name: (c.passed, c.failed) for name, c in reporter.counts().items()} == {"qemu": (0, 1), "rpi4": (1, 0)}
    assert_valid(tmp_path / "junit.xml")
    out = ET.parse(tmp_path / "junit.xml").getroot().findtext("testsuite[@name='qemu']/testcase/system-out")
    assert out == "bark ? on qemu"
    failure = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite[@name='qemu']/testcase/failure")
    assert failure is not None and failure.get("message") == "E   no bark"
    assert (failure.text or "").startswith("[gw0] linux -- Python 3.11.7 python")


def test_slow_writes_are_spaced_out_and_the_end_always_writes(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    files = ReportFiles([(writer("junit"), path)], echo=False)
    reporter = RunRecorder(listeners=[files])
    run_fake(reporter, "t.py::test_a", 1.0, target="qemu")
    assert len(ET.parse(path).getroot().findall("testsuite/testcase")) == 1
    files.outputs[0].cost = reporting_mod.SLOW_WRITE * 2  # as if that write had been slow
    run_fake(reporter, "t.py::test_b", 1.0, target="qemu")
    assert len(ET.parse(path).getroot().findall("testsuite/testcase")) == 1
    reporter.pytest_sessionfinish(None, 0)  # type: ignore[arg-type]  # the hook ignores the session
    assert len(ET.parse(path).getroot().findall("testsuite/testcase")) == 2


def test_bound_text_keeps_the_tail_within_the_limit() -> None:
    assert bound_text("short\n", 300, "a/console.log") == "short\n"
    text = "".join(f"\u00e9v\u00e9nement {i}\n" for i in range(1000))
    out = bound_text(text, 300, "a/console.log")
    note, _, tail = out.partition("\n")
    assert len(out) <= 300 and text.endswith(tail) and tail.startswith("\u00e9v\u00e9nement ")
    cut = len(text.encode()) - len(tail.encode())
    assert note == f"[... {cut} bytes cut; full log: a/console.log]"
    assert bound_text("x" * 1000, 300).startswith("[... 7")
    with pytest.raises(ValueError, match="max_output=100 is too small"):
        RunRecorder(max_output=100)


@pytest.mark.parametrize("validator", ["xmlschema", "xmllint"])
def test_validators_accept_ours_and_reject_raw_junit_xml(tmp_path: Path, validator: str) -> None:
    if validator == "xmllint":  # installed by scripts/install-host-deps: its absence is a set-up defect
        assert any(Path(d, "xmllint").exists() for d in os.get_exec_path()), "apt-get install libxml2-utils"
    reporter = RunRecorder()
    run_fake(reporter, "t.py::test_a", 0.00001, target="qemu")
    write_junit(reporter, tmp_path / "ours.xml")
    assert_valid(tmp_path / "ours.xml", validator=validator)
    # Plain junit-xml output carries `disabled` and exponent times: the schema rejects both.
    case = junit_xml.TestCase("t", classname="c", elapsed_sec=0.00001)
    raw = tmp_path / "raw.xml"
    raw.write_text(
        junit_xml.to_xml_report_string([junit_xml.TestSuite("s", [case])], encoding="utf-8"), encoding="utf-8"
    )
    errors = validate_junit(raw, junit_xsd(), validator=validator)
    assert any("disabled" in e for e in errors), errors
    assert any("1e-05" in e for e in errors), errors
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuites><testsuite")
    assert validate_junit(broken, junit_xsd(), validator=validator) != []


def test_no_validator_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_xmlschema(xsd: str) -> None:
        raise ImportError("xmlschema")

    monkeypatch.setattr(junitxml_mod, "_xmlschema_for", no_xmlschema)
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "r.xml").write_text("<testsuites/>")
    with pytest.raises(SetupError, match="no XML schema validator"):
        validate_junit(tmp_path / "r.xml", junit_xsd())
    with pytest.raises(SetupError, match="not found"):
        validate_junit(tmp_path / "r.xml", tmp_path / "missing.xsd")


def test_names_follow_one_rule_and_boot_is_the_targets_setup(tmp_path: Path) -> None:
    """The target is in the classname, never in the name (wherever it stands in the id); a VM boot
    (hil.target.setup) is the suite's set-up time, not the first test's duration."""
    reporter = junit_recorder(tmp_path / "junit.xml")
    props: list[tuple[str, object]] = [("hil.target", "qemu"), ("hil.target.setup", "30.0")]
    reporter.pytest_runtest_logreport(fake("t.py::test_a[qemu]", "setup", duration=30.5, props=props))
    reporter.pytest_runtest_logreport(fake("t.py::test_a[qemu]", "call", "passed", 1.0, props))
    reporter.pytest_runtest_logreport(fake("t.py::test_a[qemu]", "teardown", duration=0.5, props=props))
    run_fake(reporter, "t.py::test_slow[qemu-1]", 1.0, target="qemu")
    run_fake(reporter, "t.py::test_p[2-qemu]", 1.0, target="qemu")
    run_fake(reporter, "t.py::test_q[qemux]", 1.0, target="qemu")
    write_junit(reporter, tmp_path / "junit.xml")
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite[@name='qemu']")
    assert suite is not None
    names = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase")]
    assert names == [
        ("t.qemu", "test_a"),
        ("t.qemu", "test_slow[1]"),
        ("t.qemu", "test_p[2]"),
        ("t.qemu", "test_q[qemux]"),
    ]
    case_a = suite.find("testcase[@name='test_a']")
    assert case_a is not None
    assert float(case_a.get("time", "")) == 2.0
    props_found = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props_found["target.setup.seconds"] == "30.000"
    assert_valid(tmp_path / "junit.xml")


def test_system_out_holds_guest_and_serial_consoles(tmp_path: Path) -> None:
    reporter = junit_recorder(tmp_path / "junit.xml")
    props: list[tuple[str, object]] = [
        ("hil.target", "qemu"),
        ("hil.guest_console", "guest says hi"),
        ("hil.console", "serial says hi"),
    ]
    whens: tuple[When, ...] = ("setup", "call", "teardown")
    for when in whens:
        reporter.pytest_runtest_logreport(fake("t.py::test_a[qemu]", when, "passed", 0.1, props))
    run_fake(reporter, "t.py::test_b[qemu]", 0.1, target="qemu")
    write_junit(reporter, tmp_path / "junit.xml")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    out = root.findtext("testsuite/testcase[@name='test_a']/system-out") or ""
    assert "guest says hi" in out and "serial says hi" in out and out.index("guest") < out.index("serial")
    assert root.findtext("testsuite/testcase[@name='test_b']/system-out") == "(no console output)"
    assert_valid(tmp_path / "junit.xml")


def test_summary_names_each_vdev_with_compiler_warnings(tmp_path: Path) -> None:
    from hil.pytestplugin.summary import vdev_warnings_property

    gcc = (
        f"{tmp_path}/vdevs/wdog/wdog.c: In function 'wdog_vread':\n"
        f"{tmp_path}/vdevs/wdog/wdog.c:42:9: warning: unused variable 'x' [-Wunused-variable]\n"
        f"{tmp_path}/vdevs/wdog/wdog.c:57:1: warning: control reaches end of non-void function [-Wreturn-type]\n"
    )
    warned = ("hil.vdev_warnings", vdev_warnings_property("wdog", gcc, tmp_path))
    reporter = junit_recorder(tmp_path / "r" / "junit.xml")
    for target in ("local", "qemu"):
        props: list[tuple[str, object]] = [("hil.target", target), warned]
        reporter.pytest_runtest_logreport(fake(f"t.py::test_a[{target}]", "setup", props=props))
        reporter.pytest_runtest_logreport(fake(f"t.py::test_a[{target}]", "teardown", props=props))
    props = [("hil.target", "local"), ("hil.vdev_warnings", vdev_warnings_property("trace", "ld: warning: odd\n"))]
    reporter.pytest_runtest_logreport(fake("t.py::test_b[local]", "setup", props=props))
    reporter.pytest_runtest_logreport(fake("t.py::test_b[local]", "teardown", props=props))
    text = summary_table(reporter.record())
    assert text.endswith(
        "\nVdev compiler warnings (2 vdevs):\n"
        "  vdev wdog: 2 warnings, first at vdevs/wdog/wdog.c:42: unused variable 'x' [-Wunused-variable]"
        " [local, qemu]\n"
        "  vdev trace: 1 warning, first at ld: warning: odd [local]\n"
    ), text
    run_fake(reporter, "t.py::test_c", 0.0)
    assert "Vdev compiler warnings" not in summary_table(RunRecorder().record())

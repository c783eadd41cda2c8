"""The qnx-hil pytest plugin (registered through the ``pytest11`` entry point).

Fixtures (all prefixed ``hil_`` so they never clash with labgrid's or
pytest-embedded's ``target``/``dut``):

* ``hil_target``: the target this test runs on (booted or attached once per
  session, reset before the next test after an infrastructure failure).
* ``hil_console``: this test's slice of the target's serial console.
* ``hil_ssh``: the target's SSH connection (qemu and board targets).
* ``hil_artifacts``: this test's artifacts folder.

``--hil-target`` may be given several times (names, ``label:LABEL`` or
``.toml`` paths): every test that uses a target runs once per selected
target, with the target's name in its test id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hil.deadline import Deadline
from hil.errors import HilError, InfrastructureError
from hil.target_config import TargetDefinition, resolve
from hil.targets import Target, make_target

if TYPE_CHECKING:
    from hil.deploy import Deployment
    from hil.qvm.runner import QvmRunner

#: How long bringing a target up may take, at most (boot + SSH).
UP_TIMEOUT = 180.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qnx-hil", "QNX Hypervisor hardware-in-the-loop")
    group.addoption("--hil-target", action="append", default=None, metavar="NAME|label:LABEL|PATH",
                    help="target(s) to run HIL tests on (repeatable; default: qemu, the public QEMU target)")
    group.addoption("--hil-targets-dir", action="append", default=None, metavar="DIR",
                    help="folder(s) of target definitions (*.toml); default: fixtures/targets")
    group.addoption("--hil-artifacts", default="artifacts", metavar="DIR",
                    help="where per-test consoles, qvm logs and target run files go (default: artifacts)")
    parser.addini("hil_targets", type="args", default=[],
                  help="default --hil-target selection for this project (default: qemu)")
    group.addoption("--hil-keep", action="store_true", default=False,
                    help="keep each test's deployment folder on the target after the test")


def safe_name(text: str) -> str:
    """A file-system-safe form of a test id or target name."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")[:150] or "_"


@dataclass
class TargetPool:
    """The session's targets: created on first use, brought back after infrastructure failures."""

    config: pytest.Config
    artifacts: Path
    definitions: dict[str, TargetDefinition]
    targets: dict[str, Target] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    needs_reset: set[str] = field(default_factory=set)

    def get(self, name: str) -> Target:
        """The target named ``name``, up and healthy, or an ``InfrastructureError``."""
        if name in self.broken:
            raise InfrastructureError(f"target '{name}' is unavailable: {self.broken[name]}")
        target = self.targets.get(name)
        if target is not None and name in self.needs_reset:
            self.needs_reset.discard(name)
            if not target.healthy():
                self._bring_up(name, target, reset=True)
            return target
        if target is None:
            target = make_target(self.definitions[name], self.artifacts / safe_name(name) / "target")
            self.targets[name] = target
            self._bring_up(name, target, reset=False)
            from hil.deploy import cleanup_stale

            cleanup_stale(target)
        return target

    def _bring_up(self, name: str, target: Target, reset: bool) -> None:
        try:
            (target.reset if reset else target.up)(Deadline.after(UP_TIMEOUT, f"bringing up target {name}"))
        except HilError as exc:
            self.failures[name] = self.failures.get(name, 0) + 1
            target.down()
            self.targets.pop(name, None)
            if self.failures[name] >= 2:
                self.broken[name] = f"{exc} (gave up after {self.failures[name]} attempts)"
            raise

    def release(self, name: str) -> None:
        target = self.targets.pop(name, None)
        if target is not None:
            target.down()

    def close(self) -> None:
        for name in list(self.targets):
            self.release(name)


_POOL_KEY = pytest.StashKey[TargetPool]()
_TARGET_KEY = pytest.StashKey[str]()


def _selected(config: pytest.Config) -> list[TargetDefinition]:
    selectors = config.getoption("hil_target") or config.getini("hil_targets") or ["qemu"]
    folders = [Path(f) for f in config.getoption("hil_targets_dir") or []] or None
    chosen: dict[str, TargetDefinition] = {}
    for selector in selectors:
        for definition in resolve(selector, folders):
            chosen.setdefault(definition.name, definition)
    return list(chosen.values())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil_kinds(*kinds): run this test only on targets of these kinds")
    try:
        definitions = _selected(config)
    except HilError as exc:
        raise pytest.UsageError(f"--hil-target: {exc}") from None
    config.stash[_POOL_KEY] = TargetPool(config, Path(config.getoption("hil_artifacts")).resolve(),
                                         {d.name: d for d in definitions})


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(_POOL_KEY, None)
    if pool is not None:
        pool.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_hil_target_name" not in metafunc.fixturenames:
        return
    pool = metafunc.config.stash[_POOL_KEY]
    names = list(pool.definitions)
    marker = metafunc.definition.get_closest_marker("hil_kinds")
    if marker is not None:
        names = [n for n in names if pool.definitions[n].kind in marker.args]
    metafunc.parametrize("_hil_target_name", names, ids=names, scope="session", indirect=True)


@pytest.fixture(scope="session")
def _hil_target_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """The selected target's name (parametrized per selected target, one session instance each)."""
    name: str = request.param
    yield name
    request.config.stash[_POOL_KEY].release(name)


@pytest.fixture
def hil_target(request: pytest.FixtureRequest, _hil_target_name: str) -> Target:
    """The target this test runs on: up, healthy, shared by the session."""
    request.node.stash[_TARGET_KEY] = _hil_target_name
    return request.config.stash[_POOL_KEY].get(_hil_target_name)


@pytest.fixture
def hil_artifacts(request: pytest.FixtureRequest, _hil_target_name: str) -> Path:
    """This test's own artifacts folder: ``<artifacts>/<target>/<test>/``."""
    pool = request.config.stash[_POOL_KEY]
    path = pool.artifacts / safe_name(_hil_target_name) / safe_name(request.node.name)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def hil_console(hil_target: Target, hil_artifacts: Path) -> Iterator["ConsoleSlice"]:
    """This test's slice of the target's serial console, saved as ``console.log`` in its artifacts."""
    if hil_target.console is None:
        raise InfrastructureError(f"target '{hil_target.name}' ({hil_target.kind}) has no serial console")
    piece = ConsoleSlice(hil_target.console)
    yield piece
    (hil_artifacts / "console.log").write_text(piece.text(), encoding="utf-8")


@pytest.fixture
def hil_ssh(hil_target: Target):  # type: ignore[no-untyped-def]
    """The target's SSH connection (``hil.ssh.SshConnection``)."""
    ssh = getattr(hil_target, "ssh", None)
    if ssh is None:
        raise InfrastructureError(f"target '{hil_target.name}' ({hil_target.kind}) is not reached over SSH")
    return ssh


class ConsoleSlice:
    """The part of a session-long console that belongs to one test."""

    def __init__(self, console) -> None:  # type: ignore[no-untyped-def]
        self.console = console
        self.start = console.mark()
        self.started_at = time.time()

    def text(self) -> str:
        return str(self.console.since(self.start))

    def expect(self, pattern, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        return self.console.expect(pattern, timeout)

    def not_matching(self, pattern) -> None:  # type: ignore[no-untyped-def]
        self.console.not_matching(pattern, since=self.start)

    def sendline(self, line: str) -> None:
        self.console.sendline(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(InfrastructureError):
        name = item.stash.get(_TARGET_KEY, None)
        if name is not None:
            item.config.stash[_POOL_KEY].needs_reset.add(name)
        if report.when == "call":
            # An infrastructure failure is never the vdev's fault: report it as an error.
            report.outcome = "failed"
            report.when = "setup"  # type: ignore[assignment]
            report.longrepr = f"INFRASTRUCTURE ERROR: {call.excinfo.value}"


# -- vdevs and qvm ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployedVdev:
    """A vdev built for the test's target and copied into its deployment folder."""

    name: str
    remote_path: str
    local_path: Path


@pytest.fixture
def hil_deployment(request: pytest.FixtureRequest, hil_target: Target) -> Iterator["Deployment"]:
    """This test's private folder on the target (removed afterwards unless ``--hil-keep``)."""
    from hil.deploy import create_deployment

    deployment = create_deployment(hil_target, request.node.name, keep=request.config.getoption("hil_keep"))
    yield deployment
    try:
        deployment.cleanup()
    except HilError:
        pass  # the target is being reset anyway


@pytest.fixture
def hil_vdev(request: pytest.FixtureRequest, hil_target: Target, hil_deployment: "Deployment"):  # type: ignore[no-untyped-def]
    """``hil_vdev("target_vdevs/wdog")``: build a vdev for the target and deploy it; returns its ``DeployedVdev``.

    Relative paths are taken from the pytest root folder.  A compile error is a
    ``SetupError`` showing the compiler's messages: an error of the test.
    """
    from hil.vdev_build import build_vdev

    def build(source: str | Path, *more: str | Path, name: str | None = None) -> DeployedVdev:
        paths = [p if Path(p).is_absolute() else request.config.rootpath / p for p in (source, *more)]
        built = build_vdev([Path(p) for p in paths], hil_target.toolchain(), name=name)
        remote = hil_deployment.put_file(built.path, built.path.name, 0o755)
        return DeployedVdev(built.name, remote, built.path)

    return build


@pytest.fixture
def hil_qvm(hil_target: Target, hil_deployment: "Deployment", hil_artifacts: Path) -> "QvmRunner":
    """Runs qvm on the target in this test's folder: ``hil_qvm.run(config)`` / ``hil_qvm.start(config)``."""
    from hil.qvm.runner import QvmRunner

    return QvmRunner(hil_target, hil_deployment, hil_artifacts, hil_target.console)



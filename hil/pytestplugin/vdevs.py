"""The vdev and qvm fixtures: hil_deployment, hil_vdev, hil_qvm, hil_sweep (built with the run's quality
gates), hil_fuzz."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from hil.core.errors import HilError
from hil.core.text import terminal_safe
from hil.pytestplugin import reportkeys
from hil.pytestplugin.live import LIVE_KEY
from hil.pytestplugin.options import sanitizers
from hil.targets import Target

if TYPE_CHECKING:
    from hil.qvmrun.fuzz import FuzzReport
    from hil.qvmrun.gates import Gates
    from hil.qvmrun.runner import QvmRunner
    from hil.qvmrun.sweep import SweepReport
    from hil.targets.deploy import Deployment

#: the test's qvm runner (``hil_qvm``), whose sanitizer findings fail the test
RUNNER_KEY = pytest.StashKey["QvmRunner"]()


class VdevWarning(UserWarning):
    """A vdev compiled with warnings (``--hil-werror`` or ``[toolchain] werror`` make them errors)."""


@dataclass(frozen=True)
class DeployedVdev:
    """A vdev built for the test's target and copied into its deployment folder."""

    name: str
    remote_path: str
    local_path: Path


class VdevBuilder(Protocol):
    """The ``hil_vdev`` fixture: ``hil_vdev("target_vdevs/wdog")`` builds the vdev (a folder, or C files)
    for the test's target and deploys it."""

    def __call__(self, source: str | Path, *more: str | Path, name: str | None = None) -> DeployedVdev: ...


class Sweeper(Protocol):
    """The ``hil_sweep`` fixture: ``hil_sweep("target_vdevs/wdog", base="loc 0x1c0f0000")``, the
    configuration-fault sweep of a vdev folder on the test's target."""

    def __call__(
        self,
        vdev: str | Path,
        base: str | Sequence[str] = (),
        accept: Sequence[str] = (),
        exclude: Sequence[str] = (),
        timeout: float = 8.0,
        jobs: int = 2,
    ) -> SweepReport: ...


class Fuzzer(Protocol):
    """The ``hil_fuzz`` fixture: ``hil_fuzz("target_vdevs/wdog", base="timeout 500", seconds=60)``,
    coverage-guided fuzzing of a vdev folder through its guest interface (the local target)."""

    def __call__(
        self,
        vdev: str | Path,
        base: str | Sequence[str] = (),
        seconds: float = 60.0,
        jobs: int = 1,
        skip: Sequence[tuple[int, int]] = (),
        corpus: Path | None = None,
        hang_timeout: float = 10.0,
        runs: int | None = None,
    ) -> FuzzReport: ...


@pytest.fixture
def hil_deployment(request: pytest.FixtureRequest, hil_target: Target) -> Iterator[Deployment]:
    """This test's private folder on the target (removed afterwards unless ``--hil-keep``)."""
    from hil.targets.deploy import create_deployment

    deployment = create_deployment(hil_target, request.node.name, keep=request.config.getoption("hil_keep"))
    yield deployment
    try:
        deployment.cleanup(defer=True)  # removed with the next test's folder command: no round trip here
    except HilError:
        pass  # the target is being reset anyway


@pytest.fixture
def hil_vdev(request: pytest.FixtureRequest, hil_target: Target, hil_deployment: Deployment) -> VdevBuilder:
    """``hil_vdev("target_vdevs/wdog")``: build a vdev for the target and deploy it; returns its ``DeployedVdev``.

    Relative paths are taken from the pytest root folder.  A compile error is a
    ``SetupError`` showing the compiler's messages: an error of the test.
    """
    from hil.pytestplugin.summary import vdev_warnings_property
    from hil.targets.toolchain import build_vdev

    def build(source: str | Path, *more: str | Path, name: str | None = None) -> DeployedVdev:
        paths = [p if Path(p).is_absolute() else request.config.rootpath / p for p in (source, *more)]
        toolchain = hil_target.toolchain()
        if request.config.getoption("hil_portable") or request.config.getini("hil_portable"):
            toolchain = toolchain.with_portable()
        if request.config.getoption("hil_werror"):
            toolchain = toolchain.with_werror()
        gates = _gates(request.config, hil_target)
        if gates.active:
            toolchain = toolchain.with_gates(gates.coverage, gates.sanitize)
        built = build_vdev([Path(p) for p in paths], toolchain, name=name)
        if built.warnings.strip():
            # in the report (JUnit system-err, the test's artifacts) and pytest's warnings summary
            text = f"vdev '{built.name}': compiler warnings (--hil-werror makes them errors):\n{built.warnings}"
            request.node.user_properties.append((reportkeys.QVM_LOG, text))
            request.node.user_properties.append(  # summary.txt: one line per vdev with warnings
                (reportkeys.VDEV_WARNINGS, vdev_warnings_property(built.name, built.warnings, request.config.rootpath))
            )
            (request.getfixturevalue("hil_artifacts") / f"vdev-{built.name}.warnings.txt").write_text(text)
            warnings.warn(VdevWarning(terminal_safe(text)), stacklevel=2)
        remote = hil_deployment.put_file(built.path, built.path.name, 0o755)
        return DeployedVdev(built.name, remote, built.path)

    return build


@pytest.fixture
def hil_qvm(
    request: pytest.FixtureRequest, hil_target: Target, hil_deployment: Deployment, hil_artifacts: Path
) -> Iterator[QvmRunner]:
    """Runs qvm on the target in this test's folder: ``hil_qvm.run(config)`` / ``hil_qvm.start(config)``."""
    from hil.qvmrun.runner import QvmRunner

    runner = QvmRunner(
        hil_target, hil_deployment, hil_artifacts, hil_target.console, _gates(request.config, hil_target)
    )
    request.node.stash[RUNNER_KEY] = runner  # its sanitizer findings fail the test (pytest_runtest_makereport)
    live = request.config.stash.get(LIVE_KEY, None)
    if live is not None:  # --hil-console-live: qvm's stdout and stderr as they arrive
        runner.output_tap = live.qvm_tap
    yield runner
    runner.stop_all()  # a session the test left running (or a cancelled start) ends with the test


@pytest.fixture
def hil_sweep(request: pytest.FixtureRequest, hil_target: Target, hil_artifacts: Path) -> Sweeper:
    """``hil_sweep("target_vdevs/wdog", base="loc 0x1c0f0000", accept=["tick=zero"])``: the configuration-fault
    sweep (``hil.qvmrun.sweep``) of a vdev folder on this target; returns the ``SweepReport`` (``findings``,
    ``table()``), written with its runs and ``findings/*.qvmconf`` into ``<artifacts>/sweep-NAME/``.
    The folder's ``sweep.accept`` is read; ``--hil-sanitize`` makes sanitizer reports findings."""
    import shlex

    from hil.qvmrun.sweep import folder_acceptances, sweep_folder
    from hil.targets.toolchain import vdev_name

    def sweep(
        vdev: str | Path,
        base: str | Sequence[str] = (),
        accept: Sequence[str] = (),
        exclude: Sequence[str] = (),
        timeout: float = 8.0,
        jobs: int = 2,
    ) -> SweepReport:
        folder = Path(vdev) if Path(vdev).is_absolute() else request.config.rootpath / vdev
        acceptances = folder_acceptances(folder, accept, exclude, by="by the test", what="hil_sweep")
        words = shlex.split(base) if isinstance(base, str) else list(base)
        report = sweep_folder(
            hil_target, folder, hil_artifacts / f"sweep-{vdev_name(folder)}", acceptances, base=words,
            sanitize=sanitizers(request.config), timeout=timeout, jobs=jobs,
        )  # fmt: skip
        request.node.user_properties.append((reportkeys.QVM_LOG, f"--- configuration-fault sweep\n{report.table()}"))
        return report

    return sweep


@pytest.fixture
def hil_fuzz(request: pytest.FixtureRequest, hil_target: Target, hil_artifacts: Path) -> Fuzzer:
    """``hil_fuzz("target_vdevs/wdog", base="timeout 500", seconds=60)``: coverage-guided fuzzing of a vdev
    folder through its guest interface (``hil.qvmrun.fuzz``, as ``hil vdev fuzz``) on the local target; returns
    the ``FuzzReport`` (``findings``, ``summary()``), written with its corpus and ``findings/N/`` (each with
    ``replay.sh``) into ``<artifacts>/fuzz-NAME/``.  Its summary goes into the test's report (JUnit, HTML).
    Mark the test ``@pytest.mark.hil_kinds("local")``: the fuzzer runs on this host only."""
    import shlex

    from hil.core.errors import SetupError
    from hil.qvmrun.fuzz import fuzz_vdev

    def fuzz(
        vdev: str | Path,
        base: str | Sequence[str] = (),
        seconds: float = 60.0,
        jobs: int = 1,
        skip: Sequence[tuple[int, int]] = (),
        corpus: Path | None = None,
        hang_timeout: float = 10.0,
        runs: int | None = None,
    ) -> FuzzReport:
        if not hil_target.on_this_host:  # the fuzzer runs qvmsim in-process here: the local target
            raise SetupError(
                f"hil_fuzz runs on the local target only, not '{hil_target.name}' ({hil_target.kind}): mark the "
                'test @pytest.mark.hil_kinds("local")'
            )
        folder = Path(vdev) if Path(vdev).is_absolute() else request.config.rootpath / vdev
        words = shlex.split(base) if isinstance(base, str) else list(base)
        report = fuzz_vdev(
            folder, hil_artifacts / f"fuzz-{folder.resolve().name}", base=words, seconds=seconds, runs=runs,
            jobs=jobs, corpus=corpus, hang_timeout=hang_timeout, skip=skip,
        )  # fmt: skip
        request.node.user_properties.append((reportkeys.QVM_LOG, f"--- fuzz (hil_fuzz)\n{report.summary()}"))
        return report

    return fuzz


def _gates(config: pytest.Config, target: Target) -> Gates:
    """The quality gates of this run on ``target`` (the options with the target's [toolchain] settings)."""
    from hil.qvmrun.gates import Gates

    return Gates.for_target(target, bool(config.getoption("hil_coverage", False)), sanitizers(config))

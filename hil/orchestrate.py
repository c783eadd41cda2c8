"""Bringing a target up (or back) under a deadline, tearing it down, and one qvm run outside pytest.

The one place that does it, for the pytest plugin (its target pool), the
CLI (``hil qvm run``) and one-shot runs alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hil.core.arch import check_elf_arch
from hil.core.deadline import Deadline
from hil.core.errors import SetupError
from hil.qvm.config import QvmConfig
from hil.qvm.result import QvmResult
from hil.qvmrun.runner import QvmRunner
from hil.targets import Target, make_target
from hil.targets.definition import TargetDefinition
from hil.targets.deploy import create_deployment

if TYPE_CHECKING:
    from hil.qvmrun.sweep import SweepReport

#: How long bringing a target up may take, at most (boot + SSH).
UP_TIMEOUT = 180.0


def bring_up(target: Target, *, reset: bool = False, timeout: float = UP_TIMEOUT) -> None:
    """``target.up`` (``reset``: ``target.reset``) under one deadline of ``timeout`` seconds."""
    deadline = Deadline.after(timeout, f"bringing up target {target.name}")
    if reset:
        target.reset(deadline)
    else:
        target.up(deadline)


@contextmanager
def target_up(definition: TargetDefinition, run_dir: Path, timeout: float = UP_TIMEOUT) -> Iterator[Target]:
    """The target of ``definition``, up for the block (its run files in ``run_dir``), then down."""
    target = make_target(definition, run_dir)
    try:
        bring_up(target, timeout=timeout)
        yield target
    finally:
        target.down()


def run_once(
    definition: TargetDefinition,
    conf: Path,
    vdevs: list[Path],
    guest: Path | None = None,
    timeout: float = 60.0,
    artifacts: Path = Path("artifacts/cli"),
    sanitize: tuple[str, ...] = (),
) -> QvmResult:
    """Bring the target up, deploy ``vdevs``, run ``qvm @conf``, tear everything down.  ``sanitize``:
    qvmsim's sanitizer build runs it; its sanitizer reports are in the result (``sanitizer`` artifact)."""
    for vdev in vdevs:
        if not vdev.is_file():
            raise SetupError(f"--vdev {vdev}: no such file (build it with 'hil vdev build')")
        if definition.toolchain.kind == "gcc":  # qvmsim targets; a qcc board's arch follows its variant
            check_elf_arch(vdev, definition.arch, f"--vdev {vdev} for target '{definition.name}'")
    config = QvmConfig.from_file(conf)
    if guest is not None:
        config.load(guest)
    artifacts.mkdir(parents=True, exist_ok=True)
    with target_up(definition, artifacts / "target") as target:
        deployment = create_deployment(target, f"cli-{os.getpid()}")
        try:
            for vdev in vdevs:
                deployment.put_file(vdev, vdev.name, 0o755)
            gates = None
            if sanitize:
                from hil.qvmrun.gates import Gates

                gates = Gates.for_target(target, False, sanitize)
            return QvmRunner(target, deployment, artifacts, target.console, gates).run(config, timeout)
        finally:
            deployment.cleanup()


def sweep_once(
    definition: TargetDefinition,
    vdev_dir: Path,
    out: Path,
    *,
    base: list[str] | None = None,
    accept: list[str] | None = None,
    exclude: list[str] | None = None,
    sanitize: tuple[str, ...] = (),
    timeout: float = 8.0,
    jobs: int = 2,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """The configuration-fault sweep (``hil.qvmrun.sweep``) of the vdev folder ``vdev_dir`` on a target brought
    up for it: built with the target's toolchain (and ``sanitize``), its ``sweep.accept`` file, ``accept``
    (``OPTION=KIND``) and ``exclude`` (option names) added; runs, findings, ``sweep.txt``/``sweep.json`` in ``out``."""
    from hil.qvmrun.gates import Gates
    from hil.qvmrun.sweep import folder_acceptances, sweep_folder

    acceptances = folder_acceptances(vdev_dir, accept or [], exclude or [], what="hil vdev sweep")
    out.mkdir(parents=True, exist_ok=True)
    Gates.for_definition(definition, False, sanitize).prepare(definition)  # what the host cannot make: before bring-up
    with target_up(definition, out / "target") as target:
        return sweep_folder(
            target, vdev_dir, out, acceptances, base=base or [], sanitize=sanitize, timeout=timeout, jobs=jobs, log=log
        )

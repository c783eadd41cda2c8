"""One qvm run outside pytest: what ``hil qvm run`` does."""

from __future__ import annotations

import os
from pathlib import Path

from hil.core.deadline import Deadline
from hil.targets.deploy import create_deployment
from hil.core.errors import SetupError
from hil.qvm.config import QvmConfig
from hil.qvm.result import QvmResult
from hil.qvm.runner import QvmRunner
from hil.targets.definition import TargetDefinition
from hil.targets import make_target

UP_TIMEOUT = 180.0


def run_once(definition: TargetDefinition, conf: Path, vdevs: list[Path], guest: Path | None = None,
             timeout: float = 60.0, artifacts: Path = Path("artifacts/cli")) -> QvmResult:
    """Bring the target up, deploy ``vdevs``, run ``qvm @conf``, tear everything down."""
    for vdev in vdevs:
        if not vdev.is_file():
            raise SetupError(f"--vdev {vdev}: no such file (build it with 'hil vdev build')")
    config = QvmConfig.from_file(conf)
    if guest is not None:
        config.load(guest)
    artifacts.mkdir(parents=True, exist_ok=True)
    target = make_target(definition, artifacts / "target")
    target.up(Deadline.after(UP_TIMEOUT, f"bringing up {definition.name}"))
    try:
        deployment = create_deployment(target, f"cli-{os.getpid()}")
        try:
            for vdev in vdevs:
                deployment.put_file(vdev, vdev.name, 0o755)
            return QvmRunner(target, deployment, artifacts, target.console).run(config, timeout)
        finally:
            deployment.cleanup()
    finally:
        target.down()

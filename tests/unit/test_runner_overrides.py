"""A target definition's exit overrides decide the reason of a real run (local target, real qvmsim)."""

from __future__ import annotations

from pathlib import Path

from hil.qvm import Exit, QvmConfig
from hil.qvmrun.runner import QvmRunner
from hil.targets import make_target
from hil.targets.definition import parse_definition
from hil.targets.deploy import create_deployment
from hil.targets.toolchain import build_vdev

ROOT = Path(__file__).resolve().parents[2]


def test_board_whose_watchdog_exits_3(tmp_path: Path) -> None:
    # A board where the bite is measured as SIGQUIT's 3: [qvm] exit_overrides = { watchdog = 3 }
    definition = parse_definition(
        {"kind": "local", "qvm": {"workdir": str(tmp_path / "w"), "exit_overrides": {"watchdog": 3}}}, "b.toml", "b"
    )
    target = make_target(definition, tmp_path / "run")
    deployment = create_deployment(target, "t")
    trace = build_vdev(ROOT / "target_vdevs" / "trace", target.toolchain())
    deployment.put_file(trace.path, trace.path.name, 0o755)
    runner = QvmRunner(target, deployment, tmp_path)
    with runner.start(QvmConfig("vm").vdev(trace, loc=0x2000), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.signal("QUIT")  # qvmsim's power cut: exit 3
        run = session.wait(10)
    assert run.exit_status == 3 and run.reason is Exit.WATCHDOG
    deployment.cleanup()

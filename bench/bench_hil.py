"""Per-test overhead of a HIL test on a target, phase by phase (issue 4's benchmark).

    python bench/bench_hil.py [--target qemu] [--runs 20]

A "test" here is what the fixtures do for one test: build the vdev (cached),
create the private folder (which also removes the previous test's, deferred as the
plugin does), deploy the .so, run qvm (a dryrun of the trace vdev, so qvm's own run
time is a few ms; the command that starts it writes its configuration), collect the
result, clean up (deferred: a list append).  The target is a private VM (restored
from the image's snapshot when there is one).
Prints medians per phase, and the overhead on top of qvm's own run time
(qvm's first to last log timestamp, on qvmsim's clock).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hil.core.deadline import Deadline
from hil.qvm import QvmConfig
from hil.qvmrun.runner import QvmRunner
from hil.targets import make_target
from hil.targets.definition import resolve
from hil.targets.deploy import create_deployment
from hil.targets.toolchain import build_vdev


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="qemu")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("HIL_PRIVATE_VM", "1")  # never a 'hil target up' VM someone left running
    (definition,) = resolve(args.target)
    work = Path(tempfile.mkdtemp(prefix="bench-hil-"))
    target = make_target(definition, work / "target")
    t = time.monotonic()
    target.up(Deadline.after(300))
    print(f"target {definition.name} up in {time.monotonic() - t:.2f} s")
    phases: dict[str, list[float]] = {
        k: [] for k in ("build", "folder", "deploy", "qvm run", "cleanup", "total", "qvm own", "overhead")
    }
    try:
        build_vdev(ROOT / "target_vdevs" / "trace", target.toolchain())  # warm the cache
        for i in range(args.runs):
            t0 = time.monotonic()
            built = build_vdev(ROOT / "target_vdevs" / "trace", target.toolchain())
            t1 = time.monotonic()
            deployment = create_deployment(target, f"bench-{i}")
            t2 = time.monotonic()
            deployment.put_file(built.path, built.path.name, 0o755)
            t3 = time.monotonic()
            artifacts = work / f"a{i}"
            artifacts.mkdir()
            run = QvmRunner(target, deployment, artifacts, target.console).run(
                QvmConfig("bench").vdev(built, loc=0x2000, tick=0).dryrun(), timeout=30
            )
            t4 = time.monotonic()
            deployment.cleanup(defer=True)
            t5 = time.monotonic()
            assert run.exit_status == 0, run.explain()
            times = [line.time for line in run.log if line.time is not None]
            own = max(times) - min(times) if times else 0.0
            for key, value in (
                ("build", t1 - t0),
                ("folder", t2 - t1),
                ("deploy", t3 - t2),
                ("qvm run", t4 - t3),
                ("cleanup", t5 - t4),
                ("total", t5 - t0),
                ("qvm own", own),
                ("overhead", t5 - t0 - own),
            ):
                phases[key].append(value)
    finally:
        target.down()
    print(f"per-test phases on {definition.name}, median of {args.runs} (ms):")
    for key, values in phases.items():
        print(
            f"  {key:10s} {statistics.median(values) * 1000:8.1f}   (min {min(values) * 1000:.1f}, "
            f"max {max(values) * 1000:.1f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

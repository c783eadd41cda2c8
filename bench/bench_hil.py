"""Per-test overhead of a HIL test on a target, beside its floor measured in the same run (issue 27).

    python bench/bench_hil.py [--target qemu] [--runs 30] [--vdevs 1]

A "test" here is what the fixtures do for one test: build the vdev (cached),
create the private folder, deploy the .so, run qvm (a dryrun of the trace vdev:
qvm's own run is a few ms), collect the result, clean up (deferred, as the
plugin does).  The target is a private VM (restored from the image's snapshot
when there is one).  Interleaved with each test, on the same connection:

- ``floor``: one SSH exec round trip (``true``), the least a test can cost;
- ``qvm direct``: one command running the same qvm on the same configuration in an
  existing folder (``cd DIR && exec qvm @run.qvmconf``): the floor plus qvm's own run
  on the target (its process start, library loads, run and exit, on the target's CPU).

Prints medians: each phase of a test, the test's total, ``qvm own`` (qvm direct minus
the floor) and the ``overhead`` (total minus qvm own: what the framework adds on top of
qvm's own run, the floor included), and the load average; then the overhead from the
medians of test, qvm direct and floor, and from their fastest runs (a quiet moment).
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

from hil.core.command import shell_command
from hil.core.deadline import Deadline
from hil.qvm import QvmConfig
from hil.qvmrun.runner import QvmRunner
from hil.targets import make_target
from hil.targets.definition import resolve
from hil.targets.deploy import create_deployment
from hil.targets.toolchain import build_vdev

PHASES = ("build", "folder", "deploy", "qvm run", "cleanup", "total", "floor", "qvm direct", "qvm own", "overhead")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="qemu")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("HIL_PRIVATE_VM", "1")  # never a 'hil target up' VM someone left running
    (definition,) = resolve(args.target)
    work = Path(tempfile.mkdtemp(prefix="bench-hil-"))
    target = make_target(definition, work / "target")
    t = time.monotonic()
    target.up(Deadline.after(300))
    print(f"target {definition.name} up in {time.monotonic() - t:.2f} s")
    phases: dict[str, list[float]] = {k: [] for k in PHASES}
    trace = ROOT / "target_vdevs" / "trace"
    try:
        built = build_vdev(trace, target.toolchain())  # warm the cache
        # the reference folder for 'qvm direct': the same vdev and configuration, deployed once
        ref = create_deployment(target, "bench-ref")
        ref.put_file(built.path, built.path.name, 0o755)
        warm = work / "warm"
        warm.mkdir()
        config = QvmConfig("bench").vdev(built, loc=0x2000, tick=0).dryrun()
        QvmRunner(target, ref, warm, None).run(config, timeout=30)  # writes run.qvmconf there
        direct = f"cd {shell_command([ref.path])} && exec {shell_command([target.qvm_command()])} @run.qvmconf"
        for i in range(-2, args.runs):  # two warm-up rounds
            f0 = time.monotonic()
            target.run("true", timeout=30)
            f1 = time.monotonic()
            target.run(direct, timeout=30)
            f2 = time.monotonic()
            t0 = time.monotonic()
            built = build_vdev(trace, target.toolchain())
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
            if i < 0:
                continue
            own = (f2 - f1) - (f1 - f0)
            for key, value in (
                ("build", t1 - t0),
                ("folder", t2 - t1),
                ("deploy", t3 - t2),
                ("qvm run", t4 - t3),
                ("cleanup", t5 - t4),
                ("total", t5 - t0),
                ("floor", f1 - f0),
                ("qvm direct", f2 - f1),
                ("qvm own", own),
                ("overhead", t5 - t0 - own),
            ):
                phases[key].append(value)
    finally:
        target.down()
    load = os.getloadavg()[0]
    print(f"per-test phases on {definition.name}, median of {args.runs} (ms), load average {load:.2f}:")
    for key, values in phases.items():
        print(
            f"  {key:10s} {statistics.median(values) * 1000:8.1f}   (min {min(values) * 1000:.1f}, "
            f"max {max(values) * 1000:.1f})"
        )
    for how, pick in (("medians", statistics.median), ("fastest", min)):
        total, alone, floor = (pick(phases[k]) * 1000 for k in ("total", "qvm direct", "floor"))
        print(
            f"overhead on top of qvm's own run ({how}): {total - (alone - floor):.1f} ms = test {total:.1f} - "
            f"(qvm direct {alone:.1f} - floor {floor:.1f}); the floor, one SSH round trip: {floor:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

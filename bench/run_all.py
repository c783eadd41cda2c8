"""Every benchmark, one after the other (``make bench``); the figures go in closing notes.

    python bench/run_all.py [--quick]

Runs: console (pty and raw TCP, beside their floors), SSH against a running public
QEMU target, boot of the QEMU target (cold and restored from its snapshot, medians of
10), ``hil target up`` from the saved state step by step, per-test overhead of a HIL
test on it beside its floor, how cost grows (tests, console volume, parallel targets),
and the HIL suite's wall time on one QEMU target vs two in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def section(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def run(*args: str) -> int:
    return subprocess.call([PY, *args], cwd=ROOT)


def suite_wall_time(targets: list[str]) -> float:
    reports = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    args = ["-m", "hil", "nightly", "--reports", str(reports)]
    for t in targets:
        args += ["--target", t]
    start = time.monotonic()
    env = {**os.environ, "HIL_PRIVATE_VM": "1"}  # the suite's own VMs (restored from the snapshot)
    subprocess.run([PY, *args, "--", "tests/hil", "-q"], cwd=ROOT, capture_output=True, env=env)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    quick = parser.parse_args().quick
    section("console: expect round trip and throughput, pty and raw TCP")
    run("bench/bench_console.py", *(["--repeats", "3"] if quick else []))
    section("QEMU target boot: cold and snapshot restore")
    run("bench/bench_boot.py", "-n", "3" if quick else "10")
    section("'hil target up' from the saved state, step by step (a private definition name)")
    run("bench/bench_up.py", "-n", "3" if quick else "5")
    section("SSH against the public QEMU target")
    up = subprocess.run(
        [PY, "-m", "hil", "target", "up", "--target", "qemu", "--json"], cwd=ROOT, capture_output=True, text=True
    )
    if up.returncode != 0:
        print(up.stderr)
        return 1
    state = json.loads(up.stdout)
    try:
        run(
            "bench/bench_ssh.py",
            "--host",
            "127.0.0.1",
            "--port",
            str(state["ssh_port"]),
            "--user",
            "root",
            "--key",
            state["client_key"],
            "--host-key",
            state["host_key_pub"],
        )
    finally:
        subprocess.run([PY, "-m", "hil", "target", "down", "--target", "qemu"], cwd=ROOT)
    section("per-test overhead on the QEMU target, beside its floor")
    run("bench/bench_hil.py", "--runs", "10" if quick else "30")
    section("how cost grows: number of tests, console volume, parallel targets")
    fewer = ["-n", "10", "100", "--volume-tests", "3", "--parallel-tests", "20"]
    run("bench/bench_scale.py", *(fewer if quick else []))
    section("HIL suite wall time (hil nightly), one QEMU target vs two in parallel")
    one = suite_wall_time(["qemu"])
    two = suite_wall_time(["qemu", "qemu-b"])
    print(f"  one target (qemu):            {one:6.1f} s")
    print(f"  two targets (qemu + qemu-b):  {two:6.1f} s  (twice the tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

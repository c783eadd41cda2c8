#!/usr/bin/env python3
"""Start-up of the ``hil`` command line: wall time of short commands, beside their floors.

    python bench/bench_cli.py [-n 7] [--up]

Medians of ``-n`` runs, each command timed side by side with its floor in the
same round (the machine may be shared):

* ``python -c pass``: the interpreter's own start;
* ``hil --version`` (argument parsing only), ``hil target status``;
* ``hil vdev build --help``-free project discovery: ``hil host check --json``
  is not used (it probes the host); the project lookup is timed by
  ``hil target ssh --target NOPE`` (finds the project, then fails to resolve);
* ``hil qvm run --target local`` of ``fixtures/qvmconf/wdog-terminate.qvmconf`` (the watchdog
  ends the guest after 250 ms of qvm's own run);
* with a running ``qemu`` target (``--up`` starts one in a private cache folder
  whose ``targets/`` no one else reads, and stops it at the end):
  ``hil target ssh -- true`` beside a bare ``ssh ... true`` with the same key.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIL = [sys.executable, "-m", "hil"]  # run in ROOT: that checkout's hil (--repo for another, e.g. before a change)


def timed(argv: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def private_cache() -> Path:
    """A cache folder sharing the images and builds of ``~/.cache/qnx-hil`` but with its own ``targets/``."""
    shared = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qnx-hil"
    base = Path(tempfile.mkdtemp(prefix="hil-bench-cli-"))
    (base / "qnx-hil" / "targets").mkdir(parents=True)
    for entry in shared.iterdir() if shared.is_dir() else ():
        if entry.name != "targets":
            (base / "qnx-hil" / entry.name).symlink_to(entry)
    return base


def bare_ssh(env: dict[str, str], tmp: Path) -> list[str]:
    state = json.loads((Path(env["XDG_CACHE_HOME"]) / "qnx-hil" / "targets" / "qemu" / "state.json").read_text())
    known = tmp / "known_hosts"
    known.write_text(f"[127.0.0.1]:{state['ssh_port']} {state['host_key_pub'].strip()}\n")
    return [
        "ssh", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
        "-o", f"UserKnownHostsFile={known}", "-i", str(state["client_key"]), "-p", str(state["ssh_port"]),
        f"{state['user']}@127.0.0.1", "--", "true",
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=7, help="runs per command (median)")
    parser.add_argument("--up", action="store_true", help="start a private qemu target for the ssh figure")
    parser.add_argument("--repo", type=Path, help="time the hil of this checkout (its .venv) instead")
    args = parser.parse_args()
    if args.repo is not None:
        global ROOT, HIL
        ROOT = args.repo.resolve()
        HIL = [str(ROOT / ".venv" / "bin" / "python"), "-m", "hil"]
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules load from their cached bytecode
    cache: Path | None = None
    if args.up:
        cache = private_cache()
        env["XDG_CACHE_HOME"] = str(cache)
        started = time.perf_counter()
        up = subprocess.run([*HIL, "target", "up"], cwd=ROOT, env=env, capture_output=True, text=True)
        if up.returncode != 0:
            print(up.stderr, file=sys.stderr)
            return 1
        print(f"hil target up (private, restored from the snapshot): {time.perf_counter() - started:.2f} s")
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "hil --version": [*HIL, "--version"],
        "hil target status": [*HIL, "target", "status"],
        "project lookup (hil target ssh --target NOPE)": [*HIL, "target", "ssh", "--target", "NOPE", "--", "true"],
    }
    tmp = Path(tempfile.mkdtemp(prefix="hil-bench-ssh-"))
    try:
        built = subprocess.run(
            [*HIL, "vdev", "build", str(ROOT / "target_vdevs" / "wdog"), "-o", str(tmp)],
            cwd=ROOT,
            env=env,
            capture_output=True,
        )
        if built.returncode == 0:
            commands["hil qvm run --target local (wdog, 250 ms)"] = [
                *HIL, "qvm", "run", "--target", "local",
                "--conf", str(ROOT / "fixtures/qvmconf/wdog-terminate.qvmconf"),
                "--vdev", str(tmp / "vdev-wdog.so"), "--artifacts", str(tmp / "artifacts"),
            ]  # fmt: skip
        status = subprocess.run([*HIL, "target", "status"], cwd=ROOT, env=env, capture_output=True)
        if status.returncode == 0:
            commands["bare ssh -- true"] = bare_ssh(env, tmp)
            commands["hil target ssh -- true"] = [*HIL, "target", "ssh", "--", "true"]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():  # warm-up: bytecode written, files in the page cache
            timed(argv, env)
        for _ in range(args.n):  # round-robin: every command sees the same load
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if cache is not None:
            subprocess.run([*HIL, "target", "down"], cwd=ROOT, env=env, capture_output=True)
            shutil.rmtree(cache, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"hil start-up: median of {args.n} runs, wall seconds (load average {load:.2f}, {os.cpu_count()} CPUs)")
    for name, values in times.items():
        print(f"  {name:48} {statistics.median(values):6.3f}  (min {min(values):.3f})")
    if "hil target ssh -- true" in times:
        ssh = statistics.median(times["hil target ssh -- true"])
        print(f"  hil target ssh -- true: {ssh:.3f} s, aim <= 0.5 s: {'met' if ssh <= 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Size and render time of the HTML report for N synthetic tests (default 500), with 3 earlier runs.

Each test has one qvm run of ~60 log lines (lifecycle, stores, interrupts, a termination),
a few session events, a 2 KB console and a 4 KB qvm log; every tenth test fails
(``--fail-every K``: every K-th; 0: none).  Prints the page's size, the size of its details
folder (``report.details/``: the details of the tests that did not fail, loaded on demand)
and the render time.
Usage: .venv/bin/python bench/bench_html.py [N] [--fail-every K]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hil.pytestplugin.html import details_dir, render
from hil.pytestplugin.recorder import RunRecorder
from hil.pytestplugin.results import CaseResult
from hil.pytestplugin.writers import WriterOptions, writer


def synthetic(n: int, root: Path, seed: int = 1, fail_every: int = 10) -> list[CaseResult]:
    rng = random.Random(seed)
    results = []
    for i in range(n):
        target = ("local", "qemu")[i % 2]
        folder = root / "artifacts" / target / f"test_{i}"
        folder.mkdir(parents=True)
        t = 1000.0 + i
        log = [
            {
                "t": t + 0.001 * k,
                "level": "VERBOSE",
                "source": "qvm",
                "message": f"guest store 0x1c0f0000/4 = 0x{k:x} -> vdev 'wdog'",
                "kind": "store",
            }
            for k in range(50)
        ]
        log += [
            {"t": t + 0.06, "level": "INFO", "source": "wdog", "message": f"ctrl {s}", "kind": "lifecycle"}
            for s in ("GUEST_CONFIGURED", "GUEST_STARTING")
        ]
        log += [
            {
                "t": t + 0.07 + 0.01 * k,
                "level": "DEBUG",
                "source": "qvm",
                "message": f"guest interrupt gic:33 asserted by vdev 'wdog' (count {k})",
                "kind": "interrupt",
            }
            for k in range(6)
        ]
        latency = rng.uniform(0.0, 0.02)
        log.append(
            {
                "t": t + 0.6,
                "level": "INFO",
                "source": "qvm",
                "message": "guest terminated: cause=4 name=GTC_WATCHDOG",
                "kind": "end",
            }
        )
        run = {
            "start": t,
            "end": t + 0.61,
            "log": log,
            "events": [
                {"t": t + 0.002, "kind": "stdin", "detail": "every 100 kick"},
                {"t": t + 0.3, "kind": "stdin", "detail": "stop all"},
            ],
            "termination": {"cause": 4, "name": "GTC_WATCHDOG", "since_last_store": 0.5 + latency, "t": t + 0.6},
            "exit": {"status": 4, "signal": None, "reason": "WATCHDOG", "t": t + 0.6},
            "duration_s": 0.61,
            "watchdog_timeout_s": 0.5,
            "bite_latency_s": latency,
        }
        (folder / "run1.data.json").write_text(json.dumps(run))
        failed = fail_every > 0 and i % fail_every == 0
        results.append(
            CaseResult(
                target,
                f"tests/hil/test_{i // 20}.py::test_{i}[{target}]",
                f"test_{i}",
                f"tests.hil.test_{i // 20}.{target}",
                "failed" if failed else "passed",
                rng.uniform(0.1, 3.0),
                message="AssertionError: expected WATCHDOG" if failed else "",
                details="E   AssertionError: expected WATCHDOG\n" * 20 if failed else "",
                console="console line\n" * 160,
                qvm_log="1000.000000 INFO qvm: a qvm log line of some length\n" * 80,
                artifacts=str(folder),
            )
        )
    return results


def earlier(root: Path, results: list[CaseResult], k: int) -> Path:
    reporter = RunRecorder()
    for case in results:
        reporter._add(case, 0.0, {})
    writer("junit").load()(reporter.record(), root / f"2025010{k}T000000Z" / "junit.xml", WriterOptions())
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, nargs="?", default=500, help="tests (default 500)")
    parser.add_argument("--fail-every", type=int, default=10, help="every K-th test fails (0: none; default 10)")
    args = parser.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = synthetic(n, root / "now", fail_every=args.fail_every)
        for k in (1, 2, 3):
            earlier(root / "history", results, k)
        started = time.perf_counter()
        path = render(root / "now" / "report.html", results, {"local": {"target.kind": "local"}}, [root / "history"])
        elapsed = time.perf_counter() - started
        size = path.stat().st_size
        folder = details_dir(path)
        details = sum(p.stat().st_size for p in folder.iterdir()) if folder.is_dir() else 0
    failing = n // args.fail_every + (1 if n % args.fail_every else 0) if args.fail_every else 0
    print(
        f"html report: {n} tests ({failing} failing; 3 earlier runs): {size / 1e6:.1f} MB "
        f"(+ {details / 1e6:.1f} MB of details loaded on demand), rendered in {elapsed:.2f} s "
        f"(load average {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()

"""qvm output of any size costs disk, not memory (issue 22.11).

A qvm that prints 100 MB on stdout and 100 MB on stderr (a wrapper around qvmsim, the target's
``[qvm] command``) in a real inner pytest session on ``local``: the session's peak RSS stays under
400 MB, every byte is in the run's artifact files, and the reports stay small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hil.targets.sdk import build_qvmsim
from tests.support.paths import REPO

MB = 1_000_000

TEST = """
from hil.qvm import QvmConfig

def test_chatty(hil_qvm):
    with hil_qvm.start(QvmConfig("chatty").dryrun(), timeout=300) as session:
        session.wait_stdout("line 999999 ", timeout=300)  # the last line: in the kept tail
        result = session.wait(timeout=300)
    assert result.exit_status == 0, result.reason
    assert "bytes are left out here" in result.stdout and len(result.stdout) < 2_100_000
"""

CONFTEST = """
import json, os, resource

def pytest_unconfigure(config):
    with open(os.environ["HIL_RSS_FILE"], "w") as f:
        json.dump({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, f)
"""


def test_100_mb_per_stream_keeps_pytest_under_400_mb(tmp_path: Path) -> None:
    wrapper = tmp_path / "chatty-qvm"
    line = "chatty guest console line {n} ".ljust(99, ".")
    wrapper.write_text(
        "#!/bin/sh\n"  # 100 MB on each stream, then qvmsim itself
        f'awk \'BEGIN {{ for (n = 0; n < {MB}; n++) printf "%-99s\\n", "chatty guest console line " n }}\'\n'
        f'awk \'BEGIN {{ for (n = 0; n < {MB}; n++) printf "%-99s\\n", "qvm: chatty log line " n }}\' >&2\n'
        f'exec {build_qvmsim()} "$@"\n'
    )
    assert line  # the awk lines above print this shape, 100 bytes each with the newline
    wrapper.chmod(0o755)
    (tmp_path / "test_chatty.py").write_text(TEST)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    toml = tmp_path / "box.toml"
    toml.write_text(f'name = "box"\nkind = "local"\n[qvm]\ncommand = "{wrapper}"\nworkdir = "{tmp_path / "work"}"\n')
    out = tmp_path / "out"
    env = {**os.environ, "HIL_RSS_FILE": str(tmp_path / "rss.json")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_chatty.py"),
         "--hil-target", str(toml), "--hil-artifacts", str(out / "artifacts"),
         "--hil-junit", str(out / "junit.xml"), "--hil-html", str(out / "report.html")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    peak_mb = json.loads((tmp_path / "rss.json").read_text())["maxrss_kb"] / 1024
    print(f"peak RSS of the inner pytest: {peak_mb:.0f} MB")
    assert peak_mb < 400, f"peak RSS {peak_mb:.0f} MB"
    guest = list((out / "artifacts").rglob("run1.guest.log"))
    log = list((out / "artifacts").rglob("run1.qvm.log"))
    assert len(guest) == 1 and guest[0].stat().st_size == 100 * MB  # every byte kept on disk
    assert len(log) == 1 and log[0].stat().st_size >= 100 * MB
    assert (out / "junit.xml").stat().st_size < 2 * MB
    assert (out / "report.html").stat().st_size < 20 * MB

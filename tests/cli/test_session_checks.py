"""Option checks at session start: an extra an option or a selected target needs, missing from the
Python running pytest, is a usage error before any test runs (not setup errors in some tests,
infrastructure errors in others, or a run that silently has no coverage)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: pytest with some modules made unimportable (``sys.modules[name] = None``), as in a venv without them.
WITHOUT = "import sys; sys.modules.update(dict.fromkeys(filter(None, sys.argv[1].split(',')))); import pytest; " \
    "sys.exit(pytest.main(sys.argv[2:]))"  # fmt: skip


def pytest_without(modules: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """(Only qnx-hil's plugin loaded: a venv without labgrid has no labgrid pytest plugin either.)"""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT,
            modules,
            "-p",
            "no:cacheprovider",
            "-p",
            "xdist",
            "-p",
            "hil.pytestplugin.plugin",
            *args,
        ],
        cwd=cwd,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_coverage_without_gcovr_is_a_usage_error_before_any_test(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    (tmp_path / "test_one.py").write_text(f"def test_one():\n    open({str(ran)!r}, 'w').close()\n")
    done = pytest_without("gcovr", "--hil-target", "local", "--hil-coverage", "test_one.py", cwd=tmp_path)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert (
        "--hil-coverage (the coverage report is made with gcovr) need(s) gcovr, which is not installed" in done.stderr
    )
    assert "pip install 'qnx-hil[coverage]'" in done.stderr and not ran.exists()
    # with gcovr there, the same run goes ahead
    plain = pytest_without("", "--hil-target", "local", "test_one.py", cwd=tmp_path)
    assert plain.returncode == 0 and ran.exists(), plain.stdout[-2000:]


def test_a_labgrid_target_without_labgrid_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(
        'kind = "labgrid"\n[labgrid]\nplace = "bench-1"\n[ssh]\nhost_key = "ssh-ed25519 '
        'AAAAC3NzaC1lZDI1NTE5AAAAIB2eRgiEwB8SMcNtBmQx3klNptJNfZ8lzC4lh0X4NU7b"\n'
    )
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    # (-p no:labgrid: a venv without labgrid has no labgrid pytest plugin either)
    done = pytest_without(
        "labgrid", "-p", "no:labgrid", "--hil-target", str(tmp_path / "lab.toml"), "test_one.py", cwd=tmp_path
    )
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "the target(s) lab need(s) labgrid (the labgrid target kind's client), which is not installed" in done.stderr
    assert "pip install 'qnx-hil[labgrid]'" in done.stderr

"""README.md's examples run as written: the test example under pytest, the CLI lines in a shell."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hil.qvm import QvmConfig
from tests.support.inner import run_inner_pytest
from tests.support.paths import REPO as ROOT

README = (ROOT / "README.md").read_text()


def block_after(heading: str, lang: str) -> str:
    section = README.split(heading, 1)[1]
    match = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert match, f"no {lang} block after {heading!r}"
    return match.group(1)


def test_writing_a_test_example_passes_on_local(tmp_path: Path) -> None:
    test_file = tmp_path / "test_readme_example.py"
    test_file.write_text(block_after("## Writing a test", "python"))
    done = run_inner_pytest(test_file, "-q", artifacts=tmp_path / "artifacts")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


def test_qvmconfig_example_renders() -> None:
    code = block_after("### `QvmConfig`", "python")
    scope: dict[str, object] = {}
    exec("from pathlib import Path\nfrom hil.qvm import QvmConfig\nwdog = 'wdog'\n" + code, scope)
    cfg = scope["cfg"]
    assert isinstance(cfg, QvmConfig), cfg
    text = cfg.render()
    assert text.startswith("system wdogdemo") and "dryrun" in text  # the last example: a fixture + additions


def test_cli_examples_run(tmp_path: Path) -> None:
    block = block_after("## Command line", "sh")
    lines = [line.split("#")[0].strip() for line in block.replace("\\\n", " ").splitlines()]
    wanted = [ln for ln in lines if ln.startswith(("hil sdk", "hil vdev build", "hil qvm run", "hil qvm check"))]
    wanted = [ln.replace(" [--target NAME] [-L DIR] [--json]", "") for ln in wanted]
    assert len(wanted) == 5
    env_bin = Path(sys.executable).parent
    for line in wanted:
        done = subprocess.run(
            line,
            shell=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={"PATH": f"{env_bin}:/usr/bin:/bin", "HOME": str(Path.home())},
        )
        assert done.returncode == 0, (line, done.stderr)


def test_own_repository_example_runs(tmp_path: Path) -> None:
    """The lines after `pip install qnx-hil`, in an empty folder, with this venv's hil and pytest."""
    block = block_after("## In your own repository", "sh")
    lines = [line.split("#")[0].strip() for line in block.splitlines()]
    lines = [line for line in lines if line]
    assert lines[0] == "pip install qnx-hil" and lines[1].startswith("hil init")
    env_bin = Path(sys.executable).parent
    env = {"PATH": f"{env_bin}:/usr/bin:/bin", "HOME": str(Path.home())}
    if "XDG_CACHE_HOME" in os.environ:
        env["XDG_CACHE_HOME"] = os.environ["XDG_CACHE_HOME"]
    for line in lines[1:]:
        done = subprocess.run(line, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, (line, done.stdout[-3000:], done.stderr[-2000:])
    assert (tmp_path / ".github" / "workflows" / "hil-nightly.yml").is_file()
    assert len(list((tmp_path / "reports").glob("*/junit.xml"))) == 1

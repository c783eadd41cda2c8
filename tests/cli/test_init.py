"""`hil init`: a new vdev project from the packaged template, and how the `hil` commands find a project."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import hil
from hil.cli.scaffold import CI_JOBS, COMMON, TEMPLATE_DIR
from hil.targets.definition import load_definition
from hil.targets.toolchain import Toolchain, build_vdev
from tests.support.cli import hil as hil_cli


def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_version_has_one_source(tmp_path: Path) -> None:
    done = hil_cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"qnx-hil {hil.__version__}"
    assert importlib.metadata.version("qnx-hil") == hil.__version__


def test_init_writes_a_project_whose_tests_pass_on_local(tmp_path: Path) -> None:
    project = tmp_path / "myvdevs"
    done = hil_cli("init", str(project), "--ci", "github", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert written == sorted([*COMMON.values(), CI_JOBS["github"][1], ".gitignore"])
    for path in written:
        text = (project / path).read_text()
        assert "@@" not in text, path
    assert f"qnx-hil=={hil.__version__}" in (project / ".github/workflows/hil-nightly.yml").read_text()
    settings = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert settings["testpaths"] == ["tests"]
    # the board template is valid once copied to a .toml name (and ignored until then)
    board = project / "targets" / "lab-board.toml"
    board.write_text((project / "targets" / "board.toml.example").read_text())
    assert load_definition(board).kind == "board"
    board.unlink()
    tests = run("-m", "pytest", "-p", "no:cacheprovider", "--hil-target", "local", cwd=project)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "4 passed" in tests.stdout
    assert f"definitions: built-in + {project / 'targets'} (targets/ beside the rootdir)" in tests.stdout
    # what the run wrote stays out of git: the project is clean after its tests ran
    assert (project / "artifacts").is_dir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(project)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    staged = subprocess.run([*git, "diff", "--cached", "--name-only"], check=True, capture_output=True, text=True)
    assert sorted(staged.stdout.split()) == written


@pytest.mark.parametrize("ci", sorted(CI_JOBS))
def test_init_writes_the_chosen_ci_job(tmp_path: Path, ci: str) -> None:
    done = hil_cli("init", "--ci", ci, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    job = tmp_path / CI_JOBS[ci][1]
    text = job.read_text()
    assert "hil nightly --reports reports" in text and f"qnx-hil=={hil.__version__}" in text and "@@" not in text
    assert "junit.xml" in text
    # the host packages come from `hil host install` (the targets' own table), after pip and before the
    # images and the run; the bootstrap apt line has only what the venv and pip need
    steps = [
        "pip install",
        "hil host install",
        "hil image build --target qemu\n",
        "hil image build --target qemu-arm64",
        "hil nightly",
    ]
    at = [text.index(step) for step in steps]
    assert at == sorted(at), list(zip(steps, at))
    bootstrap = next(line for line in text.splitlines() if "apt-get install" in line)
    assert bootstrap.split("--no-install-recommends")[1].split() == ["python3-venv", "ca-certificates"]
    others = [dest for name, (_, dest) in CI_JOBS.items() if name != ci]
    assert not any((tmp_path / dest).exists() for dest in others)


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mywdog.py").write_text("# mine\n")
    done = hil_cli("init", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"hil: error: {tmp_path} already has tests/test_mywdog.py; nothing was written: "
        f"move it aside or choose another folder"
    )
    assert (tmp_path / "tests" / "test_mywdog.py").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["test_mywdog.py", "tests"]
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    done = hil_cli("init", str(not_a_folder), cwd=tmp_path)
    assert done.returncode == 2 and "is a file, not a folder" in done.stderr


def test_init_adds_the_outputs_to_an_existing_gitignore_keeping_its_lines(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("build/\n/artifacts/")  # the user's, without a final newline
    done = hil_cli("init", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".gitignore").read_text() == (
        "build/\n/artifacts/\n\n# qnx-hil's outputs (hil init)\n/reports/\n/coverage/\n.pytest_cache/\n"
    )


def test_sample_vdev_uses_only_documented_names(tmp_path: Path) -> None:
    """The sample builds in portable mode (only the names QNX 8.0 documents), and without a warning."""
    assert hil_cli("init", cwd=tmp_path).returncode == 0
    done = hil_cli("vdev", "build", "vdevs/mywdog", "--portable", "-o", str(tmp_path / "out"), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "vdev-mywdog.so").read_bytes()[:4] == b"\x7fELF"
    built = build_vdev(
        [TEMPLATE_DIR / "vdevs" / "mywdog"], Toolchain(cflags=("-Werror",)).with_portable(), name="mywdog"
    )
    assert built.path.read_bytes()[:4] == b"\x7fELF"


def test_commands_find_targets_as_pytest_does(tmp_path: Path) -> None:
    """pyproject's hil_targets_dir (relative to the rootdir), from a subfolder: pytest and hil agree."""
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nhil_targets_dir = ["lab"]\n')
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "bench.toml").write_text('kind = "local"\nlabels = ["bench"]\n')
    (tmp_path / "targets").mkdir()  # the conventional folder: not used, the setting wins
    (tmp_path / "targets" / "other.toml").write_text('kind = "local"\n')
    sub = tmp_path / "vdevs"
    sub.mkdir()
    (sub / "tiny.c").write_text("#include <qvm/vdev.h>\n")
    collected = run("-m", "pytest", "--co", "-p", "no:cacheprovider", "--hil-target", "label:bench", cwd=sub)
    assert f"hil targets: bench; definitions: built-in + {tmp_path / 'lab'} (hil_targets_dir in " in collected.stdout
    built = hil_cli("vdev", "build", "tiny.c", "--target", "bench", "-o", str(tmp_path / "out"), cwd=sub)
    assert built.returncode == 0, built.stderr
    other = hil_cli("vdev", "build", "tiny.c", "--target", "other", cwd=sub)
    assert (
        other.returncode == 2 and "no target matches 'other'" in other.stderr and str(tmp_path / "lab") in other.stderr
    )
    given = hil_cli(
        "vdev",
        "build",
        "tiny.c",
        "--target",
        "other",
        "--targets-dir",
        "../targets",
        "-o",
        str(tmp_path / "out"),
        cwd=sub,
    )
    assert given.returncode == 0, given.stderr


def test_missing_targets_folder_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nhil_targets_dir = ["lab"]\n')
    expected = (
        f"{tmp_path / 'pyproject.toml'}: key 'hil_targets_dir': no folder {tmp_path / 'lab'} ('lab' is "
        f"relative to the rootdir {tmp_path}); create it or correct the setting"
    )
    done = hil_cli("vdev", "build", "x.c", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == f"hil: error: {expected}"
    tests = run("-m", "pytest", "-p", "no:cacheprovider", cwd=tmp_path)
    assert tests.returncode == 4 and expected in tests.stderr


def test_nightly_with_no_tests_selected_is_bad_input(tmp_path: Path) -> None:
    assert hil_cli("init", cwd=tmp_path).returncode == 0
    done = hil_cli(
        "nightly", "--target", "local", "--reports", str(tmp_path / "r"), "--", "-k", "no_such_test", cwd=tmp_path
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "hil nightly: no tests selected (pytest exit 5)" in done.stderr
    assert f"testpaths in {tmp_path / 'pyproject.toml'}" in done.stderr

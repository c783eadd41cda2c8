"""`hil init`: a new vdev project from the packaged template, and how the `hil` commands find a project."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import hil
from hil.cli.scaffold import CI, CI_JOBS, COMMON, SAMPLE, TEMPLATE_DIR
from hil.targets.definition import load_definition
from hil.targets.toolchain import Toolchain, build_vdev
from tests.support.cli import hil as hil_cli
from tests.unit.test_deploy import small_disk  # noqa: F401 - a fixture


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
    assert written == sorted([*COMMON.values(), *(dest for _, dest in CI_JOBS["github"]), ".gitignore"])
    for path in written:
        text = (project / path).read_text()
        assert "@@" not in text, path
    assert f'version="{hil.__version__}"' in (project / "ci/qnx-hil-job.sh").read_text()
    settings = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert settings["testpaths"] == ["tests"]
    assert settings["hil_portable"] is True  # the sample (and the user's vdevs) only see QNX's names
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
    jobs = (tmp_path / CI[ci].jobs[1]).read_text()
    assert "sh ci/qnx-hil-job.sh" in jobs and "@@" not in jobs
    assert "junit" in jobs and ("coverage.xml" in jobs or "Cobertura" in jobs)
    assert (tmp_path / CI[ci].main[1]).exists()
    # the job script: pip, then what these targets need on the host, the images, a check, the run
    script = "\n".join(
        line for line in (tmp_path / "ci/qnx-hil-job.sh").read_text().splitlines() if not line.lstrip().startswith("#")
    )
    steps = ["pip install", "hil host install", "hil image build", "hil target check", "hil nightly --reports"]
    at = [script.index(step) for step in steps]
    assert at == sorted(at), list(zip(steps, at))
    bootstrap = next(line for line in script.splitlines() if "apt-get install" in line)
    assert "--no-install-recommends" in bootstrap and "sudo" not in bootstrap  # $as_root: sudo only if not root
    others = [c.main[1] for name, c in CI.items() if name != ci] + [c.jobs[1] for name, c in CI.items() if name != ci]
    assert not any((tmp_path / dest).exists() for dest in others if dest != CI[ci].jobs[1])


@pytest.mark.parametrize("ci", sorted(CI))
def test_init_in_an_existing_repository_keeps_its_ci_file(tmp_path: Path, ci: str) -> None:
    """The CI server's main file exists (every GitLab repository has .gitlab-ci.yml): it is left
    untouched, the jobs go into the includable file, and the line to add is printed."""
    main = tmp_path / CI[ci].main[1]
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text("# the team's own pipeline\nstages: [build, test]\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'ours'\n")
    done = hil_cli("init", "--ci", ci, "--no-sample", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert main.read_text() == "# the team's own pipeline\nstages: [build, test]\n"
    assert (tmp_path / "pyproject.toml").read_text() == "[project]\nname = 'ours'\n"
    assert (tmp_path / CI[ci].jobs[1]).is_file() and (tmp_path / "ci/qnx-hil-job.sh").stat().st_mode & 0o111
    assert (
        f"{CI[ci].main[1]} exists and was left as it is: add this line to it:\n  {CI[ci].include_line}" in done.stdout
    )
    assert "pyproject.toml exists and was left as it is: merge these settings" in done.stdout
    assert "hil_portable = true" in done.stdout
    assert not any((tmp_path / dest).exists() for dest in SAMPLE.values())
    assert (tmp_path / "targets/board.toml.example").is_file()
    if ci == "gitlab":
        assert "include: '/.gitlab/qnx-hil.yml'" in done.stdout


def test_init_ci_only_writes_only_the_ci_files(tmp_path: Path) -> None:
    done = hil_cli("init", "--ci", "gitlab", "--ci-only", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted([".gitlab/qnx-hil.yml", "ci/qnx-hil-job.sh", ".gitlab-ci.yml", ".gitignore"])
    (tmp_path / "x").mkdir()
    alone = hil_cli("init", "--ci-only", cwd=tmp_path / "x")
    assert alone.returncode == 2 and "--ci-only needs --ci github|gitlab|jenkins" in alone.stderr


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
        "build/\n/artifacts/\n\n# qnx-hil's outputs (hil init)\n"
        "/reports/\n/coverage/\n.pytest_cache/\n.venv/\n/.cache/\n"
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


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    ("link", "args"),
    [("vdevs", ()), ("tests", ()), (".github", ("--ci", "github")), (".gitignore", ()), ("ci", ("--ci", "gitlab"))],
)
def test_init_never_follows_a_link_out_of_the_folder(tmp_path: Path, link: str, args: tuple[str, ...]) -> None:
    """Issue 22.14: a sub-folder (or ``.gitignore``) of DIR that is a symbolic link out of DIR is refused with a
    clear error; nothing is written, in DIR or where the link points."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    target = outside / "ignored" if link == ".gitignore" else outside
    if link == ".gitignore":
        target.write_text("theirs\n")
    (project / link).symlink_to(target)
    done = hil_cli("init", str(project), *args, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    line = f"hil: error: {project / link} is a symbolic link (to {target}); hil init writes only inside {project}"
    assert done.stderr.startswith(line) and "nothing was written" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert _tree(outside) == (["ignored"] if link == ".gitignore" else [])
    assert target.read_text() == "theirs\n" if link == ".gitignore" else True
    assert _tree(project) == [link]


def test_a_failed_init_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    """Issue 22.14: ``hil init`` failing part way (here at the end: ``.gitignore`` is a FIFO, read as a bounded
    input, so nothing hangs) removes every file and folder it made: DIR is as it was."""
    project = tmp_path / "project"
    (project / "vdevs").mkdir(parents=True)
    (project / "vdevs" / "mine.c").write_text("/* mine */\n")
    os.mkfifo(project / ".gitignore")
    before = _tree(project)
    done = hil_cli("init", str(project), "--ci", "gitlab", cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert ".gitignore" in done.stderr and "FIFO" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert _tree(project) == before and (project / "vdevs" / "mine.c").read_text() == "/* mine */\n"


def test_init_out_of_space_leaves_nothing_behind(small_disk: Path) -> None:  # noqa: F811
    """Issue 22.14: a disk that fills while ``hil init`` writes: a one-line error; the new DIR (and its parent
    that init made) are gone again, so a retry after freeing space starts clean."""
    (small_disk / "filler").write_bytes(b"x" * (56 << 10))
    project = small_disk / "new" / "project"
    done = hil_cli("init", str(project), "--ci", "jenkins", cwd=small_disk, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert _tree(small_disk) == ["filler"]
    (small_disk / "filler").unlink()
    again = hil_cli("init", str(project), "--ci", "jenkins", cwd=small_disk, timeout=60)
    assert again.returncode == 0, again.stderr

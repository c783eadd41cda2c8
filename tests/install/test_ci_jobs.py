"""The CI jobs `hil init --ci ...` writes, run here as each CI system would run them on a fresh runner.

Each job's commands are taken from the generated file itself (GitLab's ``script:`` and GitHub's
``run:`` steps parsed with PyYAML, with the job's variables; Jenkins' jobs from the table in
``ci/qnx-hil.groovy``, whose stages run ``sh ci/qnx-hil-job.sh``) and run in a copy of the project
(the checkout), with a clean environment: only PATH, HOME, LANG and what the CI file sets.  Two
kinds of runner: root without sudo (a Debian image; sudo is hidden from PATH), and a non-root user
with passwordless sudo (a shell runner, a Jenkins agent; the user ``hilci`` is created here).

qnx-hil comes from the wheel built from this checkout, as a CI artifact (``QNX_HIL_SOURCE`` =
``dist/qnx_hil-*.whl``); pip finds the dependencies in the test wheelhouse (``PIP_NO_INDEX`` and
``PIP_FIND_LINKS``, as a runner with an internal mirror would set them).  The project's
``.cache/qnx-hil`` starts with the QEMU images (what the CI's ``cache:`` restores); qvmsim and
the vdevs are built fresh.  The public jobs run on local and qemu only, to keep the test fast (the
generated jobs name local, qemu and qemu-arm64: asserted).  The lab job runs with its board away
(console and SSH on closed ports; the runner's "QNX SDP" is a stand-in qcc): it must end as
infrastructure, exit 3, which each CI file reports as such.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hil.core.paths import cache_dir, file_lock
from hil.targets import qemu as qemu_kind
from hil.targets.definition import resolve
from tests.support.install import Installed, wheelhouse
from tests.support.ports import ClosedPort, held_unused_ports

CI_USER = "hilci"
PUBLIC_TARGETS_HERE = "local qemu"
SCAFFOLD_TESTS = 4


@dataclass(frozen=True)
class Runner:
    """Who runs the job: root with no sudo on PATH, or CI_USER with sudo."""

    name: str
    root: bool


ROOT_NO_SUDO = Runner("root-without-sudo", True)
USER_WITH_SUDO = Runner("user-with-sudo", False)


@dataclass
class Workspace:
    """A runner's fresh folder: the project checkout, the wheel in dist/, a wheelhouse, a PATH."""

    base: Path
    project: Path
    wheel: str  # relative to the project, as a CI artifact's path
    house: Path
    path: str
    runner: Runner

    def env(self, **variables: str) -> dict[str, str]:
        home = self.base / "home"
        base = {
            "PATH": self.path,
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.house),
            "HIL_PRIVATE_VM": "1",
        }
        return {**base, **variables}

    def run(self, script: str, env: dict[str, str], timeout: float = 1500) -> subprocess.CompletedProcess[str]:
        """``script`` in bash -eo pipefail (as GitLab and GitHub run theirs), in the project folder."""
        user: dict[str, Any] = {} if self.runner.root else {"user": CI_USER, "group": CI_USER, "extra_groups": []}
        return subprocess.run(
            ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **user,
        )


def ensure_ci_user() -> None:
    """The non-root runner's user, with passwordless sudo (as a CI agent's user has)."""
    if os.geteuid() != 0:
        pytest.fail("this test creates the CI user 'hilci' and runs jobs as root: run it as root")
    if shutil.which("sudo") is None:
        pytest.fail("sudo is missing: apt-get install sudo (scripts/install-host-deps installs it)")
    with file_lock(cache_dir() / "test-ci-user.lock"):  # two xdist workers may get here at once
        try:
            pwd.getpwnam(CI_USER)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", CI_USER], check=True)
        sudoers = Path(f"/etc/sudoers.d/{CI_USER}")
        if not sudoers.exists():
            sudoers.write_text(f"{CI_USER} ALL=(ALL) NOPASSWD: ALL\n")
            sudoers.chmod(0o440)


def path_without_sudo(folder: Path) -> str:
    """A PATH with every program of /usr/bin but sudo (a Debian image has none)."""
    folder.mkdir()
    for entry in Path("/usr/bin").iterdir():
        if entry.name != "sudo":
            (folder / entry.name).symlink_to(entry)
    return f"/usr/local/sbin:/usr/local/bin:/usr/sbin:{folder}:/sbin"


def seed_image_cache(project: Path) -> None:
    """What the CI's cache: restores: the QEMU image of the public targets run here (with its saved
    snapshot), the kernels and the packages, as a previous run of the job left them (built once
    here by the other tests).  Only those: this host's cache holds every image anyone built on it.

    A build under way in the shared cache (``.build-*`` folders, ``*.part`` files: another process
    building an image or saving a snapshot) is not part of what a CI cache would hold: skipped, so
    the copy does not race with it."""
    shared = cache_dir()
    mine = project / ".cache" / "qnx-hil"
    in_progress = shutil.ignore_patterns(".build-*", "*.part", ".tmp*")
    for part in ("kernels", "debs"):
        if (shared / part).is_dir():
            shutil.copytree(shared / part, mine / part, symlinks=True, ignore=in_progress)
    for name in PUBLIC_TARGETS_HERE.split():
        (definition,) = resolve(name)
        if definition.kind == "qemu":
            image = qemu_kind.public_image(definition).root
            shutil.copytree(image, mine / "images" / image.name, symlinks=True, ignore=in_progress)


@pytest.fixture
def workspace_factory(installed: Installed) -> Iterator[Any]:
    made: list[Path] = []

    def make(project_source: Path, runner: Runner) -> Workspace:
        base = Path(tempfile.mkdtemp(prefix=f"qnx-hil-ci-{runner.name}-", dir="/tmp"))
        made.append(base)
        project = base / "checkout"
        shutil.copytree(project_source, project, symlinks=True)
        (project / "dist").mkdir()
        shutil.copy2(installed.wheel, project / "dist")
        house = base / "wheelhouse"
        shutil.copytree(wheelhouse(), house)
        (base / "home").mkdir()
        seed_image_cache(project)
        if runner.root:
            path = path_without_sudo(base / "bin-without-sudo")
        else:
            ensure_ci_user()
            path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            subprocess.run(["chown", "-R", f"{CI_USER}:{CI_USER}", str(base)], check=True)
            base.chmod(0o755)
        return Workspace(base, project, f"dist/{installed.wheel.name}", house, path, runner)

    yield make
    for base in made:
        shutil.rmtree(base, ignore_errors=True)


def init_project(installed: Installed, folder: Path, ci: str) -> Path:
    """``hil init --ci CI`` in ``folder`` (the repository as committed), from the installed wheel."""
    folder.mkdir()
    done = installed.run("hil", "init", "--ci", ci, cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    """Loopback ports nobody listens on, held bound until the test ends (no bind-then-close race)."""
    with held_unused_ports() as make:
        yield make


def add_away_board(project: Path, closed_port: ClosedPort) -> None:
    """The template's board, labelled example, with its console and SSH away; its key and known_hosts
    exist; the runner's QNX SDP is a stand-in qcc under .sdp (QNX_HOST)."""
    port, console = closed_port(), closed_port()
    keys = project / ".lab"
    keys.mkdir()
    (keys / "id").write_text("not used: the board is away\n")
    (keys / "known_hosts").write_text(
        f"[127.0.0.1]:{port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2eRgiEwB8SMcNtBmQx3klNptJNfZ8lzC4lh0X4NU7b\n"
    )
    text = (project / "targets" / "board.toml.example").read_text()
    text = text.replace("socket://192.0.2.1:4001", f"socket://127.0.0.1:{console}")
    text = text.replace('host = "192.0.2.10"\nport = 22', f'host = "127.0.0.1"\nport = {port}')
    text = text.replace("~/.ssh/hil_ed25519", ".lab/id").replace("~/.ssh/known_hosts", ".lab/known_hosts")
    (project / "targets" / "board.toml").write_text(text)
    qcc = project / ".sdp" / "usr" / "bin" / "qcc"
    qcc.parent.mkdir(parents=True)
    qcc.write_text("#!/bin/sh\necho 'qcc stand-in: no QNX SDP in this test' >&2\nexit 1\n")
    qcc.chmod(0o755)


def assert_public_job_passed(ws: Workspace, done: subprocess.CompletedProcess[str], junit: str, cobertura: str) -> None:
    out = done.stdout[-8000:] + done.stderr[-3000:]
    assert done.returncode == 0, out
    (report,) = glob.glob(str(ws.project / junit))
    text = Path(report).read_text()
    assert (
        text.count("<testcase ") == SCAFFOLD_TESTS * len(PUBLIC_TARGETS_HERE.split())
        and "<failure" not in text
        and "<error" not in text
    ), out
    (coverage,) = glob.glob(str(ws.project / cobertura))
    assert "<coverage " in Path(coverage).read_text()
    assert (ws.project / ".venv" / "bin" / "hil").exists()
    assert (ws.project / ".cache" / "qnx-hil").is_dir()  # what cache: keeps for the next run


def assert_lab_job_is_infrastructure(done: subprocess.CompletedProcess[str]) -> None:
    out = done.stdout[-5000:] + done.stderr[-5000:]
    assert done.returncode == 3, out
    assert "AWAY    example-board: console:" in done.stdout and "AWAY    example-board: ssh:" in done.stdout, out
    assert "Traceback" not in out


# -- GitLab ----------------------------------------------------------------------------------------


def expand(value: str, env: dict[str, str]) -> str:
    """GitLab's and the shell's $VAR / ${VAR} in a variable's value."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)


def gitlab_job(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The job with its ``extends:`` applied (hashes merged, as GitLab merges them)."""
    job = dict(doc[name])
    parent = job.pop("extends", None)
    if parent is None:
        return job
    merged = gitlab_job(doc, parent)
    for key, value in job.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def gitlab_run(ws: Workspace, doc: dict[str, Any], name: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    job = gitlab_job(doc, name)
    env = ws.env(CI_PROJECT_DIR=str(ws.project), CI_JOB_NAME_SLUG=name, CI_PIPELINE_SOURCE="schedule")
    matrix = job.get("parallel", {}).get("matrix", [{}])[0]
    for key, value in {**doc.get("variables", {}), **matrix_first(matrix), **job.get("variables", {})}.items():
        env[key] = expand(str(value), env)
    env.update(overrides)
    return ws.run("\n".join(job["script"]), env)


def matrix_first(entry: dict[str, Any]) -> dict[str, str]:
    return {k: str(v[0] if isinstance(v, list) else v) for k, v in entry.items()}


def gitlab_project(installed: Installed, folder: Path, closed_port: ClosedPort) -> tuple[Path, dict[str, Any]]:
    """``hil init --ci gitlab`` with the away board, and its CI file parsed."""
    project = init_project(installed, folder, "gitlab")
    add_away_board(project, closed_port)
    return project, yaml.safe_load((project / ".gitlab" / "qnx-hil.yml").read_text())


def test_gitlab_ci_file(installed: Installed, tmp_path: Path, closed_port: ClosedPort) -> None:
    project, doc = gitlab_project(installed, tmp_path / "repo", closed_port)
    assert yaml.safe_load((project / ".gitlab-ci.yml").read_text()) == {"include": "/.gitlab/qnx-hil.yml"}
    base = gitlab_job(doc, ".qnx-hil")
    assert re.fullmatch(r"debian:(bookworm|trixie|1[2-9])\S*", base["image"])  # Python >= 3.11
    assert base["allow_failure"] == {"exit_codes": [3]}
    assert base["variables"]["XDG_CACHE_HOME"] == "$CI_PROJECT_DIR/.cache" and base["cache"]["paths"] == [".cache/"]
    public, lab = gitlab_job(doc, "qnx-hil-public"), gitlab_job(doc, "qnx-hil-lab")
    assert public["variables"]["HIL_TARGETS"] == "local qemu qemu-arm64"
    assert lab["parallel"]["matrix"] == [{"HIL_LAB": ["example"]}] and lab["tags"] == ["qnx-lab-$HIL_LAB"]


# The jobs on each kind of fresh runner: one test each (they run side by side under xdist).


def test_gitlab_public_job_on_a_root_runner(
    installed: Installed, tmp_path: Path, workspace_factory: Any, closed_port: ClosedPort
) -> None:
    project, doc = gitlab_project(installed, tmp_path / "repo", closed_port)
    reports = gitlab_job(doc, ".qnx-hil")["artifacts"]["reports"]
    ws = workspace_factory(project, ROOT_NO_SUDO)
    done = gitlab_run(ws, doc, "qnx-hil-public", QNX_HIL_SOURCE=ws.wheel, HIL_TARGETS=PUBLIC_TARGETS_HERE)
    assert_public_job_passed(ws, done, reports["junit"], reports["coverage_report"]["path"])


def test_gitlab_public_then_lab_job_on_a_runner_user_with_sudo(
    installed: Installed, tmp_path: Path, workspace_factory: Any, closed_port: ClosedPort
) -> None:
    project, doc = gitlab_project(installed, tmp_path / "repo", closed_port)
    reports = gitlab_job(doc, ".qnx-hil")["artifacts"]["reports"]
    ws = workspace_factory(project, USER_WITH_SUDO)
    done = gitlab_run(ws, doc, "qnx-hil-public", QNX_HIL_SOURCE=ws.wheel, HIL_TARGETS=PUBLIC_TARGETS_HERE)
    assert_public_job_passed(ws, done, reports["junit"], reports["coverage_report"]["path"])
    # the lab job on the same runner (its example board is an SSH/serial board: no labgrid extra)
    done = gitlab_run(
        ws, doc, "qnx-hil-lab", QNX_HIL_SOURCE=ws.wheel, QNX_HIL_EXTRAS="", QNX_HOST=str(ws.project / ".sdp")
    )
    assert_lab_job_is_infrastructure(done)


# -- GitHub ----------------------------------------------------------------------------------------


def github_expand(value: str, context: dict[str, str]) -> str:
    """``${{ a.b }}`` expressions of the workflow (the few it uses)."""
    return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: context[m.group(1)], value)


def github_run(ws: Workspace, doc: dict[str, Any], name: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    job = doc["jobs"][name]
    inputs = doc["on"]["workflow_call"]["inputs"]
    context = {f"inputs.{k}": str(v.get("default", "")) for k, v in inputs.items()}
    context["github.workspace"] = str(ws.project)
    for key, values in job.get("strategy", {}).get("matrix", {}).items():
        context[f"matrix.{key}"] = str(values[0])
    env = ws.env(GITHUB_WORKSPACE=str(ws.project), GITHUB_OUTPUT=str(ws.base / "github-output"))
    env.update({k: github_expand(str(v), context) for k, v in job.get("env", {}).items()})
    env.update(overrides)
    steps = [s for s in job["steps"] if "run" in s]
    assert len(steps) == 1, steps  # the other steps are actions: checkout, cache, reports
    return ws.run(steps[0]["run"], env)


def github_project(installed: Installed, folder: Path, closed_port: ClosedPort) -> tuple[Path, dict[str, Any]]:
    """``hil init --ci github`` with the away board, and its reusable workflow parsed."""
    project = init_project(installed, folder, "github")
    add_away_board(project, closed_port)
    doc = yaml.safe_load((project / ".github" / "workflows" / "qnx-hil.yml").read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return project, doc


def test_github_workflows(installed: Installed, tmp_path: Path, closed_port: ClosedPort) -> None:
    project, doc = github_project(installed, tmp_path / "repo", closed_port)
    caller = yaml.safe_load((project / ".github" / "workflows" / "hil-nightly.yml").read_text())
    assert caller["jobs"]["qnx-hil"]["uses"] == "./.github/workflows/qnx-hil.yml"
    public, lab = doc["jobs"]["public"], doc["jobs"]["lab"]
    assert public["container"].startswith("debian:") and public["env"]["HIL_TARGETS"] == "local qemu qemu-arm64"
    assert "qnx-lab-${{ matrix.lab }}" in lab["runs-on"] and lab["strategy"]["matrix"]["lab"] == ["example"]
    assert any(s.get("uses", "").startswith("actions/cache@") for s in public["steps"])


def test_github_public_job_in_a_root_container(
    installed: Installed, tmp_path: Path, workspace_factory: Any, closed_port: ClosedPort
) -> None:
    project, doc = github_project(installed, tmp_path / "repo", closed_port)
    ws = workspace_factory(project, ROOT_NO_SUDO)  # the container job: root, no sudo
    done = github_run(ws, doc, "public", QNX_HIL_SOURCE=ws.wheel, HIL_TARGETS=PUBLIC_TARGETS_HERE)
    assert_public_job_passed(ws, done, "reports/*/junit.xml", "reports/*/coverage/coverage.xml")


def test_github_lab_job_on_a_self_hosted_runner(
    installed: Installed, tmp_path: Path, workspace_factory: Any, closed_port: ClosedPort
) -> None:
    project, doc = github_project(installed, tmp_path / "repo", closed_port)
    lab_ws = workspace_factory(project, USER_WITH_SUDO)  # a self-hosted runner's user
    done = github_run(
        lab_ws, doc, "lab", QNX_HIL_SOURCE=lab_ws.wheel, QNX_HIL_EXTRAS="", QNX_HOST=str(lab_ws.project / ".sdp")
    )
    # the step turns exit 3 into a warning annotation and succeeds; the job's script itself said 3
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "::warning::qnx-hil: infrastructure errors only (exit 3)" in done.stdout
    assert "AWAY    example-board: console:" in done.stdout


# -- Jenkins ---------------------------------------------------------------------------------------


def jenkins_jobs(groovy: str) -> dict[str, dict[str, str]]:
    """The table of jobs in ci/qnx-hil.groovy: ``[name: '...', agent: '...', ...]`` lines."""
    jobs = {}
    for entry in re.findall(r"^\s*\[(name: .*)\],\s*$", groovy, re.MULTILINE):
        fields = dict(re.findall(r"(\w+): '([^']*)'", entry))
        jobs[fields["name"]] = fields
    return jobs


def jenkins_run(ws: Workspace, job: dict[str, str], **overrides: str) -> subprocess.CompletedProcess[str]:
    """What a stage runs: ``sh ci/qnx-hil-job.sh`` with the stage's withEnv variables."""
    env = ws.env(
        WORKSPACE=str(ws.project),
        QNX_HIL_SOURCE="pypi",
        HIL_TARGETS=job["targets"],
        QNX_HIL_EXTRAS=job["extras"],
        HIL_CHECK=job["check"],
        HIL_NIGHTLY_ARGS=job["args"],
        XDG_CACHE_HOME=str(ws.project / ".cache"),
    )
    env.update(overrides)
    return ws.run("sh ci/qnx-hil-job.sh", env)


def jenkins_project(
    installed: Installed, folder: Path, closed_port: ClosedPort
) -> tuple[Path, dict[str, dict[str, str]]]:
    """``hil init --ci jenkins`` with the away board, and the table of jobs of its groovy file."""
    project = init_project(installed, folder, "jenkins")
    add_away_board(project, closed_port)
    return project, jenkins_jobs((project / "ci" / "qnx-hil.groovy").read_text())


def test_jenkins_pipeline(installed: Installed, tmp_path: Path, closed_port: ClosedPort) -> None:
    project, jobs = jenkins_project(installed, tmp_path / "repo", closed_port)
    groovy = (project / "ci" / "qnx-hil.groovy").read_text()
    assert "load('ci/qnx-hil.groovy').run()" in (project / "Jenkinsfile").read_text()
    assert "sh(script: 'sh ci/qnx-hil-job.sh', returnStatus: true)" in groovy
    assert "if (rc == 3) {\n" in groovy and "unstable(" in groovy and "recordCoverage(" in groovy
    for variable in ("QNX_HIL_SOURCE", "HIL_TARGETS", "QNX_HIL_EXTRAS", "HIL_CHECK", "HIL_NIGHTLY_ARGS"):
        assert f'"{variable}=${{' in groovy, variable
    assert set(jobs) == {"public", "lab-example"} and jobs["public"]["targets"] == "local qemu qemu-arm64"


def test_jenkins_public_job_on_an_agent_with_sudo(
    installed: Installed, tmp_path: Path, workspace_factory: Any, closed_port: ClosedPort
) -> None:
    project, jobs = jenkins_project(installed, tmp_path / "repo", closed_port)
    ws = workspace_factory(project, USER_WITH_SUDO)  # an agent's user (jenkins) with sudo
    done = jenkins_run(ws, jobs["public"], QNX_HIL_SOURCE=ws.wheel, HIL_TARGETS=PUBLIC_TARGETS_HERE)
    assert_public_job_passed(ws, done, "reports/*/junit.xml", "reports/*/coverage/coverage.xml")


def test_jenkins_lab_job_on_a_root_agent(
    installed: Installed, tmp_path: Path, workspace_factory: Any, closed_port: ClosedPort
) -> None:
    project, jobs = jenkins_project(installed, tmp_path / "repo", closed_port)
    lab_ws = workspace_factory(project, ROOT_NO_SUDO)
    done = jenkins_run(
        lab_ws, jobs["lab-example"], QNX_HIL_SOURCE=lab_ws.wheel, QNX_HIL_EXTRAS="",
        QNX_HOST=str(lab_ws.project / ".sdp"),
    )  # fmt: skip
    assert_lab_job_is_infrastructure(done)

"""``hil init``: a new vdev repository, from the project template that ships in the package.

The template (``hil/cli/project_template/``) is a small working project: a sample
vdev in the QNX 8.0 API (``vdevs/mywdog``), its tests (``tests/``), the pytest
settings (``pyproject.toml``), a board definition template
(``targets/board.toml.example``) and, on request, the nightly jobs for a CI
server (an includable file, the shell script every CI server runs, and the CI
server's main file unless the repository has one).  ``hil demo`` runs the same template: one source for both.

Files are rendered with ``string.Template`` (delimiter ``@@``, e.g.
``@@version``); every placeholder must be known.  Nothing is overwritten: when
a destination exists, nothing at all is written (an existing CI main file and
``pyproject.toml`` are kept, not counted).  The project's ``.gitignore`` is
the exception: the tool's output folders are added to it, every line already
there kept.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from hil import __version__
from hil.core.errors import SetupError
from hil.core.paths import PACKAGE_DIR

TEMPLATE_DIR = PACKAGE_DIR / "cli" / "project_template"

#: The project's settings: template path -> path in the project.
SETTINGS: dict[str, str] = {"pyproject.toml": "pyproject.toml"}

#: The sample vdev and its tests (left out with ``--no-sample``).
SAMPLE: dict[str, str] = {
    "vdevs/mywdog/mywdog.c": "vdevs/mywdog/mywdog.c",
    "tests/test_mywdog.py": "tests/test_mywdog.py",
}

#: The board definition template.
BOARD: dict[str, str] = {"targets/board.toml.example": "targets/board.toml.example"}

#: The template files a full project gets: template path -> path in the project.
COMMON: dict[str, str] = {**SETTINGS, **SAMPLE, **BOARD}

#: The CI job's shell script: the same for every CI server (the CI files set its variables).
JOB_SCRIPT = ("ci/qnx-hil-job.sh", "ci/qnx-hil-job.sh")


@dataclass(frozen=True)
class CiFiles:
    """One CI server's files: the includable jobs (always written), the CI server's main file (written
    only when the project has none: else ``include_line`` is what to add to it)."""

    jobs: tuple[str, str]  # template, path in the project
    main: tuple[str, str]
    include_line: str


CI: dict[str, CiFiles] = {
    "github": CiFiles(
        ("ci/github.yml", ".github/workflows/qnx-hil.yml"),
        ("ci/github-nightly.yml", ".github/workflows/hil-nightly.yml"),
        "in a workflow's jobs: qnx-hil: { uses: ./.github/workflows/qnx-hil.yml }",
    ),
    "gitlab": CiFiles(
        ("ci/gitlab.yml", ".gitlab/qnx-hil.yml"),
        ("ci/gitlab-ci.yml", ".gitlab-ci.yml"),
        "include: '/.gitlab/qnx-hil.yml'   (or '- local: /.gitlab/qnx-hil.yml' under an include: it has; the jobs "
        "are in stage test: list it if the file sets stages:)",
    ),
    "jenkins": CiFiles(
        ("ci/qnx-hil.groovy", "ci/qnx-hil.groovy"),
        ("ci/Jenkinsfile", "Jenkinsfile"),
        "in a stage's steps: script { load('ci/qnx-hil.groovy').run() }",
    ),
}

#: The CI files each server gets in a new project (the jobs, the script, the main file).
CI_JOBS: dict[str, tuple[tuple[str, str], ...]] = {name: (c.jobs, JOB_SCRIPT, c.main) for name, c in CI.items()}


class _Template(string.Template):
    delimiter = "@@"


@dataclass(frozen=True)
class ProjectFile:
    """One file of a new project: where it goes and what it holds."""

    path: str  # relative to the project folder
    text: str


def render(template: str, values: dict[str, str]) -> str:
    """One template file's text with its ``@@name`` placeholders filled in."""
    source = TEMPLATE_DIR / template
    try:
        return _Template(source.read_text(encoding="utf-8")).substitute(values)
    except (KeyError, ValueError) as exc:
        raise SetupError(
            f"project template {source}: bad placeholder {exc}; known: {', '.join('@@' + k for k in sorted(values))}"
        ) from None


@dataclass(frozen=True)
class Scaffolded:
    """What ``scaffold`` did: the files written; the CI main file left as it was and the line to add
    to it (None when ``hil init`` wrote it, or wrote no CI job); the settings file left as it was."""

    written: list[Path]
    ci_main_kept: str | None = None
    include_line: str | None = None
    settings_kept: str | None = None


def project_files(
    ci: str | None = None, sample: bool = True, ci_only: bool = False, existing: Path | None = None
) -> tuple[list[ProjectFile], Scaffolded]:
    """The files of a project with the CI job for ``ci`` (github, gitlab, jenkins) or none; without the
    sample vdev (``sample`` False); only the CI files (``ci_only``).  In an ``existing`` folder the CI
    server's main file and ``pyproject.toml`` are left out when there (the result says so)."""
    if ci is not None and ci not in CI:
        raise SetupError(f"--ci {ci}: unknown CI server; choose one of {', '.join(CI)}")
    if ci_only and ci is None:
        raise SetupError("--ci-only needs --ci github|gitlab|jenkins: which CI server's job to write")
    values = {"version": __version__}
    pairs: list[tuple[str, str]] = []
    kept = Scaffolded([])
    if not ci_only:
        if existing is not None and (existing / SETTINGS["pyproject.toml"]).exists():
            kept = Scaffolded([], settings_kept=SETTINGS["pyproject.toml"])
        else:
            pairs += SETTINGS.items()
        pairs += [*(SAMPLE.items() if sample else ()), *BOARD.items()]
    if ci is not None:
        files = CI[ci]
        pairs += [files.jobs, JOB_SCRIPT]
        if existing is not None and (existing / files.main[1]).exists():
            kept = Scaffolded([], files.main[1], files.include_line, kept.settings_kept)
        else:
            pairs.append(files.main)
    return [ProjectFile(dest, render(template, values)) for template, dest in pairs], kept


def scaffold(folder: Path, ci: str | None = None, sample: bool = True, ci_only: bool = False) -> Scaffolded:
    """Write a project into ``folder`` (created if missing); returns what was written.

    An existing repository keeps its CI server's main file (``.gitlab-ci.yml``, a workflow,
    ``Jenkinsfile``): the jobs go into an includable file and the result names the line to add.
    Its ``pyproject.toml`` is kept too.  Refuses (``SetupError``, nothing written) when ``folder``
    is a file or any other file to write already exists.  Then adds the tool's outputs to
    ``.gitignore``.
    """
    if folder.exists() and not folder.is_dir():
        raise SetupError(f"{folder} is a file, not a folder; name a folder for the new project")
    files, kept = project_files(ci, sample, ci_only, folder)
    existing = [f.path for f in files if (folder / f.path).exists()]
    if existing:
        raise SetupError(
            f"{folder} already has {', '.join(existing)}; nothing was written: move "
            f"{'it' if len(existing) == 1 else 'them'} aside or choose another folder"
        )
    written: list[Path] = []
    for f in files:
        path = folder / f.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8") as out:  # "x": never overwrite, even in a race
                out.write(f.text)
            if path.suffix == ".sh":
                path.chmod(0o755)
        except OSError as exc:
            raise SetupError(
                f"cannot write {path}: {exc.strerror or exc}; check the folder's permissions and free space"
            ) from exc
        written.append(path)
    ignore = merge_gitignore(folder)
    if ignore is not None:
        written.append(ignore)
    return Scaffolded(written, kept.ci_main_kept, kept.include_line, kept.settings_kept)


#: What the tool writes into a project as it runs (with the venv the README and the CI job put in ``.venv/``
#: and the CI job's cache in ``.cache/``); ``hil init`` adds these to the project's ``.gitignore``.
GITIGNORE_LINES: tuple[str, ...] = ("/artifacts/", "/reports/", "/coverage/", ".pytest_cache/", ".venv/", "/.cache/")


def merge_gitignore(folder: Path) -> Path | None:
    """Add the lines of ``GITIGNORE_LINES`` that ``folder/.gitignore`` lacks (creating it if missing),
    keeping every line already there; returns its path if it changed, else None."""
    path = folder / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        have = {line.strip() for line in text.splitlines()}
        missing = [line for line in GITIGNORE_LINES if line not in have]
        if not missing:
            return None
        lead = "" if not text or text.endswith("\n") else "\n"
        block = "# qnx-hil's outputs (hil init)\n" + "".join(f"{line}\n" for line in missing)
        with open(path, "a", encoding="utf-8") as out:
            out.write(lead + ("\n" if text else "") + block)
    except OSError as exc:
        raise SetupError(f"cannot update {path}: {exc.strerror or exc}; check the folder's permissions") from exc
    return path

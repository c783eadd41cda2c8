"""``hil init``: a new vdev repository, from the project template that ships in the package.

The template (``hil/cli/project_template/``) is a small working project: a sample
vdev in the QNX 8.0 API (``vdevs/mywdog``), its tests (``tests/``), the pytest
settings (``pyproject.toml``), a board definition template
(``targets/board.toml.example``) and, on request, the nightly job for a CI
server.  ``hil demo`` runs the same template: one source for both.

Files are rendered with ``string.Template`` (delimiter ``@@``, e.g.
``@@version``); every placeholder must be known.  Nothing is overwritten: when
a destination exists, nothing at all is written.  The project's ``.gitignore`` is
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

#: The template files every project gets: template path -> path in the project.
COMMON: dict[str, str] = {
    "pyproject.toml": "pyproject.toml",
    "vdevs/mywdog/mywdog.c": "vdevs/mywdog/mywdog.c",
    "tests/test_mywdog.py": "tests/test_mywdog.py",
    "targets/board.toml.example": "targets/board.toml.example",
}

#: The nightly job for each CI server: template path -> path in the project.
CI_JOBS: dict[str, tuple[str, str]] = {
    "github": ("ci/github.yml", ".github/workflows/hil-nightly.yml"),
    "gitlab": ("ci/gitlab.yml", ".gitlab-ci.yml"),
    "jenkins": ("ci/Jenkinsfile", "Jenkinsfile"),
}


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


def project_files(ci: str | None = None) -> list[ProjectFile]:
    """The files of a new project, with the CI job for ``ci`` (github, gitlab, jenkins) or none."""
    if ci is not None and ci not in CI_JOBS:
        raise SetupError(f"--ci {ci}: unknown CI server; choose one of {', '.join(CI_JOBS)}")
    values = {"version": __version__}
    pairs = list(COMMON.items()) + ([CI_JOBS[ci]] if ci is not None else [])
    return [ProjectFile(dest, render(template, values)) for template, dest in pairs]


def scaffold(folder: Path, ci: str | None = None) -> list[Path]:
    """Write a new project into ``folder`` (created if missing); returns the files written.

    Refuses (``SetupError``, nothing written) when ``folder`` is a file or any
    of the files already exists.  Then adds the tool's outputs to ``.gitignore``.
    """
    if folder.exists() and not folder.is_dir():
        raise SetupError(f"{folder} is a file, not a folder; name a folder for the new project")
    files = project_files(ci)
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
        except OSError as exc:
            raise SetupError(
                f"cannot write {path}: {exc.strerror or exc}; check the folder's permissions and free space"
            ) from exc
        written.append(path)
    ignore = merge_gitignore(folder)
    if ignore is not None:
        written.append(ignore)
    return written


#: What the tool writes into a project as it runs; ``hil init`` adds these to the project's ``.gitignore``.
GITIGNORE_LINES: tuple[str, ...] = ("/artifacts/", "/reports/", "/coverage/", ".pytest_cache/")


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

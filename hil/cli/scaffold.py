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

import contextlib
import errno
import os
import stat
import string
from dataclasses import dataclass
from pathlib import Path

from hil import __version__
from hil.core.errors import SetupError
from hil.core.inputs import read_input_text
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
    is a file, any other file to write already exists, or a sub-folder (or ``.gitignore``) on the way
    is a symbolic link or not a folder: nothing is ever written outside ``folder``.  Then adds the
    tool's outputs to ``.gitignore``.  A failure part way (disk full, a ``.gitignore`` that cannot be
    read) removes what was written and the folders made: ``folder`` is left as it was.
    """
    if folder.exists() and not folder.is_dir():
        raise SetupError(f"{folder} is a file, not a folder; name a folder for the new project")
    files, kept = project_files(ci, sample, ci_only, folder)
    _refuse_links(folder, [f.path for f in files] + [".gitignore"])
    existing = [f.path for f in files if os.path.lexists(folder / f.path)]
    if existing:
        raise SetupError(
            f"{folder} already has {', '.join(existing)}; nothing was written: move "
            f"{'it' if len(existing) == 1 else 'them'} aside or choose another folder"
        )
    with _Writer(folder) as writer:
        written = [writer.write(f.path, f.text, 0o755 if f.path.endswith(".sh") else 0o644) for f in files]
        ignore = merge_gitignore(folder, writer)
        if ignore is not None:
            written.append(ignore)
        writer.commit()
    return Scaffolded(written, kept.ci_main_kept, kept.include_line, kept.settings_kept)


def _refuse_links(folder: Path, paths: list[str]) -> None:
    """A ``SetupError`` when a sub-folder on the way to one of ``paths`` (relative to ``folder``) is a
    symbolic link or not a folder, or a path is a symbolic link: following it would write outside ``folder``."""
    for rel in paths:
        parts = Path(rel).parts
        for depth in range(1, len(parts) + 1):
            path = folder.joinpath(*parts[:depth])
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                break
            except OSError as exc:
                raise SetupError(
                    f"cannot check {path}: {exc.strerror or exc}; check the folder's permissions"
                ) from None
            last = depth == len(parts)
            if stat.S_ISLNK(mode):
                raise SetupError(
                    f"{path} is a symbolic link (to {os.readlink(path)}); hil init writes only inside {folder} and "
                    f"never follows a link out of it; nothing was written: replace the link by a folder"
                    f"{'' if not last else ' or a file'} or choose another folder"
                )
            if not last and not stat.S_ISDIR(mode):
                raise SetupError(
                    f"{path} is not a folder, so {rel} cannot be written; nothing was written: move it aside "
                    f"or choose another folder"
                )


class _Writer:
    """Writes files under one folder without following a link (each folder entered ``O_NOFOLLOW``, each
    file created ``O_EXCL``); until ``commit`` every file and folder made is removed again on the way out."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: list[Path] = []  # folders made, in order (the project folder and its missing parents too)
        self.files: list[Path] = []
        self.replaced: tuple[Path, Path] | None = None  # (temporary file, the file it will replace)
        self.done = False

    def __enter__(self) -> _Writer:
        missing = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
        for path in reversed(missing):
            self._mkdir(path)
        return self

    def _mkdir(self, path: Path) -> None:
        try:
            path.mkdir()
        except OSError as exc:
            raise SetupError(f"cannot make {path}: {exc.strerror or exc}; check the folder's permissions") from exc
        self.made.append(path)

    def _enter(self, rel: Path) -> int:
        """A descriptor of the folder ``rel`` (relative to the project folder), made where missing, never
        through a link."""
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i, part in enumerate(rel.parts):
                path = self.folder.joinpath(*rel.parts[: i + 1])
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                    self.made.append(path)
                except FileExistsError:
                    pass
                try:
                    inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise SetupError(
                            f"{path} is a symbolic link or not a folder; hil init writes only inside {self.folder}: "
                            "replace it by a folder or choose another folder"
                        ) from None
                    raise
                os.close(fd)
                fd = inner
        except BaseException:
            os.close(fd)
            raise
        return fd

    def write(self, rel: str, text: str, mode: int) -> Path:
        """Create ``rel`` (never over an existing file or through a link) holding ``text``; its path."""
        path = self.folder / rel
        try:
            fd = self._enter(Path(rel).parent)
            try:
                out = os.open(Path(rel).name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=fd)
                self.files.append(path)
                with open(out, "w", encoding="utf-8") as stream:
                    stream.write(text)
                    if mode & 0o111:  # past the umask, as a script needs
                        os.fchmod(stream.fileno(), mode)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SetupError(
                f"cannot write {path}: {exc.strerror or exc}; check the folder's permissions and free space; "
                f"nothing was left behind"
            ) from exc
        return path

    def replace(self, rel: str, text: str) -> Path:
        """Write ``text`` to a temporary name beside ``rel``; ``commit`` renames it over ``rel`` (a file in the
        project folder itself, keeping its mode)."""
        path = self.folder / rel
        temporary = self.folder / f".{rel}.hil-init-{os.getpid()}"
        try:
            mode = stat.S_IMODE(path.lstat().st_mode) if os.path.lexists(path) else 0o644
            out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            self.files.append(temporary)
            with open(out, "w", encoding="utf-8") as stream:
                stream.write(text)
        except OSError as exc:
            raise SetupError(
                f"cannot update {path}: {exc.strerror or exc}; check the folder's permissions and free space; "
                f"nothing was left behind"
            ) from exc
        self.replaced = (temporary, path)
        return path

    def commit(self) -> None:
        if self.replaced is not None:
            temporary, path = self.replaced
            try:
                os.replace(temporary, path)
            except OSError as exc:
                raise SetupError(f"cannot update {path}: {exc.strerror or exc}; nothing was left behind") from exc
        self.done = True

    def __exit__(self, *exc: object) -> None:
        if self.done:
            return
        for path in reversed(self.files):
            with contextlib.suppress(OSError):
                path.unlink()
        for path in reversed(self.made):
            with contextlib.suppress(OSError):
                path.rmdir()


#: What the tool writes into a project as it runs (with the venv the README and the CI job put in ``.venv/``
#: and the CI job's cache in ``.cache/``); ``hil init`` adds these to the project's ``.gitignore``.
GITIGNORE_LINES: tuple[str, ...] = ("/artifacts/", "/reports/", "/coverage/", ".pytest_cache/", ".venv/", "/.cache/")


def merge_gitignore(folder: Path, writer: _Writer | None = None) -> Path | None:
    """Add the lines of ``GITIGNORE_LINES`` that ``folder/.gitignore`` lacks (creating it if missing),
    keeping every line already there; returns its path if it changed, else None.  The file is read as a
    bounded input (a FIFO or a device refused, at most 1 MiB) and replaced whole (a temporary file renamed
    over it, never through a link); with ``writer``, on its ``commit``."""
    path = folder / ".gitignore"
    text = ""
    if os.path.lexists(path):
        if path.is_symlink():
            raise SetupError(
                f"{path} is a symbolic link (to {os.readlink(path)}); hil init writes only inside {folder}: "
                "replace the link by a file"
            )
        text = read_input_text(path, ".gitignore", limit=1 << 20, fix="make it a regular text file")  # a ConfigError
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in have]
    if not missing:
        return None
    lead = "" if not text or text.endswith("\n") else "\n"
    block = "# qnx-hil's outputs (hil init)\n" + "".join(f"{line}\n" for line in missing)
    if writer is not None:
        return writer.replace(".gitignore", text + lead + ("\n" if text else "") + block)
    with _Writer(folder) as alone:
        alone.replace(".gitignore", text + lead + ("\n" if text else "") + block)
        alone.commit()
    return path

"""Checking output paths before a run writes to them.

Every output option of the CLI and the pytest plugin (``-o``, ``--artifacts``, ``--reports``,
``--hil-artifacts``, ``--hil-junit``, ``--hil-summary``, ``--hil-html``) goes through
``output_dir`` or ``output_file`` when the options are read, so a path that cannot be written
is one ``ConfigError`` line naming the option, the path and what is wrong with it, rather
than a traceback from deep inside the run (or a run that fails at its very end).
"""

from __future__ import annotations

import os
from pathlib import Path

from hil.core.errors import ConfigError


def _blocker(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` (or ``path`` itself) that is not a folder, if any."""
    for part in (path, *path.parents):
        if part.exists() or part.is_symlink():
            return None if part.is_dir() else part
    return None


def output_dir(path: str | Path, option: str) -> Path:
    """``path`` as a folder this process can write into (it may not exist yet).

    Refused, in one line naming ``option``: a path that is (or lies under) a file, a folder that
    cannot be created, a folder that is not writable.  Nothing is left behind: the folders this
    check creates to prove it can are removed again (the run creates them when it writes)."""
    path = Path(path)
    blocker = _blocker(path)
    if blocker is not None:
        where = "it is a file" if blocker == path else f"{blocker} is a file"
        raise ConfigError(f"cannot write output into {path}: {where}, not a folder; give a folder path", option)
    created = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create output folder {path}: {exc.strerror or exc}; give a folder you can write to", option
        ) from None
    finally:
        for folder in created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break
    if not created and not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into output folder {path}: permission denied; give a writable folder", option)
    return path


def output_file(path: str | Path, option: str) -> Path:
    """``path`` as a file this process can (re)write: its folder is checked (and created) with
    ``output_dir``; an existing folder or non-writable file at ``path`` is refused."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"cannot write output file {path}: it is a folder; give a file path", option)
    output_dir(path.parent if str(path.parent) else Path("."), option)
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"cannot write output file {path}: permission denied; give a writable path", option)
    return path

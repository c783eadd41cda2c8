"""What the xdist workers of one run share (``make test`` runs the suite on several workers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def run_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder ``name`` of this run, the same for all its xdist workers (each worker's base
    temporary folder is ``pytest-N/popen-gwK``: theirs is ``pytest-N``), created."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder

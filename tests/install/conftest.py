"""The installed wheel every test of this folder uses: built and installed once per run (one build
shared by the run's xdist workers: ``tests.support.install.installed_once``)."""

from __future__ import annotations

import pytest

from tests.support.install import Installed, installed_once


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return installed_once(tmp_path_factory)

"""The installed wheel every test of this folder uses: built and installed once per session."""

from __future__ import annotations

import pytest

from tests.support.install import Installed, build_and_install


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return build_and_install(tmp_path_factory.mktemp("install"))

"""The repository's folders, as the tests see them."""

from __future__ import annotations

from pathlib import Path

#: The repository root (holds pyproject.toml, hil/, tests/).
REPO = Path(__file__).resolve().parents[2]
#: The vdevs shipped for targets (wdog, trace, badabi).
TARGET_VDEVS = REPO / "target_vdevs"
#: Test data: target definitions, JUnit schema, inner suites...
FIXTURES = REPO / "fixtures"
#: qvmsim's test-only vdevs (probe).
QVMSIM_TEST_VDEVS = REPO / "tests" / "qvmsim" / "vdevs"
#: This package's folder.
SUPPORT = Path(__file__).resolve().parent
#: The executable stand-in for QNX's qcc driver.
QCC_STANDIN = SUPPORT / "qcc_standin.py"

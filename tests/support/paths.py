"""The repository's folders, as the tests see them."""

from __future__ import annotations

from pathlib import Path

#: The repository root (holds pyproject.toml, hil/, tests/).
REPO = Path(__file__).resolve().parents[2]
#: Every vdev under test, in one place: the well-behaved ones (wdog, trace, vecho, dma80, regfile,
#: ticks, probe, real, nq, shapes, bite, own) directly under it, those with a planted fault under
#: ``faulty/`` (FAULTY_VDEVS).
TARGET_VDEVS = REPO / "target_vdevs"
#: The vdevs with a planted fault a gate must find (badabi, buggy, sweepy, rangey, planted, mover,
#: hanger).
FAULTY_VDEVS = TARGET_VDEVS / "faulty"
#: Test data: target definitions, JUnit schema, inner suites...
FIXTURES = REPO / "fixtures"
#: This package's folder.
SUPPORT = Path(__file__).resolve().parent
#: The executable stand-in for QNX's qcc driver.
QCC_STANDIN = SUPPORT / "qcc_standin.py"

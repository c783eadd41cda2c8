"""The report property keys, named once: what a test tells the run's recorder through ``item.user_properties``.

pytest (and pytest-xdist, from the workers to the controller) carries a test's
``user_properties`` to the reports; qnx-hil's fixtures and hooks put these
``(key, value)`` pairs there and the recorder (``hil.pytestplugin.recorder``)
reads them.  Every ``hil.*`` key is spelled here and nowhere else in ``hil/``
(``tests/unit/test_report_keys.py`` checks it); the values are plain ``str``
(xdist's serializer takes no ``str`` subclass such as an enum member).
"""

from __future__ import annotations

from typing import Final

#: the target's name: the test goes to that target's suite (tests without it go to the host suite)
TARGET: Final = "hil.target"
#: a JSON object of facts about the target (kind, arch, image, qvm version, toolchain): its suite's properties
TARGET_FACTS: Final = "hil.target.facts"
#: seconds spent bringing the target up during this test's set-up (counted as the suite's, not the test's)
TARGET_SETUP: Final = "hil.target.setup"
#: the test's slice of the target's serial console (repeatable: joined in order)
CONSOLE: Final = "hil.console"
#: the test's qvm log(s), sweep tables, fuzz summaries, sanitizer reports (repeatable: joined in order)
QVM_LOG: Final = "hil.qvm_log"
#: the guest consoles: every qvm run's stdout (repeatable: joined in order)
GUEST_CONSOLE: Final = "hil.guest_console"
#: the test's artifacts folder, where the full logs are
ARTIFACTS: Final = "hil.artifacts"
#: the cause, when the lab failed: the test is an infrastructure error, never a failure
INFRASTRUCTURE: Final = "hil.infrastructure"
#: a JSON object ``{"vdev", "count", "first"}``: a vdev of the test built with compiler warnings (repeatable)
VDEV_WARNINGS: Final = "hil.vdev_warnings"
#: a JSON object: one ``hil_measure`` value with its unit and limits (repeatable)
MEASUREMENT: Final = "hil.measurement"
#: how many sanitizer reports a ``hil_sanitizer_expected`` test provoked on purpose
SANITIZER_EXPECTED: Final = "hil.sanitizer_expected"

#: every key above
ALL: Final = (
    TARGET,
    TARGET_FACTS,
    TARGET_SETUP,
    CONSOLE,
    QVM_LOG,
    GUEST_CONSOLE,
    ARTIFACTS,
    INFRASTRUCTURE,
    VDEV_WARNINGS,
    MEASUREMENT,
    SANITIZER_EXPECTED,
)
#: the keys whose values are joined in order (a test may give each several times)
LOGS: Final = (CONSOLE, QVM_LOG, GUEST_CONSOLE)

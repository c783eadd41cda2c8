"""The failure vocabulary of qnx-hil.

Three kinds of trouble, after LAVA:

* ``InfrastructureError``: the lab failed (target unreachable, QEMU died, SSH
  dropped, console gone, lease not obtained).  Never a vdev's fault; reported
  as a test *error*, and the target is reset before the next test.
* ``SetupError``: the input was wrong (bad target definition, bad .qvmconf,
  compile error).  Also a test *error*: the test could not be set up.
* Anything else, notably ``AssertionError`` subclasses such as
  ``ExpectTimeout``: the device under test misbehaved, a test *failure*.

Every message says what went wrong, where, and how to fix it.
"""

from __future__ import annotations


class HilError(Exception):
    """Base of every error qnx-hil raises on purpose."""


class InfrastructureError(HilError):
    """The lab failed: not the vdev's fault."""


class SetupError(HilError):
    """The test could not be set up because an input is wrong."""


class ConfigError(SetupError):
    """A definition file or option is invalid.

    ``source`` names the file (or option) and ``key`` the offending key, so the
    message can say exactly where to look.
    """

    def __init__(self, message: str, source: str | None = None, key: str | None = None) -> None:
        where = ""
        if source and key:
            where = f"{source}: key '{key}': "
        elif source:
            where = f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.key = key
        self.detail = message


class TransportClosed(InfrastructureError):
    """A transport (serial port, socket, SSH channel) went away."""


class ExpectTimeout(AssertionError):
    """A pattern did not appear in time: the device did not do what was expected."""


class FailPatternSeen(AssertionError):
    """A registered fail pattern ("death string") appeared in a stream."""

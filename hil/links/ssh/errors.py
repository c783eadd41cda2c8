"""What SSH adds to the error vocabulary of ``hil.core.errors``: refused host keys and keys, dropped connections."""

from __future__ import annotations

from hil.core.errors import InfrastructureError, SetupError

__all__ = ["AuthenticationFailed", "ConnectionDropped", "HostKeyError", "HostKeyMismatch", "HostKeyUnknown"]


class HostKeyError(InfrastructureError):
    """The server's host key was refused; the connection was closed before authenticating."""


class HostKeyMismatch(HostKeyError):
    """The server offered a host key other than the pinned one: possible man-in-the-middle."""


class HostKeyUnknown(HostKeyError):
    """``known_hosts`` has no key for this host:port (and no key is pinned)."""


class AuthenticationFailed(SetupError):
    """The server refused our key: the target definition names the wrong key or user."""


class ConnectionDropped(InfrastructureError):
    """The SSH connection died while a command was running on it."""

"""How to reach a target over SSH (``SshConfig``), and reading public keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from hil.core.errors import ConfigError

__all__ = ["SshConfig", "fingerprint", "parse_public_key"]


def parse_public_key(line: str) -> tuple[str, bytes]:
    """``"ssh-ed25519 AAAA... [comment]"`` -> (key type, key blob).  ValueError if malformed."""
    parts = line.split()
    if len(parts) < 2:
        raise ValueError(f"expected 'TYPE BASE64 [comment]', got {line!r}")
    kind, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the key data of {line!r} is not base64") from None
    # The blob starts with its own type as an SSH string: they must agree.
    if len(blob) < 4 or blob[4 : 4 + int.from_bytes(blob[:4], "big")] != kind.encode():
        raise ValueError(f"the key data does not hold a {kind} key")
    return kind, blob


def fingerprint(blob: bytes) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class SshConfig:
    """How to reach a target over SSH.

    ``host_key`` pins the server's public key (``"ssh-ed25519 AAAA..."``),
    whatever host and port it is reached at (QEMU's forwarded port changes at
    every start); ``known_hosts`` is a known_hosts file looked up under
    ``host`` (port 22) or ``[host]:port``.  At least one is required; when
    both are given the pinned key decides.  ``key_path`` is the private key
    (OpenSSH/PEM format); ``None`` uses the ssh-agent's keys, then
    ``~/.ssh/id_ed25519``, ``id_ecdsa``, ``id_rsa``.  ``keepalive`` is the
    interval (s) of SSH and TCP keepalives, ``connect_timeout`` bounds one
    connection attempt (TCP, handshake and authentication).
    """

    host: str
    port: int = 22
    user: str = "root"
    key_path: Path | None = None
    host_key: str | None = None
    known_hosts: Path | None = None
    connect_timeout: float = 10.0
    keepalive: float = 5.0

    def __post_init__(self) -> None:
        where = f"SSH config for {self.host!r}"
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError("host must be a non-empty host name or address", where, "host")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"port must be an integer 1..65535, got {self.port!r}", where, "port")
        if not self.user:
            raise ConfigError("user must not be empty", where, "user")
        if self.host_key is None and self.known_hosts is None:
            raise ConfigError(
                "the host key must be pinned: set host_key = 'ssh-ed25519 AAAA...' "
                "(the target's public host key) or known_hosts = PATH; "
                "unknown host keys are never accepted",
                where,
                "host_key",
            )
        if self.host_key is not None:
            try:
                parse_public_key(self.host_key)
            except ValueError as exc:
                raise ConfigError(
                    f"host_key is not a public key line: {exc}; expected e.g. 'ssh-ed25519 AAAAC3Nza...'",
                    where,
                    "host_key",
                ) from None
        for name in ("key_path", "known_hosts"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Path(value))
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser())
        if self.connect_timeout <= 0:
            raise ConfigError("connect_timeout must be positive", where, "connect_timeout")
        if self.keepalive < 0:
            raise ConfigError("keepalive must be >= 0 (0: off)", where, "keepalive")

    @property
    def address(self) -> str:
        """``host:port`` as messages show it."""
        return f"{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name this host has in a known_hosts file."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

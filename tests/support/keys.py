"""Throwaway SSH client keys for tests that need one but never log in."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

#: A well-formed public key that belongs to no server here.
STRANGER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2eRgiEwB8SMcNtBmQx3klNptJNfZ8lzC4lh0X4NU7b"


def client_key(folder: Path) -> Path:
    """Write a fresh ed25519 private key (OpenSSH format) into ``folder``; return its path."""
    key = folder / "id_ed25519"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    return key


def unreachable_board(folder: Path) -> Path:
    """A board definition whose SSH port (127.0.0.1:9) answers nothing."""
    path = folder / "gone.toml"
    path.write_text(
        f'kind = "board"\n[ssh]\nhost = "127.0.0.1"\nport = 9\nconnect_timeout = 2.0\n'
        f'key = "{client_key(folder)}"\nhost_key = "{STRANGER_HOST_KEY}"\n'
    )
    return path

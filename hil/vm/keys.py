"""SSH keys for the QEMU image: a pinned dropbear host key and an authorized client key (Ed25519)."""

from __future__ import annotations

import struct


def make_keys() -> tuple[str, bytes, bytes, str]:
    """(host public key line, host key in dropbear's format, client private key (OpenSSH), client public line)."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    host = Ed25519PrivateKey.generate()
    host_priv = host.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
    host_pub_raw = host.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    host_pub = host.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()
    client = Ed25519PrivateKey.generate()
    client_priv = client.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, ser.NoEncryption())
    client_pub = client.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()
    return host_pub, dropbear_ed25519_key(host_priv, host_pub_raw), client_priv, client_pub + " hil-client"


def dropbear_ed25519_key(private: bytes, public: bytes) -> bytes:
    """An Ed25519 key in dropbear's own key file format."""

    def string(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    return string(b"ssh-ed25519") + string(private + public)

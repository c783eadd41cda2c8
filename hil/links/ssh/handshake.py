"""Opening one authenticated SSH transport: TCP, handshake, the pinned host key, key authentication."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import paramiko

from hil.core.deadline import Deadline
from hil.core.errors import ConfigError, InfrastructureError
from hil.links.ssh.channel import DROP_ERRORS, MAX_PACKET_SIZE, WINDOW_SIZE, SignalingTransport
from hil.links.ssh.config import SshConfig, fingerprint, parse_public_key
from hil.links.ssh.errors import AuthenticationFailed, HostKeyMismatch, HostKeyUnknown

__all__ = ["expected_keys", "load_keys", "open_transport"]

# paramiko's transport thread logs every failed handshake with its traceback (about 20 lines); with no
# handler configured, Python's last resort prints them on stderr.  The failure reaches the caller as
# one InfrastructureError line instead; an application that configures logging still gets the records.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def open_transport(
    cfg: SshConfig, name: str, expected: list[tuple[str, bytes]], keys: list[paramiko.PKey], deadline: Deadline
) -> paramiko.Transport:
    """A transport to ``cfg``'s host, its host key checked against ``expected`` and authenticated with ``keys``."""
    try:
        sock = socket.create_connection((cfg.host, cfg.port), timeout=max(0.01, deadline.remaining()))
    except OSError as exc:
        raise InfrastructureError(
            f"cannot reach {name} over SSH at {cfg.address}: "
            f"{exc.strerror or exc} (is the target up and its SSH server "
            "listening? check host and port)"
        ) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if cfg.keepalive > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for opt, value in (("TCP_KEEPIDLE", cfg.keepalive), ("TCP_KEEPINTVL", cfg.keepalive), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, opt):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), max(1, int(value)))
    transport = SignalingTransport(sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE)
    try:
        left = max(0.01, deadline.remaining())
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = left
        _prefer_key_types(transport, [kind for kind, _ in expected])
        try:
            transport.start_client(timeout=left)
        except DROP_ERRORS as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise InfrastructureError(
                f"SSH handshake with {name} at {cfg.address} failed: {detail} (the server closed or reset the "
                "connection before the handshake completed: is its SSH server starting, overloaded or "
                "refusing this host?)"
            ) from exc
        _check_host_key(cfg, name, transport.get_remote_server_key(), expected)
        _authenticate(cfg, name, transport, keys)
        if cfg.keepalive > 0:
            transport.set_keepalive(cfg.keepalive)
        return transport
    except BaseException:
        transport.close()
        raise


def expected_keys(cfg: SshConfig) -> list[tuple[str, bytes]]:
    """The host keys the server may offer: the pinned one, or its known_hosts entries (none: unknown)."""
    if cfg.host_key is not None:
        return [parse_public_key(cfg.host_key)]
    assert cfg.known_hosts is not None
    if not cfg.known_hosts.is_file():
        raise ConfigError(
            f"known_hosts file {cfg.known_hosts} does not exist: create it with the "
            f"target's host key, or pin host_key instead",
            f"SSH config for {cfg.host}",
            "known_hosts",
        )
    try:
        entries = paramiko.HostKeys(str(cfg.known_hosts)).lookup(cfg.known_hosts_name)
    except (OSError, paramiko.SSHException) as exc:
        raise ConfigError(
            f"cannot read known_hosts file {cfg.known_hosts}: {exc}", f"SSH config for {cfg.host}", "known_hosts"
        ) from exc
    if not entries:
        return []
    return [(kind, entries[kind].asbytes()) for kind in entries]


def _prefer_key_types(transport: paramiko.Transport, kinds: list[str]) -> None:
    """Ask for the pinned key's type first, as OpenSSH does for known hosts."""
    options = transport.get_security_options()
    available = list(options.key_types)
    wanted: list[str] = []
    for kind in kinds:
        wanted += ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if kind == "ssh-rsa" else [kind]
    first = [k for k in wanted if k in available]
    if first:
        options.key_types = first + [k for k in available if k not in first]


def _check_host_key(cfg: SshConfig, name: str, offered: paramiko.PKey, expected: list[tuple[str, bytes]]) -> None:
    blob = offered.asbytes()
    if any(blob == want for _, want in expected):
        return
    offered_desc = f"{offered.get_name()} {fingerprint(blob)}"
    if cfg.host_key is not None:
        source = "the pinned host_key"
        fix = (
            "set host_key to the target's new public host key (read it on the target's console, "
            "e.g. `dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key` or "
            "`cat /etc/ssh/ssh_host_ed25519_key.pub`)"
        )
    else:
        source = f"known_hosts {cfg.known_hosts} ({cfg.known_hosts_name})"
        fix = (
            f"remove the old entry (`ssh-keygen -R '{cfg.known_hosts_name}' -f {cfg.known_hosts}`) and "
            "add the new key after checking its fingerprint on the target's console"
        )
    if not expected:
        raise HostKeyUnknown(
            f"REFUSED: {name} at {cfg.address} offered host key {offered_desc}, which is not in "
            f"{source}; qnx-hil never accepts unknown host keys. Check the fingerprint on the "
            f"target's console, then add `{cfg.known_hosts_name} {offered.get_name()} "
            f"{offered.get_base64()}` to {cfg.known_hosts}, or pin it with host_key."
        )
    wanted = ", ".join(f"{kind} {fingerprint(want)}" for kind, want in expected)
    raise HostKeyMismatch(
        f"REFUSED: the SSH host key of {name} at {cfg.address} does not match {source}: "
        f"expected {wanted}, offered {offered_desc}. Someone may be intercepting the connection, "
        f"or the target was reinstalled (or its image rebuilt). If the change is expected, re-pin: {fix}."
    )


def load_keys(cfg: SshConfig) -> list[paramiko.PKey]:
    """Our private keys: ``key_path``, or the ssh-agent's and ``~/.ssh/id_*``."""
    where = f"SSH config for {cfg.host}"
    keys: list[paramiko.PKey] = []
    if cfg.key_path is not None:
        try:
            keys.append(paramiko.PKey.from_path(cfg.key_path))
        except FileNotFoundError:
            raise ConfigError(f"private key {cfg.key_path} does not exist", where, "key") from None
        except paramiko.PasswordRequiredException:
            raise ConfigError(
                f"private key {cfg.key_path} is encrypted: use an unencrypted key for the "
                "lab, or load it into ssh-agent and leave key unset",
                where,
                "key",
            ) from None
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise ConfigError(f"cannot load private key {cfg.key_path}: {exc}", where, "key") from exc
    else:
        try:
            keys += list(paramiko.Agent().get_keys())
        except paramiko.SSHException:
            pass
        for stem in ("id_ed25519", "id_ecdsa", "id_rsa"):
            path = Path.home() / ".ssh" / stem
            if path.is_file():
                try:
                    keys.append(paramiko.PKey.from_path(path))
                except (OSError, paramiko.SSHException, ValueError):
                    pass
        if not keys:
            raise ConfigError("no private key: set key (no ssh-agent keys and no ~/.ssh/id_* found)", where, "key")
    return keys


def _authenticate(cfg: SshConfig, name: str, transport: paramiko.Transport, keys: list[paramiko.PKey]) -> None:
    causes = []
    for key in keys:
        try:
            transport.auth_publickey(cfg.user, key)
            if transport.is_authenticated():
                return
        except paramiko.BadAuthenticationType as exc:
            raise AuthenticationFailed(
                f"{cfg.user}@{cfg.address} ({name}) does not accept public keys "
                f"(it allows: {', '.join(exc.allowed_types) or 'nothing'}); qnx-hil uses key "
                "authentication only: authorize a key for this user on the target"
            ) from exc
        except paramiko.AuthenticationException as exc:
            if "timeout" in str(exc).lower() or not transport.is_active():
                raise InfrastructureError(
                    f"SSH authentication with {name} at {cfg.address} did not complete: {exc}"
                ) from exc
            causes.append(f"{key.get_name()} {key.fingerprint}")
        except DROP_ERRORS as exc:
            raise InfrastructureError(
                f"SSH connection to {name} at {cfg.address} dropped while authenticating: {exc}"
            ) from exc
    source = str(cfg.key_path) if cfg.key_path else "ssh-agent/~/.ssh keys"
    raise AuthenticationFailed(
        f"{cfg.user}@{cfg.address} ({name}) refused our key(s) from {source}: "
        f"{'; '.join(causes)}. Add the public key to ~{cfg.user}/.ssh/authorized_keys on the target, "
        "or set key_path/user to what the target authorizes."
    )

"""``hil target check``: every problem of a target definition at once, before a night's run.

A lab is otherwise debugged one error per run (the console, then known_hosts, then the key,
then the toolchain).  ``check_target`` tries each thing a run needs and returns one
``Finding`` per problem (and per thing that is fine), so a broken board is told in one go:

* files: the SSH key and known_hosts file exist and are readable; known_hosts names the host;
* the console: a ``socket://``/``rfc2217://`` console accepts a TCP connection, a device exists;
* SSH: the port accepts a connection, the host key matches and the key logs in;
* qvm: the ``[qvm] command`` is on the target (over that SSH login);
* the toolchain and host programs (``hil.targets.hostdeps``): on this host;
* labgrid: labgrid installed, the coordinator answers, the place exists;
* power: the first program of each ``[power]`` command is on this host.

A ``Finding``'s ``kind`` says whose problem it is: ``config`` (the definition or this host's
files: fix the input, exit 2), ``infra`` (something is away or missing: exit 3) or ``ok``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from hil.core.errors import ConfigError, HilError, InfrastructureError
from hil.targets.definition import TargetDefinition
from hil.targets.hostdeps import missing

#: How long one reachability probe (a TCP connection) may take.
PROBE_TIMEOUT = 5.0

FindingKind = Literal["ok", "config", "infra"]


@dataclass(frozen=True)
class Finding:
    """One checked item of a target: ``what`` was checked, ``kind`` of result, ``detail`` (how to fix)."""

    target: str
    what: str
    kind: FindingKind
    detail: str

    def line(self) -> str:
        mark = {"ok": "ok     ", "config": "PROBLEM", "infra": "AWAY   "}[self.kind]
        return f"{mark} {self.target}: {self.what}: {self.detail}"


def _tcp(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when ``host:port`` accepts a TCP connection, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def _file(target: str, what: str, value: str | None, source: str, key: str) -> tuple[Finding, Path | None]:
    path = Path(os.path.expanduser(value or ""))
    if not path.is_file():
        return Finding(target, what, "config", f"no file {path} ({key} in {source}); create it or correct {key}"), None
    if not os.access(path, os.R_OK):
        return Finding(target, what, "config", f"{path} is not readable by this user ({key} in {source})"), None
    return Finding(target, what, "ok", str(path)), path


def _check_ssh(d: TargetDefinition) -> list[Finding]:
    """The key and known_hosts files, then a real login (host key and key) when they are fine."""
    assert d.ssh is not None
    s = d.ssh
    found: list[Finding] = []
    files_ok = True
    if s.key is not None:
        f, _ = _file(d.name, "ssh key", s.key, d.source, "[ssh] key")
        found.append(f)
        files_ok &= f.kind == "ok"
    if s.known_hosts is not None and s.host_key is None:
        f, path = _file(d.name, "ssh known_hosts", s.known_hosts, d.source, "[ssh] known_hosts")
        if path is not None:
            name = s.host if s.port == 22 else f"[{s.host}]:{s.port}"
            text = path.read_text(errors="replace")
            names = {n for line in text.splitlines() if line.strip() and not line.startswith("#")
                     for n in line.split()[0].split(",")}  # fmt: skip
            if name not in names and not any(n.startswith("|1|") for n in names):
                f = Finding(
                    d.name, "ssh known_hosts", "config",
                    f"{path} has no line for {name}: add the board's host key "
                    f"(ssh-keyscan -p {s.port} {s.host} >> {path}, then check its fingerprint)",
                )  # fmt: skip
        found.append(f)
        files_ok &= f.kind == "ok"
    if not s.host:
        return found  # a labgrid place gives the host
    why = _tcp(s.host, s.port, min(PROBE_TIMEOUT, s.connect_timeout))
    if why is not None:
        found.append(Finding(d.name, "ssh", "infra", f"{s.host}:{s.port} does not accept a connection: {why}"))
        return found
    if not files_ok:
        found.append(Finding(d.name, "ssh", "ok", f"{s.host}:{s.port} reachable (login not tried: fix the files)"))
        return found
    found += _login(d)
    return found


def _login(d: TargetDefinition) -> list[Finding]:
    """Log in (host key, key) and look for qvm on the target."""
    from hil.links.ssh import SshConfig, SshConnection

    assert d.ssh is not None
    s = d.ssh
    try:
        config = SshConfig(
            host=s.host, port=s.port, user=s.user, key_path=s.key, host_key=s.host_key,  # type: ignore[arg-type]
            known_hosts=s.known_hosts, connect_timeout=min(s.connect_timeout, 10.0),  # type: ignore[arg-type]
        )  # fmt: skip
    except ConfigError as exc:
        return [Finding(d.name, "ssh", "config", f"{exc} ({d.source})")]
    found: list[Finding] = []
    try:
        with SshConnection(config, name=d.name) as ssh:
            ssh.connect()
            found.append(Finding(d.name, "ssh login", "ok", f"{s.user}@{s.host}:{s.port}, host key matches"))
            command = shlex.split(d.qvm.command)[0] if d.qvm.command.strip() else "qvm"
            result = ssh.run(f"command -v {shlex.quote(command)}", 20)
            if result.exit_status == 0 and result.stdout_text.strip():
                found.append(Finding(d.name, "qvm", "ok", result.stdout_text.strip().splitlines()[0]))
            else:
                found.append(
                    Finding(
                        d.name, "qvm", "infra",
                        f"'{command}' is not on the target's PATH ([qvm] command in {d.source}): install the QNX "
                        f"Hypervisor's qvm on the board, or name its path",
                    )
                )  # fmt: skip
    except InfrastructureError as exc:
        found.append(Finding(d.name, "ssh login", "infra", str(exc)))
    except HilError as exc:  # a refused key, an unknown host key: the lab's set-up
        found.append(Finding(d.name, "ssh login", "config", str(exc)))
    return found


def _check_console(d: TargetDefinition) -> list[Finding]:
    assert d.console is not None
    url = d.console.url
    parts = urlsplit(url)
    if parts.scheme in ("socket", "rfc2217", "telnet", "tcp"):
        if not parts.hostname or not parts.port:
            return [Finding(d.name, "console", "config", f"{url}: expected {parts.scheme}://HOST:PORT ({d.source})")]
        why = _tcp(parts.hostname, parts.port)
        if why is not None:
            return [Finding(d.name, "console", "infra", f"{url} does not accept a connection: {why}")]
        return [Finding(d.name, "console", "ok", f"{url} accepts a connection")]
    path = Path(parts.path if parts.scheme in ("", "file") else url)
    if parts.scheme not in ("", "file"):
        return [Finding(d.name, "console", "ok", f"{url} (not probed: {parts.scheme}://)")]
    if not path.exists():
        return [Finding(d.name, "console", "infra", f"no device {path} on this host (is the USB serial adapter in?)")]
    if not os.access(path, os.R_OK | os.W_OK):
        return [Finding(d.name, "console", "config", f"{path} is not readable and writable by this user (dialout?)")]
    return [Finding(d.name, "console", "ok", str(path))]


def _check_host(d: TargetDefinition) -> list[Finding]:
    found = [
        Finding(
            d.name, m.need.label, "infra",
            f"missing on this host: {m.need.why}; "
            + (f"Debian package {m.need.package} (hil host install)" if m.need.package else m.need.source or ""),
        )
        for m in missing([d])
    ]  # fmt: skip
    return found or [Finding(d.name, "host tools", "ok", "the toolchain and host programs are here")]


def _check_power(d: TargetDefinition) -> list[Finding]:
    found: list[Finding] = []
    for action in ("on", "off", "cycle"):
        command = getattr(d.power, action)
        if not command:
            continue
        programs = []
        for part in command.replace("||", "&&").replace(";", "&&").split("&&"):
            words = [w for w in shlex.split(part) if "=" not in w] if part.strip() else []
            if words and words[0] not in ("sleep", "true", "false", "echo"):
                programs.append(words[0])
        absent = [p for p in programs if shutil.which(p) is None]
        if absent:
            found.append(
                Finding(
                    d.name, f"power {action}", "config",
                    f"{', '.join(absent)} not found on this host's PATH ([power] {action} in {d.source})",
                )
            )  # fmt: skip
        else:
            found.append(Finding(d.name, f"power {action}", "ok", "its programs are on PATH"))
    return found


def _check_labgrid(d: TargetDefinition) -> list[Finding]:
    try:
        import labgrid  # noqa: F401
    except ImportError:
        from hil.targets.labgridplace import INSTALL_HINT

        return [Finding(d.name, "labgrid", "config", f"labgrid is not installed: {INSTALL_HINT}")]
    from hil.targets.labgridplace import Coordinator, coordinator_address

    address = coordinator_address(d)
    host, _, port = address.rpartition(":")
    why = _tcp(host.strip("[]"), int(port))
    if why is not None:
        return [Finding(d.name, "labgrid coordinator", "infra", f"{address} does not accept a connection: {why}")]
    try:
        coordinator = Coordinator(address, f"hil target check {d.name}")
    except HilError as exc:
        return [Finding(d.name, "labgrid coordinator", "infra", str(exc))]
    try:
        places = coordinator.places()
        wanted = d.labgrid.place
        if wanted is not None:
            if wanted not in places:
                known = ", ".join(sorted(places)) or "none"
                return [
                    Finding(
                        d.name, "labgrid place", "config",
                        f"no place '{wanted}' at {address} (places: {known}; [labgrid] place in {d.source})",
                    )
                ]  # fmt: skip
            matched = _place_resources(coordinator, places[wanted])
            if not matched:
                return [
                    Finding(
                        d.name, "labgrid place", "infra",
                        f"place '{wanted}' at {address} matches no exported resource (is its exporter running?)",
                    )
                ]  # fmt: skip
            return [Finding(d.name, "labgrid place", "ok", f"'{wanted}' at {address}: {', '.join(matched)}")]
        tagged = [n for n, p in places.items() if all(p.tags.get(k) == v for k, v in d.labgrid.tags.items())]
        if not tagged:
            return [Finding(d.name, "labgrid place", "config", f"no place at {address} has the tags {d.labgrid.tags}")]
        return [Finding(d.name, "labgrid place", "ok", f"{', '.join(sorted(tagged))} at {address}")]
    finally:
        coordinator.close()


def _place_resources(coordinator: Any, place: Any) -> list[str]:
    """The available exported resources a labgrid place matches (``EXPORTER/GROUP/CLASS/NAME``)."""
    found = []
    for exporter, groups in coordinator.session.resources.items():
        for group, names in groups.items():
            for name, entry in names.items():
                path = (exporter, group, entry.cls, name)
                if entry.avail and place.hasmatch(path):
                    found.append("/".join(path))
    return sorted(found)


def check_target(d: TargetDefinition) -> list[Finding]:
    """Every finding for ``d``: one per checked item, problems and fine ones alike."""
    found: list[Finding] = []
    if d.kind == "labgrid":
        found += _check_labgrid(d)
    if d.console is not None:
        found += _check_console(d)
    if d.ssh is not None and d.kind != "qemu":
        found += _check_ssh(d)
    found += _check_host(d)
    found += _check_power(d)
    return found

"""Running a probe as another local user (``nobody``), to prove what such a user cannot reach.

The probe is a Python script run by the system's ``python3`` under ``setpriv --reuid=nobody
--regid=nogroup --clear-groups`` (util-linux); it prints one JSON document on stdout.  Switching
user needs root: the suite runs as root here (the CI containers do too); as anyone else the test
fails saying so, never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from tests.support.needs import require_program

#: Connects to each unix socket path and each loopback TCP port given, types a shell command, and says
#: what came back: {"unix": {path: outcome}, "tcp": {port: outcome}, "abstract": [[name, outcome]]}.
PROBE = r"""
import json, socket, sys, time
paths, ports, names = json.loads(sys.argv[1])
MARK = b"echo HIL" b"PROBE$((40+2))\n"

def talk(sock):
    sock.settimeout(0.5)
    seen = b""
    try:
        sock.sendall(b"\n" + MARK)
        end = time.monotonic() + 3
        while time.monotonic() < end and b"HILPROBE42" not in seen:
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                sock.sendall(b"\n" + MARK)
                continue
            if not chunk:
                break
            seen += chunk
    except OSError as exc:
        return "error " + type(exc).__name__
    if b"HILPROBE42" in seen:
        return "SHELL"
    if b'"QMP"' in seen:
        return "QMP"
    return "connected, no shell"

out = {"unix": {}, "tcp": {}, "abstract": []}
for path in paths:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        out["unix"][path] = talk(s)
    except OSError as exc:
        out["unix"][path] = "refused " + type(exc).__name__
    finally:
        s.close()
for port in ports:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
    except OSError as exc:
        out["tcp"][str(port)] = "refused " + type(exc).__name__
        continue
    out["tcp"][str(port)] = talk(s)
    s.close()
for name in names:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0" + name[1:])
        out["abstract"].append([name, talk(s)])
    except OSError as exc:
        out["abstract"].append([name, "refused " + type(exc).__name__])
    finally:
        s.close()
print(json.dumps(out))
"""


def as_nobody(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as user ``nobody`` (group ``nogroup``, no supplementary groups)."""
    require_program("setpriv", "util-linux")
    if os.getuid() != 0:
        pytest.fail("this test runs a probe as user 'nobody': it needs root to switch user", pytrace=False)
    return subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/",
    )


def probe_as_nobody(paths: list[str], ports: list[int], names: Sequence[str] = ()) -> dict[str, Any]:
    """What ``nobody`` gets from each unix socket ``paths``, loopback ``ports`` and abstract socket
    ``names`` (``@name``, see ``PROBE``)."""
    done = as_nobody(["/usr/bin/python3", "-c", PROBE, json.dumps([paths, ports, list(names)])])
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def abstract_socket_names(pid: int) -> list[str]:
    """The abstract unix socket names (``@name``) process ``pid`` holds (``/proc/net/unix``)."""
    inodes = _socket_inodes(pid)
    names = []
    with open("/proc/net/unix") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[6] in inodes and fields[7].startswith("@"):
                names.append(fields[7])
    return sorted(set(names))


def listening_tcp_ports(pid: int) -> list[int]:
    """The TCP ports process ``pid`` listens on (from its descriptors and ``/proc/net/tcp{,6}``)."""
    inodes = _socket_inodes(pid)
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(set(ports))

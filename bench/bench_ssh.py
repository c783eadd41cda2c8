#!/usr/bin/env python3
"""Benchmark of the SSH transport (hil.links.ssh) beside its floors.

Prints medians over repeated runs: the command round trip (``true``) and
SFTP put/get throughput of a 16 MB file through ``SshConnection``, the same
through ``cat`` (the no-SFTP fallback), and beside them the floors: paramiko
used plainly (``exec_command``, ``SFTPClient`` on a default transport) and the
OpenSSH client multiplexed over a ControlMaster connection.

Without ``--host`` it starts the test dropbear of tests/support/sshd.py on
127.0.0.1; against a VM or board pass ``--host --port --user --key
--host-key`` (or ``--known-hosts``).  ``--json`` prints the figures as JSON.

    .venv/bin/python bench/bench_ssh.py
    .venv/bin/python bench/bench_ssh.py --host 127.0.0.1 --port 2222 --user root \\
        --key ~/.cache/qnx-hil/images/X/client_ed25519 --host-key "ssh-ed25519 AAAA..."
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hil.links.ssh import SshConfig, SshConnection, parse_public_key


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(fns: list[Callable[[], object]], repeats: int, warmup: int = 3) -> list[float]:
    """Median time of each function, calling them in turn (so load drift hits all alike)."""
    times: list[list[float]] = [[] for _ in fns]
    for i in range(warmup + repeats):
        for fn, bucket in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            if i >= warmup:
                bucket.append(time.perf_counter() - t0)
    return [statistics.median(bucket) for bucket in times]


def plain_paramiko(cfg: SshConfig) -> paramiko.SSHClient:
    """paramiko's SSHClient as a user would write it (defaults, same pinned key)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if cfg.host_key:
        kind, blob = parse_public_key(cfg.host_key)
        client.get_host_keys().add(cfg.known_hosts_name, kind, paramiko.PKey.from_type_string(kind, blob))
    else:
        assert cfg.known_hosts is not None
        client.load_host_keys(str(cfg.known_hosts))
    client.connect(
        cfg.host,
        cfg.port,
        cfg.user,
        key_filename=str(cfg.key_path) if cfg.key_path else None,
        look_for_keys=cfg.key_path is None,
        allow_agent=cfg.key_path is None,
        timeout=cfg.connect_timeout,
    )
    return client


class OpenSsh:
    """The ssh CLI multiplexed over one ControlMaster connection."""

    def __init__(self, cfg: SshConfig, work: Path) -> None:
        known = work / "known_hosts"
        known.write_text(
            f"{cfg.known_hosts_name} {cfg.host_key}\n" if cfg.host_key else Path(str(cfg.known_hosts)).read_text()
        )
        self.base = [
            "ssh",
            "-p",
            str(cfg.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={work}/cm-%C",
            "-o",
            "ControlPersist=120",
        ]
        if cfg.key_path:
            self.base += ["-o", "IdentitiesOnly=yes", "-i", str(cfg.key_path)]
        self.base.append(f"{cfg.user}@{cfg.host}")

    def run(self, command: str, stdin: Path | None = None, stdout: Path | None = None) -> None:
        with open(stdin or os.devnull, "rb") as i, open(stdout or os.devnull, "wb") as o:
            subprocess.run([*self.base, command], stdin=i, stdout=o, check=True)

    def stop(self) -> None:
        subprocess.run([*self.base[:-1], "-O", "exit", self.base[-1]], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host")
    ap.add_argument("--port", type=int, default=22)
    ap.add_argument("--user", default="root")
    ap.add_argument("--key", type=Path)
    ap.add_argument("--host-key")
    ap.add_argument("--known-hosts", type=Path)
    ap.add_argument("--remote-dir", default="/tmp", help="scratch folder on the target (default /tmp)")
    ap.add_argument("--rounds", type=int, default=200, help="command round trips to time")
    ap.add_argument("--size-mb", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5, help="transfers to time")
    ap.add_argument("--window", type=int, help="local dropbear only: its -W receive window")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hil-bench-ssh-"))
    server = None
    if args.host is None:
        from tests.support.sshd import DropbearServer

        server = DropbearServer(work / "sshd", window=args.window).start()
        cfg = SshConfig(
            host=server.host, port=server.port, user=server.user, key_path=server.client_key, host_key=server.host_key
        )
        target = f"local dropbear 127.0.0.1:{server.port} (-W {args.window or 'default'})"
    else:
        cfg = SshConfig(
            host=args.host,
            port=args.port,
            user=args.user,
            key_path=args.key,
            host_key=args.host_key,
            known_hosts=args.known_hosts,
        )
        target = f"{args.user}@{args.host}:{args.port}"

    size = args.size_mb * 1024 * 1024
    local = work / "payload.bin"
    local.write_bytes(os.urandom(size))
    back = work / "back.bin"
    remote = f"{args.remote_dir.rstrip('/')}/hil-bench-ssh-{os.getpid()}.bin"
    mbps: Callable[[float], float] = lambda seconds: size / seconds / 1e6  # noqa: E731
    figures: dict[str, float] = {}
    try:
        conn = SshConnection(cfg, name="bench")
        t0 = time.perf_counter()
        conn.connect()
        figures["connect_ms"] = (time.perf_counter() - t0) * 1e3
        plain = plain_paramiko(cfg)
        tight = plain_paramiko(cfg)  # the same with Nagle off: the tightest floor
        tight_transport = tight.get_transport()
        assert tight_transport is not None and isinstance(tight_transport.sock, socket.socket)
        tight_transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def exec_true(client: paramiko.SSHClient) -> Callable[[], None]:
            def run() -> None:
                _, out, _ = client.exec_command("true")
                out.channel.recv_exit_status()

            return run

        # Interleaved, so a busy machine slows both sides alike.
        ours, floor = interleaved([lambda: conn.run("true"), exec_true(tight)], args.rounds)
        figures["rt_ours_ms"], figures["rt_paramiko_nodelay_ms"] = ours * 1e3, floor * 1e3
        figures["rt_paramiko_ms"] = median_time(exec_true(plain), max(10, args.rounds // 10), 2) * 1e3
        tight.close()

        cli = OpenSsh(cfg, work) if shutil.which("ssh") else None
        if cli:
            figures["rt_openssh_cm_ms"] = median_time(lambda: cli.run("true"), max(20, args.rounds // 4), 2) * 1e3

        figures["put_ours_MBps"] = mbps(median_time(lambda: conn.put(local, remote), args.repeats))
        figures["get_ours_MBps"] = mbps(median_time(lambda: conn.get(remote, back), args.repeats))
        assert back.read_bytes() == local.read_bytes(), "get returned other bytes than put sent"

        sftp = plain.open_sftp()
        figures["put_paramiko_MBps"] = mbps(median_time(lambda: sftp.put(str(local), remote), args.repeats))
        figures["get_paramiko_MBps"] = mbps(median_time(lambda: sftp.get(remote, str(back)), args.repeats))
        sftp.close()

        cat = SshConnection(cfg, name="bench-cat")
        cat.sftp_available = False  # force the no-SFTP path
        figures["put_cat_MBps"] = mbps(median_time(lambda: cat.put(local, remote), args.repeats))
        figures["get_cat_MBps"] = mbps(median_time(lambda: cat.get(remote, back), args.repeats))
        assert back.read_bytes() == local.read_bytes(), "cat get returned other bytes than put sent"

        if cli:
            figures["put_openssh_cat_MBps"] = mbps(
                median_time(lambda: cli.run(f"cat > {remote}", stdin=local), args.repeats)
            )
            figures["get_openssh_cat_MBps"] = mbps(
                median_time(lambda: cli.run(f"cat {remote}", stdout=back), args.repeats)
            )
            cli.stop()
        conn.run(["rm", "-f", remote])
        cat.close()
        conn.close()
        plain.close()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps({"target": target, "size_mb": args.size_mb, **figures}, indent=2))
        return 0
    f = figures
    print(
        f"SSH transport benchmark against {target} (medians; {args.rounds} round trips, "
        f"{args.repeats} x {args.size_mb} MB transfers)"
    )
    print(f"  connect (TCP+kex+auth)      {f['connect_ms']:8.2f} ms")
    print(
        f"  command round trip (true)   {f['rt_ours_ms']:8.2f} ms   floor: paramiko exec_command "
        f"{f['rt_paramiko_ms']:.2f} ms (with TCP_NODELAY {f['rt_paramiko_nodelay_ms']:.2f} ms)"
        + (f", ssh ControlMaster {f['rt_openssh_cm_ms']:.2f} ms" if "rt_openssh_cm_ms" in f else "")
    )
    print(
        f"  SFTP put                    {f['put_ours_MBps']:8.1f} MB/s floor: paramiko SFTPClient "
        f"{f['put_paramiko_MBps']:.1f} MB/s"
        + (f", ssh 'cat >' {f['put_openssh_cat_MBps']:.1f} MB/s" if "put_openssh_cat_MBps" in f else "")
    )
    print(
        f"  SFTP get                    {f['get_ours_MBps']:8.1f} MB/s floor: paramiko SFTPClient "
        f"{f['get_paramiko_MBps']:.1f} MB/s"
        + (f", ssh cat {f['get_openssh_cat_MBps']:.1f} MB/s" if "get_openssh_cat_MBps" in f else "")
    )
    print(f"  cat fallback put / get      {f['put_cat_MBps']:8.1f} / {f['get_cat_MBps']:.1f} MB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

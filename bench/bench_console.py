#!/usr/bin/env python3
"""Console benchmark: expect round trip and throughput over a pty and raw TCP, beside a floor.

    python bench/bench_console.py [--repeats 5] [--round-trips 300] [--megabytes 8]

The other end is a separate process (so it does not compete for our GIL): on
each line it receives it either echoes the line back, or, for ``burst N ID``,
writes N bytes of 64-byte text lines followed by ``END ID``.

* round trip: write ``ping <i>`` and wait until the echo is matched (median of
  ``--round-trips`` per repeat, then the median over repeats);
* throughput: ask for a burst and wait for its ``END`` marker (MB/s, median
  over repeats).

The floor and ours are measured in turn, repeat by repeat (each on its own connection or pty
to its own peer), and the ratios printed: the aim is a round trip within 1.2x the floor's and
a throughput of at least 0.9x.  The floor does the same workload with nothing but the plain library and a
regex: ``serial.Serial`` reading ``in_waiting or 1`` bytes on the pty, a plain
``socket`` reading 64 KiB at a time on TCP, matching each chunk (with a small
overlap) as it arrives.  ``hil.links.console.Console`` also writes every byte to a log
file and keeps the last 32 MiB (bytes and text) in memory while doing so.

The figures move with the machine's load (the floor's TCP throughput ranges from 70 to 420 MB/s
on the 2-core development machine, shared); run it 5 times or more and take medians, with
``uptime`` beside each run.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import serial

from hil.links.console import Console
from hil.links.transports import SerialTransport, TcpTransport

LINE = b"%07d the quick brown fox jumps over the lazy dog 0123456789ab\n"  # 64 bytes


def make_burst(n: int) -> bytes:
    lines = n // 64 + 1
    return b"".join(LINE % i for i in range(lines))[:n]


# ------------------------------------------------------------------------------------- the peer


def serve(read: Callable[[], bytes], write: Callable[[bytes], None]) -> None:
    """Echo lines; answer ``burst N ID`` with N bytes then ``END ID``.  Returns on EOF."""
    pending = b""
    cache: dict[int, bytes] = {}
    while True:
        data = read()
        if not data:
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"burst "):
                _, n, ident = line.split()
                size = int(n)
                if size not in cache:
                    cache[size] = make_burst(size)
                write(cache[size] + b"\nEND " + ident + b"\n")
            else:
                write(line + b"\n")


def peer_tcp() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)

    def handle(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            serve(functools.partial(conn.recv, 65536), conn.sendall)
        except OSError:
            pass
        conn.close()

    while True:  # a thread per connection: the floor and ours are connected at once (used in turn)
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def peer_pty(fd: int) -> None:
    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def read() -> bytes:
        while True:
            try:
                return os.read(fd, 65536)
            except OSError:  # EIO: no one has the slave open (between runs); wait for the next opener
                time.sleep(0.01)

    print("ready", flush=True)
    serve(read, write)


# ------------------------------------------------------------------------------------- workloads


class Floor:
    """The same workload with only the plain library and a regex."""

    def __init__(
        self, read: Callable[[], bytes], write: Callable[[bytes], object], close: Callable[[], object]
    ) -> None:
        self.read, self.write, self.close = read, write, close

    def wait_for(self, rx: re.Pattern[bytes], timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        tail = b""
        while time.monotonic() < end:
            chunk = self.read()
            if not chunk:
                continue
            window = tail + chunk
            if rx.search(window):
                return
            tail = window[-64:]
        raise TimeoutError(rx.pattern)

    def round_trip(self, i: int) -> None:
        self.write(b"ping %d\n" % i)
        self.wait_for(re.compile(rb"ping %d\n" % i))

    def burst(self, n: int, ident: str) -> None:
        self.write(f"burst {n} {ident}\n".encode())
        self.wait_for(re.compile(rf"END {ident}\n".encode()))


class Ours:
    """The workload through ``hil.links.console.Console`` (with a log file)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def round_trip(self, i: int) -> None:
        self.console.sendline(f"ping {i}")
        self.console.expect(rf"ping {i}\n", timeout=10)

    def burst(self, n: int, ident: str) -> None:
        self.console.sendline(f"burst {n} {ident}")
        self.console.expect(rf"END {ident}\n", timeout=60)

    def close(self) -> None:
        self.console.close()


def measure_pair(
    floor: Floor, ours: Ours, repeats: int, round_trips: int, nbytes: int
) -> dict[str, tuple[float, float]]:
    """Median round trip (ms) and throughput (MB/s) of both, measured alternately (repeat by repeat,
    in turn) so that both see the same load on a shared machine."""
    runners: dict[str, Floor | Ours] = {"floor": floor, "ours": ours}
    for runner in runners.values():
        for i in range(20):  # warm up
            runner.round_trip(-i - 1)
    rts: dict[str, list[float]] = {name: [] for name in runners}
    rates: dict[str, list[float]] = {name: [] for name in runners}
    serial = 0
    for _ in range(repeats):
        for name, runner in runners.items():
            times = []
            for _ in range(round_trips):
                serial += 1
                t0 = time.perf_counter()
                runner.round_trip(serial)
                times.append(time.perf_counter() - t0)
            rts[name].append(statistics.median(times))
            t0 = time.perf_counter()
            runner.burst(nbytes, f"b{serial}")
            rates[name].append(nbytes / (time.perf_counter() - t0) / 1e6)
    return {name: (statistics.median(rts[name]) * 1e3, statistics.median(rates[name])) for name in runners}


# ------------------------------------------------------------------------------------- setups


def tcp_pair(port: int, logdir: Path) -> tuple[Floor, Ours]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    floor = Floor(lambda: sock.recv(65536), sock.sendall, sock.close)
    console = Console(TcpTransport("127.0.0.1", port), log_path=logdir / "tcp.log", name="tcp")
    return floor, Ours(console)


def pty_pair(path: str, logdir: Path) -> tuple[Floor, Ours]:
    port = serial.Serial(path, 115200, timeout=1)
    floor = Floor(lambda: port.read(port.in_waiting or 1), port.write, port.close)
    console = Console(SerialTransport(path), log_path=logdir / "pty.log", name="pty")
    return floor, Ours(console)


def run(args: argparse.Namespace) -> int:
    here = Path(__file__).resolve()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="hil-bench-") as tmp:
        logdir = Path(tmp)

        # raw TCP
        proc = subprocess.Popen([sys.executable, str(here), "--peer-tcp"], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            floor, ours = tcp_pair(port, logdir)  # two connections to the peer, used in turn
            ours.console.start()
            results["tcp"] = measure_pair(floor, ours, args.repeats, args.round_trips, args.nbytes)
            floor.close()
            ours.close()
        finally:
            proc.kill()
            proc.wait()

        # pty: a peer drives each master, we open the slaves like real /dev/tty* (one for the floor, one for ours)
        peers: list[tuple[subprocess.Popen[str], int]] = []
        try:
            paths = []
            for _ in range(2):
                master, slave = os.openpty()
                proc = subprocess.Popen(
                    [sys.executable, str(here), "--peer-pty", str(master)],
                    pass_fds=[master],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                os.close(master)
                peers.append((proc, slave))
                assert proc.stdout is not None
                proc.stdout.readline()
                paths.append(os.ttyname(slave))
            floor, _ = pty_pair(paths[0], logdir)
            _, ours = pty_pair(paths[1], logdir)
            ours.console.start()
            results["pty"] = measure_pair(floor, ours, args.repeats, args.round_trips, args.nbytes)
            floor.close()
            ours.close()
        finally:
            for proc, slave in peers:
                proc.kill()
                proc.wait()
                os.close(slave)

    print(
        f"console benchmark: medians over {args.repeats} repeats; round trip = median of {args.round_trips} "
        f"echoes; throughput = {args.nbytes / 1e6:.0f} MB bursts"
    )
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; floor and ours measured in turn")
    print(f"{'path':5} {'':6} {'round trip ms':>14} {'throughput MB/s':>16}")
    ok = True
    for path_name in ("pty", "tcp"):
        for who in ("floor", "ours"):
            rt, mbps = results[path_name][who]
            print(f"{path_name:5} {who:6} {rt:14.3f} {mbps:16.1f}")
        (rt_floor, mb_floor), (rt, mbps) = results[path_name]["floor"], results[path_name]["ours"]
        print(f"{path_name:5} {'ratio':6} {rt / rt_floor:13.2f}x {mbps / mb_floor:15.2f}x")
        ok = ok and rt / rt_floor <= 1.2 and mbps / mb_floor >= 0.9
    print("aims: round trip <= 1.2x the floor, throughput >= 0.9x, on both paths:", "met" if ok else "NOT met")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--round-trips", type=int, default=300)
    parser.add_argument("--megabytes", type=float, default=8.0)
    parser.add_argument("--peer-tcp", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer-pty", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_tcp:
        peer_tcp()
        return 0
    if args.peer_pty is not None:
        peer_pty(args.peer_pty)
        return 0
    args.nbytes = int(args.megabytes * 1e6)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

"""Issue 11.11: console capture is bounded in memory; expect stays correct across the bound."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hil.core.errors import SetupError
from hil.links.console import Console, ConsoleMatch
from hil.links.transports import open_transport

ROOT = Path(__file__).resolve().parents[2]

FLOOD = textwrap.dedent("""
    import json, socket, sys, threading, time
    from pathlib import Path
    from hil.links.console import Console
    from hil.links.transports import open_transport

    def status(key):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    log = Path(sys.argv[1])
    total = int(sys.argv[2]) << 20
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    console = Console(open_transport(f"socket://127.0.0.1:{port}"), log_path=log, reconnect=False).start()
    peer, _ = server.accept()
    line = b"flood " + b"x" * 1017 + b"\\n"
    chunk = line * 1024                                   # 1 MiB
    mark = console.mark()
    base_rss = status("VmRSS")
    waiting = {}
    t = threading.Thread(target=lambda: waiting.setdefault("m", console.expect(r"MARKER-(\\d+)", 300)))
    t.start()
    while not console.capture.pins:  # the expect is waiting before the flood starts
        time.sleep(0.001)
    def write():
        for _ in range(total // len(chunk)):
            peer.sendall(chunk)
        peer.sendall(b"MARKER-42 after the flood\\n")
    w = threading.Thread(target=write)
    w.start()
    peak = 0
    while t.is_alive():
        peak = max(peak, status("VmRSS"))
        time.sleep(0.02)
    w.join()
    m = waiting["m"]
    after = console.mark()
    peer.sendall(b"MARKER-43 later\\n")
    late = console.expect(r"MARKER-(\\d+)", 30, since=after)
    old = None
    try:
        console.expect("anything", 1, since=mark)
    except Exception as exc:
        old = f"{type(exc).__name__}: {exc}"
    console.close()
    print(json.dumps({"base": base_rss, "peak": max(peak, status("VmRSS")), "hwm": status("VmHWM"),
                      "memory": console.memory, "start": m.start.offset, "text": m.text,
                      "late": late.match.group(1), "late_start": late.start.offset, "old": old,
                      "received": console.bytes_received}))
""")


def test_a_200_mb_flood_keeps_memory_bounded_and_expect_finds_the_marker(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    done = subprocess.run(
        [sys.executable, "-c", FLOOD, str(log), "200"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout)
    flood = 200 << 20
    assert r["text"] == "MARKER-42" and r["start"] == flood  # found by the expect that waited through the flood
    assert r["late"] == "43" and r["late_start"] == flood + len("MARKER-42 after the flood\n")
    assert r["received"] == log.stat().st_size == flood + 42  # everything is on disk
    # the documented bound (README, hil.links.console): the peak RSS grows by less than 5x the kept memory (bytes, their
    # text, search windows, allocator slack) plus 32 MiB; the old console kept all 200 MB twice (bytes and text)
    grew = r["hwm"] - r["base"]
    assert grew < 5 * r["memory"] + (32 << 20), f"RSS grew by {grew >> 20} MiB with a bound of {r['memory'] >> 20} MiB"
    assert grew < 200 << 20
    assert r["old"] is not None and r["old"].startswith("SetupError: console ") and "kept in memory" in r["old"]
    assert str(log) in r["old"]


def waiting_expect(console: Console, pattern: str, send: Callable[[], object]) -> ConsoleMatch:
    """``console.expect(pattern)`` already waiting (from the current position) while ``send()`` floods it."""
    import threading
    import time

    result: dict[str, object] = {}

    def wait() -> None:
        try:
            result["m"] = console.expect(pattern, 60)
        except Exception as exc:
            result["m"] = exc

    waiter = threading.Thread(target=wait)
    waiter.start()
    while not console.capture.pins and waiter.is_alive():
        time.sleep(0.001)
    send()
    waiter.join(60)
    match = result.get("m")
    assert isinstance(match, ConsoleMatch), result
    return match


@pytest.fixture
def pair() -> Iterator[tuple[Console, socket.socket]]:
    server = socket.create_server(("127.0.0.1", 0))
    console = Console(
        open_transport(f"socket://127.0.0.1:{server.getsockname()[1]}"), reconnect=False, memory=1 << 16
    ).start()
    peer, _ = server.accept()
    yield console, peer
    console.close()
    peer.close()
    server.close()


def test_small_bound_keeps_offsets_exact_with_multibyte_text(pair: tuple[Console, socket.socket]) -> None:
    console, peer = pair
    line = "é€ line of text 😀\n".encode()
    blob = line * 20000  # ~560 KB, far over the 64 KiB bound
    mark = console.mark()
    m = waiting_expect(console, "END-MARK", lambda: peer.sendall(blob + b"END-MARK\n"))
    assert m.start.offset == len(blob)
    assert console.bytes_received == len(blob) + 9
    assert console.capture.data.held() <= 4 * console.memory
    tail = console.since(mark)
    assert tail.startswith("[hil: ") and tail.endswith("END-MARK\n")
    after = console.mark()
    peer.sendall(b"\xc3\xa9 NEXT\n")
    assert console.expect(r"\w NEXT", 10, since=after).start.offset == after.offset
    with pytest.raises(SetupError, match="kept in memory"):
        console.not_matching("nothing", since=mark)
    with pytest.raises(SetupError, match="kept in memory"):
        console.data(mark)


def test_memory_bound_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIL_CONSOLE_MEMORY_MB", "5")
    assert Console(open_transport("loop://")).memory == 5 << 20
    monkeypatch.setenv("HIL_CONSOLE_MEMORY_MB", "lots")
    with pytest.raises(SetupError, match="HIL_CONSOLE_MEMORY_MB='lots'"):
        Console(open_transport("loop://"))


def test_marker_in_the_middle_of_a_flood_is_found_by_a_waiting_expect(pair: tuple[Console, socket.socket]) -> None:
    console, peer = pair
    filler = b"noise " * 1000 + b"\n"
    before = filler * 300  # ~1.8 MB before the marker, far over the 64 KiB bound
    m = waiting_expect(console, r"MID-\d+", lambda: peer.sendall(before + b"MID-7\n" + filler * 300))
    assert m.text == "MID-7" and m.start.offset == len(before)

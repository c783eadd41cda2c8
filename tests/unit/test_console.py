"""The console core over real transports: TCP sockets on 127.0.0.1, ptys, socketpairs."""

from __future__ import annotations

import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hil.core.errors import ExpectTimeout, FailPatternSeen, InfrastructureError, SetupError
from hil.links import regex_window
from hil.links.capture import TextStore
from hil.links.console import Console, ConsoleMatch, Mark
from hil.links.regex_window import Search
from hil.links.transports import SocketLikeTransport, TcpTransport, open_transport


def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.005)


class Peer:
    """The device end: a real TCP server on 127.0.0.1 the console connects to."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.listener.settimeout(5)
        self.conn, _ = self.listener.accept()
        return self.conn

    def send(self, data: bytes | str) -> None:
        assert self.conn is not None
        self.conn.sendall(data.encode() if isinstance(data, str) else data)

    def close(self) -> None:
        self.listener.close()
        if self.conn is not None:
            self.conn.close()


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    p.close()


@pytest.fixture
def console(peer: Peer, tmp_path: Path) -> Iterator[Console]:
    c = Console(open_transport(f"socket://127.0.0.1:{peer.port}"), log_path=tmp_path / "logs" / "console.log")
    c.start()
    peer.accept()
    yield c
    c.close()


def feed(peer: Peer, console: Console, data: bytes | str) -> None:
    """Send and wait until the console has it all (so the next send is a separate chunk)."""
    want = console.bytes_received + len(data.encode() if isinstance(data, str) else data)
    peer.send(data)
    until(lambda: console.bytes_received >= want)


# ---------------------------------------------------------------- expect, mark, since


def test_expect_mark_since(peer: Peer, console: Console) -> None:
    peer.send("U-Boot 2024\r\nStarting kernel ...\r\nlogin: ")
    m = console.expect(r"login: ", timeout=5)
    assert m.text == "login: " and m.index == 0
    assert m.end == console.mark() and m.start.offset == m.end.offset - 7
    mark = console.mark()
    console.sendline("root")
    assert peer.conn is not None and peer.conn.recv(100) == b"root\n"
    peer.send("# uname\r\nQNX\r\n# ")
    assert console.expect(r"QNX", timeout=5).text == "QNX"
    assert console.since(mark) == "# uname\r\nQNX\r\n# "
    assert console.since(Mark(0), m.end).endswith("login: ")
    assert console.text().startswith("U-Boot 2024")


def test_expect_continues_after_the_previous_match(peer: Peer, console: Console) -> None:
    peer.send("# \r\n")
    console.expect("# ", timeout=5)
    with pytest.raises(ExpectTimeout):
        console.expect("# ", timeout=0.05)  # the same prompt is not found twice
    peer.send("# ")
    console.expect("# ", timeout=5)
    assert console.expect("# ", timeout=5, since=Mark(0)).start == Mark(0)


def test_expect_list_returns_the_earliest_and_its_index(peer: Peer, console: Console) -> None:
    peer.send("boot ok\r\nPassword: ")
    m = console.expect([r"login: ", r"Password: ", r"ok"], timeout=5)
    assert (m.index, m.text, m.pattern) == (2, "ok", "ok")
    m = console.expect([r"login: ", re.compile(r"pass\w+: ", re.I)], timeout=5)
    assert (m.index, m.text) == (1, "Password: ")


def test_expect_all_in_any_order(peer: Peer, console: Console) -> None:
    start = console.mark()
    peer.send("vdev b ready\n")
    threading.Timer(0.05, peer.send, args=("vdev a ready\n",)).start()
    a, b = console.expect_all([r"vdev a ready", r"vdev b ready"], timeout=5, since=start)
    assert (a.index, b.index) == (0, 1) and a.start > b.start
    assert console.position == a.end
    with pytest.raises(ExpectTimeout, match=r"still missing \['never'\]"):
        console.expect_all(["vdev a", "never"], timeout=0.05, since=start)


def test_not_matching(peer: Peer, console: Console) -> None:
    peer.send("ok 1\nERROR: vdev timer lost an interrupt\nok 2\n")
    console.expect("ok 2", timeout=5)
    console.not_matching("panic")
    with pytest.raises(AssertionError) as err:
        console.not_matching(r"ERROR: \w+")
    assert "byte 5" in str(err.value) and "vdev timer lost an interrupt" in str(err.value)
    console.not_matching("ERROR", since=console.mark())


def test_timeout_message_shows_pattern_tail_and_log(peer: Peer, console: Console) -> None:
    lines = [f"line {i}" for i in range(30)]
    peer.send("\r\n".join(lines) + "\r\n\x1b[31mred\x1b[0m")
    console.expect("red", timeout=5, since=Mark(0))
    before = time.monotonic()
    with pytest.raises(ExpectTimeout) as err:
        console.expect([r"login:", r"# $"], timeout=0.2)
    assert time.monotonic() - before >= 0.19
    msg = str(err.value)
    assert "any of ['login:', '# $']" in msg and "within 0.2 s" in msg
    assert "line 29" in msg and "line 11" in msg and "line 9\n" not in msg  # the last 20 lines only
    assert "\\x1b[31mred" in msg  # control characters escaped
    assert str(console.log_path) in msg
    assert isinstance(err.value, AssertionError)


def test_expect_is_woken_by_data_not_by_polling(peer: Peer, console: Console) -> None:
    threading.Timer(0.05, peer.send, args=("ready\n",)).start()
    before = time.monotonic()
    console.expect("ready", timeout=30)
    assert time.monotonic() - before < 5


def test_bad_patterns_are_setup_errors(console: Console) -> None:
    with pytest.raises(SetupError, match=r"invalid regular expression 'a\('"):
        console.expect("a(", timeout=1)
    with pytest.raises(SetupError, match="bytes"):
        console.expect(re.compile(b"x"), timeout=1)  # type: ignore[arg-type]  # a bytes pattern: the bad input
    with pytest.raises(SetupError, match="empty list"):
        console.expect([], timeout=1)


# ---------------------------------------------------------------- fail patterns


def test_fail_pattern_split_across_chunks(peer: Peer, console: Console) -> None:
    console.add_fail_pattern(r"Kernel panic - not syncing")
    feed(peer, console, "boot ok\nKernel pa")
    feed(peer, console, "nic - not syncing: VFS: Unable to mount root\nlogin: ")
    with pytest.raises(FailPatternSeen) as err:
        console.expect("login: ", timeout=5)
    assert "'Kernel panic - not syncing'" in str(err.value)
    assert "Kernel panic - not syncing: VFS: Unable to mount root" in str(err.value)
    [failure] = console.failures
    assert failure.start == Mark(8) and failure.line.startswith("Kernel panic")
    assert console.expect("login: ", timeout=5).text == "login: "  # reported once


def test_unbounded_fail_pattern_split_across_chunks(peer: Peer, console: Console) -> None:
    console.add_fail_pattern(r"BUG: \w+ oops")
    for part in ("log line\nBU", "G: scheduling_while_at", "omic oo", "ps\n"):
        feed(peer, console, part)
    assert [f.line for f in console.take_failures()] == ["BUG: scheduling_while_atomic oops"]


def test_a_fail_pattern_hit_at_the_end_of_a_read_is_reported_with_its_whole_line(peer: Peer, console: Console) -> None:
    # QNX's shutdown banner, its last digit in the next read: the hit `S/C/F=11/1/1` is seen first; the
    # failure raised (and taken) names the whole line once it has arrived, not the cut one.
    console.add_fail_pattern(r"Shutdown\[\d+(?:,\d+)?\] S/C/F=\d+/\d+/\d+")
    feed(peer, console, "booting\nShutdown[0,0] S/C/F=11/1/1")
    threading.Timer(0.05, peer.send, args=("1\n",)).start()
    with pytest.raises(FailPatternSeen) as err:
        console.expect("never printed", timeout=20)
    assert "'Shutdown[0,0] S/C/F=11/1/11'" in str(err.value), str(err.value)
    assert console.failures[0].line == "Shutdown[0,0] S/C/F=11/1/1"  # as first seen; the raised one is whole


def test_a_fail_pattern_line_that_never_ends_is_reported_as_it_is(peer: Peer, console: Console) -> None:
    console.add_fail_pattern(r"S/C/F=\d+")
    feed(peer, console, "S/C/F=11")
    [failure] = console.take_failures()  # waits its grace for the line's end, then names what there is
    assert failure.line == "S/C/F=11"


def test_fail_pattern_interrupts_a_waiting_expect(peer: Peer, console: Console) -> None:
    console.add_fail_pattern("QVM FATAL")
    threading.Timer(0.05, peer.send, args=("starting\nQVM FATAL: vdev ser8250 fault\n",)).start()
    before = time.monotonic()
    with pytest.raises(FailPatternSeen, match="vdev ser8250 fault"):
        console.expect("never printed", timeout=20)
    assert time.monotonic() - before < 5


def test_fail_pattern_after_the_match_is_left_for_the_next_expect(peer: Peer, tmp_path: Path) -> None:
    with Console(TcpTransport("127.0.0.1", peer.port), fail_patterns=["panic"]) as c:
        peer.accept()
        feed(peer, c, "login: \npanic\n")
        assert c.expect("login: ", timeout=5).text == "login: "
        with pytest.raises(FailPatternSeen):
            c.expect("anything", timeout=5)
        assert [f.pattern for f in c.failures_since(Mark(3))] == ["panic"]
        feed(peer, c, "panic 2\n")
        assert [f.line for f in c.take_failures()] == ["panic 2"]
        assert c.take_failures() == [] and len(c.failures) == 2
        c.expect("panic 2", timeout=1)  # taken failures are not raised again
        c.remove_fail_pattern("panic")
        feed(peer, c, "panic again\n")
        assert len(c.failures) == 2


# ---------------------------------------------------------------- logging, bytes, text


def test_log_has_every_byte_even_binary(peer: Peer, console: Console) -> None:
    blob = bytes(range(256)) * 4 + "é€\r\n".encode()
    for i in range(0, len(blob), 100):
        peer.send(blob[i : i + 100])
    peer.send(b"end\n")
    console.expect("end", timeout=5)
    assert console.data() == blob + b"end\n"
    assert "\ufffd" in console.text() and "é€" in console.text()
    console.close()
    assert console.log_path is not None and console.log_path.read_bytes() == blob + b"end\n"


def test_offsets_are_bytes_with_multibyte_text_split_across_chunks(peer: Peer, console: Console) -> None:
    raw = "äöü €uro ✓".encode()
    feed(peer, console, raw[:2] + b"\xff")
    feed(peer, console, raw[2:5])
    feed(peer, console, raw[5:] + b" done")
    m = console.expect("€uro", timeout=5)
    data = console.data()
    assert data[m.start.offset : m.end.offset] == "€uro".encode()
    assert console.since(m.end) == " ✓ done"
    m = console.expect(r"\w+$", timeout=5)
    assert m.text == "done" and m.end == console.mark()


def test_big_stream_and_marker(peer: Peer, console: Console) -> None:
    block = b"".join(b"%08d the quick brown fox jumps over the lazy dog\r\n" % i for i in range(40_000))
    threading.Thread(target=peer.send, args=(block + b"END-OF-DUMP\r\n",)).start()
    m = console.expect(r"END-OF-DUMP", timeout=20)
    assert m.start.offset == len(block)
    assert console.expect(r"(\d+) the quick", timeout=1, since=Mark(len(block) - 60)).match.group(1) == "00039999"


# ---------------------------------------------------------------- reconnect and closing


def test_reconnect_over_a_real_socket(tmp_path: Path) -> None:
    peer = Peer()
    port = peer.port
    log = tmp_path / "c.log"
    with Console(TcpTransport("127.0.0.1", port), log_path=log, name="qemu-serial") as c:
        peer.accept()
        feed(peer, c, "first life\n")
        peer.close()  # listener first, so nothing can reconnect yet
        until(lambda: not c.connected)
        with pytest.raises(ExpectTimeout, match="DISCONNECTED"):
            c.expect("second", timeout=0.1)
        waiting: list[ConsoleMatch] = []
        t = threading.Thread(target=lambda: waiting.append(c.expect("second life", timeout=10)))
        t.start()
        peer = Peer(port)
        peer.accept()
        until(lambda: c.connected)
        peer.send("second life\n")
        t.join()
        assert waiting and waiting[0].text == "second life"
        c.sendline("after")
        assert peer.conn is not None and peer.conn.recv(100) == b"after\n"
        assert c.reconnects == 1
        assert "[hil" not in c.text()  # the note is in the log only
    peer.close()
    text = log.read_text()
    assert re.fullmatch(
        r"first life\n\[hil: console lost at \d{4}-\d\d-\d\dT[\d:.]+Z, reconnected after \d+\.\d\d s\]\nsecond life\n",
        text,
    ), text


def test_no_reconnect_ends_expect_with_infrastructure_error(peer: Peer) -> None:
    with Console(TcpTransport("127.0.0.1", peer.port), reconnect=False) as c:
        peer.accept()
        peer.send("last words")
        peer.close()
        assert c.expect("last words", timeout=5).text == "last words"  # data before the close still counts
        with pytest.raises(InfrastructureError, match="closed before 'more'"):
            c.expect("more", timeout=10)
        with pytest.raises(InfrastructureError, match="cannot write"):
            c.sendline("x")


def test_close_is_idempotent_and_stops_the_reader(peer: Peer) -> None:
    c = Console(TcpTransport("127.0.0.1", peer.port)).start()
    peer.accept()
    reader = c.reader.thread
    assert reader is not None and reader.is_alive()
    c.close()
    c.close()
    assert not reader.is_alive()  # close() interrupted its blocked read and joined it (speed: bench/)
    with pytest.raises(InfrastructureError, match="close"):
        c.expect("x", timeout=1)


def test_close_stops_reconnecting() -> None:
    peer = Peer()
    c = Console(TcpTransport("127.0.0.1", peer.port)).start()
    peer.accept()
    peer.close()
    until(lambda: not c.connected)
    c.close()
    assert c.reader.thread is not None and not c.reader.thread.is_alive()


def test_start_failure_and_unstarted_use() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    c = Console(TcpTransport("127.0.0.1", port))
    with pytest.raises(SetupError, match="not started"):
        c.expect("x", timeout=1)
    with pytest.raises(InfrastructureError, match="cannot connect"):
        c.start()


def test_concurrent_writes_while_reading(peer: Peer, console: Console) -> None:
    conn = peer.conn
    assert conn is not None

    def echo() -> None:
        while data := conn.recv(65536):
            conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()

    def writer(k: int) -> None:
        for i in range(200):
            console.sendline(f"w{k}-{i}")

    writers = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    console.expect_all([f"w{k}-199\n" for k in range(3)], timeout=5)
    assert sorted(console.text().split()) == sorted(f"w{k}-{i}" for k in range(3) for i in range(200))


# ---------------------------------------------------------------- other transports


def test_console_over_a_pty(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        with Console(open_transport(os.ttyname(slave)), log_path=tmp_path / "pty.log") as c:
            os.write(master, b"login: ")
            c.expect("login: ", timeout=5)
            c.sendline("root")
            assert os.read(master, 100) == b"root\n"
    finally:
        os.close(master)
        os.close(slave)
    assert (tmp_path / "pty.log").read_bytes() == b"login: "


def test_console_for_a_pyserial_loop_url() -> None:
    with Console.for_url("loop://", name="loop", fail_patterns="FATAL") as c:
        assert c.transport.description == "loop://" and c.fail_patterns == ["FATAL"]
        c.sendline("hello")
        assert c.expect(r"hel+o\n", timeout=5).text == "hello\n"


def test_console_over_a_socket_like_channel() -> None:
    a, b = socket.socketpair()
    with Console(SocketLikeTransport(a, "ssh channel"), name="ssh") as c:
        b.sendall(b"$ ")
        c.expect(r"\$ ", timeout=5)
        c.sendline("echo hi")
        assert b.recv(100) == b"echo hi\n"
        b.close()
        with pytest.raises(InfrastructureError, match="ssh channel"):
            c.expect("hi", timeout=10)  # no reconnect for a channel: ends at once


# ---------------------------------------------------------------- incremental search == full search


@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_incremental_search_equals_a_full_search(seed: int, in_place: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Searching the new text where it lies (plus the copied overlap before it) finds what a full search finds;
    ``in_place``: every window is searched so (short texts here), else every window is copied."""
    monkeypatch.setattr(regex_window, "_IN_PLACE", 0 if in_place else 1 << 30)
    patterns = [
        r"foo", r"a(?=bc)", r"(?<=xy)z\b", r"^ab", r"(?m)^ab", r"b.*c", r"\s+d", r"[^\n]+e$",
        r"(?s)a.*?z", r"(x|yz){2,3}", r"\bq\w*", r"(a)\1", r"o\n\w", r"(?<!a)b+c", r"c$", r"\Ax",
        r"[a-c]{3}(?!a)", r"(?m)c$", r"\w\Z", r"(?<=\n)d",
    ]  # fmt: skip
    rng = random.Random(seed)
    for _ in range(1500):
        text = "".join(rng.choice("abcxyzq o\n\ndfe") for _ in range(rng.randint(0, 60)))
        rx = re.compile(rng.choice(patterns))
        start = rng.randint(0, len(text))
        store = TextStore()
        store.SEAL = rng.choice([3, 16, 1 << 16])
        search = Search(rx, start)
        fed = 0
        while True:
            n = rng.randint(1, 6)
            store.append(text[fed : fed + n])
            fed = min(len(text), fed + n)
            if store.length >= start:
                hit = search.search(store, store.length)
                ref = rx.search(text[start : store.length])
                got = None if hit is None else (hit[1] + hit[0].start(), hit[1] + hit[0].end())
                assert got == (None if ref is None else (start + ref.start(), start + ref.end())), (rx, text, start)
                if hit is not None:
                    break
            if fed >= len(text):
                break


def test_timeout_holds_while_data_keeps_streaming(peer: Peer, console: Console) -> None:
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            peer.send("tick\n")
            time.sleep(0.001)

    threading.Thread(target=chatter, daemon=True).start()
    before = time.monotonic()
    try:
        with pytest.raises(ExpectTimeout, match="tick"):
            console.expect("tock", timeout=0.3)
    finally:
        stop.set()
    assert 0.29 <= time.monotonic() - before < 3


def test_a_waiting_expect_reads_the_transport_in_its_own_thread(peer: Peer, console: Console) -> None:
    """No hand-over between threads for what an expect waits for: the expecting thread receives it."""
    readers: list[str] = []
    console.add_listener(lambda chunk: readers.append(threading.current_thread().name))
    for i in range(20):
        threading.Timer(0.02, peer.send, (f"reply {i}\n",)).start()
        console.expect(rf"reply {i}\n", timeout=5)
    assert readers.count(threading.current_thread().name) >= 15, readers  # the reader thread may take a few


def test_a_second_waiting_expect_takes_over_when_the_reading_one_returns(peer: Peer, console: Console) -> None:
    """Two threads wait; the one reading returns first; the other still receives its data promptly."""
    got: list[str] = []
    other = threading.Thread(target=lambda: got.append(console.expect("second", timeout=5).text))
    other.start()
    time.sleep(0.05)
    peer.send("first\n")
    console.expect("first", timeout=5)
    threading.Timer(0.05, peer.send, ("second\n",)).start()
    other.join(5)
    assert got == ["second"]


@pytest.mark.parametrize(
    "pattern",
    [
        r"ping 5\n",
        "login: ",
        r"\$ ",
        r"a\.b",
        "abc\n",
        r"\\",
        r"\#",
        r"\d+",
        "a|b",
        r"\x41",
        "[x]",
        r"foo\b",
        "(?<=a)b",
    ],
)
def test_plain_text_patterns_reach_as_far_as_the_parser_says(pattern: str) -> None:
    """The plain-text shortcut of ``reach`` (no parse) gives what the parse tree gives."""
    from re import _parser  # type: ignore[attr-defined]  # private, not in typeshed: the parser reach mirrors

    parsed = _parser.parse(pattern, 0)
    width, behind, newline = regex_window._walk(parsed, parsed.state.flags)
    quick = regex_window._literal_reach(pattern, 0)
    assert quick is None or (quick.width, quick.behind, quick.newline) == (width, behind, newline)
    assert (quick is None) == any(c in pattern for c in "|[d(x") or pattern == r"foo\b"
    regex_window.reach.cache_clear()
    assert regex_window.reach(pattern, 0) == regex_window.Reach(width, behind, newline)


def test_store_slices_and_pieces_are_the_text() -> None:
    """``TextStore.slice`` (which copies only what is asked for) and ``piece_at`` agree with the plain text,
    across seals and drops."""
    rng = random.Random(1)
    for _ in range(3000):
        store = TextStore()
        store.SEAL = rng.choice([1, 3, 16, 1 << 16])
        text = ""
        for _ in range(rng.randint(0, 30)):
            piece = "".join(rng.choice("abcdef") for _ in range(rng.randint(0, 7)))
            store.append(piece)
            text += piece
        if text and rng.random() < 0.3:
            store.drop_before(store.floor(rng.randint(0, len(text))))
        for _ in range(20):
            a, b = rng.randint(0, len(text)), rng.randint(0, len(text) + 3)
            assert store.slice(a, b) == text[max(a, store.first) : b]
            if store.first <= a < len(text):
                piece, at = store.piece_at(a)
                assert text[at : at + len(piece)] == piece and at <= a < at + len(piece)

"""The SSH transport against a real dropbear on 127.0.0.1 (see sshd.py)."""

from __future__ import annotations

import os
import random
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.core.errors import ConfigError, InfrastructureError, SetupError
from hil.links.ssh import (
    AuthenticationFailed,
    CommandFailed,
    CommandTimeout,
    ConnectionDropped,
    HostKeyMismatch,
    HostKeyUnknown,
    SshConfig,
    SshConnection,
    fingerprint,
    parse_public_key,
)
from tests.support.ports import unused_port
from tests.support.sshd import (
    DropbearServer,
    busybox,
    make_client_key,
    processes_matching,
    random_host_key_line,
)

AWKWARD = "dir with 'quotes' \"and\" $HOME `x` ;&|"


def config_for(server: DropbearServer, **overrides: object) -> SshConfig:
    values: dict[str, object] = dict(
        host=server.host,
        port=server.port,
        user=server.user,
        key_path=server.client_key,
        host_key=server.host_key,
        connect_timeout=5.0,
    )
    values.update(overrides)
    return SshConfig(**values)  # type: ignore[arg-type]  # a dict of mixed field types (str, int, Path, float)


def unique_sleep() -> str:
    """A sleep duration no other process runs (to find it in /proc)."""
    return f"{random.randint(30, 39)}.{random.randint(10**6, 10**7 - 1)}"


def wait_until(predicate: Callable[[], object], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DropbearServer]:
    srv = DropbearServer(tmp_path_factory.mktemp("sshd")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def nosftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DropbearServer]:
    srv = DropbearServer(tmp_path_factory.mktemp("sshd-nosftp"), sftp=False).start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[DropbearServer]:
    """A server of this test's own (to count, kill or restart its sessions)."""
    srv = DropbearServer(tmp_path / "sshd").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module", params=["dash", "busybox"])
def conn(
    request: pytest.FixtureRequest, server: DropbearServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SshConnection]:
    """A connection to a server whose commands run in dash, or in busybox's sh and applets (the VM's)."""
    if request.param == "dash":
        with SshConnection(config_for(server), name="dut") as connection:
            connection.connect()
            yield connection
        return
    # installed by scripts/install-host-deps: its absence is a set-up defect, not a reason to skip
    assert busybox() is not None, "busybox is not installed (apt-get install busybox-static)"
    srv = DropbearServer(tmp_path_factory.mktemp("sshd-busybox"), shell="busybox").start()
    with SshConnection(config_for(srv), name="dut") as connection:
        connection.connect()
        yield connection
    srv.stop()


# -- commands -------------------------------------------------------------------------------------------


def test_run_reports_exit_status_stdout_and_stderr(conn: SshConnection) -> None:
    result = conn.run("echo out; echo err >&2; printf 'caf\\303\\251\\n'; exit 3")
    assert result.exit_status == 3 and result.signal is None and not result.ok
    assert result.stdout == b"out\ncaf\xc3\xa9\n" and result.stdout_text == "out\ncafé\n"
    assert result.stderr == b"err\n"  # the pid marker line is not part of stderr
    assert conn.run("true").ok


def test_run_feeds_stdin_and_sends_eof(conn: SshConnection) -> None:
    assert conn.run("cat", stdin=b"hello\n").stdout == b"hello\n"
    assert conn.run("cat").stdout == b""  # no stdin: EOF at once, no hang
    big = os.urandom(3 * 1024 * 1024)  # more than any window: needs writing and reading at once
    assert conn.run("cat", stdin=big, timeout=20).stdout == big


def test_on_output_streams_chunks_in_arrival_order(conn: SshConnection) -> None:
    seen: list[tuple[str, bytes]] = []
    result = conn.run(
        "echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c", on_output=lambda stream, chunk: seen.append((stream, chunk))
    )
    assert seen == [("stdout", b"a\n"), ("stderr", b"b\n"), ("stdout", b"c\n")]
    assert result.stdout == b"a\nc\n" and result.stderr == b"b\n"


def test_on_output_keeps_arrival_order_when_the_consumer_falls_behind(conn: SshConnection) -> None:
    """A slow consumer (or a loaded host) reads late: stdout and stderr have both arrived by then, in separate
    buffers; they are still handed on in the order they came (stdout's first, interleaved, never grouped)."""
    seen: list[tuple[str, bytes]] = []

    def slow(stream: str, chunk: bytes) -> None:
        if not seen:
            time.sleep(1.0)  # everything below arrives meanwhile
        seen.append((stream, chunk))

    conn.run("echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c; sleep 0.1; echo d >&2", on_output=slow)
    assert seen == [("stdout", b"a\n"), ("stderr", b"b\n"), ("stdout", b"c\n"), ("stderr", b"d\n")]


def test_sequence_arguments_are_quoted(conn: SshConnection) -> None:
    args = ["a b", "it's", '"dq"', "$HOME", "`id`", "$(id)", "*", "", "-n", "x;y&&z|w", "new\nline", "\\"]
    result = conn.run(["printf", "%s\\0", *args], check=True)
    assert result.stdout.split(b"\0")[:-1] == [a.encode() for a in args]


def test_env_and_cwd_are_quoted(conn: SshConnection, tmp_path: Path) -> None:
    folder = tmp_path / AWKWARD
    folder.mkdir()
    result = conn.run('printf "%s|%s" "$HIL_X" "$(pwd)"', env={"HIL_X": "va lue $HOME 'q'"}, cwd=str(folder))
    assert result.stdout_text == f"va lue $HOME 'q'|{folder}"
    failed = conn.run("true", cwd=str(tmp_path / "missing"))
    assert failed.exit_status != 0 and b"missing" in failed.stderr
    with pytest.raises(ValueError, match="bad environment variable name"):
        conn.run("true", env={"A B": "x"})


def test_check_raises_command_failed_with_the_output(conn: SshConnection) -> None:
    with pytest.raises(CommandFailed, match=r"exited 4.*\n--- stderr:\nboom") as info:
        conn.run("echo boom >&2; exit 4", check=True)
    assert isinstance(info.value, AssertionError) and info.value.result.exit_status == 4


def test_killing_signal_is_reported(conn: SshConnection) -> None:
    result = conn.run("kill -s TERM $$; sleep 5")
    assert result.exit_status is None and result.signal == "TERM"


def test_timeout_kills_the_command_and_keeps_its_output(conn: SshConnection) -> None:
    marker = unique_sleep()
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        conn.run(f"echo started; echo warn >&2; sleep {marker}; echo never", timeout=1.0)
    assert time.monotonic() - started < 3
    error = info.value
    assert isinstance(error, AssertionError)  # the DUT's fault, not the lab's
    assert error.partial is not None and error.partial.stdout == b"started\n" and error.partial.stderr == b"warn\n"
    assert error.partial.exit_status is None and "its 1 s timeout" in str(error) and "was killed" in str(error)
    assert wait_until(lambda: not processes_matching(f"sleep {marker}"), 2), "the remote command survived"
    assert conn.run("echo still usable").stdout == b"still usable\n"


# -- long-running programs ------------------------------------------------------------------------------


def test_start_signal_and_wait(conn: SshConnection) -> None:
    script = "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done"
    chunks: list[tuple[str, bytes]] = []
    proc = conn.start(["sh", "-c", script], on_output=lambda s, c: chunks.append((s, c)))
    proc.wait_for(b"ready", timeout=5)
    assert proc.poll() is None
    with pytest.raises(TimeoutError, match="still running"):
        proc.wait(timeout=0.05)
    proc.signal("SIGTERM")
    result = proc.wait(timeout=5)
    assert result.exit_status == 3 and proc.poll() == 3
    assert result.stdout == b"ready\ngot TERM\n" == proc.stdout
    assert b"".join(c for s, c in chunks if s == "stdout") == result.stdout


def test_start_pid_is_the_program_and_its_killing_signal_is_reported(conn: SshConnection) -> None:
    seconds = unique_sleep()
    proc = conn.start(["sleep", seconds])
    # The shell reports its pid, then execs the program in that same process.
    assert wait_until(lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes() == f"sleep\0{seconds}\0".encode())
    proc.signal("TERM")
    result = proc.wait(timeout=5)
    assert result.signal == "TERM" and result.exit_status is None and proc.poll() == -15
    proc.signal("TERM")  # already ended: left alone


def test_start_stdin_and_context_manager_kill(conn: SshConnection) -> None:
    proc = conn.start("cat")
    proc.write_stdin(b"abc")
    proc.wait_for(b"abc", timeout=5)
    proc.close_stdin()
    assert proc.wait(timeout=5).stdout == b"abc"
    seconds = unique_sleep()
    with conn.start(f"echo up; sleep {seconds}") as running:
        running.wait_for(b"up", timeout=5)
        assert wait_until(lambda: len(processes_matching(f"sleep {seconds}")) >= 1)
    assert wait_until(lambda: not processes_matching(f"sleep {seconds}")), "leaving the with block did not kill it"


def test_concurrent_commands_and_processes(conn: SshConnection) -> None:
    # Processes ending while other commands start: on one dropbear connection this loses
    # channels or the whole connection (mkj/dropbear#321); each concurrent command has its own.
    outputs: dict[int, list[bytes]] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            outputs[n] = []
            for i in range(4):
                with conn.start(["sh", "-c", f"echo {n}-{i}; sleep 0.0{i}"]) as proc:
                    outputs[n].append(conn.run(["echo", f"{n}-{i}"]).stdout)
                    assert proc.wait(timeout=10).stdout == f"{n}-{i}\n".encode()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert outputs == {n: [f"{n}-{i}\n".encode() for i in range(4)] for n in range(5)}
    assert 1 <= conn.transports <= 10


# -- host keys and authentication --------------------------------------------------------------------------


def test_host_key_mismatch_is_refused_before_authentication(fresh_server: DropbearServer) -> None:
    wrong = random_host_key_line()
    conn = SshConnection(config_for(fresh_server, host_key=wrong), name="dut")
    with pytest.raises(HostKeyMismatch) as info:
        conn.connect()
    message = str(info.value)
    offered = fingerprint(parse_public_key(fresh_server.host_key)[1])
    assert isinstance(info.value, InfrastructureError)
    assert f"127.0.0.1:{fresh_server.port}" in message and "REFUSED" in message and "re-pin" in message
    assert fingerprint(parse_public_key(wrong)[1]) in message and offered in message
    assert not conn.connected
    with pytest.raises(HostKeyMismatch):  # and a command does not sneak through either
        conn.run("true")
    assert wait_until(lambda: not fresh_server.session_pids()), "a connection was left open"
    assert "auth succeeded" not in fresh_server.log_text()


def test_known_hosts_file_is_honoured(fresh_server: DropbearServer, tmp_path: Path) -> None:
    ok = SshConnection(config_for(fresh_server, host_key=None, known_hosts=fresh_server.known_hosts))
    assert ok.run("echo ok").stdout == b"ok\n"
    ok.close()
    refused_before = fresh_server.log_text().count("Exit before auth")

    other = tmp_path / "known_hosts_other"
    other.write_text(f"[127.0.0.1]:{fresh_server.port + 1} {fresh_server.host_key}\n")  # another port only
    with pytest.raises(HostKeyUnknown, match=rf"REFUSED.*127.0.0.1:{fresh_server.port}.*never accepts"):
        SshConnection(config_for(fresh_server, host_key=None, known_hosts=other)).connect()

    changed = tmp_path / "known_hosts_changed"
    changed.write_text(f"[127.0.0.1]:{fresh_server.port} {random_host_key_line()}\n")
    with pytest.raises(HostKeyMismatch, match="ssh-keygen -R"):
        SshConnection(config_for(fresh_server, host_key=None, known_hosts=changed)).connect()

    with pytest.raises(ConfigError, match="does not exist"):
        SshConnection(config_for(fresh_server, host_key=None, known_hosts=tmp_path / "nope")).connect()
    log = fresh_server.log_text()
    assert log.count("auth succeeded") == 1, log  # only the accepted connection authenticated
    assert wait_until(lambda: fresh_server.log_text().count("Exit before auth") == refused_before + 2)


def test_config_requires_a_pinned_host_key() -> None:
    with pytest.raises(ConfigError, match="host key must be pinned"):
        SshConfig(host="board")
    with pytest.raises(ConfigError, match=r"host_key.*not a public key"):
        SshConfig(host="board", host_key="ssh-ed25519 not-base64!")
    with pytest.raises(ConfigError, match="port"):
        SshConfig(host="board", port=0, host_key=random_host_key_line())


def test_refused_client_key_is_a_setup_error(server: DropbearServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    make_client_key(stranger)
    with pytest.raises(AuthenticationFailed, match=r"refused our key.*authorized_keys") as info:
        SshConnection(config_for(server, key_path=stranger)).connect()
    assert isinstance(info.value, SetupError)


def test_unreachable_target_is_an_infrastructure_error(server: DropbearServer) -> None:
    with unused_port() as port:  # held bound (not listening) here: refused, and no one else takes it
        conn = SshConnection(config_for(server, port=port), name="board")
        with pytest.raises(InfrastructureError, match=rf"board.*127\.0\.0\.1:{port}.*refused"):
            conn.run("true")


def test_connect_retry_waits_for_a_booting_target(fresh_server: DropbearServer) -> None:
    fresh_server.stop()
    starter = threading.Timer(0.3, fresh_server.start)
    starter.start()
    conn = SshConnection(config_for(fresh_server))
    conn.connect(Deadline.after(5), retry=True)
    starter.join()
    assert conn.run("echo up").stdout == b"up\n"
    conn.close()


# -- reconnecting ------------------------------------------------------------------------------------------


def test_reconnects_once_after_the_server_drops_the_connection(fresh_server: DropbearServer, tmp_path: Path) -> None:
    conn = SshConnection(config_for(fresh_server))
    conn.put_bytes(b"one", str(tmp_path / "f"))  # caches an SFTP client on the first transport
    assert wait_until(lambda: len(fresh_server.session_pids()) == 1)  # (the readiness probe's may linger)
    first = fresh_server.session_pids()
    assert fresh_server.kill_sessions() == 1
    assert conn.run("echo again").stdout == b"again\n"
    conn.put_bytes(b"two", str(tmp_path / "f"))
    assert conn.get_bytes(str(tmp_path / "f")) == b"two"
    assert fresh_server.session_pids() != first

    fresh_server.restart()  # same port, same host key
    assert conn.run("echo restarted").stdout == b"restarted\n"
    conn.close()


def test_a_failed_reconnect_names_the_target(fresh_server: DropbearServer) -> None:
    conn = SshConnection(config_for(fresh_server), name="dut")
    conn.connect()
    fresh_server.stop()
    with pytest.raises(InfrastructureError, match=rf"dut.*127\.0\.0\.1:{fresh_server.port}.*reconnecting failed"):
        conn.run("true")


def test_a_drop_while_running_is_reported_not_retried(fresh_server: DropbearServer, tmp_path: Path) -> None:
    conn = SshConnection(config_for(fresh_server))
    flag = tmp_path / "ran"
    with pytest.raises(ConnectionDropped, match="dropped while running"):
        conn.run(f"echo x >> {flag}; kill -s KILL $PPID; sleep 5")  # $PPID: this connection's dropbear
    assert flag.read_text() == "x\n"  # ran once, not re-run
    assert conn.run("echo fine").stdout == b"fine\n"
    conn.close()


def test_a_process_outliving_its_connection_reports_the_drop(fresh_server: DropbearServer) -> None:
    conn = SshConnection(config_for(fresh_server))
    conn.connect()
    proc = conn.start(["sleep", unique_sleep()])
    assert conn.run("true").ok and conn.transports == 2  # the program keeps a connection of its own
    fresh_server.kill_sessions()
    with pytest.raises(ConnectionDropped, match="dropped while running 'sleep"):
        proc.wait(timeout=5)
    assert proc.poll() == -1
    conn.close()


# -- files ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sftp", "cat"])
def test_put_and_get_roundtrip(
    kind: str, server: DropbearServer, nosftp_server: DropbearServer, tmp_path: Path
) -> None:
    srv = server if kind == "sftp" else nosftp_server
    conn = SshConnection(config_for(srv))
    remote_dir = tmp_path / AWKWARD
    remote_dir.mkdir()
    data = os.urandom(300_000) + b"\0\r\n\xff"
    local = tmp_path / "src.bin"
    local.write_bytes(data)
    remote = str(remote_dir / "f $x 'y'.bin")

    conn.put(local, remote, mode=0o750)
    assert conn.sftp_available is (kind == "sftp")
    assert Path(remote).read_bytes() == data and stat.S_IMODE(os.stat(remote).st_mode) == 0o750
    back = tmp_path / "out" / "back.bin"
    conn.get(remote, back)
    assert back.read_bytes() == data

    conn.put_bytes(b"small\n", remote, mode=0o600)
    assert conn.get_bytes(remote) == b"small\n" and stat.S_IMODE(os.stat(remote).st_mode) == 0o600
    conn.put_bytes(b"", remote)
    assert conn.get_bytes(remote) == b""

    with pytest.raises(FileNotFoundError, match="missing"):
        conn.get_bytes(str(remote_dir / "missing"))
    with pytest.raises(FileNotFoundError):
        conn.get(str(remote_dir / "missing"), tmp_path / "never")
    assert not (tmp_path / "never").exists() and not list(tmp_path.glob(".never*"))
    with pytest.raises(FileNotFoundError):
        conn.put_bytes(b"x", str(remote_dir / "no" / "such" / "dir"))
    assert (conn.sftp_unavailable_reason is None) is (kind == "sftp")
    conn.close()

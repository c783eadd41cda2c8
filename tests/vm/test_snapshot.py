"""Snapshot start of the QEMU target (issue 13): restore, fall back, side by side, attach, probe cache.

The snapshot tests work on a private copy of the public image (its snapshot folder is its
own), so they never touch the snapshot other sessions on this machine restore from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.targets import make_target
from hil.targets import qemu as qemu_kind
from hil.targets.definition import resolve
from hil.vm import accel
from hil.vm import snapshot as snapshots
from hil.vm.image import Image, load_image
from hil.vm.qemu import QemuMachine, QemuOptions, SnapshotUnusable
from tests.support.inner import run_inner_pytest

BOOT = 120.0


@pytest.fixture(scope="module")
def public() -> Image:
    (definition,) = resolve("qemu")
    return qemu_kind.public_image(definition)


@pytest.fixture(scope="module")
def image(public: Image, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """A private copy of the public image, with a snapshot saved by a first cold boot."""
    root = tmp_path_factory.mktemp("image") / public.root.name
    shutil.copytree(public.root, root, ignore=shutil.ignore_patterns("snapshots"))
    copy = load_image(root)
    first = QemuMachine(copy, QemuOptions(accel="tcg"), run_dir=root.parent / "first", snapshot=True)
    first.start()
    try:
        first.wait_ready(Deadline.after(BOOT))
        assert not first.restored and first.snapshot_saved
    finally:
        first.stop()
    return copy


def snapshot_files(image: Image) -> tuple[Path, Path]:
    (state,) = (image.root / "snapshots").glob("*.vmstate")
    return state, state.with_suffix(".json")


def restore(image: Image, run_dir: Path) -> QemuMachine:
    m = QemuMachine(image, QemuOptions(accel="tcg"), run_dir=run_dir, snapshot=True)
    m.start()
    try:
        m.wait_ready(Deadline.after(BOOT))
    except BaseException:
        m.stop()
        raise
    return m


def ssh_run(image: Image, port: int, command: str) -> str:
    from hil.links.ssh import SshConnection

    with SshConnection(qemu_kind.ssh_config(image, port)) as ssh:
        return ssh.run(command, timeout=30, check=True).stdout_text


def test_restore_comes_back_with_ssh_clock_and_console(image: Image, tmp_path: Path) -> None:
    m = restore(image, tmp_path / "r")
    try:
        assert m.restored and m.alive()
        assert ssh_run(image, m.ssh_port, "hostname").strip() == "hil-qemu"  # the image's host key, pinned
        # the console answers: busybox init's shell on ttyS0
        with m.connect_console(10) as sock:
            sock.sendall(b"\necho con$((40+2))sole\n")
            sock.settimeout(10)
            seen = b""
            while b"con42sole" not in seen:
                chunk = sock.recv(4096)
                assert chunk, seen
                seen += chunk
    finally:
        m.stop()


def test_two_restores_at_once_do_not_interfere(image: Image, tmp_path: Path) -> None:
    machines: list[QemuMachine] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            machines.append(restore(image, tmp_path / f"vm{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        a, b = machines
        assert a.restored and b.restored
        assert len({a.ssh_port, b.ssh_port}) == 2 and a.console_path != b.console_path
        ssh_run(image, a.ssh_port, "echo only-in-a > /tmp/mark")
        assert ssh_run(image, a.ssh_port, "cat /tmp/mark").strip() == "only-in-a"
        assert ssh_run(image, b.ssh_port, "cat /tmp/mark 2>/dev/null || echo none").strip() == "none"
        a.stop()
        assert ssh_run(image, b.ssh_port, "echo alive").strip() == "alive"  # b lives on without a
    finally:
        for m in machines:
            m.stop()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "stale-record"])
def test_corrupt_or_stale_snapshot_falls_back_to_a_cold_boot(
    image: Image, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "_said", set())
    state, meta = snapshot_files(image)
    data = state.read_bytes()
    record = json.loads(meta.read_text())
    try:
        # garbage and truncated: the record updated to match (its size, its SHA-256), so only QEMU can tell
        # (a snapshot changed behind a record it no longer matches is refused before: test_target_up_exits)
        if damage == "garbage":  # QEMU's magic kept, the device sections destroyed
            damaged = data[:8] + os.urandom(4096) + data[8 + 4096 :]
            state.write_bytes(damaged)
            meta.write_text(json.dumps({**record, "sha256": hashlib.sha256(damaged).hexdigest()}))
        elif damage == "truncated":
            damaged = data[: len(data) // 2]
            state.write_bytes(damaged)
            meta.write_text(json.dumps({**record, "size": len(damaged), "sha256": hashlib.sha256(damaged).hexdigest()}))
        else:  # a record of another key (another image or QEMU): never restored
            meta.write_text(json.dumps({**record, "key": "0" * 20}))
        m = QemuMachine(image, QemuOptions(accel="tcg"), run_dir=tmp_path / "a", snapshot=True)
        m.start()
        try:
            if damage == "stale-record":
                assert not m.restored
                m.wait_ready(Deadline.after(BOOT))
            else:
                assert m.restored
                with pytest.raises(SnapshotUnusable, match="not usable"):
                    m.wait_ready(Deadline.after(BOOT))
                assert not m.alive()
                assert "not usable" in caplog.text  # said (once)
        finally:
            m.stop()
        # the next start boots cold and saves a good snapshot again ...
        if damage != "stale-record":
            cold = QemuMachine(image, QemuOptions(accel="tcg"), run_dir=tmp_path / "b", snapshot=True)
            cold.start()
            try:
                cold.wait_ready(Deadline.after(BOOT))
                assert not cold.restored and cold.snapshot_saved
            finally:
                cold.stop()
    finally:
        state.write_bytes(data)
        meta.write_text(json.dumps(record))
    # ... which restores
    m = restore(image, tmp_path / "c")
    try:
        assert m.restored
    finally:
        m.stop()


def test_target_falls_back_by_itself_and_reset_restores(
    image: Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The qemu kind: a bad snapshot costs a cold boot, not an error; a reset restores the new one."""
    monkeypatch.setattr(qemu_kind, "public_image", lambda definition, **kw: image)
    state, meta = snapshot_files(image)
    good = state.read_bytes()
    state.write_bytes(good[: len(good) // 2])
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "size": len(good) // 2}))
    (definition,) = resolve("qemu")
    target = make_target(dataclasses.replace(definition, name="snaptest"), tmp_path / "t")
    assert isinstance(target, qemu_kind.QemuTarget)
    try:
        target.up(Deadline.after(BOOT))
        booted = target.machine
        assert booted is not None and not booted.restored
        assert target.facts()["qemu.start"] == "cold boot"
        assert target.run("echo ok", timeout=30).stdout_text.strip() == "ok"
        target.reset(Deadline.after(BOOT))  # as after an infrastructure error
        restored = target.machine  # (a fresh read: mypy would keep the narrowing from before reset())
        assert restored is not None and restored.restored
        assert target.run("echo ok", timeout=30).stdout_text.strip() == "ok"
        guest_time = int(target.run("date +%s", timeout=30).stdout_text)
        import time

        assert abs(guest_time - time.time()) < 30  # the clock was set from the host's
    finally:
        target.down()


def test_pytest_and_qvm_run_attach_to_a_target_up_vm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After 'hil target up' a session attaches to that VM, down() leaves it running; HIL_PRIVATE_VM=1: no attach."""
    (definition,) = resolve("qemu")
    definition = dataclasses.replace(definition, name=f"attach-{os.getpid()}")
    monkeypatch.delenv(qemu_kind.PRIVATE_VM_ENV, raising=False)
    state = qemu_kind.background_up(definition)
    try:
        target = make_target(definition, tmp_path / "t")
        target.up(Deadline.after(BOOT))
        try:
            assert isinstance(target, qemu_kind.QemuTarget) and target.attached is not None
            assert target.facts()["qemu.start"] == "attached to 'hil target up'"
            assert target.run("echo hi", timeout=30).stdout_text.strip() == "hi"
            # 'hil target up' set the restored guest's clock from the host's (over its console, no SSH login)
            assert abs(int(target.run("date -u +%s", timeout=30).stdout_text) - time.time()) < 30
        finally:
            target.down()
        assert qemu_kind.background_status(definition.name) is not None  # still running
        assert QemuMachine.attach(state).alive()
        monkeypatch.setenv(qemu_kind.PRIVATE_VM_ENV, "1")
        private = make_target(definition, tmp_path / "p")
        private.up(Deadline.after(BOOT))
        try:
            assert isinstance(private, qemu_kind.QemuTarget) and private.attached is None
            assert private.machine is not None and private.machine.pid != state["pid"]
        finally:
            private.down()
    finally:
        qemu_kind.background_down(definition.name)


def test_restored_target_runs_the_hil_suite(public: Image, tmp_path: Path) -> None:
    """The HIL suite on a qemu target restored from the public image's snapshot (saved by a first boot if none)."""
    (definition,) = resolve("qemu")
    warm = make_target(definition, tmp_path / "warm")  # makes sure the snapshot exists
    warm.up(Deadline.after(BOOT))
    warm.down()
    junit = tmp_path / "junit.xml"
    proc = run_inner_pytest(
        "tests/hil",
        *("--hil-junit", str(junit), "-q"),
        # a guest-clock timing test that is flaky on cold boots too (jiffies clock source), run elsewhere
        "--deselect=tests/hil/test_guest_controls.py::test_wait_blocks_and_script_sleep_is_queued[qemu]",
        targets=("qemu",),
        artifacts=tmp_path / "artifacts",
        timeout=900,
        env={"HIL_PRIVATE_VM": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    starts = []  # the target's facts: suite properties (or, in older reports, one JSON property)
    for prop in ET.parse(junit).iter("property"):
        if prop.get("name") == "qemu.start":
            starts.append(prop.get("value"))
        elif prop.get("name") == "hil.target.facts":
            starts.append(json.loads(prop.get("value") or "{}").get("qemu.start"))
    assert starts and set(starts) == {"restored from snapshot"}, starts


def test_kvm_verdict_is_remembered_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_probe(*args: object) -> bool:
        raise AssertionError("probed again")

    if not os.access("/dev/kvm", os.R_OK | os.W_OK):  # nothing to probe: TCG, and no probe run
        monkeypatch.setattr(accel, "_kvm_verdict", None)
        monkeypatch.setattr(accel, "_run_kvm_probe", no_probe)
        assert accel.kvm_usable() is False
        return
    accel.kvm_usable()  # the first process on this host probed (or read the file)
    path = accel.kvm_verdict_file()
    assert path is not None and path.is_file()
    verdict = json.loads(path.read_text())["usable"]
    monkeypatch.setattr(accel, "_kvm_verdict", None)  # as in a new process
    monkeypatch.setattr(accel, "_run_kvm_probe", no_probe)
    assert accel.kvm_usable() is verdict

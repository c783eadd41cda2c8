"""Every way out of ``hil target up`` stops what it started (issue 22.5): two at once start one VM,
a SIGTERM during the boot leaves no QEMU and no state, an unfinished snapshot save's ``.part`` file
is removed; and its console is its owner's (issue 22.3: another local user gets no shell)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from hil.core.deadline import Deadline
from hil.core.paths import cache_dir
from hil.targets import qemu as qemu_kind
from hil.targets.definition import resolve
from hil.vm.image import load_image
from hil.vm.qemu import QemuMachine, QemuOptions
from tests.support.cli import child_env, hil
from tests.support.otheruser import as_nobody
from tests.support.procs import pids_mentioning

BOOT = 180.0


def _definition(tmp_path: Path, name: str) -> Path:
    toml = tmp_path / f"{name}.toml"
    toml.write_text(f'name = "{name}"\nkind = "qemu"\n')
    return toml


def _qemus(name: str) -> set[int]:
    return {p for p in pids_mentioning(cache_dir("targets") / name / "run") if b"qemu" in _cmd(p)}


def _cmd(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_two_target_ups_at_once_start_one_vm_whose_console_is_its_owners(tmp_path: Path) -> None:
    name = f"up-twice-{os.getpid()}"
    toml = _definition(tmp_path, name)
    command = [sys.executable, "-m", "hil", "target", "up", "--target", str(toml), "--json"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env({}))
             for _ in range(2)]  # fmt: skip
    try:
        outs = [p.communicate(timeout=BOOT) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        states = [json.loads(out) for out, _ in outs]
        assert states[0]["pid"] == states[1]["pid"] and _qemus(name) == {states[0]["pid"]}, (states, _qemus(name))
        # the console is a unix socket in a 0700 folder: its owner gets a shell, nobody else a connection
        state = states[0]
        assert state["console_url"].startswith("unix://")
        done = as_nobody(["/usr/bin/python3", "-c", PROBE, state["console_path"]])
        assert "PermissionError" in done.stdout, done.stdout + done.stderr
    finally:
        hil("target", "down", "--target", str(toml))
    assert not _qemus(name)


PROBE = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1]); print('CONNECTED')\n" \
    "except OSError as e:\n print(type(e).__name__)\n"  # fmt: skip


def test_sigterm_during_target_up_leaves_no_qemu_and_no_state(tmp_path: Path) -> None:
    name = f"up-cancelled-{os.getpid()}"
    toml = _definition(tmp_path, name)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil", "target", "up", "--target", str(toml)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env({"HIL_QEMU_SNAPSHOT": "0"}),  # a cold boot: the signal lands while QEMU boots
    )  # fmt: skip
    try:
        end = time.monotonic() + 120
        while not _qemus(name):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted (SIGTERM)" in err
    time.sleep(0.2)
    assert not _qemus(name), "QEMU was left running"
    assert not (cache_dir("targets") / name / "state.json").exists()
    shutil.rmtree(cache_dir("targets") / name, ignore_errors=True)


def _private_cache(tmp_path: Path) -> tuple[Path, Path]:
    """A cache folder of this test's own (``XDG_CACHE_HOME``) holding the public qemu image without its
    snapshots (hard links: no copy), and qvmsim's build: a ``hil target up`` there boots cold and saves a
    snapshot into it, never into the shared cache.  Returns (XDG_CACHE_HOME, the image's snapshot folder)."""
    (definition,) = resolve("qemu")
    public = qemu_kind.public_image(definition)
    xdg = tmp_path / "xdg"
    mine = xdg / "qnx-hil"
    (mine / "images").mkdir(parents=True)
    subprocess.run(["cp", "-al", str(public.root), str(mine / "images" / public.root.name)], check=True)
    shutil.rmtree(mine / "images" / public.root.name / "snapshots", ignore_errors=True)
    subprocess.run(["cp", "-al", str(cache_dir("qvmsim")), str(mine / "qvmsim")], check=True)
    return xdg, mine / "images" / public.root.name / "snapshots"


def test_sigterm_during_the_snapshot_save_of_target_up_leaves_no_qemu(tmp_path: Path) -> None:
    """Issue 22.5: SIGTERM to 'hil target up' while it saves the VM's snapshot (sent when the save's .part file
    appears, not after a sleep): exit 143, no QEMU left, no state.json, no .part file."""
    xdg, snapshots = _private_cache(tmp_path)
    name = f"up-saving-{os.getpid()}"
    toml = _definition(tmp_path, name)
    env = child_env({"XDG_CACHE_HOME": str(xdg), "HIL_QEMU_SNAPSHOT": None})
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil", "target", "up", "--target", str(toml)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    targets = xdg / "qnx-hil" / "targets" / name
    try:
        end = time.monotonic() + BOOT
        while not list(snapshots.glob("*.part")):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    qemus = {p for p in pids_mentioning(targets / "run") if b"qemu" in _cmd(p)}
    for pid in qemus:
        os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted (SIGTERM)" in err
    assert not qemus, "QEMU was left running"
    assert not (targets / "state.json").exists()
    assert not list(snapshots.glob("*.part")), str([(p.name, p.stat().st_size) for p in snapshots.iterdir()])


def test_an_unfinished_snapshot_save_is_cleaned_up(tmp_path: Path) -> None:
    """A save SIGKILLed half way leaves ``.KEY.*.part``: the next save (under the key's lock) removes it."""
    (definition,) = resolve("qemu")
    public = qemu_kind.public_image(definition)
    root = tmp_path / "image" / public.root.name
    shutil.copytree(public.root, root, ignore=shutil.ignore_patterns("snapshots"))
    image = load_image(root)
    m = QemuMachine(image, QemuOptions(accel="tcg"), run_dir=tmp_path / "vm", snapshot=True)
    m.start()
    try:
        snap = m._snapshot
        assert snap is not None and not m.restored
        stale = snap.folder / f".{snap.key}.killed.part"
        stale.write_bytes(b"QEVM" + os.urandom(1 << 20))  # what a SIGKILLed save leaves
        m.wait_ready(Deadline.after(BOOT))
        assert m.snapshot_saved and snap.usable()
        assert not list(snap.folder.glob("*.part")), list(snap.folder.iterdir())
        # a snapshot changed after its save is not restored (its SHA-256 is in the record)
        meta = json.loads(snap.meta.read_text())
        assert len(meta["sha256"]) == 64
        with open(snap.path, "r+b") as f:
            f.seek(100)
            f.write(b"patched")
        assert not snap.usable()
    finally:
        m.stop()


def test_a_held_console_or_a_dead_sshd_is_said_not_failed(tmp_path: Path, caplog: object) -> None:
    """Issue 22.8/22.9: while another client holds the 'hil target up' VM's console, a session boots a
    private VM (saying why) instead of failing its console tests; 'hil target status' checks that the
    VM's sshd answers (exit 3 and the problem when it does not)."""
    import dataclasses
    import logging
    import socket

    import pytest

    from hil.targets import make_target
    from tests.support.cli import hil

    assert isinstance(caplog, pytest.LogCaptureFixture)
    (definition,) = resolve("qemu")
    definition = dataclasses.replace(definition, name=f"held-{os.getpid()}")
    old = os.environ.pop(qemu_kind.PRIVATE_VM_ENV, None)
    state = qemu_kind.background_up(definition)
    try:
        holder = socket.socket(socket.AF_UNIX)
        holder.connect(state["console_path"])  # e.g. 'hil target console' left open
        try:
            target = make_target(definition, tmp_path / "t")
            with caplog.at_level(logging.WARNING, logger="hil.targets.qemu"):
                target.up(Deadline.after(BOOT))
            try:
                assert isinstance(target, qemu_kind.QemuTarget) and target.attached is None
                assert "another client" in caplog.text and "booting a private VM" in caplog.text
                assert target.console is not None
                mark = target.console.mark()
                target.console.sendline("echo private-$((6*7))")
                target.console.expect("private-42", 20, since=mark)
            finally:
                target.down()
        finally:
            holder.close()
        toml = tmp_path / "held.toml"
        toml.write_text(f'name = "{definition.name}"\nkind = "qemu"\n')
        assert hil("target", "status", "--target", definition.name).returncode == 0
        kill = 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = dropbear ] && kill ${p#/proc/}; done'
        killed = hil("target", "ssh", "--target", str(toml), "--", kill)  # one word: the remote shell runs it
        assert killed.returncode in (0, 255), killed.stderr
        status = hil("target", "status", "--target", definition.name, "--json")
        assert status.returncode == 3, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert report["healthy"] is False and "does not answer" in report["problem"]
    finally:
        qemu_kind.background_down(definition.name)
        if old is not None:
            os.environ[qemu_kind.PRIVATE_VM_ENV] = old

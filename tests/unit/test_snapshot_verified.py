"""A snapshot's SHA-256 is checked once per file identity (issue 27: ``hil target up`` from the saved state):
later starts trust that check while the file is unchanged, and any change to it (even one that keeps
its size and mtime) makes the next start hash it again and refuse it."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from hil.vm import snapshot
from hil.vm.snapshot import MAGIC, Snapshot


def saved(folder: Path) -> Snapshot:
    snap = Snapshot(folder, "k")
    data = MAGIC + os.urandom(4096)
    snap.path.write_bytes(data)
    snap.meta.write_text(json.dumps({"key": "k", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
    return snap


def test_an_unchanged_snapshot_is_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = saved(tmp_path)
    assert snap.usable() and snap.verified.is_file()
    hashed: list[Path] = []
    real = snapshot._sha256

    def counted(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(snapshot, "_sha256", counted)
    assert snap.usable() and hashed == []


def test_a_snapshot_changed_in_place_is_hashed_again_and_refused(tmp_path: Path) -> None:
    snap = saved(tmp_path)
    assert snap.usable()
    st = snap.path.stat()
    time.sleep(0.01)
    with open(snap.path, "r+b") as f:  # the same size, its mtime put back: only the ctime tells
        f.seek(100)
        f.write(b"\xff" * 8)
    os.utime(snap.path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert snap.path.stat().st_size == st.st_size and snap.path.stat().st_mtime_ns == st.st_mtime_ns
    assert not snap.usable()


def test_a_forged_verified_record_of_another_file_is_not_trusted(tmp_path: Path) -> None:
    snap = saved(tmp_path)
    snap.verified.write_text("1:2:3:4:" + "0" * 64)
    assert snap.usable()  # hashed: the record named another identity
    data = snap.path.read_bytes()
    snap.path.write_bytes(data[:4] + b"x" + data[5:])
    assert not snap.usable()
    snap.discard("test")
    assert not snap.verified.exists()

"""Deployment folders on the local target: private, removed, and stale ones cleaned up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hil.deploy import cleanup_stale, create_deployment
from hil.target_config import parse_definition
from hil.targets import make_target


@pytest.fixture
def target(tmp_path: Path):  # type: ignore[no-untyped-def]
    definition = parse_definition({"kind": "local", "qvm": {"workdir": str(tmp_path / "work")}}, "t.toml", "box")
    return make_target(definition, tmp_path / "run")


def test_private_folder_removed_unless_kept(target, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = create_deployment(target, "test_x[local]")
    assert oct(Path(d.path).stat().st_mode & 0o777) == "0o700"
    (tmp_path / "f").write_text("x")
    assert Path(d.put_file(tmp_path / "f", "g", 0o600)).read_text() == "x"
    d.cleanup()
    assert not Path(d.path).exists()
    kept = create_deployment(target, "test_y", keep=True)
    kept.cleanup()
    assert Path(kept.path).exists()


def test_stale_qvm_of_a_dead_run_is_killed_and_its_folder_removed(target) -> None:  # type: ignore[no-untyped-def]
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs: the "dead pytest" that left things behind
    from hil import deploy

    workdir = Path(target.definition.qvm.workdir)
    stale = workdir / f"hil-{deploy._HOST}-{dead.pid}-1-test_old"
    live = workdir / f"hil-{deploy._HOST}-{os.getpid()}-99-test_mine"
    other_host = workdir / f"hil-otherhost-{dead.pid}-1-test_theirs"
    for folder in (stale, live, other_host):
        folder.mkdir(parents=True)
    orphan = subprocess.Popen(["sleep", "60"])  # the qvm it left running
    (stale / "qvm.pid").write_text(f"{orphan.pid}\n")
    removed = cleanup_stale(target)
    assert removed == [str(stale)]
    assert orphan.wait(timeout=10) == -9
    assert not stale.exists() and live.exists() and other_host.exists()

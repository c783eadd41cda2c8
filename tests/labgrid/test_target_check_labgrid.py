"""`hil target check` on labgrid targets: a real coordinator and exporter (tests/support/labgrid.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import hil
from tests.support.keys import STRANGER_HOST_KEY
from tests.support.labgrid import Lab, network_service
from tests.support.ports import unused_port


def definition(folder: Path, coordinator: str, place: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{place}.toml").write_text(
        f'kind = "labgrid"\n[labgrid]\ncoordinator = "{coordinator}"\nplace = "{place}"\n'
        f'[ssh]\nhost_key = "{STRANGER_HOST_KEY}"\n'
    )


def test_labgrid_places_checked_at_the_coordinator(tmp_path: Path) -> None:
    lab = Lab.start(tmp_path / "lab")
    try:
        lab.place("empty", "nobody/*/*")  # matches nothing exported
        lab.export("ex1", {"bench": {"NetworkService": network_service(2222)}})
        lab.place("bench-1", "ex1/bench/*")
        targets = tmp_path / "targets"
        for place in ("bench-1", "empty", "missing"):
            definition(targets, lab.address, place)
        done = hil("target", "check", "--targets-dir", str(targets), "--target", "bench-1", "--target", "empty",
                   "--target", "missing", "--json", cwd=tmp_path)  # fmt: skip
        findings = {(f["target"], f["what"]): f for f in json.loads(done.stdout)}
        assert findings[("bench-1", "labgrid place")]["kind"] == "ok"
        assert "ex1/bench/NetworkService/NetworkService" in findings[("bench-1", "labgrid place")]["detail"]
        assert findings[("empty", "labgrid place")]["kind"] == "infra"
        assert "matches no exported resource" in findings[("empty", "labgrid place")]["detail"]
        missing = findings[("missing", "labgrid place")]
        assert missing["kind"] == "config" and "no place 'missing'" in missing["detail"]
        assert done.returncode == 2, done.stdout + done.stderr
    finally:
        lab.stop()
    # the coordinator gone: away (infrastructure)
    with unused_port() as port:  # held bound, not listening: refused, and nobody else takes it meanwhile
        gone = tmp_path / "gone"
        definition(gone, f"127.0.0.1:{port}", "bench-1")
        done = hil("target", "check", "--targets-dir", str(gone), "--target", "bench-1", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"AWAY    bench-1: labgrid coordinator: 127.0.0.1:{port} does not accept a connection" in done.stdout

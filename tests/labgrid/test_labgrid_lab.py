"""The labgrid kind on a real labgrid lab on loopback: a coordinator and an exporter started here,
one QEMU VM exported as two places (``vm-a``, ``vm-b``: its SSH port as a NetworkService, its
console as a raw NetworkSerialPort), taken with ``--hil-target labgrid:PLACE``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.targets import LabgridTarget, make_target
from hil.targets.definition import select
from tests.support.cli import hil
from tests.support.inner import run_inner_pytest
from tests.support.labgrid import Lab, Vm, hold_command, lab_definition, network_service, serial_port
from tests.support.paths import REPO as ROOT


@dataclass
class LabSetup:
    lab: Lab
    vm: Vm
    targets: Path  # the lab's definition, waiting up to 120 s for a place
    impatient: Path  # the same, waiting 1 s

    def show(self, place: str) -> str:
        return self.lab.client("-p", place, "show").stdout

    def assert_free(self, place: str) -> None:
        assert "acquired: None" in self.show(place)
        assert self.lab.client("reservations").stdout.strip() == ""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSetup]:
    folder = tmp_path_factory.mktemp("lab")
    lab = Lab.start(folder / "lab")
    try:
        vm = Vm.boot(folder / "vm")
        try:
            resources = {
                "NetworkService": network_service(vm.machine.ssh_port),
                "NetworkSerialPort": serial_port(vm.machine.serial_port),
            }
            lab.export("host1", {"vm-a": resources, "vm-b": resources})
            lab.place("vm-a", "host1/vm-a/*", {"board": "vm"})
            lab.place("vm-b", "host1/vm-b/*")
            yield LabSetup(
                lab,
                vm,
                lab_definition(folder / "targets", lab.address, vm, wait=120).parent,
                lab_definition(folder / "impatient", lab.address, vm, wait=1).parent,
            )
        finally:
            vm.machine.stop()
    finally:
        lab.stop()


def _target(setup: LabSetup, selector: str, folder: Path, run_dir: Path) -> LabgridTarget:
    (definition,) = select([selector], [folder])
    target = make_target(definition, run_dir)
    assert isinstance(target, LabgridTarget)
    return target


def test_hil_suite_on_a_labgrid_place(lab: LabSetup, tmp_path: Path) -> None:
    """The HIL suite passes on ``--hil-target labgrid:vm-a``, and the place is released afterwards."""
    done = run_inner_pytest(
        "tests/hil",
        *("-q", "--hil-targets-dir", str(lab.targets), "--junitxml", str(tmp_path / "junit.xml")),
        targets=("labgrid:vm-a",),
        artifacts=tmp_path / "artifacts",
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    assert any("labgrid-vm-a" in c.get("name", "") for c in cases)
    lab.assert_free("vm-a")


def test_runs_queue_for_a_place_and_a_short_wait_names_the_holder(lab: LabSetup, tmp_path: Path) -> None:
    """Two runs started together on one place: the second waits in labgrid's queue until the first
    lets go (a folder each makes on the board proves they never hold it at once); a run that may
    wait only 1 s is an infrastructure error naming the holder."""
    marker = "/tmp/labgrid-holder"
    runs = [
        subprocess.Popen(
            hold_command(lab.targets, "labgrid:vm-b", 2, marker), cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    spans = sorted(
        (float(out.split("HELD ")[1].split()[0]), float(out.split("RELEASING ")[1].split()[0])) for out in outputs
    )
    assert spans[1][0] >= spans[0][1], spans  # the second took it only after the first let go
    lab.assert_free("vm-b")

    holder = _target(lab, "labgrid:vm-b", lab.targets, tmp_path / "holder")
    holder.up(Deadline.after(120))
    try:
        assert "acquired: " in lab.show("vm-b") and f"+hil{os.getpid()}" in lab.show("vm-b")
        rival = subprocess.run(
            hold_command(lab.impatient, "labgrid:vm-b", 0, marker),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rival.returncode == 3, rival.stdout + rival.stderr
        assert "InfrastructureError" in rival.stdout and "place 'vm-b' is busy" in rival.stdout
        assert f"held by {holder.held.owner if holder.held else '?'}" in rival.stdout
    finally:
        holder.down()
    lab.assert_free("vm-b")


def test_a_run_killed_with_sigkill_leaves_a_place_the_next_run_takes(lab: LabSetup, tmp_path: Path) -> None:
    """labgrid keeps a place acquired when its client dies; the next run of this host sees that the
    holder's process is gone and releases it the labgrid way (release-from that user)."""
    killed = subprocess.Popen(
        hold_command(lab.targets, "labgrid:vm-b", 600, "/tmp/labgrid-killed"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert killed.stdout is not None
        line = killed.stdout.readline()
        assert line.startswith("HELD"), line
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(30)
    assert f"+hil{killed.pid}" in lab.show("vm-b")
    target = _target(lab, "labgrid:vm-b", lab.targets, tmp_path / "next")
    target.up(Deadline.after(120))
    try:
        assert target.place == "vm-b"
        target.run("rmdir /tmp/labgrid-killed", timeout=30, check=True)
    finally:
        target.down()
    lab.assert_free("vm-b")


def test_nightly_runs_two_places_in_parallel(lab: LabSetup, tmp_path: Path) -> None:
    """``hil nightly --target labgrid:vm-a --target labgrid:vm-b``: one xdist worker per place."""
    done = hil(
        *("nightly", "--target", "labgrid:vm-a", "--target", "labgrid:vm-b", "--targets-dir", str(lab.targets)),
        *("--reports", str(tmp_path / "reports"), "--", "tests/hil/test_error_vocabulary.py"),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    (report,) = (tmp_path / "reports").iterdir()
    assert " -n 2 " in (report / "command.txt").read_text()
    counts = json.loads((report / "counts.json").read_text())
    assert set(counts) == {"labgrid-vm-a", "labgrid-vm-b"}, counts
    assert all(c["passed"] > 0 and c["failed"] == 0 and c["errors"] == 0 for c in counts.values()), counts
    lab.assert_free("vm-a")
    lab.assert_free("vm-b")


def test_a_killed_runs_queued_reservation_is_cancelled_by_the_next_run(lab: LabSetup, tmp_path: Path) -> None:
    """Issue 22.14: a run SIGKILLed while queued leaves its reservation (labgrid allocates the place to it
    once free, and keeps it until it expires unpolled); the next run of this host cancels it at once."""
    holder = subprocess.Popen(
        hold_command(lab.targets, "labgrid:vm-b", 8, "/tmp/labgrid-holder"), cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().startswith("HELD")
        queued = subprocess.Popen(
            hold_command(lab.targets, "labgrid:vm-b", 1, "/tmp/labgrid-queued"), cwd=ROOT, stdout=subprocess.PIPE
        )
        end = time.monotonic() + 60
        while f"+hil{queued.pid}" not in lab.lab.client("reservations").stdout:
            assert time.monotonic() < end and queued.poll() is None
            time.sleep(0.2)
        os.kill(queued.pid, signal.SIGKILL)  # killed while its reservation waits in labgrid's queue
        queued.wait(30)
        holder.communicate(timeout=60)  # the holder lets go: labgrid allocates the place to the dead run
    finally:
        if holder.poll() is None:
            holder.kill()
    patient = lab_definition(tmp_path / "patient", lab.lab.address, lab.vm, wait=30).parent
    target = _target(lab, "labgrid:vm-b", patient, tmp_path / "next")
    target.up(Deadline.after(120))  # before: busy until the dead run's reservation expired (60 s unpolled)
    try:
        assert target.place == "vm-b"
    finally:
        target.down()
    lab.assert_free("vm-b")

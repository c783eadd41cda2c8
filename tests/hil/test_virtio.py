"""A virtio vdev on QNX's helper API (target_vdevs/vecho) driven by the scripted guest as a
virtio driver, on every target: probe, feature negotiation, a queue round trip with its
interrupt, reset, and hostile descriptor chains that the vdev must refuse without crashing
(run the suite with ``--hil-sanitize address,undefined`` to check that under ASan/UBSan)."""

from __future__ import annotations

import re

import pytest

from hil import Exit
from tests.support.hil import DeployedVdev, QvmRunner, QvmSession, Sweep, VdevBuilder, vm

pytestmark = pytest.mark.hil

LOC = 0x1C300000  # above the suite's 16M of guest RAM
DEV = f"{LOC:#x}"
INTR = "gic:41"
RING, MSG, REPLY = 0x100000, 0x200000, 0x300000  # guest RAM


@pytest.fixture
def vecho(hil_vdev: VdevBuilder) -> DeployedVdev:
    """The sample virtio vdev, built for this target and deployed."""
    return hil_vdev("target_vdevs/vecho")


def ask(session: QvmSession, command: str, pattern: str, timeout: float = 10.0) -> re.Match[str]:
    """Send a guest command and wait for its answer on the guest console."""
    mark = len(session.stdout)
    session.send(command)
    return session.wait_stdout(pattern, timeout=timeout, since=mark)


def bring_up(session: QvmSession, features: str = "") -> str:
    """Initialise the device as a driver does; returns the feature answer."""
    m = ask(session, f"virtio init {DEV} {features}".rstrip(), rf"(?m)^virtio {DEV}: features (.*)$")
    ask(session, f"virtio queue {DEV} 0 16 {RING:#x}", rf"(?m)^virtio {DEV} q0: size=16 ")
    ask(session, f"virtio ready {DEV}", rf"(?m)^virtio {DEV}: status=0x0f$")
    return m[1]


def echo(session: QvmSession, text: str) -> str:
    """One request through the queue; returns the reply's text."""
    session.send(f"virtio text {MSG:#x} {text}")
    ask(session, f"virtio send {DEV} 0 r:{MSG:#x}:{len(text)} w:{REPLY:#x}:256", r"(?m)^virtio .* added head=")
    m = ask(session, f"virtio wait {DEV} 0 5000", rf'(?m)^virtio {DEV} q0: (data "(.*)"|used timeout)$')
    assert m[2] is not None, session.log.text
    return m[2]


@pytest.mark.parametrize("worker", [False, True], ids=["inline", "worker"])
def test_virtio_round_trip(hil_qvm: QvmRunner, vecho: DeployedVdev, worker: bool) -> None:
    with hil_qvm.start(vm().vdev(vecho, loc=LOC, intr=INTR, worker=worker), timeout=30) as session:
        guest = session.guest
        # what any driver's probe reads first: the virtio-MMIO magic, version 2, the device ID
        assert guest.load(LOC, 4) == 0x74726976
        assert guest.load(LOC + 4, 4) == 2
        assert guest.load(LOC + 8, 4) == 0xEC
        assert bring_up(session) == "device=0x100000001 driver=0x100000000 FEATURES_OK"
        assert echo(session, "hello-virtio") == "hello-virtio"
        assert guest.wait_irq(INTR, timeout=5) == 1
        ask(session, f"virtio ack {DEV}", rf"(?m)^virtio {DEV}: isr=0x1 acked$")
        assert echo(session, "again") == "again"
        assert (
            ask(session, f"virtio config {DEV} 8 4", rf"(?m)^virtio {DEV} config\+0x8: (0x[0-9a-f]+)$")[1]
            == "0x00000002"
        )
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    run.log.expect(r"driver ready", source="vecho")
    run.log.expect_none(r".", source="vecho", level="ERROR")


def test_virtio_features_and_reset(hil_qvm: QvmRunner, vecho: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(vecho, loc=LOC, intr=INTR), timeout=30) as session:
        assert bring_up(session, "all") == "device=0x100000001 driver=0x100000001 FEATURES_OK"
        assert echo(session, "upper") == "UPPER"  # the negotiated feature changes what the device does
        ask(session, f"virtio reset {DEV}", rf"(?m)^virtio {DEV}: reset status=0x00$")
        assert session.guest.load(LOC + 0x44, 4) == 0  # queue 0 is no longer ready
        refused = ask(session, f"virtio init {DEV} 0x1", rf"(?m)^virtio {DEV}: features (.*)$")[1]  # no VERSION_1
        assert refused == "device=0x100000001 driver=0x1 refused"
        assert bring_up(session) == "device=0x100000001 driver=0x100000000 FEATURES_OK"
        assert echo(session, "lower") == "lower"
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    run.log.expect(r"FEATURES_OK refused: a VIRTIO 1.x device needs VIRTIO_F_VERSION_1", source="vecho")


BAD = [
    ([f"0 {MSG:#x} 4 1 0"], 0, r"a loop\? chain cut"),  # descriptor 0 -> 0 -> 0 ...
    ([f"0 {MSG:#x} 4 1 300"], 0, r"next 300 outside the queue"),
    ([], 40, r"available head 40 outside the queue"),
    (["0 0xfff00000 4096 1 1", f"1 {REPLY:#x} 4 2 0"], 0, r"message buffer outside guest RAM"),
    ([f"0 {MSG:#x} 0xffffffff 1 1", f"1 {REPLY:#x} 4 2 0"], 0, r"message longer than max-len"),
    ([f"0 {MSG:#x} 4 1 1", "1 0xfffffff0 64 2 0"], 0, r"reply buffer outside guest RAM"),
    ([f"0 {MSG:#x} 16 4 0"], 0, r"indirect descriptors are not offered"),
]


@pytest.mark.parametrize("worker", [False, True], ids=["inline", "worker"])
def test_virtio_bad_descriptor_chains_do_not_crash(hil_qvm: QvmRunner, vecho: DeployedVdev, worker: bool) -> None:
    with hil_qvm.start(vm().vdev(vecho, loc=LOC, intr=INTR, worker=worker), timeout=60) as session:
        bring_up(session)
        for descs, head, _ in BAD:
            for d in descs:
                session.send(f"virtio desc {DEV} 0 {d}")
            session.send(f"virtio avail {DEV} 0 {head}")
            session.send(f"virtio notify {DEV} 0")
            ask(session, f"virtio wait {DEV} 0 300", rf"(?m)^virtio {DEV} q0: (used head=\d+ len=0|used timeout)$")
        # the raw chains above used descriptors the driver's own bookkeeping does not know:
        # start again from a clean queue, then the device still answers
        bring_up(session)
        assert echo(session, "still-here") == "still-here"
        assert session.running()
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    for _, _, pattern in BAD:
        run.log.expect(pattern, source="vecho", level="ERROR")


@pytest.mark.hil_kinds("local")  # as tests/sweep: the sweep's many short runs, on the local target
def test_virtio_sample_configuration_sweep_is_clean(hil_sweep: Sweep) -> None:
    report = hil_sweep("target_vdevs/vecho", base=f"loc {DEV}", timeout=5)
    assert report.clean, report.table()

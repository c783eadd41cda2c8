"""Virtio vdevs on qvmsim: QNX's virtio helper API (<qvm/vio.h>, <vq.h>) behind the
virtio-MMIO transport, driven by the scripted guest's ``virtio`` commands (GUEST.md),
with the sample vdev target_vdevs/vecho."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hil.targets.sdk import include_dir
from tests.support.paths import TARGET_VDEVS
from tests.support.qvmsim import RunQvm

LOC = 0x1C300000
DEV = f"{LOC:#x}"
RING, MSG, REPLY = 0x80000000, 0x80010000, 0x80020000


def conf(options: str = "", intr: bool = True) -> str:
    return (
        "system t\nlogger fatal,internal,error,warn,info,debug stderr\nram 0x80000000,1M\n"
        f"vdev vecho loc {DEV}{' intr gic:40' if intr else ''} {options}\n"
    )


def driver_up(features: str = "", size: int = 8) -> str:
    """The script lines that bring the device up as a driver does."""
    return f"virtio init {DEV} {features}\nvirtio queue {DEV} 0 {size} {RING:#x}\nvirtio ready {DEV}\n"


def out(run_stdout: str, prefix: str = "virtio ") -> list[str]:
    return [line for line in run_stdout.splitlines() if line.startswith(prefix)]


def test_guest_reads_magic_version_and_device_id_at_loc(run_qvm: RunQvm) -> None:
    script = (
        f"read {DEV} 4\nread {LOC + 4:#x} 4\nread {LOC + 8:#x} 4\nread {LOC + 0xC:#x} 4\nvirtio probe {DEV}\nshutdown\n"
    )
    run = run_qvm(conf(), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"{DEV}: 0x74726976",  # "virt"
        f"{LOC + 4:#x}: 0x00000002",  # virtio-MMIO version 2 (VIRTIO 1.x)
        f"{LOC + 8:#x}: 0x000000ec",  # vecho's device ID
        f"{LOC + 0xC:#x}: 0x00001c05",  # QNX's vendor ID: vio_description.vendor_id 0 [doc]
        f"virtio {DEV}: magic=0x74726976 version=2 device=236 vendor=0x1c05",
    ]
    # a virtio-MMIO register takes aligned 4-byte accesses only: anything else is a bus error
    run = run_qvm(conf(), script=f"read {DEV} 2\nwrite {LOC + 0x72:#x} 4 1\nprint alive\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert "alive" in run.stdout
    assert len(run.find(r"registers take aligned 4-byte accesses: bus error", source="vecho", level="ERROR")) == 2


@pytest.mark.parametrize("mode", ["", "worker"], ids=["inline", "worker"])
def test_queue_round_trip_with_interrupt(run_qvm: RunQvm, mode: str) -> None:
    script = (
        driver_up()
        + f"virtio text {MSG:#x} hello virtio\n"
        + f"virtio send {DEV} 0 r:{MSG:#x}:12 w:{REPLY:#x}:64\n"
        + "irq wait gic:40 2000\n"
        + f"virtio wait {DEV} 0 2000\n"
        + f"virtio status {DEV}\nvirtio ack {DEV}\nvirtio status {DEV}\n"
        + f"virtio config {DEV} 0 4\nvirtio config {DEV} 4 4\nvirtio config {DEV} 8 4\nvirtio config {DEV} 12 4\n"
        + "shutdown\n"
    )
    run = run_qvm(conf(mode), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"virtio {DEV}: features device=0x100000001 driver=0x100000000 FEATURES_OK",
        f"virtio {DEV} q0: size=8 max=64 desc=0x80000000 avail=0x80000080 used=0x80000098",
        f"virtio {DEV}: status=0x0f",
        f"virtio {DEV} q0: added head=0 descriptors=2",
        "irq gic:40 count=1",
        f"virtio {DEV} q0: used head=0 len=12",
        f'virtio {DEV} q0: data "hello virtio"',
        f"virtio {DEV}: status=0x0f isr=0x1",  # a used-buffer notification
        f"virtio {DEV}: isr=0x1 acked",
        f"virtio {DEV}: status=0x0f isr=0x0",
        f"virtio {DEV} config+0x0: 0x00001000",  # max-len
        f"virtio {DEV} config+0x4: 0x00000040",  # queue-size
        f"virtio {DEV} config+0x8: 0x00000001",  # requests answered
        f"virtio {DEV} config+0xc: 0x00000000",  # requests refused
    ]
    run.one(r"^virtio: queue 0 live: 8 entries", source="vecho", level="DEBUG")
    assert not run.find(r".", level="ERROR")


@pytest.mark.parametrize("mode", ["", "worker"], ids=["inline", "worker"])
def test_chains_of_several_buffers_and_many_requests(run_qvm: RunQvm, mode: str) -> None:
    # a message in two readable buffers, the reply split over two writable ones; then more
    # requests than the queue has entries (descriptors are given back and reused)
    sends = "".join(f"virtio send {DEV} 0 r:{MSG:#x}:3 w:{REPLY:#x}:3\nvirtio wait {DEV} 0 2000\n" for _ in range(6))
    script = (
        driver_up(size=4)
        + f"virtio text {MSG:#x} abcdef\n"
        + f"virtio send {DEV} 0 r:{MSG:#x}:2 r:{MSG + 2:#x}:4 w:{REPLY:#x}:4 w:{REPLY + 0x100:#x}:8\n"
        + f"virtio wait {DEV} 0 2000\n"
        + sends
        + f"virtio config {DEV} 8 4\nshutdown\n"
    )
    run = run_qvm(conf(mode), script=script)
    assert run.returncode == 0, run.stderr
    lines = out(run.stdout)
    assert f"virtio {DEV} q0: added head=0 descriptors=4" in lines
    assert lines[lines.index(f"virtio {DEV} q0: used head=0 len=6") + 1] == f'virtio {DEV} q0: data "abcdef"'
    assert lines.count(f'virtio {DEV} q0: data "abc"') == 6
    assert lines[-1] == f"virtio {DEV} config+0x8: 0x00000007"


@pytest.mark.parametrize(
    ("features", "answer", "echo"),
    [
        ("", "driver=0x100000000 FEATURES_OK", "hello"),  # VERSION_1 only: a plain echo
        ("all", "driver=0x100000001 FEATURES_OK", "HELLO"),  # VECHO_F_UPPER accepted: upper case
        ("0x100000001", "driver=0x100000001 FEATURES_OK", "HELLO"),
    ],
    ids=["version-1-only", "all-offered", "explicit"],
)
def test_feature_negotiation_changes_behaviour(run_qvm: RunQvm, features: str, answer: str, echo: str) -> None:
    script = (
        driver_up(features)
        + f"virtio text {MSG:#x} hello\n"
        + f"virtio send {DEV} 0 r:{MSG:#x}:5 w:{REPLY:#x}:5\nvirtio wait {DEV} 0 2000\nshutdown\n"
    )
    run = run_qvm(conf(), script=script)
    assert run.returncode == 0, run.stderr
    lines = out(run.stdout)
    assert lines[0] == f"virtio {DEV}: features device=0x100000001 {answer}"
    assert lines[-1] == f'virtio {DEV} q0: data "{echo}"'


@pytest.mark.parametrize(
    ("features", "why"),
    [
        ("0x1", "a VIRTIO 1.x device needs VIRTIO_F_VERSION_1"),
        ("0x100000021", "the driver accepted features the device does not offer"),
    ],
    ids=["no-version-1", "not-offered"],
)
def test_features_the_device_refuses(run_qvm: RunQvm, features: str, why: str) -> None:
    run = run_qvm(conf(), script=f"virtio init {DEV} {features}\nvirtio status {DEV}\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert out(run.stdout) == [
        f"virtio {DEV}: features device=0x100000001 driver={features} refused",
        f"virtio {DEV}: status=0x03 isr=0x0",  # FEATURES_OK did not stick (spec 3.1.1)
    ]
    run.one(rf"^virtio: FEATURES_OK refused: {why}", source="vecho", level="WARN")


@pytest.mark.parametrize("mode", ["", "worker"], ids=["inline", "worker"])
def test_reset_returns_the_device_to_its_initial_state(run_qvm: RunQvm, mode: str) -> None:
    script = (
        driver_up("all")
        + f"virtio text {MSG:#x} once\n"
        + f"virtio send {DEV} 0 r:{MSG:#x}:4 w:{REPLY:#x}:4\nvirtio wait {DEV} 0 2000\n"
        + f"virtio reset {DEV}\n"
        + f"write {LOC + 0x30:#x} 4 0\nread {LOC + 0x44:#x} 4\nread {LOC + 0x80:#x} 4\n"  # queue 0: not ready, no rings
        + f"read {LOC + 0x38:#x} 4\n"  # its size is back to the maximum
        + f"virtio send {DEV} 0 r:{MSG:#x}:4 w:{REPLY:#x}:4\n"  # the driver forgot the queue too
        + f"virtio notify {DEV} 0\n"
        + driver_up()  # default features: no upper case any more
        + f"virtio send {DEV} 0 r:{MSG:#x}:4 w:{REPLY:#x}:4\nvirtio wait {DEV} 0 2000\nshutdown\n"
    )
    run = run_qvm(conf(mode), script=script)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert f'virtio {DEV} q0: data "ONCE"' in lines
    i = lines.index(f"virtio {DEV}: reset status=0x00")
    assert lines[i + 1 : i + 4] == [
        f"{LOC + 0x44:#x}: 0x00000000",
        f"{LOC + 0x80:#x}: 0x00000000",
        f"{LOC + 0x38:#x}: 0x00000040",
    ]
    assert lines[-1] == f'virtio {DEV} q0: data "once"'
    assert len(run.find(r"^reset by the driver$", source="vecho", level="INFO")) == 3  # each init resets
    if mode == "":  # inline: answered in the notify itself (the worker may see it after the next reset)
        run.one(r"^notify before the queue was set up", source="vecho", level="ERROR")
    run.one(r"virtio send: queue 0 of 0x1c300000 is not set up", source="qvm", level="ERROR")


BAD_CHAINS = {
    # raw descriptors: INDEX GPA LEN FLAGS(1 NEXT, 2 WRITE, 4 INDIRECT) NEXT
    "loop": ([f"0 {MSG:#x} 4 1 0"], 0, r"descriptor chain longer than the queue \(8\): a loop\? chain cut"),
    "next-outside-queue": ([f"0 {MSG:#x} 4 1 200"], 0, r"descriptor 0: next 200 outside the queue \(size 8\)"),
    "head-outside-queue": ([], 9, r"available head 9 outside the queue \(size 8\): skipped"),
    "buffer-outside-ram": (
        ["0 0x90000000 4 1 1", f"1 {REPLY:#x} 4 2 0"],
        0,
        r"refused: message buffer outside guest RAM",
    ),
    "reply-outside-ram": (
        [f"0 {MSG:#x} 4 1 1", "1 0x7fffff00 4096 2 0"],
        0,
        r"refused: reply buffer outside guest RAM",
    ),
    "huge-length": ([f"0 {MSG:#x} 0xffffffff 1 1", f"1 {REPLY:#x} 4 2 0"], 0, r"refused: message longer than max-len"),
    "readable-after-writable": (
        [f"0 {REPLY:#x} 4 3 1", f"1 {MSG:#x} 4 0 0"],
        0,
        r"refused: a device-readable buffer after",
    ),
    "indirect": ([f"0 {MSG:#x} 16 4 0"], 0, r"refused: indirect descriptors are not offered"),
    "reply-too-small": (
        [f"0 {MSG:#x} 8 1 1", f"1 {REPLY:#x} 2 2 0"],
        0,
        r"refused: reply room smaller than the message",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CHAINS))
@pytest.mark.parametrize("mode", ["", "worker"], ids=["inline", "worker"])
def test_bad_descriptor_chains_are_refused_not_fatal(run_qvm: RunQvm, case: str, mode: str) -> None:
    descs, head, error = BAD_CHAINS[case]
    script = (
        driver_up()
        + f"virtio text {MSG:#x} ok!?abcdefgh\n"
        + "".join(f"virtio desc {DEV} 0 {d}\n" for d in descs)
        + f"virtio avail {DEV} 0 {head}\nvirtio notify {DEV} 0\nvirtio wait {DEV} 0 300\n"
        # the device goes on answering good requests
        + f"virtio send {DEV} 0 r:{MSG:#x}:3 w:{REPLY:#x}:3\nvirtio wait {DEV} 0 2000\n"
        + "print alive\nshutdown\n"
    )
    run = run_qvm(conf(mode), script=script)
    assert run.returncode == 0, run.stderr
    run.one(error, source="vecho", level="ERROR")
    lines = run.stdout.splitlines()
    assert lines[-2:] == [f'virtio {DEV} q0: data "ok!"', "alive"]
    if case != "head-outside-queue":  # a chain the device could name comes back empty
        assert f"virtio {DEV} q0: used head=0 len=0" in lines


def test_hostile_driver_registers(run_qvm: RunQvm) -> None:
    # rings outside guest RAM, a queue size above the maximum, queue registers of a queue the
    # device lacks, a notify for it, an available index far ahead, config beyond its size
    script = (
        f"virtio init {DEV}\n"
        + f"write {LOC + 0x30:#x} 4 0\nwrite {LOC + 0x38:#x} 4 4096\n"  # QueueNum above QueueNumMax
        + f"write {LOC + 0x80:#x} 4 0x90000000\nwrite {LOC + 0x44:#x} 4 1\n"  # rings not in RAM, ready
        + f"write {LOC + 0x30:#x} 4 5\nwrite {LOC + 0x38:#x} 4 8\nwrite {LOC + 0x50:#x} 4 5\n"
        + f"virtio ready {DEV}\nvirtio notify {DEV} 0\n"
        + f"virtio config {DEV} 16 4\nvirtio config {DEV} 14 4\n"
        + driver_up()
        + f"write {RING + 0x80 + 2:#x} 2 100\nvirtio notify {DEV} 0\n"  # avail idx 100 entries ahead
        + "print alive\nshutdown\n"
    )
    run = run_qvm(conf(), script=script)
    assert run.returncode == 0, run.stderr
    lines = out(run.stdout)
    i = lines.index(f"virtio {DEV} config+0x10: 0x00000000")  # beyond the 16 config bytes: reads 0
    assert lines[i + 1] == f"virtio {DEV} config+0xe: 0x00000000"  # straddling the end: reads 0
    assert run.stdout.splitlines()[-1] == "alive"
    for pattern in (
        r"queue 0 size 4096 refused \(1 to 64\)",
        r"queue 0: descriptor table at 0x90000000 is not inside one guest RAM region",
        r"register 0x038 of queue 5, which the device does not have",
        r"guest notified queue 5, which the device does not have",
        r"available index 100 is 100 entries ahead",
    ):
        run.one(pattern, source="vecho", level="ERROR")


def test_without_intr_the_driver_polls(run_qvm: RunQvm) -> None:
    script = (
        driver_up()
        + f"virtio text {MSG:#x} poll\n"
        + f"virtio send {DEV} 0 r:{MSG:#x}:4 w:{REPLY:#x}:4\nvirtio wait {DEV} 0 2000\nvirtio status {DEV}\nshutdown\n"
    )
    run = run_qvm(conf(intr=False), script=script)
    assert run.returncode == 0, run.stderr
    assert out(run.stdout)[-2:] == [f'virtio {DEV} q0: data "poll"', f"virtio {DEV}: status=0x0f isr=0x1"]


def test_wait_times_out_on_qvmsims_clock(run_qvm: RunQvm) -> None:
    run = run_qvm(conf(), script=driver_up() + f"virtio wait {DEV} 0 150\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert out(run.stdout)[-1] == f"virtio {DEV} q0: used timeout"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("virtio", "'virtio' needs a subcommand"),
        ("virtio frob 0x1000", "not 'frob'"),
        ("virtio queue 0x1000 0 2048 0x80000000", "size 2048 (1 to 1024)"),
        ("virtio send 0x1000 0", "no buffer"),
        ("virtio send 0x1000 0 x:1:2", "bad buffer 'x:1:2'"),
        ("virtio queue 0x1000 9 8 0x80000000", "queue 9: the scripted driver handles queues 0 to 7"),
        ("virtio config 0x1000 0 3", "bad size 3"),
        ("virtio probe", "bad or missing address ''"),
    ],
)
def test_bad_virtio_script_lines_are_configuration_errors(run_qvm: RunQvm, line: str, message: str) -> None:
    run = run_qvm(conf(), script=f"print x\n{line}\n")
    assert run.returncode == 65, run.stderr
    fatal = run.one(r"guest\.gs:2:", source="qvm", level="FATAL").message
    assert message in fatal, fatal


@pytest.mark.parametrize("option", ["queue-size 0", "queue-size 1025", "max-len 0", "max-len 65537", "queue-size x"])
def test_sample_refuses_bad_options(run_qvm: RunQvm, option: str) -> None:
    run = run_qvm(conf(option), script="shutdown\n")
    assert run.returncode == 65, run.stderr
    run.one(rf"refused option '{option.split()[0]}' value '{option.split()[1]}'", source="qvm", level="FATAL")


# The call shapes of public QNX virtio vdevs (QNX80-API.md, qvm/vio.h), written for this test.
PUBLIC_SHAPES = (TARGET_VDEVS / "shapes" / "shapes.c").read_text()


@pytest.mark.parametrize("portable", [False, True], ids=["qvmsim", "portable"])
@pytest.mark.parametrize(
    "compiler", [("gcc", "-std=c11", "-x", "c"), ("g++", "-std=c++20", "-x", "c++")], ids=["c11", "c++20"]
)
def test_public_vdev_call_shapes_compile(tmp_path: Path, compiler: tuple[str, ...], portable: bool) -> None:
    """A vdev written like the public QNX virtio vdevs (vio_* in the controls and vread/vwrite,
    vq_* on qinfo[q].pvq, VIO_F_BIT features, hw_pci.h class) compiles warning-free."""
    src = tmp_path / "shapes.c"
    src.write_text(PUBLIC_SHAPES)
    cmd = [*compiler, "-Wall", "-Wextra", "-Werror", f"-I{include_dir()}", "-fsyntax-only", str(src)]
    if portable:
        cmd.insert(1, "-DQVMSIM_PORTABLE")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_vdev_in_the_public_style_that_asks_for_pci_is_driven_over_mmio(run_qvm: RunQvm, tmp_path: Path) -> None:
    """The same source, built and loaded: VFF_VDEV_PCI with a memory `loc` is a virtio-MMIO device
    (qvmsim has no PCI bus; VDEV_CTRL_PCI_BARS is never sent), and its queue works."""
    src = tmp_path / "shapes.c"
    src.write_text(PUBLIC_SHAPES)
    so = tmp_path / "vdev-thing.so"
    cmd = ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", f"-I{include_dir()}"]
    subprocess.run([*cmd, "-o", str(so), str(src)], check=True)
    text = (
        f"system t\nlogger fatal,internal,error,warn,info,debug stderr\nram 0x80000000,1M\nvdev {so} loc 0x1c400000\n"
    )
    script = (
        "virtio probe 0x1c400000\nvirtio init 0x1c400000 all\nvirtio queue 0x1c400000 1 32 0x80000000\n"
        "virtio queue 0x1c400000 0 16 0x80001000\nvirtio ready 0x1c400000\n"
        "virtio send 0x1c400000 0 w:0x80010000:16\nvirtio wait 0x1c400000 0 2000\nshutdown\n"
    )
    run = run_qvm(text, script=script)
    assert run.returncode == 0, run.stderr
    assert out(run.stdout) == [
        "virtio 0x1c400000: magic=0x74726976 version=2 device=16 vendor=0x1c05",
        "virtio 0x1c400000: features device=0x100000003 driver=0x100000003 FEATURES_OK",
        "virtio 0x1c400000 q1: size too big (max 16)",
        "virtio 0x1c400000 q0: size=16 max=256 desc=0x80001000 avail=0x80001100 used=0x80001128",
        "virtio 0x1c400000: status=0x0f",
        "virtio 0x1c400000 q0: added head=0 descriptors=1",
        "virtio 0x1c400000 q0: used head=0 len=0",
        'virtio 0x1c400000 q0: data ""',
    ]
    assert not run.find(r"PCI_BARS")


def test_legacy_device_is_virtio_mmio_version_1(run_qvm: RunQvm) -> None:
    """VIOVER_095 (vecho's `legacy` flag): version 1 registers - GuestPageSize, QueueAlign, QueuePFN,
    no FEATURES_OK - and the scripted driver speaks them after reading the version."""
    script = (
        f"virtio probe {DEV}\nvirtio init {DEV} all\nvirtio queue {DEV} 0 8 {RING:#x}\n"
        + f"read {LOC + 0x40:#x} 4\nread {LOC + 0x44:#x} 4\n"  # QueuePFN; no QueueReady in version 1
        + f"virtio ready {DEV}\nvirtio text {MSG:#x} old\n"
        + f"virtio send {DEV} 0 r:{MSG:#x}:3 w:{REPLY:#x}:8\nirq wait gic:40 2000\nvirtio wait {DEV} 0 2000\n"
        + f"virtio reset {DEV}\nread {LOC + 0x40:#x} 4\n"
        + f"virtio queue {DEV} 0 8 {RING + 0x800:#x}\nshutdown\n"  # not page-aligned: refused by the driver
    )
    run = run_qvm(conf("legacy"), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"virtio {DEV}: magic=0x74726976 version=1 device=236 vendor=0x1c05",
        f"virtio {DEV}: features device=0x1 driver=0x1 legacy",  # no VIRTIO_F_VERSION_1 offered
        f"virtio {DEV} q0: size=8 max=64 desc=0x80000000 avail=0x80000080 used=0x80001000",  # used: next page
        f"{LOC + 0x40:#x}: 0x00080000",
        f"{LOC + 0x44:#x}: 0x00000000",
        f"virtio {DEV}: status=0x07",
        f"virtio {DEV} q0: added head=0 descriptors=2",
        "irq gic:40 count=1",
        f"virtio {DEV} q0: used head=0 len=3",
        f'virtio {DEV} q0: data "OLD"',
        f"virtio {DEV}: reset status=0x00",
        f"{LOC + 0x40:#x}: 0x00000000",
    ]
    run.one(r"not page-aligned \(legacy device\)", source="qvm", level="ERROR")
    run.one(r"^virtio: legacy \(virtio-MMIO version 1\) device type 236", source="vecho", level="DEBUG")

"""Guest RAM: the `ram [START,]LENGTH` option, the guest's loads, stores,
`fill` and `dump` on it, a vdev's DMA through <qvm/gasp.h>, and
guest_cpu_read/write with gcp == NULL."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hil.qvmrun.guest import ScriptedGuest
from tests.support.qvmsim import QvmProc, RunQvm

RAM = "ram 0x80000000,64K\n"


def conf(probe_so: Path, ram: str = RAM, extra: str = "") -> str:
    return f"system t\nlogger fatal,internal,error,warn,info,debug stderr\n{ram}vdev {probe_so} loc 0x2000\n{extra}"


def test_guest_loads_and_stores_ram_little_endian(run_qvm: RunQvm, probe_so: Path) -> None:
    script = """
    write 0x80000000 4 0x11223344
    read 0x80000000 4
    read 0x80000001 2
    write 0x8000fff8 8 0x0102030405060708   # the last 8 bytes of the region
    read 0x8000fffc 4
    read 0x80000100 8                       # untouched RAM is zero
    shutdown
    """
    run = run_qvm(conf(probe_so), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "0x80000000: 0x11223344",
        "0x80000001: 0x2233",
        "0x8000fffc: 0x01020304",
        "0x80000100: 0x0000000000000000",
    ]
    assert run.one(r"^guest RAM ", source="qvm").message == "guest RAM 0x80000000-0x8000ffff (65536 bytes)"
    # RAM is not a vdev: no vdev saw these accesses, and they are not "stores to a vdev"
    assert "since_last_store=none" in run.one(r"^guest terminated: ").message


def test_ram_without_start_follows_the_previous_region(run_qvm: RunQvm, probe_so: Path) -> None:
    # QNX: without start_address, RAM goes right after the highest RAM already allocated
    # (the first at 0: the probe's region moves out of its way)
    text = (
        "system t\nlogger fatal,internal,error,warn,info,debug stderr\nram 64K\nram 0x1000\n"
        f"vdev {probe_so} loc 0x100000\n"
    )
    run = run_qvm(text, script="write 0x10000 4 7\nread 0x10000 4\nread 0x11000 4\nshutdown\n")
    assert run.returncode == 0, run.stderr
    ram = [line.message for line in run.find(r"^guest RAM ", source="qvm")]
    assert ram == ["guest RAM 0x0-0xffff (65536 bytes)", "guest RAM 0x10000-0x10fff (4096 bytes)"]
    assert run.stdout.splitlines() == ["0x10000: 0x00000007", "0x11000: 0xffffffff"]
    assert run.one(r"outside any vdev region", source="qvm", level="ERROR")


def test_fill_and_dump(run_qvm: RunQvm, probe_so: Path) -> None:
    script = "fill 0x80000010 20 0xab\nwrite 0x80000012 1 0x5\ndump 0x80000010 20\nshutdown\n"
    run = run_qvm(conf(probe_so), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "dump 0x80000010: ab ab 05 ab ab ab ab ab ab ab ab ab ab ab ab ab",
        "dump 0x80000020: ab ab ab ab",
    ]


def test_fill_or_dump_outside_ram_is_a_bus_error(run_qvm: RunQvm, probe_so: Path) -> None:
    run = run_qvm(conf(probe_so), script="fill 0x8000fff0 32 1\ndump 0x90000000 4\nprint goes on\nshutdown\n")
    assert run.returncode == 0, run.stderr
    errors = [line.message for line in run.find(r"^guest (fill|dump) ", source="qvm", level="ERROR")]
    assert errors == [
        "guest fill of 32 byte(s) at 0x8000fff0: not inside one guest RAM region (option 'ram'): bus error",
        "guest dump of 4 byte(s) at 0x90000000: not inside one guest RAM region (option 'ram'): bus error",
    ]
    assert run.stdout.splitlines() == ["goes on"]


def test_dma_round_trip_through_gasp(run_qvm: RunQvm, probe_so: Path) -> None:
    # the guest writes a buffer, the vdev maps source and destination and copies, the guest reads back
    script = """
    write 0x80000000 8 0x1122334455667788
    write 0x80000008 8 0x99aabbccddeeff00
    write 0x2020 8 0x80000000     # SRC
    write 0x2028 8 0x80001000     # DST
    write 0x2030 8 16             # LEN
    write 0x2038 8 1              # GO
    read 0x2038 4                 # status: 0
    dump 0x80001000 16
    write 0x2020 8 0x8000fff8     # a source running past the end of RAM
    write 0x2038 8 1
    read 0x2038 4                 # EFAULT (14)
    shutdown
    """
    run = run_qvm(conf(probe_so), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "0x2038: 0x00000000",
        "dump 0x80001000: 88 77 66 55 44 33 22 11 00 ff ee dd cc bb aa 99",
        "0x2038: 0x0000000e",
    ]
    assert (
        run.one(r"^dma copied ", source="probe").message
        == "dma copied len=16 src=0x80000000 dst=0x80001000 vaddr_after_unmap=null"
    )
    assert run.one(r"^dma map src failed", source="probe").message == "dma map src failed errno=14"


def test_guest_cpu_access_with_null_gcp_reaches_ram(run_qvm: RunQvm, probe_so: Path) -> None:
    script = """
    write 0x80000040 4 41
    write 0x2020 8 0x80000040
    write 0x2028 8 0x80000044
    write 0x2040 8 1              # PEEK: read SRC, write SRC's value + 1 at DST
    read 0x80000044 4
    write 0x2020 8 0x70000000     # outside RAM: -1, the vdev answers guest_cpu_to_vrs(-1)
    write 0x2040 8 1
    print goes on
    shutdown
    """
    run = run_qvm(conf(probe_so), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["0x80000044: 0x0000002a", "goes on"]
    peeks = [line.message for line in run.find(r"^peek ", source="probe")]
    assert peeks == ["peek read rc=0 value=0x29", "peek write rc=0 value=0x2a", "peek read rc=-1 value=0x0"]
    assert (
        run.one(r"VRS_BUS_ERROR", source="qvm", level="ERROR").message
        == "vdev 'probe' answered VRS_BUS_ERROR to a guest store at 0x2040: the guest gets a bus error"
    )


@pytest.mark.parametrize(
    "ram,message",
    [
        (
            "ram 0\n",
            "cfg.qvmconf:3: bad value '0' for option 'ram' (expected [START,]LENGTH like "
            "0x80000000,128M or 64K; LENGTH > 0, suffixes K, M, G)",
        ),
        (
            "ram 16Q\n",
            "cfg.qvmconf:3: bad value '16Q' for option 'ram' (expected [START,]LENGTH like "
            "0x80000000,128M or 64K; LENGTH > 0, suffixes K, M, G)",
        ),
        (
            "ram x,16M\n",
            "cfg.qvmconf:3: bad value 'x,16M' for option 'ram' (expected [START,]LENGTH like "
            "0x80000000,128M or 64K; LENGTH > 0, suffixes K, M, G)",
        ),
        (
            "ram 0,64K\nram 0x8000,64K\n",
            "cfg.qvmconf:4: bad value '0x8000,64K' for option 'ram': region "
            "0x8000-0x17fff overlaps the RAM region 0x0-0xffff",
        ),
        (
            "ram 0,1M\n",
            "cfg.qvmconf:4: region 0x2000-0x2fff of vdev 'probe' overlaps guest RAM 0x0-0xfffff "
            "(option 'ram'): move its 'loc' or the RAM",
        ),
    ],
)
def test_bad_ram_is_a_config_error(run_qvm: RunQvm, probe_so: Path, ram: str, message: str) -> None:
    run = run_qvm(f"system t\nlogger fatal,internal,error,warn,info stderr\n{ram}vdev {probe_so} loc 0x2000\n")
    assert run.returncode == 65, run.stderr
    assert run.one(r"", source="qvm", level="FATAL").message == message


@pytest.mark.parametrize(
    "script,message",
    [
        ("dump 0x80000000\n", "guest.gs:1: 'dump' needs ADDR LEN"),
        ("fill 0x80000000 4 0x100\n", "guest.gs:1: bad byte '0x100' for 'fill' (0 to 0xff)"),
        ("dump io:0x40 4\n", "guest.gs:1: bad address 'io:0x40' for 'dump' (a guest RAM address like 0x80000000)"),
        ("dump 0x80000000 0\n", "guest.gs:1: bad length '0' for 'dump' (1 to 65536 bytes)"),
    ],
)
def test_bad_fill_or_dump_in_the_script_is_a_config_error(
    run_qvm: RunQvm, probe_so: Path, script: str, message: str
) -> None:
    run = run_qvm(conf(probe_so), script=script)
    assert run.returncode == 65, run.stderr
    assert run.one(r"", source="qvm", level="FATAL").message == message


class _Session:
    """The part of QvmSession that ScriptedGuest uses, over a QvmProc."""

    def __init__(self, proc: QvmProc) -> None:
        self.proc = proc

    @property
    def stdout(self) -> str:
        with self.proc._cv:
            return "".join(self.proc._out)

    @property
    def stdout_end(self) -> int:
        """Characters of guest console so far (a QvmProc keeps all of it: nothing is dropped)."""
        return len(self.stdout)

    def stdout_since(self, mark: int) -> str:
        return self.stdout[mark:]

    def send(self, line: str) -> None:
        assert self.proc.proc.stdin is not None
        self.proc.proc.stdin.write(line + "\n")
        self.proc.proc.stdin.flush()

    def wait_stdout(self, pattern: str, timeout: float = 10.0, since: int = 0) -> re.Match[str]:
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = rx.search(self.stdout, since)
            if m:
                return m
            time.sleep(0.01)
        raise AssertionError(f"no {pattern!r} in {self.stdout[since:]!r}")


def test_scripted_guest_api_drives_ram_and_interrupts(start_qvm: Callable[..., QvmProc], probe_so: Path) -> None:
    p = start_qvm(f"system t\n{RAM}vdev {probe_so} loc 0x2000 intr gic:33\n", stdin_pipe=True)
    guest = ScriptedGuest(None, _Session(p))  # type: ignore[arg-type]  # (target unused by ScriptedGuest)
    guest.store(0x80000000, 4, 0xCAFE)
    assert guest.load(0x80000000, 4) == 0xCAFE
    guest.fill(0x80000100, 20, 0x5A)
    assert guest.dump(0x80000100, 20) == b"\x5a" * 20
    assert guest.irq_count("GIC:0x21") == 0
    guest.store(0x2000, 8, 2)  # the probe raises gic:33 twice
    assert guest.wait_irq("gic:33", timeout=2.0) == 2
    assert guest.wait_irq("gic:33", timeout=0.05) is None
    guest.store(0x2000, 8, 1)
    guest.irq_ack("gic:33")
    assert guest.wait_irq("gic:33", timeout=0.05) is None
    assert guest.irq_count("gic:33") == 3
    guest.send("shutdown")
    run = p.finish()
    assert run.returncode == 0, run.stderr

"""QEMU's accelerator: KVM only where a probe proves it boots (the verdict remembered per host), else TCG.

``/dev/kvm`` can exist and hang: ``kvm_usable`` runs a tiny firmware that enters
long mode in a killable QEMU with a hard timeout, once per host (the verdict is
kept in the cache folder).  ``resolve_accel`` turns a definition's ``accel``
(``auto``, ``tcg``, ``kvm``) into the one to use, ``cpu_model`` names the CPU
each accelerator runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from hil.core.errors import SetupError
from hil.core.paths import cache_dir, file_lock, hash_inputs

_kvm_verdict: bool | None = None
_kvm_lock = threading.Lock()


#: The KVM probe's firmware, assembled once from this GNU as source (linked at 0xF0000, the
#: low alias of a 64 KiB BIOS): reset vector -> protected mode -> paging -> long mode ->
#: ``out 0x2a`` to isa-debug-exit (QEMU exits with 85).  A trivial real-mode probe is not
#: enough: on this machine KVM runs real-mode code (and SeaBIOS) but hangs on the way to
#: long mode, like a real boot does.
#:
#:     .code16: cli; xor ax,ax; mov ds,ax; lgdtl cs:gdt_desc; cr0 |= PE; ljmpl 0x08:start32
#:     .code32: ds=es=ss=0x18; [0x1000]=0x2003 (PML4->PDPT); [0x2000]=0x3003 (PDPT->PD);
#:              [0x3000]=0x83 (2 MiB identity page); cr4 |= PAE; cr3=0x1000;
#:              EFER(0xC0000080) |= LME; cr0 |= PG; ljmpl 0x10:start64
#:     .code64: mov al,0x2a; out 0xf4,al; 1: hlt; jmp 1b
#:     gdt: null, 0x00CF9A000000FFFF (code32), 0x00AF9A000000FFFF (code64), 0x00CF92000000FFFF (data)
#:     at 0xFFF0 (reset vector): ljmp 0xF000:0x0000
_PROBE_CODE = bytes.fromhex(
    "fa31c08ed82e660f0116a0000f20c06683c8010f22c066ea1e000f000800b8180000008ed88ec08ed0c7050010000003"
    "200000c7050020000003300000c70500300000830000000f20e083c8200f22e0b8001000000f22d8b9800000c00f320d"
    "000100000f300f20c00d000000800f22c0ea78000f001000b02ae6f4f4ebfd900000000000000000ffff0000009acf00"
    "ffff0000009aaf00ffff00000092cf001f0080000f00"
)
_PROBE_RESET = bytes.fromhex("ea000000f0")


def _probe_firmware() -> bytes:
    """64 KiB of "BIOS" that enters long mode and exits QEMU through isa-debug-exit (status 85)."""
    rom = bytearray(0x10000)
    rom[: len(_PROBE_CODE)] = _PROBE_CODE
    rom[0xFFF0 : 0xFFF0 + len(_PROBE_RESET)] = _PROBE_RESET
    return bytes(rom)


def kvm_usable(timeout: float = 3.0, qemu: str = "qemu-system-x86_64") -> bool:
    """True when KVM really runs guest code here (cached for the process, and per host on disk).

    ``/dev/kvm`` can exist and hang: the probe runs a tiny firmware that enters
    long mode, with the CPU model a boot would use, in a killable subprocess with
    a hard timeout.  The verdict is remembered in the cache folder, keyed by what
    can change it (the host kernel, the QEMU binary, ``/dev/kvm``), so only the
    first process on a host pays for the probe.
    """
    global _kvm_verdict
    with _kvm_lock:
        if _kvm_verdict is None:
            _kvm_verdict = _remembered_kvm_verdict(timeout, qemu)
        return _kvm_verdict


def kvm_verdict_file(qemu: str = "qemu-system-x86_64") -> Path | None:
    """Where the KVM verdict for this host, QEMU and /dev/kvm is kept (None: no /dev/kvm to probe)."""
    try:
        kvm = os.stat("/dev/kvm")
    except OSError:
        return None
    uname = os.uname()
    binary = shutil.which(qemu) or qemu
    try:
        st = os.stat(binary)
        qemu_id = f"{os.path.realpath(binary)}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        qemu_id = binary
    key = hash_inputs(
        uname.release, uname.version, uname.machine, qemu_id, f"{kvm.st_rdev}:{kvm.st_mode}:{kvm.st_uid}:{kvm.st_gid}"
    )
    return cache_dir("probes") / f"kvm-{key}.json"


def _remembered_verdict(path: Path) -> bool | None:
    """The verdict stored at ``path``, or None when there is none (or it is unreadable)."""
    try:
        verdict = json.loads(path.read_text())["usable"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return verdict if isinstance(verdict, bool) else None


def _remembered_kvm_verdict(timeout: float, qemu: str) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    path = kvm_verdict_file(qemu)
    if path is None:
        return False
    remembered = _remembered_verdict(path)
    if remembered is not None:
        return remembered
    with file_lock(path.with_suffix(".lock")):  # parallel first processes probe once
        remembered = _remembered_verdict(path)
        if remembered is not None:
            return remembered
        verdict = _run_kvm_probe(timeout, qemu)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"usable": verdict, "probed": time.time()}))
        os.replace(tmp, path)
    return verdict


def _run_kvm_probe(timeout: float, qemu: str) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    with tempfile.NamedTemporaryFile(prefix="hil-kvm-probe-", suffix=".bin") as rom:
        rom.write(_probe_firmware())
        rom.flush()
        return probe_accel("kvm", rom.name, timeout, qemu)


def probe_accel(accel: str, firmware: str, timeout: float, qemu: str = "qemu-system-x86_64") -> bool:
    """Run ``firmware`` under ``accel``; True when it reached its debug-exit port in time."""
    argv = [
        qemu,
        "-machine",
        f"pc,accel={accel}",
        "-cpu",
        cpu_model(accel),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-vga",
        "none",
        "-m",
        "16",
        "-bios",
        firmware,
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    except OSError:
        return False
    try:
        return proc.wait(timeout) == 85
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(1.0)
        except subprocess.TimeoutExpired:
            pass  # stuck in the kernel: leave it, the verdict stands
        return False


def cpu_model(accel: str) -> str:
    """``max`` under TCG (RDRAND seeds the guest's RNG at once); ``host`` under KVM."""
    return "host" if accel == "kvm" else "max"


def resolve_accel(accel: str, qemu: str = "qemu-system-x86_64") -> str:
    """The accelerator to use for ``accel`` ("auto", "tcg" or "kvm")."""
    if accel == "tcg":
        return "tcg"
    if accel == "kvm":
        if not kvm_usable(qemu=qemu):
            raise SetupError(
                "accel = 'kvm' but KVM does not run a guest on this host (the probe failed or "
                "hung): set accel = 'auto' or 'tcg' in the target definition's [qemu] section"
            )
        return "kvm"
    if accel == "auto":
        return "kvm" if kvm_usable(qemu=qemu) else "tcg"
    raise SetupError(f"unknown QEMU accel '{accel}': use 'auto', 'tcg' or 'kvm'")

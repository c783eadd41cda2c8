"""ELF parsing for the QEMU image: shared-library needs, a bzImage's vmlinux and its PVH note, module info."""

from __future__ import annotations

import lzma
import re
import struct
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ElfDynamicInfo:
    """What the dynamic loader needs for an ELF file: its interpreter and DT_NEEDED names."""

    interp: str | None
    needed: tuple[str, ...]


def elf_dynamic_info(data: bytes) -> ElfDynamicInfo:
    """PT_INTERP and DT_NEEDED of a 64-bit little-endian ELF file (static: neither)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    interp = None
    dynamic: tuple[int, int] | None = None
    loads: list[tuple[int, int, int]] = []  # vaddr, offset, filesz
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 3:
            interp = data[p_offset : p_offset + p_filesz].split(b"\0")[0].decode()
        elif p_type == 2:
            dynamic = (p_offset, p_filesz)
        elif p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
    if dynamic is None:
        return ElfDynamicInfo(interp, ())
    entries = [struct.unpack_from("<qQ", data, dynamic[0] + i) for i in range(0, dynamic[1], 16)]
    strtab_vaddr = next((v for tag, v in entries if tag == 5), None)
    if strtab_vaddr is None:
        return ElfDynamicInfo(interp, ())
    strtab = next((off + strtab_vaddr - va for va, off, size in loads if va <= strtab_vaddr < va + size), None)
    if strtab is None:
        raise ValueError("ELF string table is outside every loadable segment")
    needed = []
    for tag, value in entries:
        if tag == 0:
            break
        if tag == 1:
            end = data.index(b"\0", strtab + value)
            needed.append(data[strtab + value : end].decode())
    return ElfDynamicInfo(interp, tuple(needed))


def modinfo(ko: bytes, key: str) -> list[str]:
    """Comma-separated values of ``key=`` in a module's .modinfo strings."""
    for m in re.finditer(rb"(?:^|\0)" + re.escape(key.encode()) + rb"=([^\0]*)\0", ko):
        return [v for v in m.group(1).decode(errors="replace").split(",") if v]
    return []


# -- kernel --------------------------------------------------------------------------------------

_XZ_MAGIC = b"\xfd7zXZ\x00"
_GZIP_MAGIC = b"\x1f\x8b\x08"


def extract_vmlinux(bzimage: bytes) -> bytes:
    """The ELF vmlinux inside a bzImage (XZ or gzip payload), checked for a PVH entry note.

    Raises ``ValueError`` when the payload is in another format or the ELF has
    no PVH note (then boot the bzImage itself).
    """
    starts: list[int] = []
    if bzimage[0x202:0x206] == b"HdrS":  # boot protocol header: the payload's exact offset
        setup_sects = bzimage[0x1F1] or 4
        (payload_offset,) = struct.unpack_from("<I", bzimage, 0x248)
        starts.append((setup_sects + 1) * 512 + payload_offset)
    starts += [m.start() for m in re.finditer(re.escape(_XZ_MAGIC) + b"|" + re.escape(_GZIP_MAGIC), bzimage)]
    for start in starts:
        head = bzimage[start : start + 6]
        try:
            if head == _XZ_MAGIC:
                elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(bzimage[start:])
            elif head[:3] == _GZIP_MAGIC:
                elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bzimage[start:])
            else:
                continue
        except (lzma.LZMAError, zlib.error):
            continue
        if elf[:4] != b"\x7fELF":
            continue
        if not _has_pvh_note(elf):
            raise ValueError("the kernel's ELF image has no PVH entry note (CONFIG_PVH is off)")
        return elf
    raise ValueError("no XZ or gzip compressed ELF payload found in the bzImage (another compression?)")


def _has_pvh_note(elf: bytes) -> bool:
    """True when a PT_NOTE holds XEN_ELFNOTE_PHYS32_ENTRY (type 18, owner "Xen")."""
    try:
        (phoff,) = struct.unpack_from("<Q", elf, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
        for i in range(phnum):
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
            if p_type != 4:
                continue
            pos, end = p_offset, p_offset + p_filesz
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
                name = elf[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
                if name == b"Xen" and ntype == 18:
                    return True
                pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    except struct.error:
        return False
    return False

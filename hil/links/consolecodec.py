"""How bytes cross a serial console shell: the encodings and checksums of ``hil.links.consoleshell``.

A console carries text lines, so files and command output are encoded: with
``base64`` where the target has it (Linux, busybox), else with what every POSIX
target has, QNX included: ``printf`` octal escapes (``\\ooo``) towards the
target and ``od -An -v -tx1`` (hex bytes) back from it.  Every transfer is
checked against the target's own checksum of the file: ``md5sum`` where there is
one, else POSIX ``cksum`` (the CRC of IEEE Std 1003.1 ``cksum``, computed here by
``posix_cksum``), else only the size (``wc -c``).

Everything here is pure: no console, no processes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["base64", "octal"]
Checksum = Literal["md5sum", "cksum", "size"]

#: Raw bytes per ``printf`` line (each byte is 4 characters: ``\\ooo``): well under a tty's 4 KiB line.
OCTAL_LINE_BYTES = 200
#: Raw bytes per base64 line of a here-document (76 characters).
BASE64_LINE_BYTES = 57


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def posix_cksum(data: bytes) -> int:
    """The CRC that POSIX ``cksum`` prints for ``data``: polynomial 0x04C11DB7, most significant bit
    first, the length appended (least significant octet first), the result complemented."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ byte]
    length = len(data)
    while length:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ (length & 0xFF)]
        length >>= 8
    return ~crc & 0xFFFFFFFF


@dataclass(frozen=True)
class Codec:
    """What a target's shell has for moving bytes: how to encode towards it and back, how to check."""

    encoding: Encoding = "octal"
    checksum: Checksum = "size"

    # -- towards the target ----------------------------------------------------------------------

    def put_lines(self, data: bytes, path_q: str) -> list[str]:
        """Shell lines appending ``data`` to the (quoted) file ``path_q``; each a complete command or
        here-document, no line over 4 KiB."""
        if self.encoding == "base64":
            body = [
                base64.b64encode(data[i : i + BASE64_LINE_BYTES]).decode()
                for i in range(0, len(data), BASE64_LINE_BYTES)
            ]
            return [f"base64 -d >> {path_q} <<'HIL_B64_END'", *body, "HIL_B64_END"]
        return [
            f"printf '{octal(data[i : i + OCTAL_LINE_BYTES])}' >> {path_q}"
            for i in range(0, len(data), OCTAL_LINE_BYTES)
        ]

    # -- back from the target --------------------------------------------------------------------

    def dump_command(self, path_q: str) -> str:
        """The command writing the (quoted) file ``path_q`` encoded on stdout."""
        if self.encoding == "base64":
            return f"base64 < {path_q}"
        return f"od -An -v -tx1 < {path_q}"

    def decode(self, text: str) -> bytes:
        """The bytes of a dump's text (``dump_command``'s output, as the console delivered it).

        Raises ``ValueError`` for text that is not such a dump (noise on the console)."""
        if self.encoding == "base64":
            compact = re.sub(r"\s+", "", text)
            try:
                return base64.b64decode(compact, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"not base64: {exc}") from None
        words = text.split()
        if any(len(w) != 2 for w in words):
            raise ValueError("not an od -tx1 dump (a word that is not one byte)")
        try:
            return bytes.fromhex("".join(words))
        except ValueError:
            raise ValueError("not an od -tx1 dump") from None

    # -- checking ----------------------------------------------------------------------------------

    def sum_command(self, path_q: str) -> str:
        """The command printing the target's checksum of the (quoted) file ``path_q`` on one line."""
        if self.checksum == "md5sum":
            return f"md5sum < {path_q}"
        if self.checksum == "cksum":
            return f"cksum < {path_q}"
        return f"wc -c < {path_q}"

    def check_command(self, path_q: str, data: bytes) -> str:
        """A shell condition, true when the (quoted) file ``path_q`` on the target is ``data`` by this
        codec's checksum (compared there: no round trip)."""
        if self.checksum == "md5sum":
            return f'set -- $(md5sum < {path_q}) && [ "$1" = {hashlib.md5(data, usedforsecurity=False).hexdigest()} ]'
        if self.checksum == "cksum":
            return f'set -- $(cksum < {path_q}) && [ "$1 $2" = "{posix_cksum(data)} {len(data)}" ]'
        return f'set -- $(wc -c < {path_q}) && [ "$1" = {len(data)} ]'

    def matches(self, data: bytes, answer: str) -> bool:
        """Whether the target's ``sum_command`` answer is the checksum of ``data``."""
        words = answer.split()
        if not words:
            return False
        if self.checksum == "md5sum":
            return words[0].lower() == hashlib.md5(data, usedforsecurity=False).hexdigest()
        if self.checksum == "cksum":
            return words[:2] == [str(posix_cksum(data)), str(len(data))]
        return words[0] == str(len(data))


def octal(data: bytes) -> str:
    """``data`` as ``printf`` format text of octal escapes (every byte, so no ``%`` or quote is left)."""
    return "".join(f"\\{byte:03o}" for byte in data)


def choose_codec(tools: set[str], prefer: Encoding | None = None, prefer_checksum: Checksum | None = None) -> Codec:
    """The codec for a target whose shell found ``tools`` (``command -v``): base64 when it has
    ``base64``, the best checksum it has (``prefer``/``prefer_checksum``: these instead)."""
    if prefer is not None:
        encoding: Encoding = prefer
    else:
        encoding = "base64" if "base64" in tools else "octal"
    checksum: Checksum = "md5sum" if "md5sum" in tools else "cksum" if "cksum" in tools else "size"
    return Codec(encoding, prefer_checksum or checksum)

"""The serial-only board's pure parts: which class a definition gets, its validation, the transfer codecs."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from hil.core.errors import ConfigError
from hil.links.consolecodec import Codec, Encoding, choose_codec, octal, posix_cksum
from hil.targets import BoardTarget, SerialBoardTarget, make_target
from hil.targets.definition import parse_definition

pytestmark = pytest.mark.quick

SERIAL = {"kind": "board", "os": "linux", "console": {"url": "socket://127.0.0.1:4001"}}


def test_a_board_without_ssh_is_a_serial_board(tmp_path: Path) -> None:
    target = make_target(parse_definition(SERIAL, "<test>", "serial"), tmp_path)
    assert type(target) is SerialBoardTarget and isinstance(target, BoardTarget)
    assert target.kind == "board" and target.guest_control == "scripted"
    ssh = {**SERIAL, "ssh": {"host": "10.0.0.2", "host_key": "ssh-ed25519 AAAA"}}
    assert type(make_target(parse_definition(ssh, "<test>", "b"), tmp_path)) is BoardTarget


def test_a_board_with_neither_ssh_nor_console_says_what_to_add() -> None:
    with pytest.raises(ConfigError, match=r"b.toml.*ssh.*\[console\].*serial console alone"):
        parse_definition({"kind": "board"}, "b.toml", "b")


def test_a_serial_board_refuses_a_console_driven_guest() -> None:
    with pytest.raises(ConfigError, match=r"guest.control.*scripted"):
        parse_definition({**SERIAL, "guest": {"control": "console"}}, "b.toml", "b")


def test_posix_cksum_matches_the_standards_crc() -> None:
    # values printed by GNU coreutils' cksum (the POSIX algorithm)
    assert posix_cksum(b"") == 4294967295
    assert posix_cksum(b"123456789") == 930766865
    assert posix_cksum(b"\x00\xffabc") == 1674515267


@pytest.mark.parametrize("encoding", ["base64", "octal"])
def test_put_lines_encode_every_byte_in_short_lines(encoding: Encoding) -> None:
    data = bytes(range(256)) * 40
    lines = Codec(encoding, "md5sum").put_lines(data, "'/tmp/f'")
    assert all(len(line) < 1000 for line in lines)
    if encoding == "base64":
        assert lines[0].startswith("base64 -d >> '/tmp/f' <<") and lines[-1] == "HIL_B64_END"
        assert base64.b64decode("".join(lines[1:-1])) == data
    else:
        assert all(line.startswith("printf '\\") and line.endswith("' >> '/tmp/f'") for line in lines)
        assert "%" not in "".join(lines) and "'" not in "".join(line[8:-15] for line in lines)


def test_decoding_what_the_console_delivered() -> None:
    data = os.urandom(1000)
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    assert Codec("base64").decode(b64) == data
    od = "\r\n".join(" " + " ".join(f"{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16))
    assert Codec("octal").decode(od) == data
    with pytest.raises(ValueError):
        Codec("octal").decode(od[:100] + " kernel: noise " + od[100:])
    with pytest.raises(ValueError):
        Codec("base64").decode(b64[:100] + "kernel: noise" + b64[100:])


def test_checksums_compare_as_each_tool_prints_them() -> None:
    data = b"qvm\x00log"
    assert Codec(checksum="md5sum").matches(data, hashlib.md5(data).hexdigest() + "  -")
    assert not Codec(checksum="md5sum").matches(data + b"x", hashlib.md5(data).hexdigest() + "  -")
    assert Codec(checksum="cksum").matches(data, f"{posix_cksum(data)} {len(data)}")
    assert Codec(checksum="size").matches(data, "       7")
    assert not Codec(checksum="size").matches(data, "")


def test_the_codec_follows_what_the_target_has() -> None:
    assert choose_codec({"base64", "md5sum", "od"}) == Codec("base64", "md5sum")
    assert choose_codec({"od", "cksum"}) == Codec("octal", "cksum")  # a QNX target without base64
    assert choose_codec({"base64", "od"}, prefer="octal") == Codec("octal", "size")
    assert octal(b"%'\\") == "\\045\\047\\134"

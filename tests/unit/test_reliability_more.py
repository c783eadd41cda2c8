"""Issue 11 (9, 12): secrets in [power] commands are never shown; bad input is exit 2, not 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.core.errors import ConfigError, InfrastructureError
from hil.core.text import mask_secrets
from hil.targets import make_target
from hil.targets.board import BoardTarget
from hil.targets.definition import parse_definition
from tests.support.cli import hil
from tests.support.keys import STRANGER_HOST_KEY


@pytest.mark.parametrize(
    ("command", "secret"),
    [
        ("curl -u admin:secret http://pdu/outlet?1=OFF", "secret"),
        ("curl http://admin:hunter2@10.0.0.5/cgi?x=1", "hunter2"),
        ("TOKEN=abc123 relayctl cycle", "abc123"),
        ("snmpset --password=pw1 pdu", "pw1"),
        ("ipmitool -H bmc -U admin -P s3cret chassis power cycle", "s3cret"),
        ("curl -H 'Authorization: Bearer eyJabc' x", "eyJabc"),
    ],
)
def test_mask_secrets(command: str, secret: str) -> None:
    masked = mask_secrets(command)
    assert secret not in masked and "***" in masked


def test_plain_power_command_is_shown_unchanged() -> None:
    assert mask_secrets("usbrelay BOARD1_1=0; sleep 1") == "usbrelay BOARD1_1=0; sleep 1"


def test_power_failure_message_masks_the_password(tmp_path: Path) -> None:
    definition = parse_definition(
        {
            "kind": "board",
            "ssh": {"host": "10.0.0.9", "host_key": STRANGER_HOST_KEY},
            "power": {"cycle": "curl -u admin:secret http://127.0.0.1:9/ 2>/dev/null; exit 7"},
        },
        "lab/b.toml",
        "b",
    )
    board = make_target(definition, tmp_path)
    assert isinstance(board, BoardTarget), board
    with pytest.raises(InfrastructureError) as info:
        board.power("cycle")
    assert "exit status 7" in str(info.value) and "admin:***" in str(info.value)
    assert "secret" not in str(info.value) and "secret" not in (tmp_path / "power.log").read_text()


@pytest.mark.parametrize(("key", "value"), [("memory_mb", -1), ("cpus", 0), ("boot_timeout", 0.0)])
def test_qemu_values_are_range_checked(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=rf"^lab/q.toml: key 'qemu.{key}': {value} is out of range"):
        parse_definition({"kind": "qemu", "qemu": {key: value}}, "lab/q.toml", "q")


def test_target_up_of_a_local_target_is_bad_input(tmp_path: Path) -> None:
    done = hil("target", "up", "--target", "local", timeout=60, env={"XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "starts qemu targets; 'local' is a local" in lines[0], done.stderr

"""A board's power commands as labs wire them: a timeout, their output kept, the step named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError
from hil.targets import BoardTarget, make_target
from hil.targets.definition import parse_definition


def board(tmp_path: Path, **sections: dict[str, object]) -> BoardTarget:
    data = {"kind": "board", "ssh": {"host": "127.0.0.1", "port": 9, "host_key": "ssh-ed25519 AAAA"}, **sections}
    target = make_target(parse_definition(data, str(tmp_path / "lab.toml"), "lab"), tmp_path / "run")
    assert isinstance(target, BoardTarget)
    return target


def test_a_power_cycle_that_times_out_is_an_infrastructure_error_naming_the_step(tmp_path: Path) -> None:
    target = board(tmp_path, power={"cycle": "echo relay-off; sleep 30", "timeout": 0.5})
    with pytest.raises(InfrastructureError, match=r"step 'power cycle' timed out after 0.5 s.*\[power\] timeout"):
        target.up(Deadline.after(30))
    log = (tmp_path / "run" / "power.log").read_text()
    assert "relay-off" in log and "killed after 0.5 s" in log  # the command's output is kept


def test_a_board_that_does_not_come_back_names_the_step(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:  # a ser2net port where nothing boots
        url = f"socket://127.0.0.1:{server.getsockname()[1]}"
        target = board(
            tmp_path,
            console={"url": url},
            power={"cycle": "echo cycled", "ready_regex": "login:", "boot_timeout": 1},
        )
        with pytest.raises(InfrastructureError, match=r"did not come back after the power cycle.*ready_regex 'login:'"):
            target.up(Deadline.after(30))
    assert "exit status 0" in (tmp_path / "run" / "power.log").read_text()

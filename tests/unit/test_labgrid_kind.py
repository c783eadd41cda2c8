"""The labgrid kind without a lab: its definition, ``labgrid:PLACE``, resources, and its errors."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from hil.core.errors import ConfigError, InfrastructureError, SetupError
from hil.targets import LabgridTarget, make_target
from hil.targets.definition import parse_definition, select
from hil.targets.labgridplace import (
    Held,
    coordinator_address,
    read_resources,
    run_owner,
    stale_on_this_host,
    take_place,
)
from tests.support.ports import unused_port

PINNED = {"key": "/k", "host_key": "ssh-ed25519 AAAA"}


def _lab(tmp_path: Path, **extra: str) -> Path:
    lines = ['kind = "labgrid"', "[ssh]", 'host_key = "ssh-ed25519 AAAA"', "[labgrid]", 'coordinator = "127.0.0.1:1"']
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    (tmp_path / "lab.toml").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_a_labgrid_definition_pins_the_host_key() -> None:
    with pytest.raises(ConfigError, match=r"host key must be pinned.*NetworkService"):
        parse_definition({"kind": "labgrid", "labgrid": {"place": "p"}}, "lab.toml", "lab")
    with pytest.raises(ConfigError, match=r"place .* or tags"):
        parse_definition({"kind": "labgrid", "ssh": PINNED, "labgrid": {"place": "p", "tags": {"a": "b"}}}, "x", "l")
    d = parse_definition({"kind": "labgrid", "ssh": PINNED, "labgrid": {"tags": {"board": "imx8"}}}, "x", "lab")
    assert d.labgrid.tags == {"board": "imx8"} and d.ssh is not None and d.ssh.host == ""
    with pytest.raises(ConfigError, match=r"ssh\.host"):
        parse_definition({"kind": "board", "ssh": PINNED}, "board.toml", "b")


def test_labgrid_place_selector_applies_the_lab_definition(tmp_path: Path) -> None:
    (d,) = select(["labgrid:imx8-3"], [_lab(tmp_path)])
    assert (d.name, d.kind, d.labgrid.place, d.labgrid.coordinator) == (
        "labgrid-imx8-3",
        "labgrid",
        "imx8-3",
        "127.0.0.1:1",
    )
    assert isinstance(make_target(d, tmp_path / "run"), LabgridTarget)
    named = tmp_path / "named"
    named.mkdir()
    (named / "mine.toml").write_text('kind = "labgrid"\n[ssh]\nknown_hosts = "/kh"\n[labgrid]\nplace = "imx8-3"\n')
    assert select(["labgrid:imx8-3"], [named])[0].name == "mine"  # a definition of the place itself
    with pytest.raises(ConfigError, match=r"labgrid:other: no labgrid definition has place = 'other'.*found: none"):
        select(["labgrid:other"], [named])


def test_coordinator_address(monkeypatch: pytest.MonkeyPatch) -> None:
    d = parse_definition({"kind": "labgrid", "ssh": PINNED}, "x", "lab")
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    assert coordinator_address(d) == "127.0.0.1:20408"
    monkeypatch.setenv("LG_COORDINATOR", "lab.example")
    assert coordinator_address(d) == "lab.example:20408"
    d = parse_definition({"kind": "labgrid", "ssh": PINNED, "labgrid": {"coordinator": "10.0.0.1:5"}}, "x", "lab")
    assert coordinator_address(d) == "10.0.0.1:5"


def test_resources_of_a_place() -> None:
    r = read_resources(
        "p",
        [
            ("NetworkService", {"address": "10.0.0.7", "port": 2222, "username": "qnxuser"}),
            ("NetworkSerialPort", {"host": "ser", "port": 4001, "speed": 9600, "protocol": "raw"}),
            ("NetworkPowerPort", {"model": "gude", "host": "pdu", "index": "3"}),
        ],
    )
    assert (r.ssh_host, r.ssh_port, r.ssh_user, r.console_url, r.baud) == (
        "10.0.0.7",
        2222,
        "qnxuser",
        "socket://ser:4001",
        9600,
    )
    assert r.power is not None and r.power[0] == "NetworkPowerPort"
    r = read_resources(
        "p", [("NetworkService", {"address": "a", "username": "root"}), ("NetworkSerialPort", {"host": "h", "port": 1})]
    )
    assert (r.console_url, r.power, r.ssh_port) == ("rfc2217://h:1", None, 22)
    with pytest.raises(InfrastructureError, match=r"place 'p' has no NetworkService.*NetworkSerialPort"):
        read_resources("p", [("NetworkSerialPort", {"host": "h", "port": 1})])


def test_a_holder_of_this_host_whose_process_is_gone_is_stale() -> None:
    assert run_owner().endswith(f"+hil{os.getpid()}")
    assert not stale_on_this_host(run_owner())  # alive
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    assert stale_on_this_host(run_owner(child))
    assert not stale_on_this_host(f"other-host/ci+hil{child}")  # another host: not ours to judge
    assert not stale_on_this_host(f"{socket.gethostname()}/alice")  # not a qnx-hil run


def test_a_coordinator_that_does_not_answer_is_an_infrastructure_error(tmp_path: Path) -> None:
    with unused_port() as port:  # held bound, not listening: refused, and nobody else takes it meanwhile
        d = parse_definition(
            {"kind": "labgrid", "ssh": PINNED, "labgrid": {"place": "imx8-3", "coordinator": f"127.0.0.1:{port}"}},
            "x",
            "l",
        )
        with pytest.raises(InfrastructureError, match=rf"labgrid coordinator 127\.0\.0\.1:{port}.*place 'imx8-3'"):
            take_place(d, Held(f"127.0.0.1:{port}", run_owner()), wait=1)


def test_without_labgrid_the_kind_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "labgrid.remote", None)  # an import of it fails
    (d,) = select(["labgrid:p"], [_lab(tmp_path)])
    target = make_target(d, tmp_path / "run")
    from hil.core.deadline import Deadline

    with pytest.raises(SetupError, match=r"pip install 'qnx-hil\[labgrid\]'"):
        target.up(Deadline.after(10))

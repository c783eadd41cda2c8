"""Target kinds: one list of them, each kind choosing its guest control, toolchains from definitions,
and the one orchestration of bringing a target up and down."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.core.errors import InfrastructureError
from hil.orchestrate import UP_TIMEOUT, bring_up, target_up
from hil.qvmrun.guest import ConsoleGuest, ScriptedGuest, guest_for
from hil.targets import KINDS, TARGET_CLASSES, make_target
from hil.targets.definition import builtin_definitions, parse_definition
from hil.targets.toolchain import Toolchain


def test_every_kind_has_its_class_and_declares_its_guest() -> None:
    assert sorted(TARGET_CLASSES) == sorted(KINDS)
    assert {kind: cls.guest_control for kind, cls in TARGET_CLASSES.items()} == {
        "local": "scripted",
        "qemu": "scripted",
        "board": "console",
        "labgrid": "console",
    }


def test_guest_control_follows_the_target_not_its_kind_name(tmp_path: Path) -> None:
    target = make_target(builtin_definitions()["local"], tmp_path / "run")
    # (arg-type: no session is needed to choose the guest control; misc: the ClassVar is set on purpose)
    assert isinstance(guest_for(target, None), ScriptedGuest)  # type: ignore[arg-type]
    target.guest_control = "console"  # type: ignore[misc]
    assert isinstance(guest_for(target, None), ConsoleGuest)  # type: ignore[arg-type]


def test_toolchain_comes_from_the_definition_without_a_target(tmp_path: Path) -> None:
    d = parse_definition(
        {"name": "q", "kind": "local", "toolchain": {"kind": "qcc", "variant": "gcc_ntox86_64", "cflags": ["-Werror"]}},
        "t",
    )
    tc = Toolchain.from_definition(d)
    assert (tc.kind, tc.cc, tc.variant, tc.cflags) == ("qcc", "qcc", "gcc_ntox86_64", ("-Werror",))
    assert make_target(d, tmp_path / "run").toolchain() == tc


def test_target_up_brings_up_and_always_tears_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    target_class = TARGET_CLASSES["local"]
    monkeypatch.setattr(target_class, "up", lambda self, deadline: calls.append(f"up {deadline.remaining() > 0}"))
    monkeypatch.setattr(target_class, "down", lambda self: calls.append("down"))
    with target_up(builtin_definitions()["local"], tmp_path / "run") as target:
        assert target.kind == "local" and calls == ["up True"]
    assert calls == ["up True", "down"]
    with pytest.raises(InfrastructureError), target_up(builtin_definitions()["local"], tmp_path / "run"):
        raise InfrastructureError("boom")
    assert calls[-1] == "down"
    monkeypatch.setattr(target_class, "reset", lambda self, deadline: calls.append("reset"))
    bring_up(make_target(builtin_definitions()["local"], tmp_path / "run"), reset=True)
    assert calls[-1] == "reset" and UP_TIMEOUT > 0

"""``[qvm] timer_hz``: qvmsim's guest timer rate, a setting of local and qemu targets."""

from __future__ import annotations

import pytest

from hil.core.errors import ConfigError
from hil.targets.definition import inventory, parse_definition
from tests.support.paths import FIXTURES


def test_timer_hz_goes_to_qvms_environment() -> None:
    d = parse_definition({"kind": "local", "qvm": {"timer_hz": 19_200_000}}, "t.toml", "t")
    assert d.qvm.timer_hz == 19_200_000
    assert d.qvm.environment() == {"QVMSIM_TIMER_HZ": "19200000"}
    assert parse_definition({"kind": "qemu"}, "q.toml", "q").qvm.environment() == {}


def test_the_suite_has_a_19_2_mhz_target() -> None:
    assert inventory([FIXTURES / "targets"])["local-19m2"].qvm.timer_hz == 19_200_000


@pytest.mark.parametrize(
    "data,message",
    [
        ({"kind": "local", "qvm": {"timer_hz": 0}}, r"0 is out of range: allowed 1 to 10000000000"),
        ({"kind": "qemu", "qvm": {"timer_hz": "19.2M"}}, r"expected int"),
        (
            {"kind": "board", "qvm": {"timer_hz": 19_200_000}},
            r"timer_hz sets qvmsim's guest timer \(local and qemu targets\); a board's guest timer runs at its "
            r"hardware's rate",
        ),
    ],
)
def test_bad_timer_hz(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_definition(data, "t.toml", "t")
    assert "qvm.timer_hz" in str(info.value)

"""The exit table (contract §4), per-target overrides and signal decoding."""

from __future__ import annotations

import tomllib

import pytest

from hil.core.errors import ConfigError
from hil.core.signals import signal_name, signal_number, split_shell_status
from hil.qvm.exitcodes import (
    INFERRED,
    STATUS_REASONS,
    Evidence,
    Exit,
    ExitTable,
    decode,
)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (0, Exit.NORMAL),
        (3, Exit.POWER_CUT),
        (4, Exit.WATCHDOG),
        (5, Exit.UNSUPPORTED),
        (6, Exit.VDEV_ERROR),
        (7, Exit.UNEXPECTED),
        (32, Exit.CUSTOM),
        (47, Exit.CUSTOM),
        (63, Exit.CUSTOM),
        (64, Exit.FATAL_BEFORE_START),
        (65, Exit.FATAL_CONFIG),
        (96, Exit.FATAL_AFTER_START),
        (1, Exit.UNKNOWN),
        (2, Exit.UNKNOWN),
        (8, Exit.UNKNOWN),
        (31, Exit.UNKNOWN),
        (66, Exit.UNKNOWN),
        (255, Exit.UNKNOWN),
    ],
)
def test_default_table_rows(status: int, reason: Exit) -> None:
    assert ExitTable.default().decode(status, None) is reason
    assert decode(status) is reason


def test_every_member_has_description_and_evidence() -> None:
    for member in Exit:
        assert member.description and "\n" not in member.description
        assert isinstance(member.evidence, Evidence)
        assert Exit.parse(member.name) is member
        assert Exit.parse(member.key) is member
    assert Exit.WATCHDOG.evidence is Evidence.INFERRED
    assert Exit.FATAL_CONFIG.evidence is Evidence.DOC
    assert Exit.HUNG.evidence is Evidence.FRAMEWORK


def test_inferred_rows_named_and_marked_in_describe() -> None:
    assert set(INFERRED) == {Exit.WATCHDOG, Exit.CUSTOM}
    rows = {line.split()[1]: line for line in ExitTable.default().describe().splitlines()}
    assert "[inferred]" in rows["WATCHDOG"]
    assert "[inferred]" in rows["CUSTOM"] and rows["CUSTOM"].split()[0] == "32-63"
    assert "[doc]" in rows["FATAL_CONFIG"]


def test_signal_and_hung_take_precedence() -> None:
    table = ExitTable.default()
    assert table.decode(None, "SIGSEGV") is Exit.KILLED_BY_SIGNAL
    assert table.decode(None, 11) is Exit.KILLED_BY_SIGNAL
    assert table.decode(0, None, hung=True) is Exit.HUNG  # escalation's SIGTERM made it exit 0
    assert table.decode(None, "SIGKILL", hung=True) is Exit.HUNG
    assert table.decode(None, None) is Exit.UNKNOWN
    assert table.decode(0, "") is Exit.NORMAL


def test_watchdog_override_by_reason_name() -> None:
    table = ExitTable.default().with_overrides({"watchdog": 3})
    assert table.decode(3, None) is Exit.WATCHDOG
    assert table.decode(4, None) is Exit.UNKNOWN
    assert table.statuses_for(Exit.WATCHDOG) == (3,)
    assert table.statuses_for(Exit.POWER_CUT) == ()
    assert table.overrides == ((3, Exit.WATCHDOG),)
    assert "(target override)" in table.describe()
    # the default is untouched
    assert ExitTable.default().decode(4, None) is Exit.WATCHDOG


def test_overrides_from_toml_both_spellings() -> None:
    data = tomllib.loads('[exit]\nWATCHDOG = [3, 4]\n"70" = "vdev_error"\n"64" = "unknown"\n')
    table = ExitTable.default().with_overrides(data["exit"])
    assert table.decode(3, None) is Exit.WATCHDOG
    assert table.decode(4, None) is Exit.WATCHDOG
    assert table.decode(70, None) is Exit.VDEV_ERROR
    assert table.decode(6, None) is Exit.VDEV_ERROR  # the status form adds, the reason form replaces
    assert table.decode(64, None) is Exit.UNKNOWN


def test_overrides_accept_int_keys() -> None:
    table = ExitTable.default().with_overrides({3: "watchdog"})
    assert table.decode(3, None) is Exit.WATCHDOG
    assert table.decode(4, None) is Exit.WATCHDOG  # still there: only status 3 was redefined


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ({"watchdg": 3}, ["'watchdg'", "unknown exit reason", "watchdog", "power_cut"]),
        ({"watchdog": "three"}, ["'watchdog'", "0..255", "'three'"]),
        ({"watchdog": 300}, ["'watchdog'", "300", "0..255"]),
        ({"watchdog": True}, ["'watchdog'", "True"]),
        ({"watchdog": []}, ["'watchdog'", "empty list"]),
        ({"hung": 9}, ["'hung'", "no exit status"]),
        ({"3": "doggy"}, ["'3'", "'doggy'", "allowed"]),
        ({"3": 4}, ["'3'", "reason name"]),
        ({"3": "killed_by_signal"}, ["'3'", "no exit status"]),
        ({"watchdog": 3, "3": "power_cut"}, ["status 3", "two reasons", "watchdog", "power_cut"]),
    ],
)
def test_bad_overrides_are_clear_config_errors(mapping: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        ExitTable.default().with_overrides(mapping, source="targets/board.toml [qvm] exit_overrides")
    message = str(info.value)
    assert message.startswith("targets/board.toml [qvm] exit_overrides: key ")
    for word in words:
        assert word in message, message


def test_override_reasons_cover_status_bearing_members_only() -> None:
    assert Exit.KILLED_BY_SIGNAL not in STATUS_REASONS
    assert Exit.HUNG not in STATUS_REASONS
    assert Exit.UNKNOWN not in STATUS_REASONS
    for reason in STATUS_REASONS:
        assert ExitTable.default().statuses_for(reason)


@pytest.mark.parametrize(
    ("sig", "numbering", "name"),
    [
        (11, "linux", "SIGSEGV"),
        ("11", "linux", "SIGSEGV"),
        ("SEGV", "linux", "SIGSEGV"),
        ("sigsegv", "linux", "SIGSEGV"),
        ("SIGSEGV", "qnx", "SIGSEGV"),
        (10, "linux", "SIGUSR1"),
        (10, "qnx", "SIGBUS"),
        (16, "qnx", "SIGUSR1"),
        (3, "qnx", "SIGQUIT"),
        (99, "linux", "SIG99"),
    ],
)
def test_signal_names(sig: int | str, numbering: str, name: str) -> None:
    assert signal_name(sig, numbering) == name


@pytest.mark.parametrize("bad", [0, -3, "", "SIG", "SIG FOO", True])
def test_bad_signals(bad: int | str) -> None:
    with pytest.raises(ValueError):
        signal_name(bad)


def test_signal_numbers_and_shell_status() -> None:
    assert signal_number("SIGUSR1", "linux") == 10
    assert signal_number("USR1", "qnx") == 16
    assert signal_number("SIGSTKFLT", "qnx") is None
    assert split_shell_status(139) == (None, "SIGSEGV")
    assert split_shell_status(128 + 16, "qnx") == (None, "SIGUSR1")
    assert split_shell_status(65) == (65, None)
    assert split_shell_status(96) == (96, None)
    assert split_shell_status(128) == (128, None)
    with pytest.raises(ValueError, match="numbering"):
        signal_name(11, "windows")


def test_signal_effects_cover_the_handled_signals() -> None:
    from hil.qvm import SIGNAL_EFFECTS

    assert SIGNAL_EFFECTS["SIGTERM"][1] is Exit.NORMAL and SIGNAL_EFFECTS["SIGINT"][1] is Exit.NORMAL
    assert SIGNAL_EFFECTS["SIGQUIT"][1] is Exit.POWER_CUT
    assert SIGNAL_EFFECTS["SIGUSR1"][1] is None and "dump" in SIGNAL_EFFECTS["SIGUSR2"][0]

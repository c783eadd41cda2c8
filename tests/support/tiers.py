"""The suite's quick tier: ``@pytest.mark.quick`` tests start no process (a pytest plugin).

``make quick`` runs ``pytest -m quick``: the model and pure-logic tests, which
start no process, boot no VM and need no sshd or ser2net, so the tier stays
within seconds as tests are added.  A test is in the tier when it is marked
``quick`` (``pytestmark = pytest.mark.quick`` in a new module), or when its
module is in ``QUICK_MODULES`` (minus the tests named there, which need a
process and stay in ``make test`` only): a test added to such a module is in
the tier at once.  This plugin keeps the tier honest: while
a quick test runs, starting a process (``subprocess``, ``os.fork``,
``os.posix_spawn``, ``os.system``, ``os.exec*``) fails the test, naming what it
started, so a test that needs one has to leave the tier instead of slowing it.
``HIL_QUICK_PROBE=1`` applies the rule to every test (to find candidates for
the tier: the ones that still pass).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

QUICK = "quick"


class ProcessInQuickTier(AssertionError):
    """A test of the quick tier started a process."""


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        shown = " ".join(str(a) for a in (args[1] if what == "subprocess.Popen" and len(args) > 1 else args)[:4])
        raise ProcessInQuickTier(
            f"a test marked @pytest.mark.quick started a process ({what} {shown[:200]}); the quick tier runs no "
            f"processes: remove the mark (the test stays in make test) or test the logic without the process"
        )

    return refuse


_GUARDED: tuple[tuple[Any, str, str], ...] = (
    (subprocess.Popen, "__init__", "subprocess.Popen"),
    (os, "fork", "os.fork"),
    (os, "forkpty", "os.forkpty"),
    (os, "posix_spawn", "os.posix_spawn"),
    (os, "posix_spawnp", "os.posix_spawnp"),
    (os, "system", "os.system"),
    (os, "execv", "os.execv"),
    (os, "execve", "os.execve"),
    (os, "execvp", "os.execvp"),
    (os, "execvpe", "os.execvpe"),
)


#: Modules whose tests are in the quick tier (this plugin marks them), each with the tests of it
#: that are not (they start a process).  ``tests/unit/test_tiers.py`` checks the names exist.
QUICK_MODULES: dict[str, frozenset[str]] = {
    "tests/unit/test_arch.py": frozenset(
        {
            "test_a_cross_toolchain_that_makes_the_wrong_arch_is_refused",
            "test_an_x86_64_vdev_for_qemu_arm64_is_a_setup_error_before_boot",
            "test_vdev_built_for_arm64_is_aarch64_and_cached_apart",
        }
    ),
    "tests/unit/test_console.py": frozenset(),
    "tests/unit/test_console_memory.py": frozenset(
        {"test_a_200_mb_flood_keeps_memory_bounded_and_expect_finds_the_marker"}
    ),
    "tests/unit/test_errors.py": frozenset(
        {
            "test_local_checked_command_raises_command_failed",
            "test_local_command_timeout_and_process_wait_timeout",
            "test_plugin_counts_an_expect_timeout_as_a_failure",
        }
    ),
    "tests/unit/test_hostdeps.py": frozenset(),
    "tests/unit/test_html.py": frozenset(),
    "tests/unit/test_image.py": frozenset(
        {
            "test_cpio_is_read_by_gnu_cpio",
            "test_incomplete_cache_entry_is_rebuilt_not_used",
            "test_unknown_package_is_named_with_the_fix",
            "test_unknown_pinned_version_is_named",
            "test_versions_of_several_packages_come_from_one_apt_call",
        }
    ),
    "tests/unit/test_kinds.py": frozenset(),
    "tests/unit/test_labgrid_kind.py": frozenset({"test_a_holder_of_this_host_whose_process_is_gone_is_stale"}),
    "tests/unit/test_layers.py": frozenset(),
    "tests/unit/test_osfacts.py": frozenset(),
    "tests/unit/test_qvm_config.py": frozenset(),
    "tests/unit/test_qvm_exitcodes.py": frozenset(),
    "tests/unit/test_qvm_log.py": frozenset(),
    "tests/unit/test_qvm_result.py": frozenset(),
    "tests/unit/test_reliability.py": frozenset(
        {
            "test_processes_with_long_names_are_found_by_command_line",
            "test_special_files_as_inputs_are_refused_without_reading",
            "test_target_status_with_a_folder_as_target_touches_nothing",
            "test_toml_path_as_target_uses_the_definitions_name",
        }
    ),
    "tests/unit/test_report.py": frozenset(
        {
            "test_keyboard_interrupt_leaves_a_valid_report",
            "test_validators_accept_ours_and_reject_raw_junit_xml",
            "test_xdist_workers_report_through_the_controller",
        }
    ),
    "tests/unit/test_slog2.py": frozenset(),
    "tests/unit/test_target_config.py": frozenset(),
    "tests/unit/test_target_scheduler.py": frozenset(),
    "tests/unit/test_transports.py": frozenset(),
    "tests/unit/test_user_image.py": frozenset(),
    "tests/faults/test_matrix.py": frozenset(),
}


def module_path(item: pytest.Item) -> str:
    """The item's module as a path relative to the rootdir (``tests/unit/test_x.py``)."""
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of ``QUICK_MODULES`` ``quick`` (before ``-m`` selects)."""
    for item in items:
        excluded = QUICK_MODULES.get(module_path(item))
        if excluded is not None and item.name.split("[", 1)[0] not in excluded:
            item.add_marker(QUICK)


def _quick(item: pytest.Item) -> bool:
    return item.get_closest_marker(QUICK) is not None or os.environ.get("HIL_QUICK_PROBE") == "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _guard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _guard(item):
        return (yield)


class _guard:
    """Refuse process starts while a quick test's setup or body runs (teardown may stop what others started)."""

    def __init__(self, item: pytest.Item) -> None:
        self.active = _quick(item)
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> None:
        if not self.active:
            return
        for owner, name, what in _GUARDED:
            if hasattr(owner, name):
                self.saved.append((owner, name, getattr(owner, name)))
                setattr(owner, name, _refuse(what))

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self.saved):
            setattr(owner, name, original)
        self.saved.clear()

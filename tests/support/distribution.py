"""How ``make test`` spreads this repository's suite over pytest-xdist workers (a pytest plugin).

``make test`` runs ``pytest -n N --dist loadgroup --suite-schedule``: this plugin's scheduler
(xdist's scope scheduler with the suite's own scopes and order) then decides which tests run
together on one worker, and in which order the groups start:

* A HIL test on a VM target (``qemu``, ``qemu-arm64``): every test of that target in one group,
  so the target's VM boots once (the same rule as ``hil nightly``'s one worker per target).
  ``VM_TARGET_SPLIT`` may cut a target's tests into a few groups by module: each of them boots
  its own VM, on whichever worker takes it.
* A HIL test on a target with no VM (``local``, ``local-19m2``): a group per module and target.
* Any other test: a group per module (its module-scoped fixtures, a VM or a server, are made once),
  except the modules of ``SPLIT_MODULES``, whose tests are independent and long: a group each.

Groups start longest first (``COST``: the seconds each took in a serial run here, measured;
a group not listed is estimated from its number of tests), so the long ones overlap the many
short ones instead of ending the run alone.  ``tests/unit/test_distribution.py`` checks that the
modules and tests named here exist.  Without ``--suite-schedule`` (``hil nightly``, a plain
``-n``) nothing here applies.
"""

from __future__ import annotations

from typing import Any

import pytest

OPTION = "--suite-schedule"

#: Targets whose tests share one VM per group, and into how many groups (by module) each is cut.
VM_TARGETS: dict[str, int] = {"qemu": 1, "qemu-arm64": 1}
#: The targets this repository's suite runs on (pyproject.toml's hil_targets, and the fixtures').
LOCAL_TARGETS = ("local-19m2", "local")

#: Modules whose tests are independent of each other and long: one group per test (their
#: module-scoped fixtures, if any, are cheap: made once per group).
SPLIT_MODULES: frozenset[str] = frozenset(
    {
        "tests/install/test_ci_jobs.py",
        "tests/install/test_install.py",
        "tests/vm/test_qemu.py",
        "tests/vm/test_arm64.py",
        "tests/vm/test_target_up_exits.py",
        "tests/fuzz/test_fuzz.py",
        "tests/nightly/test_nightly.py",
        "tests/nightly/test_html_report.py",
        "tests/faults/test_nightly_xdist.py",
    }
)

#: Seconds a group took here (the groups of 5 s and more, measured on 4 workers at load 10-12:
#: only their order matters; keys: a group's name as ``group_of`` gives it):
#: ``python -m tests.support.distribution JUNIT.xml`` prints this table from a run's JUnit
#: report (``make test PYTEST_ARGS=--junitxml=JUNIT.xml``).
COST: dict[str, float] = {
    "tests/labgrid/test_labgrid_lab.py": 276,
    "tests/install/test_ci_jobs.py::test_gitlab_public_then_lab_job_on_a_runner_user_with_sudo": 224,
    "tests/install/test_ci_jobs.py::test_gitlab_public_job_on_a_root_runner": 213,
    "tests/install/test_ci_jobs.py::test_github_public_job_in_a_root_container": 212,
    "tests/faults/test_cancellation.py": 189,
    "vm:qemu-arm64": 183,
    "tests/vm/test_snapshot.py": 179,
    "tests/install/test_ci_jobs.py::test_jenkins_public_job_on_an_agent_with_sudo": 173,
    "tests/vm/test_user_image_boot.py": 158,
    "tests/vm/test_serial_board.py": 155,
    "vm:qemu": 132,
    "tests/fuzz/test_fuzz.py::test_fixture_summary_in_junit": 123,
    "tests/gates/test_coverage_fail_under.py": 87,
    "tests/cli/test_plugin_outcomes.py": 80,
    "tests/gates/test_gates.py": 76,
    "tests/qvmsim/test_build.py": 69,
    "tests/gates/test_sanitize_targets.py": 68,
    "tests/fuzz/test_fuzz.py[local-19m2]": 67,
    "tests/cli/test_readme.py": 65,
    "tests/fuzz/test_fuzz.py[local]": 65,
    "tests/fuzz/test_fuzz.py::test_planted_bug_found_minimised_and_replayed": 62,
    "tests/sweep/test_sweep.py": 49,
    "tests/cli/test_init.py": 45,
    "tests/nightly/test_html_report.py::test_nightly_html_report_loads_with_every_test_and_true_timelines": 41,
    "tests/nightly/test_nightly.py::test_two_qemu_targets_in_parallel": 40,
    "tests/install/test_install.py::test_init_project_passes_on_local_qemu_and_nightly": 37,
    "tests/install/test_ci_jobs.py::test_github_lab_job_on_a_self_hosted_runner": 37,
    "tests/vm/test_arm64.py::test_nightly_selects_the_arm64_target_by_label": 37,
    "tests/install/test_ci_jobs.py::test_jenkins_lab_job_on_a_root_agent": 32,
    "tests/qvmsim/test_portable.py": 31,
    "tests/faults/test_qemu_faults.py": 30,
    "tests/fuzz/test_fuzz.py::test_broken_invariant_is_a_finding": 30,
    "tests/unit/test_reliability_inputs.py": 29,
    "tests/nightly/test_nightly.py::test_qemu_killed_mid_test_is_an_infrastructure_error": 24,
    "tests/nightly/test_nightly.py::test_qnx_shutdown_banner_is_an_infrastructure_error_on_a_qnx_target": 24,
    "tests/cli/test_quarantine.py": 24,
    "tests/faults/test_nightly_xdist.py::test_a_sigkilled_workers_test_appears_once": 24,
    "tests/unit/test_console_shell.py": 24,
    "tests/unit/test_image.py": 23,
    "tests/nightly/test_nightly.py::test_interrupted_run_writes_report_and_leaves_no_qemu[15]": 23,
    "tests/unit/test_terminal_server.py": 23,
    "tests/nightly/test_nightly.py::test_unreachable_target_errors_every_test_with_the_cause": 22,
    "tests/faults/test_bounded_output.py": 22,
    "tests/nightly/test_nightly.py::test_reports_outside_the_project_with_a_project_definition": 21,
    "tests/install/test_install.py::test_demo_passes": 20,
    "tests/vm/test_qemu.py::test_missing_marker_names_it_with_console_lines": 20,
    "tests/vm/test_qemu.py::test_console_reader_is_used_and_its_failure_reported": 18,
    "tests/labgrid/test_target_check_labgrid.py": 18,
    "tests/faults/test_nightly_xdist.py::test_a_cancelled_two_target_nightly_reports_every_started_test_once": 18,
    "tests/vm/test_qemu.py::test_host_key_is_pinned": 17,
    "tests/unit/test_lease.py": 17,
    "tests/vm/test_qemu.py::test_boot_to_marker_and_ssh": 17,
    "tests/vm/test_targets_on_vm.py": 17,
    "tests/vm/test_target_up_exits.py::test_a_held_console_or_a_dead_sshd_is_said_not_failed": 16,
    "tests/nightly/test_nightly.py::test_interrupted_run_writes_report_and_leaves_no_qemu[2]": 15,
    "tests/faults/test_link_faults.py": 15,
    "tests/vm/test_qemu.py::test_owner_killed_leaves_no_qemu[SIGKILL]": 15,
    "tests/unit/test_rootdir.py": 15,
    "tests/unit/test_report.py": 15,
    "tests/cli/test_console_live.py": 15,
    "tests/vm/test_arm64.py::test_qemu_arm64_up_build_refuse_and_run": 14,
    "tests/nightly/test_html_report.py::test_details_of_passing_tests_load_when_opened": 14,
    "tests/qvmsim/test_bounded_end.py": 14,
    "tests/vm/test_qemu.py::test_two_machines_side_by_side": 14,
    "tests/nightly/test_nightly.py::test_death_string_on_the_console_is_an_infrastructure_error": 14,
    "tests/fuzz/test_fuzz.py::test_hang_is_a_finding": 13,
    "tests/fuzz/test_fuzz.py::test_nightly_fuzzes_each_vdev": 13,
    "tests/cli/test_measure.py": 12,
    "tests/hil/test_lifecycle_and_endings.py[local]": 11,
    "tests/qvmsim/test_builtin_vdevs.py": 11,
    "tests/hil/test_qnx_builtin_vdevs.py[local]": 11,
    "tests/hil/test_qnx_builtin_vdevs.py[local-19m2]": 10,
    "tests/hil/test_lifecycle_and_endings.py[local-19m2]": 10,
    "tests/vm/test_qemu.py::test_owner_killed_leaves_no_qemu[Ctrl-C]": 10,
    "tests/vm/test_qemu.py::test_attach_from_state_stops_a_background_machine": 10,
    "tests/vm/test_target_up_exits.py::test_an_unfinished_snapshot_save_is_cleaned_up": 10,
    "tests/cli/test_html_robust.py": 9,
    "tests/unit/test_reliability.py": 8,
    "tests/unit/test_console_memory.py": 8,
    "tests/vm/test_qemu.py::test_owner_killed_leaves_no_qemu[SIGTERM]": 8,
    "tests/cli/test_cli.py": 8,
    "tests/qvmsim/test_headers.py": 7,
    "tests/sweep/test_sweep.py[local-19m2]": 7,
    "tests/unit/test_ssh.py": 7,
    "tests/cli/test_target_check.py": 7,
    "tests/cli/test_host.py": 6,
    "tests/unit/test_errors.py": 6,
    "tests/vm/test_private_channels.py": 6,
    "tests/vm/test_target_up_exits.py::test_two_target_ups_at_once_start_one_vm_whose_console_is_its_owners": 6,
    "tests/cli/test_session_checks.py": 6,
    "tests/sweep/test_sweep.py[local]": 5,
    "tests/unit/test_layers.py": 5,
}
#: A group not in COST: this many seconds a test.
SECONDS_PER_TEST = 0.5


def _target_of(nodeid: str) -> str | None:
    """The target a HIL test runs on, from its parameter id (``[qemu]``, ``[qemu-arm64-...]``)."""
    if not nodeid.endswith("]"):
        return None
    params = nodeid[nodeid.rfind("[") + 1 : -1]
    for name in sorted((*VM_TARGETS, *LOCAL_TARGETS), key=len, reverse=True):
        if params == name or params.startswith(name + "-"):
            return name
    return None


def group_of(nodeid: str) -> str:
    """The group (xdist scope) of the test ``nodeid``."""
    module = nodeid.split("::", 1)[0]
    target = _target_of(nodeid)
    if target in VM_TARGETS:
        parts = VM_TARGETS[target]
        return f"vm:{target}" if parts == 1 else f"vm:{target}#{sum(module.encode()) % parts}"
    if target is not None:
        return f"{module}[{target}]"
    if module in SPLIT_MODULES:
        return nodeid
    return module


def cost_of(group: str, tests: int) -> float:
    return COST.get(group, tests * SECONDS_PER_TEST)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION,
        action="store_true",
        default=False,
        help="with -n N --dist loadgroup: this repository's groups and order (tests/support/distribution.py)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if not config.getoption("suite_schedule") or config.getvalue("dist") != "loadgroup":
        return None
    return SuiteScheduling(config, log)


#: A worker runs its last test only once it knows the next (or is told to stop): it needs two.
MIN_PENDING = 2
#: A worker holding more than this many seconds of work is busy: its next group will wait.
BUSY_SECONDS = 10.0


class SuiteScheduling:
    """xdist's scheduler protocol (``xdist.scheduler.protocol.Scheduling``) over the suite's groups.

    A worker gets a group as soon as it holds fewer than two pending tests (xdist's worker runs a
    test only once it knows the next one): the first of the queue (the longest) when the worker is
    about to be free, the last (the shortest) when what it holds keeps it busy for a while yet, so
    a long group never waits behind another long one while a worker may be free.  (Taking a group
    back from a worker, xdist's ``steal``, would never apply: a worker's second group is always
    its next test already.)
    """

    def __init__(self, config: pytest.Config, log: Any) -> None:
        from xdist.workermanage import parse_tx_spec_config

        self.numnodes = len(parse_tx_spec_config(config))
        self.config = config
        self.log = log.suitesched if log is not None else (lambda *a: None)
        self.collection: list[str] | None = None
        self.collections: dict[Any, list[str]] = {}
        #: groups not yet sent: (cost, test indices), longest first
        self.queue: list[tuple[float, list[int], int]] = []
        #: per worker, the groups sent to it, each with its tests not yet complete (the first one runs)
        self.held: dict[Any, list[tuple[float, list[int], int]]] = {}

    # -- the protocol ---------------------------------------------------------------------------

    @property
    def nodes(self) -> list[Any]:
        return list(self.held)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.collections) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.queue:
            return False
        return all(self._pending(node) < MIN_PENDING for node in self.held)

    @property
    def has_pending(self) -> bool:
        return bool(self.queue) or any(self._pending(node) for node in self.held)

    def add_node(self, node: Any) -> None:
        assert node not in self.held
        self.held[node] = []

    def add_node_collection(self, node: Any, collection: Any) -> None:
        assert node in self.held
        if self.collection_is_completed and self.collection is not None and list(collection) != self.collection:
            from xdist.report import report_collection_diff

            self.log(report_collection_diff(self.collection, list(collection), "first", node.gateway.id))
            return
        self.collections[node] = list(collection)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        groups = self.held[node]
        for _cost, indices, _size in groups:
            if item_index in indices:
                indices.remove(item_index)
                break
        groups[:] = [g for g in groups if g[1]]
        self._check()

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError()

    def remove_pending_tests_from_node(self, node: Any, indices: Any) -> None:
        raise NotImplementedError()  # never asks a worker to give tests back

    def remove_node(self, node: Any) -> str | None:
        groups = self.held.pop(node)
        crashitem = None
        if groups and self.collection is not None:
            crashitem = self.collection[groups[0][1].pop(0)]
        self.queue[:0] = [g for g in groups if g[1]]
        self._check()
        return crashitem

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:
            self._check()
            return
        collections = list(self.collections.values())
        if any(c != collections[0] for c in collections[1:]):
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = collections[0]
        groups: dict[str, list[int]] = {}
        for index, nodeid in enumerate(self.collection):
            groups.setdefault(group_of(nodeid), []).append(index)
        self.queue = sorted(
            ((cost_of(name, len(indices)), indices, len(indices)) for name, indices in groups.items()),
            key=lambda g: -g[0],
        )
        self._check()

    # -- the policy -----------------------------------------------------------------------------

    def _pending(self, node: Any) -> int:
        return sum(len(indices) for _cost, indices, _size in self.held[node])

    def _remaining(self, node: Any) -> float:
        """The estimated seconds of work ``node`` holds."""
        return sum(cost * len(indices) / size for cost, indices, size in self.held[node])

    def _check(self) -> None:
        if self.collection is None:
            return
        idle = [n for n in self.held if not n.shutting_down and self._pending(n) < MIN_PENDING]
        for node in idle:
            while self.queue and self._pending(node) < MIN_PENDING:
                # a worker busy for a while yet (its last test is a long one) takes the shortest group
                # as its next test: a long group would wait behind it while another worker may be free
                group = self.queue.pop(-1 if self._remaining(node) > BUSY_SECONDS else 0)
                self.held[node].append(group)
                node.send_runtest_some(group[1])
        if not self.queue:
            for node in self.held:
                if not node.shutting_down and self._pending(node) < MIN_PENDING:
                    node.shutdown()  # runs its last test and ends


def costs_from_junit(path: str, at_least: float = 5.0) -> dict[str, float]:
    """The seconds each group took in the run that wrote the JUnit report ``path`` (pytest's own
    ``--junitxml``: a test case's time is its set-up, call and tear-down)."""
    import xml.etree.ElementTree as ET

    seconds: dict[str, float] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        nodeid = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
        group = group_of(nodeid)
        seconds[group] = seconds.get(group, 0.0) + float(case.get("time") or 0)
    return {g: round(t) for g, t in sorted(seconds.items(), key=lambda i: -i[1]) if t >= at_least}


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.support.distribution JUNIT.xml  (prints the COST table)")
    for group, seconds in costs_from_junit(sys.argv[1]).items():
        print(f"    {group!r}: {seconds},")

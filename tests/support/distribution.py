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

#: Modules whose tests are independent of each other and long: one group per test.
SPLIT_MODULES: frozenset[str] = frozenset()

#: Seconds a group took in a serial run here (keys: a group's name as ``group_of`` gives it).
COST: dict[str, float] = {}
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

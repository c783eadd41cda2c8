"""How ``make test`` spreads the suite over xdist workers (tests/support/distribution.py): the
groups, the order, and the scheduler run against simulated workers that behave as xdist's do (a
worker runs a test only once it knows the next one or is told to stop)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import distribution
from tests.support.distribution import COST, SPLIT_MODULES, SuiteScheduling, group_of
from tests.support.paths import REPO

pytestmark = pytest.mark.quick


def test_groups_keep_a_vm_target_together_and_split_the_rest() -> None:
    assert group_of("tests/hil/test_watchdog.py::test_bite[qemu]") == "vm:qemu"
    assert group_of("tests/sweep/test_sweep.py::test_sweep[qemu-wdog]") == "vm:qemu"
    assert group_of("tests/hil/test_watchdog.py::test_bite[qemu-arm64]") == "vm:qemu-arm64"
    assert group_of("tests/hil/test_watchdog.py::test_bite[local]") == "tests/hil/test_watchdog.py[local]"
    assert group_of("tests/hil/test_watchdog.py::test_bite[local-19m2]") == "tests/hil/test_watchdog.py[local-19m2]"
    assert group_of("tests/unit/test_ssh.py::test_run[dash]") == "tests/unit/test_ssh.py"
    assert group_of("tests/unit/test_ssh.py::test_run") == "tests/unit/test_ssh.py"


def test_every_named_module_and_group_exists() -> None:
    for module in SPLIT_MODULES:
        assert (REPO / module).is_file(), f"SPLIT_MODULES names {module}, which does not exist"
    for group in COST:
        if group.startswith("vm:"):
            assert group.split(":", 1)[1].split("#")[0] in distribution.VM_TARGETS, group
            continue
        module, _, test = group.partition("::")
        path = REPO / module.split("[")[0]
        assert path.is_file(), f"COST names {group}: no file {path}"
        if test:
            names = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
            assert test.split("[")[0] in names, f"COST names {group}: no such test"


# -- the scheduler against simulated workers ---------------------------------------------------


@dataclass(eq=False)
class Worker:
    """A simulated xdist worker: runs its queue in order, each test only once the next is known."""

    name: str
    sched: SuiteScheduling | None = None
    queue: list[int] = field(default_factory=list)
    running: int | None = None
    finish_at: float = 0.0
    shutting_down: bool = False
    ran: list[int] = field(default_factory=list)

    @property
    def gateway(self) -> Any:
        return type("G", (), {"id": self.name})()

    def send_runtest_some(self, indices: list[int]) -> None:
        self.queue += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def simulate(nodeids: list[str], durations: list[float], workers: int) -> tuple[float, list[Worker]]:
    sched = SuiteScheduling(_Config(workers), None)  # type: ignore[arg-type]  # a stand-in config
    nodes = [Worker(f"gw{i}", sched) for i in range(workers)]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, nodeids)
    sched.schedule()
    now = 0.0
    for _ in range(100_000):
        for node in nodes:
            if node.running is None and node.queue and (len(node.queue) >= 2 or node.shutting_down):
                node.running = node.queue.pop(0)
                node.finish_at = now + durations[node.running]
        busy = [n for n in nodes if n.running is not None]
        if not busy:
            if sched.tests_finished:
                for node in nodes:
                    node.shutting_down = True
                if not any(n.queue for n in nodes):
                    return now, nodes
                continue
            raise AssertionError(f"deadlock: {[(n.name, n.queue) for n in nodes]}")
        node = min(busy, key=lambda n: n.finish_at)
        now = node.finish_at
        done, node.running = node.running, None
        assert done is not None
        node.ran.append(done)
        sched.mark_test_complete(node, done)
    raise AssertionError("the simulation did not end")


class _Config:
    def __init__(self, workers: int) -> None:
        self.workers = workers

    def getvalue(self, name: str) -> Any:
        return {"tx": None, "numprocesses": self.workers, "dist": "loadgroup"}.get(name)


@pytest.fixture(autouse=True)
def _workers_from_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("xdist.workermanage.parse_tx_spec_config", lambda config: ["popen"] * config.workers)


def test_every_test_runs_once_and_a_vm_target_stays_on_one_worker() -> None:
    nodeids = [f"tests/hil/test_m{m}.py::test_{t}[{target}]" for m in range(3) for t in range(4) for target in
               ("qemu", "local", "qemu-arm64")]  # fmt: skip
    nodeids += [f"tests/unit/test_u{m}.py::test_{t}" for m in range(6) for t in range(5)]
    _end, nodes = simulate(nodeids, [1.0] * len(nodeids), workers=3)
    ran = sorted(i for n in nodes for i in n.ran)
    assert ran == list(range(len(nodeids)))
    for target in ("qemu", "qemu-arm64"):
        holders = {n.name for n in nodes for i in n.ran if nodeids[i].endswith(f"[{target}]")}
        assert len(holders) == 1, (target, holders)


def test_long_groups_spread_over_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    # four independent long tests of one module (a group each) and eight modules of short ones, on two workers:
    # the best order ends at 2 x 100 s plus the short ones shared
    module = "tests/install/test_long.py"
    monkeypatch.setattr(distribution, "SPLIT_MODULES", frozenset({module}))
    monkeypatch.setattr(distribution, "COST", {f"{module}::test_{i}": 100.0 for i in range(4)})
    nodeids = [f"{module}::test_{i}" for i in range(4)] + [f"tests/unit/test_s{i % 8}.py::test_{i}" for i in range(40)]
    durations = [100.0] * 4 + [1.0] * 40
    end, nodes = simulate(nodeids, durations, workers=2)
    assert sorted(i for n in nodes for i in n.ran) == list(range(len(nodeids)))
    assert end <= 221.0, end
    # with three workers: the long ones spread, the fourth after a first one and a short group (5 s)
    end, nodes = simulate(nodeids, durations, workers=3)
    assert end <= 211.0, end


def test_a_worker_on_a_long_test_takes_a_short_group_as_its_next(monkeypatch: pytest.MonkeyPatch) -> None:
    # three long tests on three workers: each worker takes one, and as the test it runs next (xdist
    # needs one) a short group, never a second long one that would then wait 100 s behind the first
    module = "tests/install/test_long.py"
    monkeypatch.setattr(distribution, "SPLIT_MODULES", frozenset({module}))
    monkeypatch.setattr(distribution, "COST", {f"{module}::test_{i}": 100.0 for i in range(3)})
    nodeids = [f"{module}::test_{i}" for i in range(3)] + [f"tests/unit/test_s{i % 8}.py::test_{i}" for i in range(40)]
    end, nodes = simulate(nodeids, [100.0] * 3 + [1.0] * 40, workers=3)
    assert sorted(i for n in nodes for i in n.ran) == list(range(len(nodeids)))
    assert end <= 120.0, end
    assert all(sum(1 for i in n.ran if i < 3) == 1 for n in nodes), [n.ran for n in nodes]

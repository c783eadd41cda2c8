"""The nightly's xdist scheduler (one scope per target) through the sequence xdist's controller drives when two
workers are SIGKILLed at once: each replacement is scheduled once it has collected, every test runs, nothing
raises (xdist 3.8's LoadScopeScheduling raised KeyError here: an INTERNALERROR ending the night)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import pytest
from xdist.remote import Producer

pytest_plugins = ["pytester"]

# imported before pytester's snapshot of sys.modules, which would drop them after the test (a later test's
# monkeypatch of them would then patch a module no longer the one imported)
for _module in ("xdist.scheduler.loadscope", "xdist.workermanage"):
    importlib.import_module(_module)

TESTS = ["test_inner.py::test_victim[boxa]", "test_inner.py::test_after[boxa]",
         "test_inner.py::test_victim[boxb]", "test_inner.py::test_after[boxb]"]  # fmt: skip


@dataclass(eq=False)
class Worker:
    """What the scheduler uses of xdist's WorkerController: its name, the tests sent, whether told to stop."""

    name: str
    sent: list[str] = field(default_factory=list)
    shutting_down: bool = False

    @property
    def gateway(self) -> Worker:  # its id names it in xdist's collection checks
        return self

    @property
    def id(self) -> str:
        return self.name

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += [TESTS[i] for i in indices]

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(pytester: pytest.Pytester) -> object:
    for box in ("boxa", "boxb"):
        pytester.makefile(".toml", **{box: f'name = "{box}"\nkind = "local"\n'})
    config = pytester.parseconfigure(
        "-p", "no:labgrid", "-p", "no:cacheprovider", "-p", "xdist", "--tx", "2*popen", "--dist", "loadgroup",
        "--hil-target", "boxa.toml", "--hil-target", "boxb.toml",
    )  # fmt: skip
    return config.hook.pytest_xdist_make_scheduler(config=config, log=Producer("test"))


def _join(sched: object, worker: Worker) -> None:
    sched.add_node(worker)  # type: ignore[attr-defined]


def _collected(sched: object, worker: Worker) -> None:
    sched.add_node_collection(worker, TESTS)  # type: ignore[attr-defined]
    if sched.collection_is_completed:  # type: ignore[attr-defined]  # as xdist's DSession.worker_collectionfinish
        sched.schedule()  # type: ignore[attr-defined]


def _run_all(sched: object, worker: Worker) -> None:
    for nodeid in list(worker.sent):
        sched.mark_test_complete(worker, TESTS.index(nodeid))  # type: ignore[attr-defined]


def test_two_workers_killed_at_once_every_test_still_runs(pytester: pytest.Pytester) -> None:
    sched = _scheduler(pytester)
    assert type(sched).__name__ == "TargetScopeScheduling"
    gw0, gw1 = Worker("gw0"), Worker("gw1")
    for w in (gw0, gw1):
        _join(sched, w)
    for w in (gw0, gw1):
        _collected(sched, w)
    assert sorted(gw0.sent + gw1.sent) == sorted(TESTS)  # one target each
    assert {t[-5:-1] for t in gw0.sent} != {t[-5:-1] for t in gw1.sent}

    # both die in their first test; xdist removes each and starts a replacement, which joins at once
    gw2, gw3 = Worker("gw2"), Worker("gw3")
    crashed = [sched.remove_node(gw0)]  # type: ignore[attr-defined]
    _join(sched, gw2)
    crashed.append(sched.remove_node(gw1))  # type: ignore[attr-defined]
    _join(sched, gw3)
    assert sorted(crashed) == ["test_inner.py::test_victim[boxa]", "test_inner.py::test_victim[boxb]"]

    # the second replacement collects first: the first (no collection yet) is left for its own turn
    _collected(sched, gw3)
    _collected(sched, gw2)
    _run_all(sched, gw3)
    _run_all(sched, gw2)
    assert sorted(gw2.sent + gw3.sent) == sorted(TESTS)  # each target's tests, the crashed ones again
    assert sched.tests_finished  # type: ignore[attr-defined]

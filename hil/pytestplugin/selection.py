"""Which targets each test runs on: one parametrization per selected target (``hil_kinds``), one xdist scope each."""

from __future__ import annotations

import pytest

from hil.pytestplugin.pool import POOL_KEY


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_hil_target_name" not in metafunc.fixturenames:
        return
    pool = metafunc.config.stash[POOL_KEY]
    names = list(pool.definitions)
    marker = metafunc.definition.get_closest_marker("hil_kinds")
    if marker is not None:
        names = [n for n in names if pool.definitions[n].kind in marker.args]
    metafunc.parametrize("_hil_target_name", names, ids=names, scope="session", indirect=True)


#: The start of a quarantined test's xfail reason (and so of its report message).
QUARANTINED = "quarantined"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A hil_kinds test none of whose kinds is selected is deselected (pytest would report the empty
    # parametrization as a skip); one xdist group per target: with --dist loadgroup each worker
    # binds to one target.
    kept: list[pytest.Item] = []
    unselected: list[pytest.Item] = []
    for item in items:
        quarantine = item.get_closest_marker("hil_quarantine")
        if quarantine is not None:
            # runs and is reported, never fails the run: its failure (an AssertionError: the vdev
            # misbehaving) is an expected one; an infrastructure or set-up error stays an error
            reason = quarantine.kwargs.get("reason") or (quarantine.args[0] if quarantine.args else "")
            item.add_marker(
                pytest.mark.xfail(reason=f"{QUARANTINED}: {reason}".rstrip(": "), strict=False, raises=AssertionError)
            )
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "_hil_target_name" in callspec.params:
            name = callspec.params["_hil_target_name"]
            if not isinstance(name, str):  # pytest's NOTSET: no selected target has one of its kinds
                unselected.append(item)
                continue
            item.add_marker(pytest.mark.xdist_group(name))
        kept.append(item)
    if unselected:
        config.hook.pytest_deselected(items=unselected)
        items[:] = kept


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With ``--dist loadgroup``: xdist's own scope scheduler, one scope per target.

    (pytest-xdist's ``xdist_group`` marks rename node ids, which pytest >= 9.2 no longer
    allows; so the scope is read from the target in the test id instead.)
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    names = sorted(config.stash[POOL_KEY].definitions, key=len, reverse=True)

    class TargetScopeScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            params = nodeid[nodeid.rfind("[") + 1 : -1] if nodeid.endswith("]") else ""
            for name in names:
                if params == name or params.startswith(name + "-"):
                    return f"hil-target:{name}"
            return str(super()._split_scope(nodeid))

        def _reschedule(self, node: object) -> None:
            # Two workers crashed (SIGKILL, the OOM killer): when one replacement has collected, xdist 3.8
            # reschedules every node, the other replacement too before its collection is in, and its
            # LoadScopeScheduling fails with KeyError (an INTERNALERROR: the rest of the night unrun).  A
            # node without its collection is scheduled once it has sent it (xdist calls schedule() again).
            if node in self.registered_collections:
                super()._reschedule(node)

    return TargetScopeScheduling(config, log)

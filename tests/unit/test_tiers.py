"""The quick tier (``make quick``): what it holds, and that a quick test starting a process fails."""

from __future__ import annotations

import ast
import subprocess

import pytest

from tests.support.paths import REPO
from tests.support.tiers import QUICK_MODULES, ProcessInQuickTier

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.quick


def test_every_listed_module_and_exclusion_exists() -> None:
    for module, excluded in QUICK_MODULES.items():
        path = REPO / module
        assert path.is_file(), f"QUICK_MODULES names {module}, which does not exist"
        tree = ast.parse(path.read_text())
        tests = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
        assert excluded <= tests, f"{module}: QUICK_MODULES excludes tests it does not have: {excluded - tests}"
        assert tests - excluded, f"{module}: every test is excluded; drop the module from QUICK_MODULES"


def test_a_quick_test_is_refused_a_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
        import os, subprocess, pytest

        @pytest.mark.quick
        def test_spawns():
            subprocess.run(["true"])

        @pytest.mark.quick
        def test_forks():
            os.fork()

        @pytest.mark.quick
        def test_pure():
            assert sum(range(4)) == 6

        def test_not_quick_may_spawn():
            pass
        """
    )
    plugins = ("-p", "no:qnx_hil", "-p", "no:labgrid", "-p", "no:cacheprovider", "-p", "tests.support.tiers")
    result = pytester.runpytest_inprocess(*plugins, "-m", "quick", "-q")
    result.assert_outcomes(passed=1, failed=2, deselected=1)
    result.stdout.fnmatch_lines(["*ProcessInQuickTier: a test marked @pytest.mark.quick started a process*true*"])
    # this test is quick too: the inner session's tests restored this test's guard, not the bare Popen
    assert "refuse" in subprocess.Popen.__init__.__qualname__


def test_this_test_runs_under_the_rule() -> None:
    with pytest.raises(ProcessInQuickTier, match=r"subprocess.Popen.*quick tier"):
        subprocess.run(["true"], check=False)

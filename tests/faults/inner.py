"""The inner suite of the fault matrix (copied into a fresh folder as a test file and a conftest).

``HIL_FAULT_PHASE`` names where the run waits to be cancelled: when it gets there it writes
``HIL_FAULT_MARK`` and blocks in the real code path (a deploy, qvm's wait, a teardown), and the
outer test sends the signal.
"""

CONFTEST = """
import os, time
from pathlib import Path

import pytest

PHASE = os.environ.get("HIL_FAULT_PHASE", "")
MARK = Path(os.environ.get("HIL_FAULT_MARK", "/nonexistent"))


def arrive(phase, block=True):
    if phase == PHASE and not MARK.exists():
        MARK.write_text(phase)
        if block:
            time.sleep(120)  # the signal arrives here, inside the real code path below


def pytest_configure(config):
    from hil import orchestrate
    from hil.qvmrun.runner import QvmSession
    from hil.targets.deploy import Deployment

    bring_up, put_file, cleanup, wait = orchestrate.bring_up, Deployment.put_file, Deployment.cleanup, QvmSession.wait

    def boot(target, *args, **kwargs):
        arrive("boot")
        return bring_up(target, *args, **kwargs)

    def deploy(self, *args, **kwargs):
        arrive("deploy")
        return put_file(self, *args, **kwargs)

    def teardown(self, *args, **kwargs):
        arrive("teardown")
        return cleanup(self, *args, **kwargs)

    def qvm_wait(self, *args, **kwargs):
        arrive("run", block=False)  # the signal arrives in the real wait for qvm's end
        return wait(self, *args, **kwargs)

    import hil.pytestplugin.pool as pool
    pool.bring_up = boot
    Deployment.put_file, Deployment.cleanup, QvmSession.wait = deploy, teardown, qvm_wait
"""

TESTS = """
import os
from pathlib import Path

from hil.qvm import QvmConfig

GUEST = Path({guest!r})


def test_victim(hil_qvm, hil_vdev):
    wdog = hil_vdev({wdog!r})
    config = QvmConfig("vm").vdev(wdog, loc=0x1C0F0000, timeout=500).load(GUEST)
    if os.environ.get("HIL_FAULT_PHASE") == "start":
        with hil_qvm.start(config, timeout=120) as vm:
            Path(os.environ["HIL_FAULT_MARK"]).write_text("start")
            vm.wait_stdout("never appears", timeout=120)
    else:
        hil_qvm.run(config, timeout=120)


def test_after(hil_target):
    pass  # a cancelled run never gets here
"""

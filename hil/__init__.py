"""qnx-hil: hardware-in-the-loop tests for QNX Hypervisor vdevs.

A test author's names, all importable from here::

    from hil import Exit, QvmConfig, QvmRunner, DeployedVdev

the qvm model (``QvmConfig``, ``Exit``, ``QvmResult``, ``QvmLog``, ...), the running side
(``QvmRunner``, ``QvmSession``, ``GuestControl``, ``SweepReport``, ``FuzzReport``), the types
of the pytest fixtures (``hil_target``: ``Target``, ``hil_vdev``: ``VdevBuilder`` returning a
``DeployedVdev``, ``hil_qvm``: ``QvmRunner``, ``hil_sweep``: ``Sweeper``, ``hil_fuzz``:
``Fuzzer``, ``hil_console``: ``ConsoleSlice``, ``hil_ssh``: ``SshConnection``,
``hil_deployment``: ``Deployment``, ``hil_measure``: ``MeasureRecorder``), a report writer's
names (``Writer``, ``register_writer``, the ``RunRecord`` it writes) and the errors.
Each is imported on first use (PEP 562), so ``import hil`` (every ``hil`` command) stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (type checkers treat the name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hil.core.command import CommandResult
    from hil.core.errors import (
        CommandFailed,
        CommandTimeout,
        ConfigError,
        DeviceFailure,
        ExpectTimeout,
        FailPatternSeen,
        HilError,
        InfrastructureError,
        SetupError,
        TransportClosed,
        WaitTimeout,
    )
    from hil.core.signals import signal_name
    from hil.links.console import ConsoleMatch
    from hil.links.ssh import SshConnection
    from hil.pytestplugin.fixtures import ConsoleSlice
    from hil.pytestplugin.measure import Measurement, MeasureRecorder
    from hil.pytestplugin.results import CaseResult, RunRecord
    from hil.pytestplugin.vdevs import DeployedVdev, Fuzzer, Sweeper, VdevBuilder
    from hil.pytestplugin.writers import Writer, WriterOptions, register_writer
    from hil.qvm.config import QvmConfig
    from hil.qvm.crash import Crash
    from hil.qvm.exitcodes import Exit, ExitTable
    from hil.qvm.log import LogLine, QvmLog
    from hil.qvm.result import QvmResult
    from hil.qvmrun.fuzz import FuzzReport
    from hil.qvmrun.guest import GuestControl
    from hil.qvmrun.runner import QvmEnded, QvmRunner, QvmSession
    from hil.qvmrun.sweep import SweepReport
    from hil.targets.base import Target
    from hil.targets.deploy import Deployment

#: Where each public name lives: imported on first use.
_HOMES = {
    # the qvm model
    "QvmConfig": "hil.qvm.config",
    "Exit": "hil.qvm.exitcodes",
    "ExitTable": "hil.qvm.exitcodes",
    "QvmResult": "hil.qvm.result",
    "QvmLog": "hil.qvm.log",
    "LogLine": "hil.qvm.log",
    "Crash": "hil.qvm.crash",
    # running qvm
    "QvmRunner": "hil.qvmrun.runner",
    "QvmSession": "hil.qvmrun.runner",
    "QvmEnded": "hil.qvmrun.runner",
    "GuestControl": "hil.qvmrun.guest",
    "SweepReport": "hil.qvmrun.sweep",
    "FuzzReport": "hil.qvmrun.fuzz",
    # what the fixtures hand out
    "Target": "hil.targets.base",
    "Deployment": "hil.targets.deploy",
    "DeployedVdev": "hil.pytestplugin.vdevs",
    "VdevBuilder": "hil.pytestplugin.vdevs",
    "Sweeper": "hil.pytestplugin.vdevs",
    "Fuzzer": "hil.pytestplugin.vdevs",
    "ConsoleSlice": "hil.pytestplugin.fixtures",
    "ConsoleMatch": "hil.links.console",
    "SshConnection": "hil.links.ssh",
    "CommandResult": "hil.core.command",
    "MeasureRecorder": "hil.pytestplugin.measure",
    "Measurement": "hil.pytestplugin.measure",
    # a report writer of your own (hil.pytestplugin.writers)
    "Writer": "hil.pytestplugin.writers",
    "WriterOptions": "hil.pytestplugin.writers",
    "register_writer": "hil.pytestplugin.writers",
    "RunRecord": "hil.pytestplugin.results",
    "CaseResult": "hil.pytestplugin.results",
    # the errors
    "HilError": "hil.core.errors",
    "InfrastructureError": "hil.core.errors",
    "SetupError": "hil.core.errors",
    "ConfigError": "hil.core.errors",
    "TransportClosed": "hil.core.errors",
    "DeviceFailure": "hil.core.errors",
    "ExpectTimeout": "hil.core.errors",
    "FailPatternSeen": "hil.core.errors",
    "CommandFailed": "hil.core.errors",
    "CommandTimeout": "hil.core.errors",
    "WaitTimeout": "hil.core.errors",
    # helpers
    "signal_name": "hil.core.signals",
}

__all__ = [
    "CaseResult",
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "ConfigError",
    "ConsoleMatch",
    "ConsoleSlice",
    "Crash",
    "DeployedVdev",
    "Deployment",
    "DeviceFailure",
    "Exit",
    "ExitTable",
    "ExpectTimeout",
    "FailPatternSeen",
    "FuzzReport",
    "Fuzzer",
    "GuestControl",
    "HilError",
    "InfrastructureError",
    "LogLine",
    "MeasureRecorder",
    "Measurement",
    "QvmConfig",
    "QvmEnded",
    "QvmLog",
    "QvmResult",
    "QvmRunner",
    "QvmSession",
    "RunRecord",
    "SetupError",
    "SshConnection",
    "SweepReport",
    "Sweeper",
    "Target",
    "TransportClosed",
    "VdevBuilder",
    "WaitTimeout",
    "Writer",
    "WriterOptions",
    "register_writer",
    "signal_name",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hil' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})

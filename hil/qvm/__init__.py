"""The pure-Python model of a qvm run: its config, its log, its exit, its result.

``QvmConfig`` renders ``.qvmconf`` text, ``QvmLog`` parses qvm's log,
``Exit``/``ExitTable`` decode how it ended, ``QvmResult`` holds one run and
asserts on it.  No I/O here beyond reading ``.qvmconf`` files: this layer imports
only ``hil.core`` (``tests/unit/test_layers.py``); running qvm on a target is
``hil.qvmrun``.
"""

from __future__ import annotations

from hil.core.signals import signal_name, signal_number, split_shell_status
from hil.qvm.config import QvmConfig
from hil.qvm.confparse import ConfContext, ConfOption, ParsedConf, parse_qvmconf
from hil.qvm.confvocab import LOGGER_DESTS, LOGGER_FILTERS, SET_VARIABLES
from hil.qvm.exitcodes import (
    INFERRED,
    SIGNAL_EFFECTS,
    Evidence,
    Exit,
    ExitTable,
    decode,
)
from hil.qvm.log import LEVELS, ConfigFault, LogLine, QvmLog, Termination, parse_line, parse_log
from hil.qvm.result import QvmResult

__all__ = [
    "INFERRED",
    "LEVELS",
    "LOGGER_DESTS",
    "LOGGER_FILTERS",
    "SET_VARIABLES",
    "SIGNAL_EFFECTS",
    "ConfContext",
    "ConfOption",
    "ConfigFault",
    "Evidence",
    "Exit",
    "ExitTable",
    "LogLine",
    "ParsedConf",
    "QvmConfig",
    "QvmLog",
    "QvmResult",
    "Termination",
    "decode",
    "parse_line",
    "parse_log",
    "parse_qvmconf",
    "signal_name",
    "signal_number",
    "split_shell_status",
]

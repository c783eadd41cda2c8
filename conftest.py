"""Wires this repository's suite to the qnx-hil plugin.

The plugin itself is installed with the package (``pytest11`` entry point
``qnx_hil``); this file only makes the repository root importable, so every
test imports its shared helpers one way: ``from tests.support.<module> import ...``
(pytest's default import mode puts this file's folder on ``sys.path``; it is
done here explicitly too, for ``--import-mode=importlib`` and runs from another
folder).  Which targets the HIL suite runs on by default is set in
pyproject.toml (``hil_targets``); override it with ``--hil-target``.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

# The suite's qemu targets are private VMs: a 'hil target up' VM someone left running on this
# machine is not attached to (tests of attaching clear this themselves).
os.environ.setdefault("HIL_PRIVATE_VM", "1")

# Started as a background job of a non-interactive shell (`make test &` in a script, some CI wrappers),
# this process inherits SIGINT ignored, and so would every process the suite starts: its Ctrl-C tests
# (a cancelled run, an interrupted shell on a console) need the default.  Set here, before xdist starts
# its workers, so they and every inner pytest, shell and qvm start with SIGINT as a terminal gives it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_ROOT = str(Path(__file__).resolve().parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# The quick tier's rule (``@pytest.mark.quick``: no processes), enforced while those tests run.
pytest_plugins = ["tests.support.tiers", "tests.support.distribution"]

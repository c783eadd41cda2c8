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
import sys
from pathlib import Path

# The suite's qemu targets are private VMs: a 'hil target up' VM someone left running on this
# machine is not attached to (tests of attaching clear this themselves).
os.environ.setdefault("HIL_PRIVATE_VM", "1")

_ROOT = str(Path(__file__).resolve().parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# The quick tier's rule (``@pytest.mark.quick``: no processes), enforced while those tests run.
pytest_plugins = ["tests.support.tiers", "tests.support.distribution"]

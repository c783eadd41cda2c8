"""The ``hil`` command line (``hil.cli.main``), nightly runs and project scaffolding."""

from hil.cli.main import main

__all__ = ["main"]

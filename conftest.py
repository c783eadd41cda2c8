"""Wires this repository's suite to the qnx-hil plugin.

The plugin itself is installed with the package (``pytest11`` entry point
``qnx_hil``); this file only makes the repository root importable, so test
modules can share ``tests.*`` helpers.  Which targets the HIL suite runs on by
default is set in pyproject.toml (``hil_targets``); override it with
``--hil-target``.
"""

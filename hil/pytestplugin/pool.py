"""The session's targets: each made and brought up on first use, brought back after an infrastructure error."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hil.core import cancel
from hil.core.errors import HilError, InfrastructureError, SetupError
from hil.core.inputs import safe_name
from hil.orchestrate import bring_up
from hil.targets import Target, make_target
from hil.targets.definition import TargetDefinition


@dataclass
class TargetPool:
    """The session's targets: created on first use, brought back after infrastructure failures."""

    artifacts: Path
    definitions: dict[str, TargetDefinition]
    targets: dict[str, Target] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    needs_reset: set[str] = field(default_factory=set)
    #: seconds the latest bring-up of each target took, until a test claims them (``take_setup``)
    setup_seconds: dict[str, float] = field(default_factory=dict)
    #: the session's ``--hil-sanitize``: what it needs on the host is made before a target is brought up
    sanitize: tuple[str, ...] = ()
    #: the set-up error of a target whose gates this host cannot make (each of its tests gets it, no retry)
    unprepared: dict[str, SetupError] = field(default_factory=dict)

    def take_setup(self, name: str) -> float:
        """Seconds spent bringing ``name`` up since the last call (0.0 when it was already up)."""
        return self.setup_seconds.pop(name, 0.0)

    def get(self, name: str) -> Target:
        """The target named ``name``, up and healthy, or an ``InfrastructureError``."""
        reason = cancel.requested()
        if reason is not None:  # never boot or reset a target for a cancelled run
            raise cancel.Cancelled(f"cancelled by {reason}")
        if name in self.broken:
            raise InfrastructureError(f"target '{name}' is unavailable: {self.broken[name]}")
        target = self.targets.get(name)
        if target is not None and name in self.needs_reset:
            self.needs_reset.discard(name)
            if not target.healthy():
                self._bring_up(name, target, reset=True)
            return target
        if target is None:
            self._prepare(name)
            target = make_target(self.definitions[name], self.artifacts / safe_name(name) / "target")
            self.targets[name] = target
            self._bring_up(name, target, reset=False)
            from hil.targets.deploy import cleanup_stale

            cleanup_stale(target)
        return target

    def _prepare(self, name: str) -> None:
        """Make on the host what the quality gates need for target ``name`` (the sanitizer qvm of its
        architecture and runtime), before it is brought up: a SetupError that no retry fixes."""
        from hil.qvmrun.gates import Gates

        if name not in self.unprepared:
            definition = self.definitions[name]
            try:
                Gates.for_definition(definition, False, self.sanitize).prepare(definition)
                return
            except SetupError as exc:
                self.unprepared[name] = exc
        raise self.unprepared[name]

    def _bring_up(self, name: str, target: Target, reset: bool) -> None:
        started = time.monotonic()
        try:
            bring_up(target, reset=reset)
            self.setup_seconds[name] = self.setup_seconds.get(name, 0.0) + time.monotonic() - started
        except HilError as exc:
            self.failures[name] = self.failures.get(name, 0) + 1
            target.down()
            self.targets.pop(name, None)
            if self.failures[name] >= 2:
                self.broken[name] = f"{exc} (gave up after {self.failures[name]} attempts)"
            raise

    def release(self, name: str) -> None:
        target = self.targets.pop(name, None)
        if target is not None:
            from hil.targets.deploy import flush_cleanups

            flush_cleanups(target)  # the folders of the last tests (their clean-up was deferred)
            target.down()

    def close(self) -> None:
        for name in list(self.targets):
            self.release(name)


POOL_KEY = pytest.StashKey[TargetPool]()
#: the name of the target a test uses (set by ``hil_target``)
TARGET_KEY = pytest.StashKey[str]()

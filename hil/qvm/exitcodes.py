"""Why a qvm process ended: the contract's exit table (§4) as an enum and a lookup table.

``Exit`` names every way a qvm run can end, including the framework's own
outcomes (killed by a signal, hung, unknown).  ``ExitTable`` maps a numeric exit
status to an ``Exit``; ``ExitTable.default()`` is the contract's table and
``with_overrides()`` applies a target definition's corrections for the rows a
real board may read differently (the [inferred] ones, listed in ``INFERRED``).

Signals: a run killed by a signal has no exit status; ``hil.core.signals``
names it (``signal_name``), in the target OS's numbering.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hil.core.errors import ConfigError


class Evidence(enum.Enum):
    """How sure the contract is of a row: its evidence tag (the contract's "Marks")."""

    DOC = "[doc]"  # stated by QNX's documentation
    INFERRED = "[inferred]"  # our reading, unverified on hardware
    FRAMEWORK = "[framework]"  # not a qvm promise: the framework's own classification

    def __str__(self) -> str:
        return self.value


class Exit(enum.Enum):
    """Why a qvm run ended.

    The value is the lower-case key used in target definitions
    (``exit_overrides = { watchdog = 3 }``); each member also carries a one-line
    ``description`` and its contract ``evidence`` tag.
    """

    NORMAL = (
        "normal",
        "normal shutdown or restart request (also: the guest shut down after the power button, SIGTERM/SIGINT)",
        Evidence.DOC,
    )
    POWER_CUT = (
        "power_cut",
        "power cut: the guest stopped as if unplugged (SIGQUIT; qvmsim: also a second "
        "SIGTERM/SIGINT while the guest ignores the power button)",
        Evidence.DOC,
    )
    WATCHDOG = (
        "watchdog",
        "watchdog-triggered termination",
        Evidence.INFERRED,
    )
    UNSUPPORTED = (
        "unsupported",
        "unsupported operation with action abort (e.g. 'unsupported reference abort')",
        Evidence.DOC,
    )
    VDEV_ERROR = ("vdev_error", "unexpected vdev error", Evidence.DOC)
    UNEXPECTED = ("unexpected", "unexpected error", Evidence.DOC)
    CUSTOM = ("custom", "user-defined: a vdev's own termination cause (GTC_CUSTOM_MIN..GTC_MAX)", Evidence.DOC)
    FATAL_BEFORE_START = ("fatal_before_start", "fatal error before the guest started", Evidence.DOC)
    FATAL_CONFIG = ("fatal_config", "fatal configuration error", Evidence.DOC)
    FATAL_AFTER_START = ("fatal_after_start", "fatal error after the guest started", Evidence.DOC)
    KILLED_BY_SIGNAL = (
        "killed_by_signal",
        "killed by a signal: no exit status (e.g. a vdev crashed qvm)",
        Evidence.DOC,
    )
    HUNG = ("hung", "outlived its timeout and was stopped by the framework's escalation", Evidence.FRAMEWORK)
    UNKNOWN = ("unknown", "exit status not in this target's exit table", Evidence.FRAMEWORK)

    description: str
    evidence: Evidence

    def __new__(cls, key: str, description: str, evidence: Evidence) -> Exit:
        obj = object.__new__(cls)
        obj._value_ = key
        obj.description = description
        obj.evidence = evidence
        return obj

    @property
    def key(self) -> str:
        """The lower-case name used in target definitions, e.g. ``"watchdog"``."""
        return str(self.value)

    @classmethod
    def parse(cls, name: str) -> Exit:
        """``"watchdog"``, ``"WATCHDOG"`` or ``"Exit.WATCHDOG"`` -> ``Exit.WATCHDOG`` (ValueError otherwise)."""
        key = name.strip().removeprefix("Exit.").lower().replace("-", "_")
        for member in cls:
            if member.value == key:
                return member
        allowed = ", ".join(e.key for e in cls)
        raise ValueError(f"unknown exit reason {name!r}; allowed: {allowed}")


#: The contract's rows a board may read differently, with why: the one place
#: they are named.  ``ExitTable.with_overrides`` corrects them per target.
INFERRED: Mapping[Exit, str] = {
    Exit.WATCHDOG: (
        "the exit-code page says 4, the watchdog pages describe the bite as SIGQUIT (= 3); "
        "default 4 until measured on a board"
    ),
    Exit.CUSTOM: "guest_terminate(cause) exits with the cause as status (inferred from the matching ranges)",
}
# Also [inferred], but about what *produces* a documented status rather than
# what a status means (so not table rows): a vdev refusing its options and
# qvm_fatal(QLS_CNF, ...) -> 65; other qvm_fatal sources -> 64 before the guest
# starts, 96 after.  Tests that expect these say so.

#: Exit reasons that have an exit status (and may be overridden per target).
STATUS_REASONS: tuple[Exit, ...] = (
    Exit.NORMAL,
    Exit.POWER_CUT,
    Exit.WATCHDOG,
    Exit.UNSUPPORTED,
    Exit.VDEV_ERROR,
    Exit.UNEXPECTED,
    Exit.CUSTOM,
    Exit.FATAL_BEFORE_START,
    Exit.FATAL_CONFIG,
    Exit.FATAL_AFTER_START,
)

#: GTC_CUSTOM_MIN .. GTC_MAX, inclusive [doc].
CUSTOM_RANGE = range(32, 64)

_DEFAULT_ROWS: tuple[tuple[int, Exit], ...] = (
    (0, Exit.NORMAL),
    (3, Exit.POWER_CUT),
    (4, Exit.WATCHDOG),
    (5, Exit.UNSUPPORTED),
    (6, Exit.VDEV_ERROR),
    (7, Exit.UNEXPECTED),
    *((n, Exit.CUSTOM) for n in CUSTOM_RANGE),
    (64, Exit.FATAL_BEFORE_START),
    (65, Exit.FATAL_CONFIG),
    (96, Exit.FATAL_AFTER_START),
)

#: A target definition's overrides: ``{"watchdog": 3}`` or ``{"3": "watchdog"}`` (or both).
OverrideMapping = Mapping[str, object] | Mapping[int, object] | Mapping[int | str, object]

_OVERRIDE_HELP = (
    "write either REASON = STATUS (an integer 0..255, or a list of them), e.g. watchdog = 3, "
    'or "STATUS" = "REASON", e.g. "3" = "watchdog" (REASON "unknown" removes a status)'
)


@dataclass(frozen=True)
class ExitTable:
    """Exit status -> ``Exit`` for one target.

    ``rows`` is sorted by status; statuses not in it decode as ``Exit.UNKNOWN``.
    ``overrides`` records the rows a target definition changed (for reports).
    """

    rows: tuple[tuple[int, Exit], ...] = _DEFAULT_ROWS
    overrides: tuple[tuple[int, Exit], ...] = ()

    @classmethod
    def default(cls) -> ExitTable:
        """The contract's table (§4), watchdog = 4."""
        return cls()

    def lookup(self, status: int) -> Exit:
        """The reason for exit status ``status`` (``Exit.UNKNOWN`` if not in the table)."""
        for row_status, reason in self.rows:
            if row_status == status:
                return reason
        return Exit.UNKNOWN

    def statuses_for(self, reason: Exit) -> tuple[int, ...]:
        """Every status that decodes as ``reason`` on this target (empty for signal/hung/unknown)."""
        return tuple(s for s, r in self.rows if r is reason)

    def as_dict(self) -> dict[int, Exit]:
        """The table as a plain dict."""
        return dict(self.rows)

    def with_overrides(self, mapping: OverrideMapping, source: str = "exit_overrides") -> ExitTable:
        """A copy with a target's corrections applied.

        Two spellings, both easy in TOML, may be mixed:

        * ``REASON = STATUS``: ``watchdog = 3`` (or ``watchdog = [3, 4]``) makes
          exactly these statuses mean REASON; its old statuses become unknown
          unless another entry claims them.
        * ``"STATUS" = "REASON"``: ``"3" = "watchdog"``; ``"unknown"`` removes a row.

        Bad keys or values raise ``ConfigError`` naming ``source``, the key and
        what is allowed; two entries giving one status two reasons is an error too.
        """
        table = dict(self.rows)
        assigned: dict[int, tuple[Exit, str]] = {}
        items: list[tuple[int | str, object]] = list(mapping.items())
        for raw_key, raw_value in items:
            key = str(raw_key).strip()
            if _is_status_key(raw_key):
                status = _status(int(key), source, key)
                reason = _reason(raw_value, source, key)
                _assign(assigned, status, reason, source, key)
                continue
            try:
                reason = Exit.parse(key)
            except ValueError:
                allowed = ", ".join(r.key for r in STATUS_REASONS)
                raise ConfigError(
                    f"unknown exit reason; allowed reasons: {allowed}, or a status number; {_OVERRIDE_HELP}",
                    source,
                    key,
                ) from None
            if reason not in STATUS_REASONS:
                raise ConfigError(
                    f"{reason.key!r} has no exit status and cannot be overridden; {_OVERRIDE_HELP}", source, key
                )
            statuses = _statuses(raw_value, source, key)
            for old in [s for s, r in table.items() if r is reason]:
                del table[old]
            for status in statuses:
                _assign(assigned, status, reason, source, key)
        changed: dict[int, Exit] = dict(self.overrides)
        for status, (reason, _) in assigned.items():
            if reason is Exit.UNKNOWN:
                table.pop(status, None)
            else:
                table[status] = reason
            changed[status] = reason
        return ExitTable(tuple(sorted(table.items())), tuple(sorted(changed.items())))

    def decode(self, status: int | None, signal: int | str | None = None, hung: bool = False) -> Exit:
        """Why a run ended: ``HUNG`` if the framework stopped it, ``KILLED_BY_SIGNAL`` if a
        signal killed it, else the table's row for ``status`` (``UNKNOWN`` if none)."""
        if hung:
            return Exit.HUNG
        if signal is not None and signal != "" and signal != 0:
            return Exit.KILLED_BY_SIGNAL
        if status is None:
            return Exit.UNKNOWN
        return self.lookup(status)

    def describe(self) -> str:
        """A readable table, one status range per line, overrides and [inferred] rows marked."""
        lines: list[str] = []
        overridden = {s for s, _ in self.overrides}
        for first, last, reason in _ranges(self.rows):
            span = str(first) if first == last else f"{first}-{last}"
            evidence = Evidence.INFERRED if reason in INFERRED else reason.evidence
            note = " (target override)" if overridden.intersection(range(first, last + 1)) else ""
            lines.append(f"{span:>6}  {reason.name:<19} {evidence} {reason.description}{note}")
        return "\n".join(lines)


def decode(
    status: int | None, signal: int | str | None = None, hung: bool = False, table: ExitTable | None = None
) -> Exit:
    """``ExitTable.decode`` with the default table unless ``table`` is given."""
    return (table or ExitTable.default()).decode(status, signal, hung)


def _is_status_key(key: int | str) -> bool:
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return True
    return key.strip().isdigit()


def _status(value: object, source: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"expected an exit status (integer 0..255), got {value!r}; {_OVERRIDE_HELP}", source, key)
    if not 0 <= value <= 255:
        raise ConfigError(f"exit status {value} is out of range 0..255", source, key)
    return value


def _statuses(value: object, source: str, key: str) -> tuple[int, ...]:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"empty list: give at least one status; {_OVERRIDE_HELP}", source, key)
        return tuple(_status(v, source, key) for v in value)
    return (_status(value, source, key),)


def _reason(value: object, source: str, key: str) -> Exit:
    allowed = ", ".join(r.key for r in (*STATUS_REASONS, Exit.UNKNOWN))
    if not isinstance(value, str):
        raise ConfigError(f"expected a reason name ({allowed}), got {value!r}; {_OVERRIDE_HELP}", source, key)
    try:
        reason = Exit.parse(value)
    except ValueError:
        raise ConfigError(f"unknown exit reason {value!r}; allowed: {allowed}", source, key) from None
    if reason not in STATUS_REASONS and reason is not Exit.UNKNOWN:
        raise ConfigError(f"{reason.key!r} has no exit status; allowed: {allowed}", source, key)
    return reason


def _assign(assigned: dict[int, tuple[Exit, str]], status: int, reason: Exit, source: str, key: str) -> None:
    previous = assigned.get(status)
    if previous is not None and previous[0] is not reason:
        raise ConfigError(
            f"status {status} is given two reasons: {previous[0].key} (by key '{previous[1]}') and {reason.key}",
            source,
            key,
        )
    assigned[status] = (reason, key)


def _ranges(rows: Iterable[tuple[int, Exit]]) -> list[tuple[int, int, Exit]]:
    out: list[tuple[int, int, Exit]] = []
    for status, reason in rows:
        if out and out[-1][2] is reason and out[-1][1] == status - 1:
            out[-1] = (out[-1][0], status, reason)
        else:
            out.append((status, status, reason))
    return out


# --- signals ---------------------------------------------------------------

#: What each signal qvm handles asks of it, and how qvm then ends (None: it goes on) [doc:
#: "Shutting down guests", "dump", "qvm_report"].  SIGTERM/SIGINT end the run only once
#: the guest has shut down: a guest that ignores the power button keeps running.
SIGNAL_EFFECTS: Mapping[str, tuple[str, Exit | None]] = {
    "SIGTERM": ("power button: VDEV_CTRL_BUTTON to every vdev, the guest is asked to shut down", Exit.NORMAL),
    "SIGINT": ("power button, as SIGTERM", Exit.NORMAL),
    "SIGQUIT": ("power cut: the guest stops as if unplugged", Exit.POWER_CUT),
    "SIGUSR1": ("status: VDEV_CTRL_STATUS to every vdev, qvm_report text logged at INFO", None),
    "SIGUSR2": ("guest dump (the 'dump' option), with VDEV_CTRL_STATUS's qvm_report text in it", None),
}

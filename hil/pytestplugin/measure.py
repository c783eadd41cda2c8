"""Measurements with limits (the ``hil_measure`` fixture), OpenHTF-style.

A test records a named value with a unit and optional limits::

    def test_irq_latency(hil_measure, ...):
        hil_measure("irq_latency_us", latency, unit="us", low=0, high=50)

A value outside its limits fails the test at once with the value and the limits.  Each
measurement goes into the report: a suite property of ``junit.xml``
(``measurement.<test>.<name>``: value, unit, limits, verdict; junit-10.xsd has no
properties per test case), a line in ``summary.txt``, a row of the HTML report's
measurements table, and its trend over ``--history`` (read back from those properties).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from hil.pytestplugin import reportkeys
from hil.pytestplugin.results import MEASUREMENT_PREFIX

#: The user_properties name a measurement travels under (a JSON object), from the test to the recorder.
PROP_MEASUREMENT = reportkeys.MEASUREMENT
#: The prefix of a measurement's suite property in junit.xml: ``measurement.<test name>.<measurement name>``
#: (the record makes them: ``RunRecord.suite_properties``).
SUITE_PREFIX = MEASUREMENT_PREFIX
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_VALUE = re.compile(r"^(?P<value>\S+)(?: (?P<unit>[^\[(]\S*))?")


@dataclass(frozen=True)
class Measurement:
    """One recorded value: its name, value, unit, limits (None: unbounded) and whether it is within them."""

    name: str
    value: float
    unit: str = ""
    low: float | None = None
    high: float | None = None

    @property
    def passed(self) -> bool:
        return (self.low is None or self.value >= self.low) and (self.high is None or self.value <= self.high)

    def limits(self) -> str:
        """``[0, 50] us``, ``>= 0 us``, ``<= 50 us`` or ``no limits``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            return f"[{self.low:g}, {self.high:g}]{unit}"
        if self.low is not None:
            return f">= {self.low:g}{unit}"
        if self.high is not None:
            return f"<= {self.high:g}{unit}"
        return "no limits"

    def value_text(self) -> str:
        return f"{self.value:g}" + (f" {self.unit}" if self.unit else "")

    def text(self) -> str:
        """``irq_latency_us = 12.5 us, limits [0, 50] us: pass``."""
        limits = self.limits()
        within = limits if limits == "no limits" else f"limits {limits}"
        return f"{self.name} = {self.value_text()}, {within}: {'pass' if self.passed else 'FAIL'}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> Measurement | None:
        try:
            data = json.loads(text)
            return Measurement(
                str(data["name"]),
                float(data["value"]),
                str(data.get("unit") or ""),
                None if data.get("low") is None else float(data["low"]),
                None if data.get("high") is None else float(data["high"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _number(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"hil_measure: {what} must be a number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"hil_measure: {what} is NaN")
    return number


class MeasureRecorder:
    """What the ``hil_measure`` fixture gives a test: call it to record a measurement."""

    def __init__(self, node: pytest.Item) -> None:
        self.node = node
        self.recorded: list[Measurement] = []

    def __call__(
        self, name: str, value: float, unit: str = "", low: float | None = None, high: float | None = None
    ) -> Measurement:
        """Record ``name`` = ``value`` (``unit``); outside ``low``..``high`` (inclusive) the test fails."""
        __tracebackhide__ = True
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"hil_measure: name {name!r}: use letters, digits, '_', '.', '-' (e.g. irq_latency_us)")
        if any(m.name == name for m in self.recorded):
            raise ValueError(f"hil_measure: {name!r} was already recorded by this test; give each value its own name")
        measured = Measurement(
            name,
            _number("value", value),
            str(unit),
            None if low is None else _number("low", low),
            None if high is None else _number("high", high),
        )
        if measured.low is not None and measured.high is not None and measured.low > measured.high:
            raise ValueError(f"hil_measure: {name}: low {measured.low:g} is above high {measured.high:g}")
        self.recorded.append(measured)
        self.node.user_properties.append((PROP_MEASUREMENT, measured.to_json()))
        if not measured.passed:
            pytest.fail(
                f"measurement {name} = {measured.value_text()} is outside its limits {measured.limits()}",
                pytrace=False,
            )
        return measured


@pytest.fixture
def hil_measure(request: pytest.FixtureRequest) -> MeasureRecorder:
    """Record named values with a unit and limits: ``hil_measure("irq_latency_us", v, unit="us", low=0, high=50)``."""
    return MeasureRecorder(request.node)


def parse_suite_property(name: str, value: str) -> tuple[str, float] | None:
    """(``<test>.<measurement>``, value) of a measurement suite property, else None."""
    if not name.startswith(SUITE_PREFIX):
        return None
    _, _, rest = value.partition(" = ")
    match = _VALUE.match(rest)
    if match is None:
        return None
    try:
        return name[len(SUITE_PREFIX) :], float(match["value"].rstrip(","))
    except ValueError:
        return None


def summary_lines(results: Sequence[Any]) -> list[str]:
    """summary.txt's measurements: one line each (target, test, name = value, limits, verdict)."""
    rows = [(c.suite, c.nodeid, m) for c in results for m in getattr(c, "measurements", [])]
    if not rows:
        return []
    lines = ["", f"Measurements ({len(rows)}):"]
    lines += [f"  {'ok  ' if m.passed else 'FAIL'}  {suite}  {nodeid}: {m.text()}" for suite, nodeid, m in rows]
    return lines


def html_rows(results: Sequence[Any], history: Sequence[tuple[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """The HTML report's measurements table: one row per measurement with its trend over ``history``."""
    rows: list[dict[str, Any]] = []
    for case in results:
        for m in getattr(case, "measurements", []):
            key = f"{case.suite} :: {case.name}.{m.name}"
            trend = [values.get(key) for _, values in history] + [m.value]
            rows.append(
                {
                    "suite": case.suite,
                    "test": case.name,
                    "name": m.name,
                    "value": m.value_text(),
                    "limits": m.limits(),
                    "passed": m.passed,
                    "trend": [None if v is None else f"{v:g}" for v in trend] if history else [],
                }
            )
    return rows

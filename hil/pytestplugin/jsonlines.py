"""The JSON lines writer: a HIL run as one JSON object a line (``--hil-jsonl``, ``results.jsonl``), for a
dashboard or a script to read without parsing XML.

Every line has a ``record`` field saying what it is, in this order:

* ``run``: ``hostname``, ``started`` (epoch seconds), ``exitstatus`` (``null`` until the session ends),
  ``final``;
* ``event``: one per session event: ``kind`` (``start``, ``collection-error``, ``interrupted``,
  ``coverage``, ``finish``), ``t`` (epoch seconds), ``detail``;
* ``suite``: one per target (and ``host``): ``name``, ``started``, ``properties`` (target facts,
  measurements, ``target.setup.seconds``) and ``counts`` (passed, failed, errors, skipped,
  infrastructure, total);
* ``test``: one per finished test: ``suite``, ``nodeid``, ``classname``, ``name``, ``outcome``
  (``passed``, ``failed``, ``error``, ``skipped``), ``infrastructure`` (the cause of an
  infrastructure error, else ``null``), ``message``, ``duration`` and ``target_setup`` (seconds),
  ``start`` (epoch seconds), ``artifacts`` (the test's folder: its full console, qvm log, run
  data), ``measurements`` and ``vdev_warnings``.

The consoles and logs are not repeated here: they are in each test's artifacts folder (and,
bounded, in the JUnit report).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.pytestplugin.results import RunRecord
from hil.pytestplugin.writers import replace_file

if TYPE_CHECKING:
    from hil.pytestplugin.writers import WriterOptions


def lines(record: RunRecord) -> Iterator[dict[str, Any]]:
    """The objects of the record, one per line to be."""
    yield {
        "record": "run",
        "hostname": record.hostname,
        "started": record.started,
        "exitstatus": record.exitstatus,
        "final": record.final,
    }
    for event in record.events:
        yield {"record": "event", **dataclasses.asdict(event)}
    properties = record.suite_properties()
    counts = record.counts()
    for suite in record.suites:
        yield {
            "record": "suite",
            "name": suite.name,
            "started": suite.started,
            "properties": properties[suite.name],
            "counts": {**dataclasses.asdict(counts[suite.name]), "total": counts[suite.name].total},
        }
    for case in record.results:
        yield {
            "record": "test",
            "suite": case.suite,
            "nodeid": case.nodeid,
            "classname": case.classname,
            "name": case.name,
            "outcome": case.outcome,
            "infrastructure": case.infrastructure,
            "message": case.message,
            "duration": round(case.duration, 6),
            "target_setup": round(case.target_setup, 6),
            "start": case.start,
            "artifacts": case.artifacts,
            "measurements": [dataclasses.asdict(m) for m in case.measurements],
            "vdev_warnings": case.vdev_warnings,
        }


def _finite(value: Any) -> Any:
    """``value`` with every non-finite number (an infinite measurement) as ``null``: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write(record: RunRecord, path: Path, options: WriterOptions) -> None:
    """Write the record to ``path`` as JSON lines (atomically; ASCII, strict JSON)."""
    text = "".join(json.dumps(_finite(line), allow_nan=False) + "\n" for line in lines(record))
    replace_file(path, text.encode("utf-8"))

"""Timing assertions that hold on a loaded host: on qvm's own timestamps, never early, late only by
the host's scheduling (a busy loop on a core, a parallel suite).  Speed belongs in bench/."""

from __future__ import annotations

import itertools

__all__ = ["CLOCK_SLACK_S", "LATE_S", "gaps", "on_time"]

#: How much later than asked qvmsim may act on a loaded host: its timer and guest threads wait for a
#: CPU (a busy loop on one core beside a parallel suite: tens of ms typically, 0.39 s seen once at
#: load 10 on 2 cores).  Never earlier.  A tenfold unit error on a 100 ms timer is still caught.
LATE_S = 0.5
#: A vdev (or qvmsim) reads its clock a moment before the log line's stamp is taken: a delay measured
#: between two log lines may come out this much short of what was asked.
CLOCK_SLACK_S = 0.002


def on_time(delay: float, expected: float) -> bool:
    """``delay`` (seconds between two of qvmsim's own timestamps) is ``expected``: not early (beyond
    ``CLOCK_SLACK_S``), and late by at most ``LATE_S`` (the host's scheduling, not the model)."""
    return expected - CLOCK_SLACK_S <= delay <= expected + LATE_S


def gaps(times: list[float]) -> list[float]:
    """The times between consecutive ``times`` (sorted): how long a periodic guest job really went
    between two runs (on a loaded host, at times longer than its period; never shorter: no burst)."""
    return [b - a for a, b in itertools.pairwise(sorted(times))]

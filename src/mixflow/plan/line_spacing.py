"""Spacers on the line: empty pitches the scheduler asks for before a truck whose work would make a
station's worker overrun.

A station's worker who takes `w` seconds on a truck ends `w - takt` late into the next takt, and that
lateness carries over: after a run of trucks it is `carry = max(0, carry + w - takt)` per station, and
an empty pitch takes a whole takt off it. The line must wait once the carry passes the worker's drift
(`AssemblyLine.drift_s`). The sequencer spreads heavy trucks with ratio rules, but where demand exceeds
a rule (at full scale a light truck can leave a station only 10 s of a 240 s takt to catch up) no order
avoids the overrun; the line's slack can. So each released truck gets the fewest empty pitches before
it, up to `max_spacing`, that keep every station it can fit within the drift. The carry is counted as
if the trucks came one pitch after another: the line may run more empty pitches (a starved line, a
truck waiting for its frame), which only lowers the real carry, and a spacing counts those pitches too.
"""

from __future__ import annotations

import numpy as np

from mixflow.model import AssemblyLine


class LineSpacing:
    """The carry-over of each station's worker over the trucks released so far, in release order."""

    def __init__(self, line: AssemblyLine, max_spacing: int) -> None:
        self.takt_s = line.takt_s
        self.drift_s = line.drift_s
        self.max_spacing = max_spacing
        self.carry = np.zeros(len(line.stations), dtype=np.int64)

    def release(self, work: np.ndarray) -> int:
        """Empty pitches to leave before a truck with per-station `work` (seconds), and take it in."""
        fits = work <= self.takt_s + self.drift_s  # a truck above that overruns whatever came before
        spacing = 0
        while True:
            carry = np.maximum(np.maximum(self.carry - spacing * self.takt_s, 0) + work - self.takt_s, 0)
            if spacing == self.max_spacing or not (fits & (carry > self.drift_s)).any():
                break
            spacing += 1
        self.carry = carry
        return spacing

"""Each AGV's VDA 5050 state in the plant snapshot: one small int per AGV, and the errors beside.

The snapshot is pushed 10x a second for 720 AGVs, so an AGV's state is one int of flags, not an object:
bit 0 `driving`, 1 `paused`, 2 `charging` (`batteryState.charging`), 3 an error of level WARNING, 4 one
of level FATAL, 5 offline (its connection is not ONLINE); the `operatingMode`, as its index in
`OPERATING_MODES`, sits above them (times `MODE_STEP`, so AUTOMATIC adds nothing). The error types go
in a sparse list of `[agv index, [errorType, ...]]`, for the few AGVs that have any.

The names are VDA 5050 2.1's (`state.schema`); they are written here rather than imported from
`mixflow.connect.vda5050`, so that the web app of a twin does not load the industrial-internet stack.
Where the fleet speaks VDA 5050 the codes come from the vehicles' last `state` messages
(`from_vehicles`); elsewhere they are derived from a fleet model (`derived`), so the plant page reads
the same whichever runs the plant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

AGV_FLAGS = ("driving", "paused", "charging", "WARNING", "FATAL", "offline")
OPERATING_MODES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL", "SERVICE", "TEACHIN")
DRIVING, PAUSED, CHARGING, WARNING, FATAL, OFFLINE = (1 << k for k in range(len(AGV_FLAGS)))
MODE_STEP = 1 << len(AGV_FLAGS)
BREAKDOWN = "breakdown"
"""The errorType of an AGV a fleet model holds broken down (VDA 5050 leaves error types to the maker)."""


@dataclass(frozen=True)
class AgvVda:
    """The fleet's VDA 5050 state as the snapshot carries it; `soc` is the battery as the vehicles
    reported it (`batteryCharge` / 100), or None where the plant's own figure stands."""

    codes: list[int]
    errors: list[tuple[int, list[str]]]
    soc: list[float] | None = None


class VehicleState(Protocol):
    """What a vehicle's last `state` said (`mixflow.connect.vda5050.master.StateSummary`)."""

    @property
    def driving(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    @property
    def charging(self) -> bool: ...
    @property
    def battery_charge(self) -> float: ...
    @property
    def operating_mode(self) -> str: ...
    @property
    def errors(self) -> tuple[tuple[str, str], ...]: ...


@runtime_checkable
class VdaFleet(Protocol):
    """A factory whose AGVs speak VDA 5050 (`mixflow.connect.vda5050.fleet_factory.VdaFleetFactory`)."""

    def vda_states(self, agv_ids: Sequence[str]) -> Sequence[tuple[bool, VehicleState | None]]:
        """Per AGV: whether its connection is ONLINE, and its last state (None before the first)."""
        ...


def from_vehicles(reports: Sequence[tuple[bool, VehicleState | None]], soc: Sequence[float]) -> AgvVda:
    """The codes of vehicles by their own word; `soc` (the plant's) stands for those not heard yet."""
    codes, errors, battery = [], [], list(soc)
    for k, (online, state) in enumerate(reports):
        code = 0 if online else OFFLINE
        if state is not None:
            if state.driving:
                code |= DRIVING
            if state.paused:
                code |= PAUSED
            if state.charging:
                code |= CHARGING
            if state.errors:
                for level, _ in state.errors:
                    code |= FATAL if level == "FATAL" else WARNING
                errors.append((k, [kind for _, kind in state.errors]))
            if state.operating_mode != "AUTOMATIC":
                code += MODE_STEP * OPERATING_MODES.index(state.operating_mode)
            battery[k] = round(min(1.0, max(0.0, state.battery_charge / 100.0)), 3)  # unbounded in the schema
        codes.append(code)
    return AgvVda(codes, errors, battery)


def derived(driving: np.ndarray, charging: np.ndarray, broken: np.ndarray) -> AgvVda:
    """The codes of a fleet model that knows which AGVs move, charge and are broken down: all in
    AUTOMATIC mode (the model drives them all), a breakdown a FATAL error, never paused or offline."""
    codes = np.where(broken, FATAL, np.where(driving, DRIVING, 0) | np.where(charging, CHARGING, 0))
    return AgvVda(codes.tolist(), [(int(k), [BREAKDOWN]) for k in np.flatnonzero(broken)])


class Motion:
    """Which AGVs drive: those whose cell changed since the plant second before the current one.

    Snapshots come 10x a wall second and a plant second may span many of them (at real-time speed, ten);
    comparing with the cells of the previous plant second, not of the previous snapshot, keeps a moving
    AGV `driving` for the whole second instead of flickering."""

    def __init__(self) -> None:
        self._at_s = -1
        self._latest: np.ndarray | None = None
        self._before: np.ndarray | None = None

    def driving(self, at_s: int, cells: np.ndarray) -> np.ndarray:
        """`cells`: each AGV's cell (any one number per cell) at plant second `at_s`."""
        if at_s != self._at_s:
            self._before, self._at_s = self._latest, at_s
        self._latest = cells.copy()
        if self._before is None:
            return np.zeros(len(cells), dtype=np.bool_)
        return cells != self._before

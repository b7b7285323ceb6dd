"""The end-of-line charging bay: where every battery-electric unit gets its first charge.

A battery-electric truck leaves the line with a nearly empty pack and must be charged before the
customer drives it away; on megawatt chargers (MCS) that is a power draw of the order of the whole
machine park's, so the bay is a plant resource with its own queue and a KPI of its own (the plant's
peak power).
"""

from __future__ import annotations

from dataclasses import dataclass

from mixflow.errors import ValidationError


@dataclass(frozen=True)
class ChargingBay:
    """`chargers` megawatt chargers of `power_kw` each. A unit whose configuration sums a battery energy
    (catalogue attribute `battery_attribute`, kWh) is charged from `start_soc` to `target_soc`; the
    power drawn follows `curve`, (state of charge, share of `power_kw`) points interpolated linearly
    (a pack takes full power at low charge and tapers towards full)."""

    chargers: int
    power_kw: float
    curve: tuple[tuple[float, float], ...] = ((0.0, 1.0), (0.6, 1.0), (0.8, 0.5), (1.0, 0.1))
    start_soc: float = 0.1
    target_soc: float = 0.8
    battery_attribute: str = "pack_kwh"

    def __post_init__(self) -> None:
        if self.chargers < 1:
            raise ValidationError("charging bay", f"needs at least one charger, got {self.chargers}")
        if self.power_kw <= 0:
            raise ValidationError("charging bay", f"power_kw must be positive, got {self.power_kw}")
        if not 0 <= self.start_soc < self.target_soc <= 1:
            raise ValidationError("charging bay", "needs 0 <= start_soc < target_soc <= 1")
        socs = [s for s, _ in self.curve]
        if len(self.curve) < 2 or socs != sorted(socs) or socs[0] > 0 or socs[-1] < 1:
            raise ValidationError("charging bay.curve", "needs points ordered by soc from 0 to 1")
        if any(not 0 < share <= 1 for _, share in self.curve):
            raise ValidationError("charging bay.curve", "each share of power must lie in (0, 1]")

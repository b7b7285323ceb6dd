"""What-if inputs of one simulated run: plant scale, days, fleet size, fault rates and storms."""

from __future__ import annotations

from dataclasses import dataclass

from mixflow.errors import ValidationError


@dataclass(frozen=True)
class Storm:
    """A breakdown storm: `fraction` of the machines of `shop` go down at `start_s` for `duration_s`."""

    shop: str
    fraction: float
    start_s: int
    duration_s: int

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValidationError("storm.fraction", f"must lie in (0, 1], got {self.fraction}")
        if self.start_s < 0 or self.duration_s <= 0:
            raise ValidationError("storm", "needs start_s >= 0 and a positive duration_s")


@dataclass(frozen=True)
class SupplierDelay:
    """The supplier of `item` announces at `from_s` that it delivers `delay_s` late: every purchase order
    of the item still on its way then, and every one placed from then on (a breakdown at the supplier,
    a strike, a ship late). It says so at once, as a real supplier confirms a later date."""

    item: str
    delay_s: int
    from_s: int = 0

    def __post_init__(self) -> None:
        if self.delay_s <= 0 or self.from_s < 0:
            raise ValidationError(f"supplier delay of {self.item}", "needs delay_s > 0 and from_s >= 0")


@dataclass(frozen=True)
class Scenario:
    """One run of the reference plant.

    `days` of order arrivals are simulated and the run goes on (up to `drain_days` more) until those
    orders are delivered. `agvs` overrides the reference fleet size; `mtbf_factor` scales every
    machine group's mean time between failures (0 switches random breakdowns off). The yard and
    customer handover after the end-of-line test is the plant's (`LineTest.handover_s`).
    `supplier_delays` scripts suppliers that deliver late (the plant's own reliability figures add
    random lateness on top). `materials=False` runs the plant as if its supply were perfect: no
    suppliers, stock or raw material (bought parts come from racks that never run empty), which is the
    baseline that shows what material costs in lead time and AGV work.

    `plant_file` and `catalogue_file` name the plant and catalogue files the run reads (None: the
    reference plant at `scale` and the reference catalogue). The scenario carries the paths, not the
    data, so a process pool or Ray worker reads the same files itself (they must be readable there).
    """

    scale: float = 0.25
    days: int = 2
    drain_days: int = 6
    agvs: int | None = None
    mtbf_factor: float = 1.0
    agv_mtbf_h: float = 400.0
    agv_mttr_s: int = 1800
    storms: tuple[Storm, ...] = ()
    demand_factor: float = 1.0
    process_noise: float = 0.05
    plant_file: str | None = None
    catalogue_file: str | None = None
    supplier_delays: tuple[SupplierDelay, ...] = ()
    materials: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 4:
            raise ValidationError("scenario.scale", f"must lie in (0, 4], got {self.scale}")
        if self.days < 1:
            raise ValidationError("scenario.days", f"must be at least 1, got {self.days}")
        if self.drain_days < 0:
            raise ValidationError("scenario.drain_days", "must be >= 0")
        if self.agvs is not None and self.agvs < 1:
            raise ValidationError("scenario.agvs", f"a plant needs at least one AGV, got {self.agvs}")
        if self.mtbf_factor < 0:
            raise ValidationError("scenario.mtbf_factor", "must be >= 0 (0 switches breakdowns off)")
        if self.agv_mtbf_h < 0 or self.agv_mttr_s < 0:
            raise ValidationError("scenario.agv_mtbf_h", "AGV fault rates must be >= 0")
        if self.demand_factor <= 0:
            raise ValidationError("scenario.demand_factor", "must be positive")
        if not 0 <= self.process_noise < 0.5:
            raise ValidationError("scenario.process_noise", "must lie in [0, 0.5)")

    @property
    def end_s(self) -> int:
        """Latest second the run may reach (arrivals plus drain)."""
        return (self.days + self.drain_days) * 86_400

"""Routings: how a part made in-house passes through the feeder shops' machine groups.

A routing belongs to the plant, not to the product: the catalogue says a unit needs a cab, the plant
says its cab is pressed, welded, hemmed and trimmed, on which machine groups, and for how long. The
length of a step depends on the configuration, through the catalogue's own formula language: a base,
plus seconds for every condition that holds, plus seconds per unit of a summed value attribute
(`pack_kwh`, say), so a bigger battery pack takes longer to stack without one step per pack size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mixflow.errors import ValidationError
from mixflow.model.formula import TRUE, Formula, holds, variables


@dataclass(frozen=True)
class Duration:
    """Seconds of one step for a configuration: `base_s + sum(s for when, s in terms if when holds)
    + sum(attribute total x s for attribute, s in per_attribute)`, never below one second."""

    base_s: int
    terms: tuple[tuple[Formula, int], ...] = ()
    per_attribute: tuple[tuple[str, float], ...] = ()

    def seconds(self, config: Mapping[str, str], attributes: Mapping[str, float]) -> int:
        total = float(self.base_s)
        for when, extra in self.terms:
            if holds(when, config):
                total += extra
        for name, per_unit in self.per_attribute:
            total += attributes.get(name, 0.0) * per_unit
        return max(1, round(total))


@dataclass(frozen=True)
class RoutingStep:
    """One operation of a routing: done on one machine of any of `groups`, only where `when` holds;
    it consumes `materials` (raw-material id, quantity) each time it runs. `on_agv`: the part is worked
    on the AGV that brought it (an AGV-carried assembly station), so that AGV stays with the part
    until it carries it on to a step that is not, or to the shop's outbound cell."""

    operation: str
    groups: tuple[str, ...]
    duration: Duration
    when: Formula = TRUE
    materials: tuple[tuple[str, int], ...] = ()
    on_agv: bool = False

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValidationError(f"routing step {self.operation}", "names no machine group")
        if self.duration.base_s < 0:
            raise ValidationError(f"routing step {self.operation}", "its duration's base must be >= 0")
        for item, qty in self.materials:
            if qty < 1:
                raise ValidationError(f"routing step {self.operation}", f"uses {qty} of {item}: must be >= 1")


@dataclass(frozen=True)
class FeederWork:
    """One feeder-shop operation a unit needs: step `step` of `part`'s routing, `work_s` seconds on a
    machine of any group in `groups` of `shop`, consuming `materials` (raw-material id, quantity)."""

    part: str
    shop: str
    operation: str
    groups: tuple[str, ...]
    work_s: int
    step: int
    materials: tuple[tuple[str, int], ...] = ()
    on_agv: bool = False

    @property
    def group(self) -> str:
        """The first eligible group (its setup family keys the operation where one key is needed);
        the plan and the shop solver let a machine of any of `groups` take the operation."""
        return self.groups[0]


@dataclass(frozen=True)
class Routing:
    """How `part` is made in `shop`: its steps in order. Parts move between steps in batches of
    `transfer_batch`; `after` names a part whose last step must be done before this one's first (a cab
    is painted after it is built)."""

    part: str
    shop: str
    steps: tuple[RoutingStep, ...]
    transfer_batch: int = 1
    after: str | None = None

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValidationError(f"routing {self.part}", "has no step")
        if self.transfer_batch < 1:
            raise ValidationError(f"routing {self.part}", "transfer_batch must be >= 1")
        if self.after == self.part:
            raise ValidationError(f"routing {self.part}", "cannot follow itself")

    def variables(self) -> frozenset[str]:
        """The configuration variables this routing's conditions read."""
        names: set[str] = set()
        for step in self.steps:
            names |= variables(step.when)
            for when, _ in step.duration.terms:
                names |= variables(when)
        return frozenset(names)

    def attributes(self) -> frozenset[str]:
        """The summed value attributes this routing's durations read."""
        return frozenset(name for step in self.steps for name, _ in step.duration.per_attribute)

    def operations(self, config: Mapping[str, str], attributes: Mapping[str, float]) -> list[FeederWork]:
        """The steps `config` needs, each numbered by its place in the routing (from 1), so an
        operation's id does not depend on which steps before it a configuration skips."""
        ops: list[FeederWork] = []
        for k, step in enumerate(self.steps, start=1):
            if holds(step.when, config):
                seconds = step.duration.seconds(config, attributes)
                ops.append(
                    FeederWork(self.part, self.shop, step.operation, step.groups, seconds, k, step.materials,
                               step.on_agv)
                )
        return ops

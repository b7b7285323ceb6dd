"""Key figures of a run, from the factory's events and the scheduler's own clock.

Order-to-delivery (p50/p95/max days), promises kept, units built a day against demand, line stops and
their causes, parts not reported at their station by their deadline (`material_overdue`), flushes the
plan store refused (`store_failures`: commands waited meanwhile), OEE per machine group (availability
x performance; no scrap is modelled), and the planner's compute time per decision (p50/p95 over the
latest `DECISION_WINDOW` decisions, max and count over all). AGV and energy figures come from the
factory's own meters.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixflow.model import DAY_S, Plant

DECISION_WINDOW = 100_000
"""Decisions whose compute times the percentiles cover (the latest): a plant decides up to once a
simulated second, and a service that runs for months must not keep them all."""
GANTT_KEPT = 100_000
"""Most operations the rolling Gantt window holds (2 days at scale 1.0 are about a tenth of it)."""


@dataclass
class KpiBook:
    """Everything the KPIs are computed from, filled as events arrive."""

    placed_s: dict[str, int] = field(default_factory=dict)
    promised_s: dict[str, int] = field(default_factory=dict)
    off_line_s: dict[str, int] = field(default_factory=dict)
    delivered_s: dict[str, int] = field(default_factory=dict)
    at_risk: set[str] = field(default_factory=set)
    flagged: dict[str, tuple[int, str]] = field(default_factory=dict)  # order -> (when, why) first flagged
    stops: list[tuple[int, str, str, str]] = field(default_factory=list)
    run_s: dict[str, int] = field(default_factory=dict)
    down_s: dict[str, int] = field(default_factory=dict)
    decision_ms: deque[float] = field(default_factory=lambda: deque(maxlen=DECISION_WINDOW))
    decisions: int = 0
    slowest_decision_ms: float = 0.0
    gantt: deque[tuple[str, str, str, int, int]] = field(default_factory=lambda: deque(maxlen=GANTT_KEPT))
    gantt_kept_s: int = 2 * DAY_S
    faults: int = 0
    resequences: int = 0
    shop_plan_ms: list[float] = field(default_factory=list)
    shop_plan_fallbacks: int = 0
    repairs: int = 0
    repaired_ops: int = 0
    material_overdue: int = 0
    store_failures: int = 0
    agv_resyncs: int = 0

    def ran(self, group: str, machine: str, operation: str, start_s: int, end_s: int) -> None:
        """One finished operation joins the rolling Gantt window (the last `gantt_kept_s` seconds)."""
        self.gantt.append((group, machine, operation, start_s, end_s))
        while self.gantt and self.gantt[0][4] < end_s - self.gantt_kept_s:
            self.gantt.popleft()

    def decided(self, ms: float) -> None:
        """Count one decision that took `ms` milliseconds."""
        self.decision_ms.append(ms)
        self.decisions += 1
        self.slowest_decision_ms = max(self.slowest_decision_ms, ms)

    def summary(self, plant: Plant, days: int, horizon_s: int) -> dict[str, Any]:
        """The KPI dictionary `mixflow simulate --json` prints."""
        delivered = [o for o in self.delivered_s if o in self.placed_s]
        lead = np.array([(self.delivered_s[o] - self.placed_s[o]) / DAY_S for o in delivered])
        open_age = np.array(
            [(horizon_s - self.placed_s[o]) / DAY_S for o in self.placed_s if o not in self.delivered_s]
        )
        kept = sum(1 for o in delivered if self.delivered_s[o] <= self.promised_s.get(o, -1))
        per_day_out = np.bincount([t // DAY_S for t in self.delivered_s.values()], minlength=days)
        per_day_in = np.bincount([t // DAY_S for t in self.placed_s.values()], minlength=days)
        causes = Counter(cause.split(" (")[0].split(" ")[0] for _, _, _, cause in self.stops)

        def pct(q: float) -> float:
            return round(float(np.percentile(lead, q)), 3) if len(lead) else 0.0

        oee = {}
        for g in plant.machine_groups:
            planned = len(g.machines) * g.calendar.working_s_per_day * horizon_s / DAY_S
            down = min(self.down_s.get(g.id, 0) * g.calendar.working_s_per_day / DAY_S, planned)
            run = self.run_s.get(g.id, 0)
            availability = 1 - down / planned if planned else 0.0
            performance = run / (planned - down) if planned > down else 0.0
            oee[g.id] = {
                "availability": round(availability, 3),
                "performance": round(min(performance, 1.0), 3),
                "oee": round(availability * min(performance, 1.0), 3),
            }
        ms = np.array(self.decision_ms) if self.decision_ms else np.zeros(1)
        return {
            "days": days,
            "simulated_days": round(horizon_s / DAY_S, 3),
            "orders": len(self.placed_s),
            "delivered": len(delivered),
            "open_orders": len(open_age),
            "open_older_than_5_days": int((open_age > 5).sum()),
            "order_to_delivery_days": {"p50": pct(50), "p95": pct(95), "max": pct(100)},
            "promises_kept": round(kept / len(delivered), 4) if delivered else 1.0,
            "orders_flagged_at_risk": len(self.at_risk),
            "flagged_why": dict(Counter(why.split(":")[0] for _, why in self.flagged.values())),
            "units_per_day": per_day_out.tolist(),
            "orders_per_day": per_day_in.tolist(),
            "line_resequences": self.resequences,
            "line_stops": len(self.stops),
            "line_stop_causes": dict(causes),
            "material_overdue": self.material_overdue,
            "store_failures": self.store_failures,
            "agv_resyncs": self.agv_resyncs,
            "oee": oee,
            "planner_ms_per_decision": {
                "p50": round(float(np.percentile(ms, 50)), 3),
                "p95": round(float(np.percentile(ms, 95)), 3),
                "max": round(self.slowest_decision_ms, 3),
                "decisions": self.decisions,
            },
            "shop_plans": {
                "solved": len(self.shop_plan_ms),
                "fallbacks": self.shop_plan_fallbacks,
                "repairs": self.repairs,
                "repaired_ops": self.repaired_ops,
            },
        }

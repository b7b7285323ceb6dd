"""The cloud scheduler (layer 4): consumes factory events, keeps the plan, issues commands, re-plans.

It depends on the factory port only (`mixflow.model.port.Factory`), never on the twin or the MQTT
gateway, so the same `Scheduler` runs the simulated plant in `mixflow demo` and a real one in
`mixflow serve`. Its state is persisted through `PlanStore` (tables in `mixflow.store.plan_state`).

Read-only snapshot API (for the web app and dashboards): `Scheduler.snapshot(now_s) -> dict` with
plain JSON types:

- `agvs`: `ids`, `x`, `y`, `state` (idle, to_pickup, to_dropoff, to_charger, charging, broken), `soc`;
- `machines`: machine id -> `idle` | `busy` | `down` as the scheduler believes it;
- `sequence`: the last 200 orders released to the line, in line order; `upcoming`: the next 50 built
  trucks waiting for release, in slot order;
- `gantt`: up to 500 most recent rows `{group, machine, operation, start_s, end_s}` of the rolling
  window of the last two days (`KpiBook.gantt`; `Scheduler.gantt_window` gives any part of it);
- `kpis`: the KPI dictionary of `KpiBook.summary` so far.

The twin offers the factory-side view the same way (`Twin.snapshot()`: AGV positions and state of
charge, machine states, trucks at each station, the line's queue and whether it is stopped).
"""

from mixflow.plan.kpis import KpiBook
from mixflow.plan.scheduler import PlanOptions, Scheduler
from mixflow.plan.state import PlanStore, SavedPlan

__all__ = ["KpiBook", "PlanOptions", "PlanStore", "SavedPlan", "Scheduler"]

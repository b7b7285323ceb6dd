"""The digital twin (layer 4): a discrete-event simulation of the reference plant behind the port.

`Twin(plant, catalogue, orders, scenario, seed)` implements `mixflow.model.port.Factory`; it only
executes commands and reports events. `run(scenario, seed) -> Result` simulates a whole scenario with
the cloud scheduler in charge and is pure, so what-if sweeps run in a process pool (`sweep`), or on
a Ray cluster when an address is given (Ray is an optional extra: `pip install 'mixflow[ray]'`).

Read-only view for dashboards: `Twin.snapshot()` returns plain JSON types: `agvs` (`ids`, `x`, `y`,
`soc`, `state` 0 idle / 1 loaded / 2 charging / 3 down), `machines` (id -> idle | running | down),
`line` (`stations`, `trucks` at each station, `queue`, `stopped`) and `collisions` seen so far.
"""

from mixflow.twin.experiment import Result, check_configured, check_feasible, prepare, run
from mixflow.twin.factory import Twin
from mixflow.twin.scenario import Scenario, Storm, SupplierDelay

__all__ = [
    "Result",
    "Scenario",
    "Storm",
    "SupplierDelay",
    "Twin",
    "check_configured",
    "check_feasible",
    "prepare",
    "run",
]

"""What-if sweeps: many `run(scenario, seed)` calls in a process pool, or on a Ray cluster.

Ray is an optional extra (`pip install ray`); it is imported only when an address is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from mixflow.errors import MixflowError, ValidationError
from mixflow.twin.experiment import Result, run
from mixflow.twin.scenario import Scenario


def _run_pair(pair: tuple[Scenario, int]) -> Result:
    return run(pair[0], pair[1])


def sweep(
    scenarios: Sequence[Scenario],
    seeds: Sequence[int] = (0,),
    workers: int = 2,
    ray_address: str | None = None,
) -> list[Result]:
    """Every scenario with every seed; results in the order of (scenario, seed). A worker's MixflowError
    (a fleet the floor cannot park, a plant file it cannot read) is raised here as itself."""
    if workers < 1:
        raise ValidationError("--workers", "must be >= 1")
    pairs = [(s, seed) for s in scenarios for seed in seeds]
    if ray_address is not None:
        try:
            import ray
        except ImportError as missing:
            raise MixflowError("--ray needs the optional extra: pip install ray") from missing
        ray.init(address=ray_address, ignore_reinit_error=True)
        remote = ray.remote(_run_pair)
        return list(ray.get([remote.remote(p) for p in pairs]))
    if workers == 1:
        return [_run_pair(p) for p in pairs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run_pair, pairs))

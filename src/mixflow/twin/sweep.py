"""What-if sweeps: every (scenario, seed) run in a local process pool, or on Ray; results in grid order.

A run is `run(scenario, seed)`, deterministic for its seed, so both backends give the same results.
A run's MixflowError comes back as itself, its message naming the run (fleet size, MTBF factor, seed),
and a worker that dies becomes one MixflowError naming the run it left unfinished: the CLI prints
either as one line. Ray (`pip install 'mixflow[ray]'`) is imported only when a Ray address is given.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from mixflow.errors import MixflowError, ValidationError
from mixflow.twin.experiment import Result, run
from mixflow.twin.scenario import Scenario

Pair = tuple[Scenario, int]
OnDone = Callable[[int, int], None]
"""Called as `on_done(finished, total)` each time a run of the sweep finishes, for a progress bar."""


def run_pair(pair: Pair) -> Result:
    """One run of the sweep; a module-level function so a pool or Ray worker can import it by name."""
    return run(pair[0], pair[1])


def run_label(pair: Pair) -> str:
    """The run in the words of the sweep's grid: fleet size, MTBF factor and seed."""
    scenario, seed = pair
    fleet = "the plant's fleet" if scenario.agvs is None else f"{scenario.agvs} AGVs"
    return f"the run with {fleet}, MTBF x{scenario.mtbf_factor:g}, seed {seed}"


def in_run(error: MixflowError, pair: Pair) -> MixflowError:
    """The worker's error as itself (same type, same fields), its message ending with the run it
    came from: in a grid of 64 runs, "the floor parks 34 AGVs" alone does not say which one failed."""
    named = copy.copy(error)
    named.args = (f"{error} (in {run_label(pair)})",)
    return named


def sweep(
    scenarios: Sequence[Scenario],
    seeds: Sequence[int] = (0,),
    workers: int = 2,
    ray_address: str | None = None,
    on_done: OnDone | None = None,
) -> list[Result]:
    """Every scenario with every seed; results in the order of (scenario, seed).

    `workers` processes run the pool, or the local Ray instance `ray_address="local"` starts; any
    other address (`auto`, `ray://host:10001`) joins a running Ray cluster, which brings its own CPUs.
    """
    if workers < 1:
        raise ValidationError("--workers", "must be >= 1")
    pairs = [(s, seed) for s in scenarios for seed in seeds]
    report: OnDone = on_done or (lambda finished, total: None)
    if ray_address is not None:
        from mixflow.twin.sweep_ray import run_on_ray

        return run_on_ray(pairs, ray_address, workers, report)
    if workers == 1:
        return _in_process(pairs, report)
    return _in_pool(pairs, workers, report)


def _in_process(pairs: list[Pair], on_done: OnDone) -> list[Result]:
    results = []
    for pair in pairs:
        try:
            results.append(run_pair(pair))
        except MixflowError as error:
            raise in_run(error, pair) from error
        on_done(len(results), len(pairs))
    return results


def _in_pool(pairs: list[Pair], workers: int, on_done: OnDone) -> list[Result]:
    results: dict[int, Result] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures: dict[Future[Result], int] = {pool.submit(run_pair, pair): i for i, pair in enumerate(pairs)}
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except MixflowError as error:
                    raise in_run(error, pairs[i]) from error
                except BrokenProcessPool as broken:
                    # Every unfinished future fails alike, so the pool cannot say whose worker died.
                    raise MixflowError(
                        f"a worker of the process pool died (killed, or out of memory); "
                        f"{run_label(pairs[i])} and {len(pairs) - len(results) - 1} more did not finish"
                    ) from broken
                on_done(len(results), len(pairs))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[i] for i in range(len(pairs))]

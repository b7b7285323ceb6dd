"""The sweep's runs as Ray tasks: on a local Ray started here (`local`) or on a running cluster.

`local` starts Ray in this process with `workers` CPUs, no dashboard and only errors logged, and shuts
it down after the sweep; any other address (`auto`, `ray://host:10001`) joins a running cluster (whose
workers must have mixflow installed and read the same plant files) and leaves it running. A Ray
already initialised in this process (a notebook, a test) is used as it is.

A task's MixflowError comes back as itself naming its run, not as a RayTaskError's traceback; a worker
that dies is retried once (a node lost), then reported as one MixflowError naming its run.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from contextlib import redirect_stdout
from typing import Any

from mixflow.errors import MixflowError
from mixflow.twin.experiment import Result
from mixflow.twin.sweep import OnDone, Pair, in_run, run_label, run_pair

LOCAL = "local"
RETRIES = 1
log = logging.getLogger(__name__)


def run_on_ray(pairs: list[Pair], address: str, workers: int, on_done: OnDone) -> list[Result]:
    """Each pair's run as one Ray task; results in the order of `pairs`."""
    ray = import_ray()
    # Ray prints its raylet's notices ("a worker died ...") on stdout from a thread of its own, which
    # would break the one JSON document of `--json`: they go to this module's log instead.
    with redirect_stdout(_RayNotices()):
        joined = join_ray(ray, address, workers)
        try:
            task = ray.remote(max_retries=RETRIES)(run_pair)
            return collect([task.remote(pair) for pair in pairs], pairs, on_done)
        finally:
            if joined:
                ray.shutdown()


def collect(refs: Sequence[Any], pairs: Sequence[Pair], on_done: OnDone) -> list[Result]:
    """The results of the tasks `refs` (`refs[i]` runs `pairs[i]`) as they finish; the first failure
    cancels the tasks still pending and is raised as one MixflowError naming its run."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    index = {ref: i for i, ref in enumerate(refs)}
    results: dict[int, Result] = {}
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            try:
                results[i] = ray.get(ready[0])
            except RayTaskError as failed:
                if isinstance(failed.cause, MixflowError):
                    raise in_run(failed.cause, pairs[i]) from failed.cause
                raise  # a bug in mixflow: its traceback is what a developer needs
            except RayError as lost:
                why = str(lost).strip().splitlines()[0]
                raise MixflowError(f"Ray could not finish {run_label(pairs[i])}: {why}") from lost
            on_done(len(results), len(refs))
    except BaseException:  # a failure or a Ctrl-C: a cluster would otherwise run the rest for nobody
        for ref in pending:
            ray.cancel(ref)
        raise
    return [results[i] for i in range(len(refs))]


def import_ray() -> Any:
    try:
        import ray
    except ImportError as missing:
        raise MixflowError("--ray needs Ray, an optional extra: pip install 'mixflow[ray]'") from missing
    return ray


def join_ray(ray: Any, address: str, workers: int) -> bool:
    """Start or join Ray unless this process already has; True if this call did (and so must leave)."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        # Ray Client warns of a timeout before it raises it: the error line below says it once.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if address == LOCAL:  # `local` also keeps Ray from joining a cluster it finds on this machine
                ray.init(address=LOCAL, num_cpus=workers, include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
    except (ConnectionError, ValueError) as refused:
        why = str(refused).strip().splitlines()[0]
        raise MixflowError(f"--ray {address}: {why}") from refused
    return True


class _RayNotices(io.TextIOBase):
    """A stdout for Ray's own notices that writes them to the log, one record a line."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                log.info("%s", line)
        return len(text)

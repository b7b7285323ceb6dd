"""What the plant page's websocket costs per push: the live twin's snapshot, built and sent; prints JSON.

    .venv/bin/python benchmarks/plant_snapshot.py [--scale 1.0] [--warm-up-h 9] [--pushes 200]

Starts the live twin (`TwinPlant`) of the reference plant at `--scale`, runs it `--warm-up-h` plant
hours (into the first shift, so AGVs drive and machines work), then between short runs of the plant
times what one websocket push does: `take_snapshot` (the plant thread, 10x a second) and
`PlantState(...).model_dump_json()` (the stream, per client and push), and the size of the JSON text.
Baseline in the same run: the same snapshots without the AGVs' VDA 5050 state fields (`AGV_VDA_KEYS`),
the push as it was before they were added; and the cost of those fields alone (`agv_vda_states`).
Timings are taken on a shared, loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mixflow.api import Settings
from mixflow.api.schemas import PlantState
from mixflow.api.twin_plant import TwinPlant

AGV_VDA_KEYS = ("agv_vda", "agv_errors")


def stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p99_ms": round(float(np.percentile(arr, 99)), 3),
    }


def push(snap: dict[str, Any], at: datetime) -> tuple[float, int]:
    """Seconds and bytes of what the stream does with one snapshot for one client."""
    began = time.perf_counter()
    text = PlantState(at=at, **snap).model_dump_json()
    return time.perf_counter() - began, len(text.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--warm-up-h", type=float, default=9.0)
    parser.add_argument("--pushes", type=int, default=200)
    args = parser.parse_args()
    began = time.perf_counter()
    live = TwinPlant(
        Settings(db_url="sqlite://", secret_key="benchmark-secret-key", scale=args.scale),
        warm_up_s=int(args.warm_up_h * 3600),
    )
    warm_up_s = time.perf_counter() - began
    at = datetime.now(UTC)
    took: dict[str, list[float]] = {"take_snapshot": [], "agv_vda_states": [], "push": [], "push_before": []}
    size: dict[str, list[int]] = {"push": [], "push_before": []}
    try:
        with live._lock:
            for k in range(args.pushes):
                live._advance_to(live.twin.now_s + 2)  # the plant moves on between pushes
                t0 = time.perf_counter()
                snap = live.take_snapshot()
                took["take_snapshot"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                live.agv_vda_states(snap["agv_soc"])
                took["agv_vda_states"].append(time.perf_counter() - t0)
                before = {key: value for key, value in snap.items() if key not in AGV_VDA_KEYS}
                # alternate which goes first, so neither always meets a warm cache
                for kind, body in (("push", snap), ("push_before", before))[:: 1 if k % 2 else -1]:
                    seconds, n = push(body, at)
                    took[kind].append(seconds)
                    size[kind].append(n)
    finally:
        live.close()
    print(
        json.dumps(
            {
                "scale": args.scale,
                "agvs": len(live.plant.fleet.agv_ids),
                "machines": len(live.plant.machines),
                "warm_up_s": round(warm_up_s, 1),
                "pushes": args.pushes,
                "timings": {kind: stats(values) for kind, values in took.items() if values},
                "json_bytes_mean": {kind: round(float(np.mean(values))) for kind, values in size.items()},
                "per_second_at_10_hz_kb": {
                    kind: round(float(np.mean(values)) * 10 / 1024, 1) for kind, values in size.items()
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""The configurator on Renault medium, Renault Megane (partial) and the reference trucks; prints JSON.

    .venv/bin/python benchmarks/configure.py [--rows N] [--baseline-rows N] [--scales 1 2 4 8]

Per model: compile time (fresh, no disk cache) and time to load the compiled form from disk, the
exact count, click latency p50/p99 (Renault: every sales-history row clicked in a seeded random
order; the others: seeded random click streams over their valid values), explanation size and time.
Baseline in the same run: one SAT call per (variable, value) per click (python-sat, the same CNF the
explanations use) on the first clicks of the replay; both answers are compared value by value.
Scaling: k copies of Renault medium chained by equality tables on v0 (148k variables, 174k + k - 1
tables); the exact count is checked against sum over a of count(v0 = a) ** k.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mixflow.configure import Engine, compile_catalogue, load_model, read_history
from mixflow.configure.replay import replay
from mixflow.model import Catalogue, Table, Variable
from mixflow.reference import reference_catalogue

CONFIG = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "config"


def progress(facts: dict[str, Any]) -> None:
    """Each model's facts on stderr as soon as they are measured (a long run stopped early keeps them)."""
    print(json.dumps(facts, default=str), file=sys.stderr, flush=True)


def percentiles(values: list[float] | np.ndarray, *qs: float) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {f"p{q:g}": float("nan") for q in qs}
    return {f"p{q:g}": round(float(np.percentile(arr, q)), 4) for q in qs}


def fresh_compile(catalogue: Catalogue) -> tuple[Engine, float, float, float]:
    """Compile without the disk cache, then time a load of the stored form from a private cache."""
    started = time.perf_counter()
    cpu = time.process_time()
    engine = compile_catalogue(catalogue, use_disk_cache=False)
    compile_s = time.perf_counter() - started
    compile_cpu_s = time.process_time() - cpu
    from mixflow.configure.compile import CompiledModel

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.npz"
        np.savez_compressed(path, **engine.compiled.to_arrays())  # type: ignore[arg-type]
        started = time.perf_counter()
        with np.load(path) as arrays:
            CompiledModel.from_arrays(arrays)
        load_s = time.perf_counter() - started
    return engine, compile_s, compile_cpu_s, load_s


def random_streams(engine: Engine, streams: int, seed: int) -> list[list[tuple[str, str]]]:
    """Click streams: a random unchosen variable, then a random value still offered, until complete."""
    rng = random.Random(seed)
    out = []
    for _ in range(streams):
        choices: dict[str, str] = {}
        clicks = []
        state = engine.propagate(choices)
        order = list(engine.variables)
        rng.shuffle(order)
        for var in order:
            code = rng.choice(state.valid[var])
            choices[var] = code
            clicks.append((var, code))
            state = engine.propagate(choices)
        out.append(clicks)
    return out


def click_latencies(engine: Engine, streams: list[list[tuple[str, str]]]) -> dict[str, Any]:
    latencies, cpu = [], []
    dead_ends = 0
    for clicks in streams:
        choices: dict[str, str] = {}
        for var, code in clicks:
            choices[var] = code
            c0 = time.thread_time()
            t0 = time.perf_counter()
            state = engine.propagate(choices)
            latencies.append((time.perf_counter() - t0) * 1000.0)
            cpu.append((time.thread_time() - c0) * 1000.0)
            dead_ends += state.count == 0 or any(not v for v in state.valid.values())
    return {
        "clicks": len(latencies),
        "dead_ends": dead_ends,
        "wall_ms": percentiles(latencies, 50, 99),
        "cpu_ms": percentiles(cpu, 50, 99),
    }


def explanations(engine: Engine, prefixes: list[dict[str, str]], limit: int, seed: int) -> dict[str, Any]:
    """Explain random greyed-out values after random click prefixes: time, choices and rules per answer."""
    rng = random.Random(seed)
    times, cpu, sizes, rules = [], [], [], []
    t0 = time.perf_counter()
    engine.prepare_explanations()  # build the CNF outside the timed calls
    prepare_s = time.perf_counter() - t0
    for choices in prefixes:
        if len(times) >= limit:
            break
        state = engine.propagate(choices)
        greyed = [
            (var, code)
            for var, codes in state.valid.items()
            if var not in choices
            for code in engine.catalogue.variable(var).codes
            if code not in codes
        ]
        if not greyed:
            continue
        var, code = rng.choice(greyed)
        c0 = time.thread_time()
        t0 = time.perf_counter()
        why = engine.explain(choices, var, code)
        times.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.thread_time() - c0) * 1000.0)
        sizes.append(len(why.choices))
        rules.append(len(why.rules))
    return {
        "explanations": len(times),
        "prepare_s": round(prepare_s, 3),
        "explain_ms": percentiles(times, 50, 95, 99),
        "explain_cpu_ms": percentiles(cpu, 50, 95, 99),
        "choices_mean": round(float(np.mean(sizes)), 2) if sizes else None,
        "choices_max": max(sizes, default=None),
        "rules_mean": round(float(np.mean(rules)), 2) if rules else None,
        "rules_max": max(rules, default=None),
    }


def prefixes_of(streams: list[list[tuple[str, str]]], seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [dict(clicks[: rng.randint(1, max(1, len(clicks) // 2))]) for clicks in streams if clicks]


def baseline(
    engine: Engine, streams: list[list[tuple[str, str]]], clicks: int, budget_s: float
) -> dict[str, Any]:
    """One SAT call per (variable, value) per click, against the MDD on the same clicks (time-boxed)."""
    sat = engine.sat
    ours, theirs, disagreements, done = [], [], 0, 0
    deadline = time.perf_counter() + budget_s
    for stream in streams:
        choices: dict[str, str] = {}
        for var, code in stream:
            if done >= clicks or time.perf_counter() > deadline:
                break
            choices[var] = code
            t0 = time.perf_counter()
            state = engine.propagate(choices)
            t1 = time.perf_counter()
            valid = sat.valid_values(choices)
            t2 = time.perf_counter()
            ours.append((t1 - t0) * 1000.0)
            theirs.append((t2 - t1) * 1000.0)
            disagreements += any(tuple(valid[v]) != state.valid[v] for v in valid)
            done += 1
    return {
        "clicks": done,
        "sat_click_ms": percentiles(theirs, 50, 99),
        "mdd_click_ms": percentiles(ours, 50, 99),
        "speedup_p50": round(float(np.median(theirs) / np.median(ours)), 1) if ours else None,
        "disagreements": disagreements,
    }


def chained_copies(catalogue: Catalogue, copies: int) -> Catalogue:
    """`copies` renamed copies of a table catalogue, copy i's v0 equal to copy i+1's v0."""
    variables: list[Variable] = []
    tables: list[Table] = []
    for i in range(copies):
        rename = {v.name: f"c{i}.{v.name}" for v in catalogue.variables}
        variables += [Variable(name=rename[v.name], values=v.values) for v in catalogue.variables]
        tables += [
            Table(id=f"c{i}.{t.id}", scope=tuple(rename[s] for s in t.scope), allowed=t.allowed, text=t.text)
            for t in catalogue.tables
        ]
        if i:
            link = catalogue.variables[0]
            tables.append(
                Table(
                    id=f"link{i}",
                    scope=(f"c{i - 1}.{link.name}", f"c{i}.{link.name}"),
                    allowed=frozenset((c, c) for c in link.codes),
                    text=f"copies {i - 1} and {i} share {link.name}",
                )
            )
    return Catalogue(name=f"{catalogue.name} x{copies}", variables=tuple(variables), tables=tuple(tables))


def model_report(name: str, catalogue: Catalogue, streams_n: int, seed: int) -> tuple[Engine, dict[str, Any]]:
    engine, compile_s, compile_cpu_s, load_s = fresh_compile(catalogue)
    t0 = time.perf_counter()
    count = engine.count()
    count_s = time.perf_counter() - t0
    c = engine.compiled
    return engine, {
        "model": name,
        "variables": len(catalogue.variables),
        "tables_and_rules": len(catalogue.tables) + len(catalogue.rules) + len(catalogue.limits),
        "compile_s": round(compile_s, 3),
        "compile_cpu_s": round(compile_cpu_s, 3),
        "load_compiled_s": round(load_s, 4),
        "count": count,
        "count_ms": round(count_s * 1000.0, 3),
        "bdd_nodes": c.bdd_nodes,
        "mdd_nodes": c.n_nodes,
        "mdd_edges": c.n_edges,
        "streams": streams_n,
    }


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--rows", type=int, default=0, help="Renault history rows to replay (0 = all)")
    parser.add_argument("--baseline-clicks", type=int, default=300)
    parser.add_argument(
        "--baseline-seconds", type=float, default=60.0, help="time box of the SAT baseline per model"
    )
    parser.add_argument("--streams", type=int, default=200, help="random click streams per other model")
    parser.add_argument("--explanations", type=int, default=300)
    parser.add_argument("--scales", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-models", action="store_true", help="only the scaling series")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": "2 shared cores, loaded by other sessions: absolute times are noisy"}
    models: list[dict[str, Any]] = []

    medium = load_model(CONFIG / "renault_medium_br4cp.xcsp21.xml")
    if not args.skip_models:
        engine, facts = model_report("renault_medium", medium, 0, args.seed)
        facts["count_published"] = 278_744
        history = read_history(CONFIG / "renault_medium_sales_history.txt", medium)
        result = replay(engine, history, seed=args.seed, limit=args.rows or None)
        facts["replay"] = result.to_json()
        facts["replay"]["click_ms_p999"] = percentiles(result.click_ms, 99.9)["p99.9"]
        facts["replay"]["click_cpu_ms"] = percentiles(result.click_cpu_ms, 50, 99, 99.9)
        progress({"model": "renault_medium", "replay": facts["replay"]})
        width = len(history.variables)
        streams = [
            [(var, row[var]) for var in random.Random(args.seed + i).sample(history.variables, width)]
            for i, row in enumerate(history.rows[: max(args.explanations, 1)])
        ]
        facts["explain"] = explanations(engine, prefixes_of(streams, args.seed), args.explanations, args.seed)
        facts["baseline_one_sat_call_per_value"] = baseline(
            engine, streams, args.baseline_clicks, args.baseline_seconds
        )
        models.append(facts)
        progress(facts)

        for name, catalogue in (
            ("renault_megane_partial", load_model(CONFIG / "renault_megane_clib_partial.json.gz")),
            ("reference_trucks", reference_catalogue()),
        ):
            engine, facts = model_report(name, catalogue, args.streams, args.seed)
            streams = random_streams(engine, args.streams, args.seed)
            facts["clicks"] = click_latencies(engine, streams)
            facts["explain"] = explanations(
                engine, prefixes_of(streams, args.seed), args.explanations, args.seed
            )
            facts["baseline_one_sat_call_per_value"] = baseline(
                engine, streams, args.baseline_clicks, args.baseline_seconds
            )
            if name == "renault_megane_partial":
                facts["count_upper_bound_noted"] = 7_445_949_334_016
            models.append(facts)
            progress(facts)
    report["models"] = models

    scaling = []
    base = compile_catalogue(medium)
    per_v0 = {code: base.count({"v0": code}) for code in medium.variables[0].codes}
    for k in args.scales:
        catalogue = chained_copies(medium, k)
        engine, facts = model_report(f"renault_medium_chain_x{k}", catalogue, 50, args.seed)
        facts["count_expected"] = sum(n**k for n in per_v0.values())
        facts["count_ok"] = facts["count"] == facts["count_expected"]
        streams = random_streams(engine, 50, args.seed)
        facts["clicks"] = click_latencies(engine, streams)
        facts["explain"] = explanations(engine, prefixes_of(streams, args.seed), 50, args.seed)
        facts["count"] = str(facts["count"])
        facts["count_expected"] = str(facts["count_expected"])
        scaling.append(facts)
        progress(facts)
    report["scaling"] = scaling
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

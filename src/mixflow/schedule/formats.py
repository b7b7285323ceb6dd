"""Readers for the public job-shop benchmark files (see ../shared/benchmarks/jobshop/SOURCES.md).

- JSPLIB / OR-Library (Taillard, Da Col & Teppan large instances): line 1 `jobs machines`, then one
  line per job of `machine duration` pairs with 0-based machines; `#` starts a comment line.
- Brandimarte / Dauzère-Pérès `.fjs`: line 1 `jobs machines [avg-machines-per-op]`, then one line per
  job: `#ops`, and per operation `#alternatives` followed by `machine duration` pairs, 1-based machines.

Either may be gzipped (`.gz`). Errors name the file and line.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from mixflow.errors import InputFileError, MixflowError
from mixflow.schedule.data import Job, Machine, Mode, Operation, ProblemData


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty, non-comment lines as (1-based line number, tokens)."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                text = handle.read()
        else:
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as bad:
        raise InputFileError(str(path), f"cannot read: {bad}") from bad
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split("#", 1)[0].split()
        if tokens:
            out.append((number, tokens))
    if not out:
        raise InputFileError(str(path), "file is empty")
    return out


def _ints(path: Path, number: int, tokens: list[str]) -> list[int]:
    try:
        return [int(token) for token in tokens]
    except ValueError:
        raise InputFileError(str(path), f"expected integers, got {' '.join(tokens)!r}", line=number) from None


def _header(path: Path, number: int, tokens: list[str], width: int) -> tuple[int, int]:
    values = _ints(path, number, tokens[:2])
    if len(values) < 2 or len(tokens) > width:
        raise InputFileError(str(path), "header must be `jobs machines`", line=number)
    jobs, machines = values
    if jobs < 1 or machines < 1:
        raise InputFileError(str(path), f"need >= 1 job and machine, got {jobs} x {machines}", line=number)
    return jobs, machines


def _operation(path: Path, number: int, pairs: list[int], n_machines: int, base: int) -> Operation:
    modes = []
    for machine, duration in zip(pairs[0::2], pairs[1::2], strict=True):
        if not base <= machine < n_machines + base:
            raise InputFileError(str(path), f"machine {machine} outside 1..{n_machines}"
                                 if base else f"machine {machine} outside 0..{n_machines - 1}", line=number)
        if duration < 0:
            raise InputFileError(str(path), f"negative duration {duration}", line=number)
        modes.append(Mode(machine - base, duration))
    if not modes:
        raise InputFileError(str(path), "an operation has no eligible machine", line=number)
    try:
        return Operation(tuple(modes))
    except MixflowError as bad:
        raise InputFileError(str(path), str(bad), line=number) from None


def read_jsplib(path: str | Path) -> ProblemData:
    """Read a JSPLIB / OR-Library job-shop file (Taillard format; optionally gzipped)."""
    path = Path(path)
    lines = _lines(path)
    n_jobs, n_machines = _header(path, *lines[0], width=2)
    if len(lines) - 1 < n_jobs:
        raise InputFileError(str(path), f"header says {n_jobs} jobs, file has {len(lines) - 1} job lines")
    if len(lines) - 1 > n_jobs:
        raise InputFileError(str(path), f"more job lines than the {n_jobs} in the header", line=lines[-1][0])
    jobs: list[Job] = []
    for number, tokens in lines[1:]:
        values = _ints(path, number, tokens)
        if len(values) % 2:
            raise InputFileError(str(path), "a job line needs `machine duration` pairs", line=number)
        if not values:
            raise InputFileError(str(path), "a job has no operations", line=number)
        ops = tuple(
            _operation(path, number, values[k : k + 2], n_machines, base=0) for k in range(0, len(values), 2)
        )
        jobs.append(Job(ops, name=f"job{len(jobs)}"))
    return ProblemData(tuple(Machine(f"m{m}") for m in range(n_machines)), tuple(jobs), name=path.name)


def read_fjs(path: str | Path) -> ProblemData:
    """Read a Brandimarte / Dauzère-Pérès `.fjs` flexible job-shop file (machines 1-based)."""
    path = Path(path)
    lines = _lines(path)
    number, tokens = lines[0]
    n_jobs, n_machines = _header(path, number, [tokens[0], tokens[1]] if len(tokens) >= 2 else tokens, 2)
    if len(tokens) > 3:
        raise InputFileError(str(path), "header must be `jobs machines [avg-machines]`", line=number)
    job_lines = lines[1:]
    if len(job_lines) < n_jobs:
        raise InputFileError(str(path), f"header says {n_jobs} jobs, file has {len(job_lines)} job lines")
    if len(job_lines) > n_jobs:
        raise InputFileError(
            str(path), f"more job lines than the {n_jobs} in the header", line=job_lines[-1][0]
        )
    jobs: list[Job] = []
    for number, tokens in job_lines:
        values = _ints(path, number, tokens)
        n_ops, pos, ops = values[0], 1, []
        if n_ops < 1:
            raise InputFileError(str(path), "a job needs at least one operation", line=number)
        for _ in range(n_ops):
            if pos >= len(values):
                raise InputFileError(str(path), f"job line ends before its {n_ops} operations", line=number)
            k = values[pos]
            pairs = values[pos + 1 : pos + 1 + 2 * k]
            if k < 1:
                raise InputFileError(str(path), "an operation has no eligible machine", line=number)
            if len(pairs) < 2 * k:
                raise InputFileError(str(path), "job line ends inside an operation", line=number)
            ops.append(_operation(path, number, pairs, n_machines, base=1))
            pos += 1 + 2 * k
        if pos != len(values):
            raise InputFileError(str(path), "trailing numbers after the job's operations", line=number)
        jobs.append(Job(tuple(ops), name=f"job{len(jobs)}"))
    return ProblemData(tuple(Machine(f"m{m + 1}") for m in range(n_machines)), tuple(jobs), name=path.name)


def read(path: str | Path) -> ProblemData:
    """Read an instance, choosing the format from the extension (`.fjs`) or the header's width."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(str(path), "no such file")
    stem = path.name.removesuffix(".gz")
    if stem.endswith(".fjs"):
        return read_fjs(path)
    first = _lines(path)[0][1]
    return read_fjs(path) if len(first) == 3 else read_jsplib(path)

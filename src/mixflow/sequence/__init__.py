"""Mixed-model line sequencing: ratio rules p/q, paint batching, the D-1 tail, ranked criteria.

`ProblemData` in, `SequenceResult` out: `solve` is the anytime local search, `solve_cpsat` the exact
CP-SAT model (baseline and proofs), `evaluate` the independent scorer; `formats` reads CSPLib prob001
and ROADEF 2005 instances.
"""

from mixflow.sequence.data import CRITERIA, ProblemData, RatioRule
from mixflow.sequence.evaluate import Evaluation, evaluate, order_from_ids
from mixflow.sequence.local_search import greedy_order, solve
from mixflow.sequence.result import SequenceResult

__all__ = [
    "CRITERIA",
    "Evaluation",
    "ProblemData",
    "RatioRule",
    "SequenceResult",
    "evaluate",
    "greedy_order",
    "order_from_ids",
    "solve",
]

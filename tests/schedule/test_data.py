"""ProblemData validation: every bad value fails with a sentence naming the field."""

from __future__ import annotations

import pytest

from mixflow.errors import ValidationError
from mixflow.schedule import Job, Machine, Mode, Operation, ProblemData


def test_negative_duration_is_rejected() -> None:
    with pytest.raises(ValidationError, match="duration"):
        Mode(0, -1)


def test_operation_needs_an_eligible_machine() -> None:
    with pytest.raises(ValidationError, match="eligible machine"):
        Operation(())


def test_machine_index_must_exist() -> None:
    with pytest.raises(ValidationError, match=r"jobs\[0\].operations\[0\].*machine 3 does not exist"):
        ProblemData((Machine(),), (Job((Operation((Mode(3, 1),)),)),))


def test_cyclic_precedences_are_rejected() -> None:
    jobs = (Job((Operation((Mode(0, 1),)),)), Job((Operation((Mode(0, 1),)),)))
    with pytest.raises(ValidationError, match="cycle"):
        ProblemData((Machine(),), jobs, precedences=(((0, 0), (1, 0)), ((1, 0), (0, 0))))


def test_setup_matrix_must_cover_families() -> None:
    machine = Machine("m", setup_times=((0, 1), (1, 0)))
    with pytest.raises(ValidationError, match="family 2"):
        ProblemData((machine,), (Job((Operation((Mode(0, 1),), family=2),)),))
    with pytest.raises(ValidationError, match="square"):
        Machine("m", setup_times=((0, 1),))


def test_downtime_window_must_not_be_empty() -> None:
    with pytest.raises(ValidationError, match="downtime"):
        Machine("m", downtime=((5, 5),))


def test_flat_indices_follow_file_order() -> None:
    op = Operation((Mode(0, 1),))
    data = ProblemData((Machine(),), (Job((op, op)), Job((op,)), Job((op, op, op))))
    assert data.num_operations == 6
    assert data.op_index(2, 1) == 4

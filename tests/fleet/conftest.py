"""Small floors the fleet tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixflow.fleet.grid import Grid, grid_from_rows

DATA = Path(__file__).parent / "data"

WAREHOUSE_ROWS = [
    "....................",
    "..@@@@..@@@@..@@@@..",
    "..@@@@..@@@@..@@@@..",
    "....................",
    "..@@@@..@@@@..@@@@..",
    "..@@@@..@@@@..@@@@..",
    "....................",
    "....................",
]


@pytest.fixture
def warehouse() -> Grid:
    """A 20 x 8 floor with two rows of racks and aisles between them."""
    return grid_from_rows(WAREHOUSE_ROWS, name="small-warehouse")


@pytest.fixture
def data_dir() -> Path:
    return DATA

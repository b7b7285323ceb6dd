"""The small reference world the scheduler tests plan for: scale 0.05, three days of orders."""

from __future__ import annotations

import pytest

from mixflow.reference import build_plant, order_stream, reference_catalogue


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    plant = build_plant(0.05, 0)
    catalogue = reference_catalogue()
    return plant, catalogue, order_stream(plant, catalogue, 3, 0)

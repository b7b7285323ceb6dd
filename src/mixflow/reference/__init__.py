"""A seeded generator of the reference plant and its order stream, at any scale (layer 2)."""

from mixflow.reference.capacity import Load, assign_lines, feeder_loads, line_loads
from mixflow.reference.catalogue import buildable_models, reference_catalogue, sample_configuration
from mixflow.reference.orders import order_stream, orders_per_day
from mixflow.reference.plant import build_plant

__all__ = [
    "Load",
    "assign_lines",
    "build_plant",
    "buildable_models",
    "feeder_loads",
    "line_loads",
    "order_stream",
    "orders_per_day",
    "reference_catalogue",
    "sample_configuration",
]

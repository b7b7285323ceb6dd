"""The reference order stream: Poisson arrivals, a realistic model mix, delivery asked in 5+ days."""

from __future__ import annotations

import random

from mixflow.model import DAY_S, Catalogue, Order, Plant, Scope
from mixflow.model.formula import holds
from mixflow.reference.catalogue import (
    buildable_models,
    has_reference_mix,
    model_weights,
    sample_configuration,
)

# Share of the line's rate that customers order: the plant runs near, not over, its capacity.
LOAD_FACTOR = 0.9
DELIVERY_DAYS = 5


def orders_per_day(plant: Plant) -> float:
    """Mean number of orders a day the plant receives: a little under what its lines can build."""
    return LOAD_FACTOR * plant.units_per_day


def line_mix(
    plant: Plant, models: tuple[tuple[str, ...], ...], model_vars: list[str], weights: list[float]
) -> list[float]:
    """Demand spread over the plant's lines in proportion to their rates: each line's share goes to
    the models it builds, in proportion to `weights` (a line that builds only coaches gets as many
    orders as it can take, not a share set by how many families it builds)."""
    configs = [dict(zip(model_vars, m, strict=True)) for m in models]
    total = plant.units_per_day
    mixed = [0.0] * len(models)
    for line in plant.lines:
        able = [i for i, config in enumerate(configs) if holds(line.builds, config)]
        mass = sum(weights[i] for i in able)
        for i in able:
            mixed[i] += line.units_per_day / total * weights[i] / mass
    return mixed if sum(mixed) > 0 else weights


def order_stream(
    plant: Plant, catalogue: Catalogue, days: int, seed: int = 0, start_s: int = 0, first_number: int = 1
) -> list[Order]:
    """Orders arriving over `days` days from `start_s`, each asking for delivery in 5 to 7 days; their
    ids count up from `first_number`, so a stream continued window by window keeps them unique."""
    rng = random.Random(seed)
    models = buildable_models(catalogue)
    weights = model_weights(catalogue, models)
    model_vars = [v.name for v in catalogue.variables_of(Scope.MODEL)]
    if not has_reference_mix(catalogue, models):
        weights = line_mix(plant, models, model_vars, weights)
    rate_per_s = orders_per_day(plant) / DAY_S
    orders: list[Order] = []
    t = float(start_s)
    end = start_s + days * DAY_S
    while True:
        t += rng.expovariate(rate_per_s)
        if t >= end:
            break
        model = rng.choices(models, weights)[0]
        config = sample_configuration(rng, dict(zip(model_vars, model, strict=True)), catalogue)
        placed = int(t)
        requested = placed + DELIVERY_DAYS * DAY_S + rng.choice((0, 0, 0, 1, 2)) * DAY_S
        orders.append(
            Order(
                id=f"O{first_number + len(orders):06d}",
                customer=f"C{rng.randrange(1, 400):04d}",
                configuration=config,
                placed_s=placed,
                requested_s=requested,
                priority=1 if rng.random() < 0.05 else 0,
            )
        )
    return orders

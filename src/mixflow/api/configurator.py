"""The configurator over HTTP: the catalogue, and one answer per click (valid values, exact count, price
range), why a value is greyed, and the cheapest or default completion.

Every answer comes from `mixflow.configure`'s compiled engine, built once per process for the catalogue;
nothing is computed here but the translation to and from the API's models.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mixflow.api.schemas import (
    CatalogueOut,
    CompleteRequest,
    Completion,
    ConfigurationState,
    ConfigureRequest,
    ErrorOut,
    ExplainRequest,
    Explanation,
    PriceRange,
    ValueOut,
    VariableOut,
)
from mixflow.configure import Engine, compile_catalogue
from mixflow.model import Catalogue

router = APIRouter(prefix="/api", tags=["configurator"])


class ConfiguratorService:
    """The catalogue and its engine, compiled (or loaded from the disk cache) and warmed up at start-up,
    so the first buyer's click costs what every other click costs."""

    def __init__(self, catalogue: Catalogue, plant_name: str = "") -> None:
        self.catalogue = catalogue
        self.plant_name = plant_name
        self.engine: Engine = compile_catalogue(catalogue)
        self.engine.propagate({})  # loads the numba kernels

    def check(self, choices: dict[str, str]) -> None:
        self.catalogue.check_names(choices)  # UnknownNameError -> 422

    def catalogue_out(self) -> CatalogueOut:
        c = self.catalogue
        return CatalogueOut(
            name=c.name, currency=c.currency, base_price=c.base_price,
            product=c.product, products=c.products, plant=self.plant_name,
            variables=[
                VariableOut(
                    name=v.name, label=v.label or v.name, scope=v.scope.value, default=v.default,
                    values=[ValueOut(code=x.code, label=x.label or x.code, price=x.price) for x in v.values],
                )
                for v in c.variables
            ],
        )


def _service(request: Request) -> ConfiguratorService:
    return request.app.state.configurator


@router.get("/catalogue", response_model=CatalogueOut)
def catalogue(request: Request) -> CatalogueOut:
    """Every variable with its values and list prices, in catalogue order; what a unit is called
    (`product`, `products`) and the plant that builds them."""
    return _service(request).catalogue_out()


@router.post("/configurator/propagate", response_model=ConfigurationState,
             responses={422: {"model": ErrorOut}, 409: {"model": ErrorOut}})
async def propagate(body: ConfigureRequest, request: Request) -> ConfigurationState:
    """One click: the values still possible for every variable, the exact count left and the price range.

    Runs on the event loop, not in the thread pool: one propagation over the compiled catalogue takes
    well under a millisecond, less than the hop to a worker thread would cost."""
    service = _service(request)
    service.check(body.choices)
    answer = service.engine.propagate(body.choices)
    complete = len(body.choices) == len(service.catalogue.variables)
    return ConfigurationState(
        valid={name: list(codes) for name, codes in answer.valid.items()},
        count=str(answer.count),
        price=PriceRange(min=answer.price_min, max=answer.price_max),
        complete=complete,
        configuration_price=service.catalogue.price(body.choices) if complete and answer.count else None,
        conflicts=[_say_conflict(service.catalogue, c) for c in answer.conflicts],
    )


def _say_conflict(catalogue: Catalogue, conflict: Any) -> str:
    chosen = " and ".join(
        f"{catalogue.variable(n).label or n} = {catalogue.variable(n).value(v).label or v}"
        for n, v in conflict.choices.items()
    )
    rules = "; ".join(conflict.rules or ("the catalogue rules",))
    return f"{chosen or 'these choices'} cannot go together: {rules}"


@router.post("/configurator/explain", response_model=Explanation, responses={422: {"model": ErrorOut}})
def explain(body: ExplainRequest, request: Request) -> Explanation:
    """Why `variable = value` is ruled out: a minimal set of the choices that conflict with it, in words."""
    service = _service(request)
    service.check({**body.choices, body.variable: body.value})
    answer = service.engine.explain(body.choices, body.variable, body.value)
    return Explanation(variable=body.variable, value=body.value, possible=answer.possible,
                       conflicting_choices=dict(answer.choices), reasons=list(answer.rules), text=answer.text)


@router.post("/configurator/complete", response_model=Completion,
             responses={422: {"model": ErrorOut}, 409: {"model": ErrorOut}})
async def complete(body: CompleteRequest, request: Request) -> Completion:
    """The cheapest (or the default) valid configuration that keeps every choice made so far."""
    service = _service(request)
    service.check(body.choices)
    configuration = dict(service.engine.complete(body.choices, body.objective))
    return Completion(configuration=configuration, price=service.catalogue.price(configuration))

"""The configurator over HTTP: the catalogue, and one answer per click (valid values, exact count, price
range, price breakdown), why a value is greyed, switch-and-adjust, and the cheapest or default completion.

Every answer comes from `mixflow.configure`'s compiled engine, built once per process for the catalogue;
nothing is computed here but the translation to and from the API's models.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mixflow.api.schemas import (
    Adjustment,
    AdjustRequest,
    CatalogueOut,
    ChoiceChange,
    CompleteRequest,
    Completion,
    ConfigurationState,
    ConfigureRequest,
    ErrorOut,
    ExplainRequest,
    Explanation,
    PriceBreakdown,
    PriceLine,
    PriceRange,
    ValueOut,
    VariableOut,
)
from mixflow.configure import Engine, compile_catalogue
from mixflow.model import Catalogue
from mixflow.model.formula import holds, literals

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


    def breakdown(self, choices: dict[str, str]) -> PriceBreakdown:
        """Base, each chosen value's price (catalogue order) and each surcharge whose condition holds."""
        c = self.catalogue
        lines = [PriceLine(kind="base", name="base", label=f"Base {c.product}", amount=c.base_price)]
        for variable in c.variables:
            code = choices.get(variable.name)
            if code is None:
                continue
            value = variable.value(code)
            lines.append(PriceLine(kind="option", name=variable.name, value=code, amount=value.price,
                                   label=f"{variable.label or variable.name}: {value.label or code}"))
        for surcharge in c.surcharges:
            if holds(surcharge.when, choices):
                lines.append(PriceLine(kind="surcharge", name=surcharge.id, amount=surcharge.amount,
                                       label=self._say_surcharge(surcharge.id, surcharge.when)))
        return PriceBreakdown(currency=c.currency, lines=lines,
                              total=round(sum(line.amount for line in lines), 2))

    def _say_surcharge(self, surcharge_id: str, when: Any) -> str:
        """`mixer-epto (Concrete mixer + Electric PTO)`: the id and the values that trigger it."""
        said = []
        for lit in literals(when):
            variable = self.catalogue.variable(lit.var)
            said.append(" or ".join(sorted(variable.value(code).label or code for code in lit.values)))
        return f"{surcharge_id} ({' + '.join(said)})" if said else surcharge_id


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
        breakdown=service.breakdown(body.choices) if answer.count else None,
        switchable=_switchable(service.engine, body.choices) if answer.count else {},
    )


def _switchable(engine: Engine, choices: dict[str, str]) -> dict[str, list[str]]:
    """Per chosen variable, the values that fit every other choice: one propagation without it each."""
    found = {}
    for name in choices:
        others = {n: v for n, v in choices.items() if n != name}
        found[name] = list(engine.propagate(others).valid[name])
    return found


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


@router.post("/configurator/adjust", response_model=Adjustment,
             responses={422: {"model": ErrorOut}, 409: {"model": ErrorOut}})
async def adjust(body: AdjustRequest, request: Request) -> Adjustment:
    """Switch and adjust: choose `variable = value` and change the fewest other choices so that the
    configuration can still be built (ties: the cheapest); 409 when no configuration has the value."""
    service = _service(request)
    service.check({**body.choices, body.variable: body.value})
    answer = service.engine.adjust(body.choices, body.variable, body.value)
    catalogue = service.catalogue

    def label(name: str, code: str) -> str:
        return catalogue.variable(name).value(code).label or code

    changes = [
        ChoiceChange(variable=name, label=catalogue.variable(name).label or name, old=old,
                     old_label=label(name, old), new=new, new_label=label(name, new))
        for name, (old, new) in answer.changes.items()
    ]
    return Adjustment(variable=body.variable, value=body.value, changes=changes, choices=dict(answer.choices),
                      text=answer.text)

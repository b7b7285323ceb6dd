import pytest

from mixflow.errors import UnknownNameError, ValidationError
from mixflow.model import (
    BomLine,
    Catalogue,
    Limit,
    Part,
    Rule,
    StationWork,
    Surcharge,
    Table,
    Value,
    Variable,
    implies,
    is_,
)


def small_catalogue() -> Catalogue:
    return Catalogue(
        name="two trucks",
        base_price=100.0,
        variables=(
            Variable("family", (Value("tractor", price=10), Value("dump", price=20, attributes={"kg": 5}))),
            Variable(
                "drive", (Value("4x2", attributes={"kg": 1}), Value("8x4", price=7, attributes={"kg": 3}))
            ),
        ),
        rules=(Rule("r1", implies(is_("drive", "8x4"), is_("family", "dump")), "8x4 only for dumps"),),
        tables=(
            Table(
                "t1", ("family", "drive"), frozenset({("tractor", "4x2"), ("dump", "8x4"), ("dump", "4x2")})
            ),
        ),
        limits=(Limit("l1", "kg", maximum=7, text="too heavy"),),
        surcharges=(Surcharge("s1", is_("family", "dump"), -5.0),),
        parts=(Part("axle", "Axle"),),
        bom=(BomLine("axle", 2), BomLine("axle", 2, is_("drive", "8x4"))),
        station_work=(StationWork(3, 60, is_("drive", "8x4")),),
    )


def test_valid_and_invalid_configurations() -> None:
    cat = small_catalogue()
    assert cat.is_valid({"family": "tractor", "drive": "4x2"})
    assert cat.violations({"family": "tractor", "drive": "8x4"}) == ["8x4 only for dumps", "t1"]
    assert cat.violations({"family": "dump", "drive": "8x4"}) == ["too heavy"]
    assert cat.violations({"family": "dump"}) == ["drive is not chosen", "t1"]


def test_price_bom_and_line_work() -> None:
    cat = small_catalogue()
    config = {"family": "dump", "drive": "8x4"}
    assert cat.price(config) == 100 + 20 + 7 - 5
    assert cat.bill_of_materials(config) == {"axle": 4}
    assert cat.line_work(config) == {3: 60}
    assert cat.line_work({"family": "dump", "drive": "4x2"}) == {}


def test_unknown_names_are_named() -> None:
    cat = small_catalogue()
    with pytest.raises(UnknownNameError, match="unknown variable 'colour'"):
        cat.violations({"colour": "red"})
    with pytest.raises(UnknownNameError, match="unknown value of drive '6x6'"):
        cat.price({"drive": "6x6"})


def test_construction_rejects_bad_references() -> None:
    with pytest.raises(ValidationError, match="rule r: names unknown variable 'cab'"):
        Catalogue("x", (Variable("a", (Value("1"),)),), rules=(Rule("r", is_("cab", "day")),))
    with pytest.raises(ValidationError, match="unknown value"):
        Catalogue("x", (Variable("a", (Value("1"),)),), rules=(Rule("r", is_("a", "2")),))
    with pytest.raises(ValidationError, match="repeats value"):
        Variable("a", (Value("1"), Value("1")))
    with pytest.raises(ValidationError, match="default"):
        Variable("a", (Value("1"),), default="2")
    with pytest.raises(ValidationError, match="names a part"):
        Catalogue("x", (Variable("a", (Value("1"),)),), bom=(BomLine("ghost"),))

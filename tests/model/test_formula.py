from mixflow.model.formula import AllOf, AnyOf, Not, describe, holds, implies, is_, partial, variables


def test_holds_and_partial_agree_on_complete_configurations() -> None:
    rule = implies(is_("drive", "8x4"), is_("family", "dump", "mixer"))
    assert holds(rule, {"drive": "8x4", "family": "dump"})
    assert not holds(rule, {"drive": "8x4", "family": "tractor"})
    assert holds(rule, {"drive": "4x2", "family": "tractor"})
    for config in ({"drive": "8x4", "family": "dump"}, {"drive": "8x4", "family": "cargo"}):
        assert partial(rule, config) is holds(rule, config)


def test_partial_is_undecided_until_a_deciding_variable_is_set() -> None:
    rule = implies(is_("drive", "8x4"), is_("family", "dump"))
    assert partial(rule, {}) is None
    assert partial(rule, {"drive": "8x4"}) is None
    assert partial(rule, {"drive": "4x2"}) is True
    assert partial(AllOf((is_("a", "1"), is_("b", "1"))), {"a": "2"}) is False
    assert partial(AnyOf((is_("a", "1"), is_("b", "1"))), {"b": "1"}) is True


def test_describe_and_variables() -> None:
    formula = AllOf((is_("drive", "8x4"), Not(is_("family", "dump", "mixer"))))
    assert describe(formula) == "drive = 8x4 and not family in {dump, mixer}"
    assert variables(formula) == {"drive", "family"}

"""Recipes for the int8 sweep parse into ladder entries, and a wrong one is refused with the choices."""

import pytest

from edge_sdk.errors import InvalidInputError
from quantize.vision.int8 import Int8Recipe
from quantize.vision.int8_sweep import parse_recipe


def test_recipes_parse_into_ladder_entries_with_their_label():
    assert parse_recipe("minmax,head") == ("minmax", "head", False)
    assert parse_recipe("percentile,stem,bc,99.99") == ("percentile", "stem", True, 99.99)
    method, exclude, *more = parse_recipe("percentile,stem,bc,99.99")
    recipe = Int8Recipe(method, "u8s8", exclude, *more)
    assert recipe.label() == "percentile-99.99/u8s8/exclude=stem/bias-corrected"
    assert Int8Recipe("percentile", "u8s8", "stem", True).label() == "percentile/u8s8/exclude=stem/bias-corrected"


@pytest.mark.parametrize("text", ["minmax", "kl,stem", "minmax,everything"])
def test_a_wrong_recipe_is_refused_with_the_choices(text):
    with pytest.raises(InvalidInputError, match="expected method,exclude"):
        parse_recipe(text)

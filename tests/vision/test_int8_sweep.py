"""Recipes for the int8 sweep parse into ladder entries, and a wrong one is refused with the choices."""

import pytest

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.vision.int8 import Int8Recipe
from edge_sdk.quantize.vision.int8_sweep import parse_recipe


def test_recipes_parse_into_ladder_entries_with_their_label():
    assert parse_recipe("minmax,head") == {"method": "minmax", "exclude": "head"}
    assert parse_recipe("minmax,front+depthwise") == {"method": "minmax", "exclude": "front+depthwise"}
    assert parse_recipe("percentile,stem,bc,99.99") == {"method": "percentile", "exclude": "stem", "bias_correction": True,
                                                        "percentile": 99.99}
    recipe = Int8Recipe(int8_format="u8s8", **parse_recipe("percentile,stem,bc,99.99"))
    assert recipe.label() == "percentile-99.99/u8s8/exclude=stem/bias-corrected"
    assert Int8Recipe("percentile", "u8s8", "stem", True).label() == "percentile/u8s8/exclude=stem/bias-corrected"
    assert Int8Recipe(int8_format="u8s8", **parse_recipe("percentile,stem,gptq")).label() == "percentile/u8s8/exclude=stem/gptq"
    assert Int8Recipe(int8_format="u8s8", **parse_recipe("minmax,stem,qat")).label() == "minmax/u8s8/exclude=stem/qat"
    with pytest.raises(ValueError, match="one at a time"):
        Int8Recipe(int8_format="u8s8", bias_correction=True, qat=True)


@pytest.mark.parametrize("text", ["minmax", "kl,stem", "minmax,everything", "minmax,stem+", "minmax,stem,bc,gptq", "minmax,stem,gptq,qat", "minmax,stem,fast"])
def test_a_wrong_recipe_is_refused_with_the_choices(text):
    with pytest.raises(InvalidInputError, match="expected method,exclude"):
        parse_recipe(text)

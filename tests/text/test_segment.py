"""The segmenter's test set: abbreviations, initials, decimals, quotes, lists, headings, CJK."""

from __future__ import annotations

import pytest

from edge_sdk.text.segment import split_sentences

CASES = [
    ("Dr. Smith went to Washington. He arrived at 3 p.m. on Monday.",
     ["Dr. Smith went to Washington.", "He arrived at 3 p.m. on Monday."]),
    ("Prices rose 2.5% in 2020. They fell 1.25 points in 2021.", ["Prices rose 2.5% in 2020.", "They fell 1.25 points in 2021."]),
    ("The U.S. Environmental Protection Agency approved it. Sales rose.",
     ["The U.S. Environmental Protection Agency approved it.", "Sales rose."]),
    ("It was made in the U.S. The plant closed later.", ["It was made in the U.S.", "The plant closed later."]),
    ('He said, "Stop." Then he left.', ['He said, "Stop."', "Then he left."]),
    ('"Why?" she asked. Nobody answered.', ['"Why?" she asked.', "Nobody answered."]),
    ("J. K. Rowling wrote it. It sold well.", ["J. K. Rowling wrote it.", "It sold well."]),
    ("See e.g. the results in Fig. 3. They are clear.", ["See e.g. the results in Fig. 3.", "They are clear."]),
    ("Use i.e. the default. Then stop.", ["Use i.e. the default.", "Then stop."]),
    ("Steps:\n1. Open the valve.\n2. Wait 5 min.\n3. Close it.", ["Steps:", "1. Open the valve.", "2. Wait 5 min.", "3. Close it."]),
    ("Bring:\n- water\n- a map\n- food", ["Bring:", "- water", "- a map", "- food"]),
    ("Introduction\n\nThe study began in 2019. It ended in 2021.", ["Introduction", "The study began in 2019.", "It ended in 2021."]),
    ("Wait... What happened? Nothing!", ["Wait...", "What happened?", "Nothing!"]),
    ("This line wraps\nacross two lines. Next sentence.", ["This line wraps\nacross two lines.", "Next sentence."]),
    ("Visit example.com for details. Email a.b@c.org now.", ["Visit example.com for details.", "Email a.b@c.org now."]),
    ("The results (n = 12) were significant (P < .05). We continued.", ["The results (n = 12) were significant (P < .05).", "We continued."]),
    ("Mr. and Mrs. Jones arrived at 10 a.m. They left.", ["Mr. and Mrs. Jones arrived at 10 a.m.", "They left."]),
    ("他来了。她走了！为什么？", ["他来了。", "她走了！", "为什么？"]),
    ("Er kam um 9 Uhr. Sie ging früh.", ["Er kam um 9 Uhr.", "Sie ging früh."]),
    ("no punctuation at all in this text just words", ["no punctuation at all in this text just words"]),
    ("", []),
    ("   \n\t  ", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_matches_expected_sentences(text: str, expected: list[str]) -> None:
    assert [s.text for s in split_sentences(text)] == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_offsets_point_at_the_sentence_text(text: str, expected: list[str]) -> None:
    for s in split_sentences(text):
        assert text[s.start_char : s.end_char] == s.text


def test_headings_are_flagged() -> None:
    sents = split_sentences("Methods\nWe sampled 40 sites. Results follow.")
    assert [s.heading for s in sents] == [True, False, False]


def test_sentences_on_shared_text_are_ordered_and_disjoint(data_dir) -> None:
    import json

    article = json.loads((data_dir / "text" / "summaries.jsonl").read_text().splitlines()[0])["article"]
    sents = split_sentences(article)
    assert len(sents) > 50
    for a, b in zip(sents, sents[1:], strict=False):
        assert a.end_char <= b.start_char

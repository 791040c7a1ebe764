"""JATS articles as training text: licence filter, paragraph extraction, never a held-out document."""

from __future__ import annotations

import pytest

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.data.corpus import Document, is_held_out, read_documents, sentence_split

ARTICLE = """<?xml version="1.0" encoding="UTF-8"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:mml="http://www.w3.org/1998/Math/MathML">
<front><article-meta>
  <article-id pub-id-type="doi">10.1371/{doi}</article-id>
  <permissions><license xlink:href="{href}"><license-p>{licence}</license-p></license></permissions>
  <abstract><p>Cells divide when the signal rises above a threshold.</p></abstract>
</article-meta></front>
<body><sec><title>Introduction</title>
  <p>Growth depends on <italic>three</italic> factors [<xref ref-type="bibr">1</xref>] and on
     <inline-formula><mml:math><mml:mi>x</mml:mi></mml:math></inline-formula> as well.</p>
  <table-wrap><caption><p>Table text that is not prose.</p></caption></table-wrap>
  <fig><caption><p>A figure caption that is skipped.</p></caption></fig>
  <p>The second paragraph reports the main finding of the study.</p>
</sec></body></article>
"""
CC_BY = {"href": "http://creativecommons.org/licenses/by/4.0/", "licence": "Creative Commons Attribution License"}


def write(tmp_path, name, doi, **licence):
    path = tmp_path / name
    path.write_text(ARTICLE.format(doi=doi, **(licence or CC_BY)))
    return path


def test_article_paragraphs_become_lines_without_tables_figures_or_math(tmp_path):
    (doc,) = read_documents([write(tmp_path, "a.xml", "journal.pone.0000001")])
    assert doc.id == "plos-journal.pone.0000001"
    assert doc.text.splitlines() == ["Growth depends on three factors [1] and on [formula] as well.",
                                     "The second paragraph reports the main finding of the study."]
    assert doc.reference == "Cells divide when the signal rises above a threshold."


def test_only_cc_by_and_cc0_articles_are_read(tmp_path):
    write(tmp_path, "by.xml", "journal.pone.0000001")
    write(tmp_path, "cc0.xml", "journal.pone.0000002", href="", licence="This is an open-access article, free of all copyright")
    write(tmp_path, "nc.xml", "journal.pone.0000003", href="http://creativecommons.org/licenses/by-nc/4.0/",
          licence="Creative Commons Attribution-NonCommercial License")
    write(tmp_path, "none.xml", "journal.pone.0000004", href="", licence="All rights reserved.")
    assert sorted(d.id for d in read_documents([tmp_path])) == ["plos-journal.pone.0000001", "plos-journal.pone.0000002"]


def test_malformed_xml_is_a_clear_error(tmp_path):
    (tmp_path / "bad.xml").write_text("<article><body><p>unclosed</body>")
    with pytest.raises(InvalidInputError, match="bad.xml: not a well-formed JATS XML article"):
        read_documents([tmp_path])


def test_training_only_documents_never_bring_back_a_held_out_document():
    def doc(i, text):
        return Document(f"doc-{i}", text, "", "test")

    held_id = next(f"doc-{i}" for i in range(100) if is_held_out(f"doc-{i}", 20))
    train_id = next(f"doc-{i}" for i in range(100) if not is_held_out(f"doc-{i}", 20))
    docs = [Document(held_id, "The held out document says this sentence.", "", "a"),
            Document(train_id, "The training document says another sentence.", "", "a")]
    extra = [Document(held_id, "A second copy of the held out document.", "", "b"),
             doc("extra", "An extra document adds one more sentence.")]
    split = sentence_split(docs, 20, train_only=extra)
    assert split.held_out == ("The held out document says this sentence.",)
    assert set(split.train) == {"The training document says another sentence.", "An extra document adds one more sentence."}
    assert held_id not in split.train_doc_ids

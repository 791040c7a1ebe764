"""Documentation pages as training text: which markup is prose, and how the written pages read back as documents."""

from __future__ import annotations

from edge_sdk.quantize.distill.data.corpus import read_documents, sentence_split
from edge_sdk.quantize.distill.data.doc_text import page_paragraphs

SPHINX = """<html><head><title>asyncio — Asynchronous I/O</title><script>var x = "Not prose.";</script></head>
<body><div class="related"><ul><li><a href="index.html">index</a></li><li>next »</li></ul></div>
<div class="body"><p>The <code>asyncio</code> module   provides infrastructure
for writing single-threaded concurrent code.</p>
<pre>loop.run_until_complete(main()).</pre>
<dl><dt>coroutine sleep(delay)</dt><dd><p>Block for <em>delay</em> seconds.</p></dd></dl>
<ul><li>c_char_p (class in ctypes)</li><li>Each item is a full sentence here!</li></ul></div></body></html>"""

DOCBOOK = """<div class="section"><div class="para">APT fetches packages from the sources listed in
<div class="filename">sources.list</div>, then installs them.</div><div class="para">Short heading</div></div>"""

MALLARD = """<page xmlns="http://projectmallard.org/1.0/"><title>Set the time</title>
<p>Open the <gui>Activities</gui> overview and start typing <gui>Date &amp; Time</gui>.</p>
<steps><item><p>Click on <gui>Date &amp; Time</gui> to open the panel.</p></item></steps></page>"""


def test_sphinx_page_keeps_prose_and_drops_code_navigation_and_index_entries():
    assert page_paragraphs(SPHINX) == [
        "The asyncio module provides infrastructure for writing single-threaded concurrent code.",
        "Block for delay seconds.",
        "Each item is a full sentence here!",
    ]


def test_docbook_para_divs_are_paragraphs_even_with_nested_divs():
    assert page_paragraphs(DOCBOOK) == ["APT fetches packages from the sources listed in sources.list, then installs them."]


def test_mallard_page_paragraphs_with_entities():
    assert page_paragraphs(MALLARD) == [
        "Open the Activities overview and start typing Date & Time.",
        "Click on Date & Time to open the panel.",
    ]


def test_written_pages_are_training_only_documents_named_by_package(tmp_path):
    page = tmp_path / "python3.11-doc--library_asyncio.txt"
    page.write_text("\n".join(page_paragraphs(SPHINX)) + "\n")
    docs = read_documents([tmp_path])
    assert [d.id for d in docs] == ["python3.11-doc--library_asyncio"]
    split = sentence_split([], 20, train_only=docs)
    assert split.train_doc_ids == ("python3.11-doc--library_asyncio",)
    assert split.train == tuple(page_paragraphs(SPHINX))  # one sentence per paragraph here, each of >= 4 words

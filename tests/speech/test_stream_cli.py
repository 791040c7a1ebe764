"""The live terminal output of ``edge-sdk transcribe --mic``: partials overwrite one line, finals scroll."""

from __future__ import annotations

import io
import json

from edge_sdk.speech.live_cli import TerminalPrinter
from edge_sdk.speech.stream import StreamEvent


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_partials_overwrite_one_line_and_finals_scroll():
    out = Tty()
    p = TerminalPrinter(as_json=False, out=out)
    p.show(StreamEvent("partial", "hello", 0.0, 1.0, 0))
    p.show(StreamEvent("partial", "hello wor", 0.0, 2.0, 0))
    p.show(StreamEvent("final", "hello world", 0.0, 2.5, 0))
    p.close()
    text = out.getvalue()
    assert text.count("\n") == 1  # only the final ends a line
    assert text.endswith("hello world\n") and "\r\x1b[K... hello wor" in text
    assert text.rsplit("\r\x1b[K", 1)[1].startswith("[   0.00 ->    2.50] hello world")


def test_json_lines_carry_only_finals_and_errors():
    out = io.StringIO()  # not a terminal: JSON lines whatever was asked
    p = TerminalPrinter(as_json=False, out=out)
    for e in (StreamEvent("partial", "a", 0, 1, 0), StreamEvent("final", "a b", 0, 2, 0), StreamEvent("error", "gone", 2, 2)):
        p.show(e)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["kind"], r["text"], r["start_s"], r["end_s"]) for r in rows] == [("final", "a b", 0, 2), ("error", "gone", 2, 2)]

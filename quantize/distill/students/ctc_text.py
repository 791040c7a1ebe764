"""Teacher transcripts to the CTC student's character vocabulary (blank, space, apostrophe, a-z).

Text is folded to ASCII and lowercased; numbers are spelled out as they are usually said ("42" ->
"forty two", "1990" -> "nineteen ninety", "3.5" -> "three point five", "2nd" -> "second"), because the
model hears words, and the WER scorer's normaliser turns spelled numbers back into digits; common
titles are expanded ("Dr." -> "doctor") as that normaliser expands them; "%" and "&" become words;
hyphens and slashes separate words; every other character is dropped, and an apostrophe is kept only
inside a word ("it's", not "'quoted'").
"""

from __future__ import annotations

import re
import unicodedata

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen").split()
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
           "twelve": "twelfth"}
TITLES = {"mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor", "st": "saint", "prof": "professor",
          "jr": "junior", "sr": "senior", "vs": "versus", "etc": "et cetera"}
_NUMBER = re.compile(r"(\d[\d,]*)(?:\.(\d+))?(st|nd|rd|th)?\b")


def spell_number(n: int) -> str:
    """English words of a non-negative integer (``1234`` -> "one thousand two hundred thirty four")."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + (f" {ONES[n % 10]}" if n % 10 else "")
    scale, word = next((s, w) for s, w in SCALES if n >= s)
    head, rest = divmod(n, scale)
    return f"{spell_number(head)} {word}" + (f" {spell_number(rest)}" if rest else "")


def _say_integer(digits: str) -> str:
    n = int(digits)
    if len(digits) > 1 and digits.startswith("0") or n >= 10**12:
        return " ".join(ONES[int(d)] for d in digits)  # codes and long numbers are read digit by digit
    if len(digits) == 4 and (1100 <= n <= 1999 or 2010 <= n <= 2099) and n % 100:
        return f"{spell_number(n // 100)} {'oh ' if n % 100 < 10 else ''}{spell_number(n % 100)}"  # years
    return spell_number(n)


def _ordinal(words: str) -> str:
    *head, last = words.split()
    if last in ORDINAL:
        last = ORDINAL[last]
    else:
        last = last[:-1] + "ieth" if last.endswith("y") else last + "th"
    return " ".join([*head, last])


def _say_number(match: re.Match) -> str:
    whole, fraction, suffix = match.group(1).replace(",", ""), match.group(2), match.group(3)
    words = _say_integer(whole)
    if fraction:
        words += " point " + " ".join(ONES[int(d)] for d in fraction)
    elif suffix:
        words = _ordinal(words)
    return f" {words} "


def normalize_text(text: str) -> str:
    """``text`` in the CTC vocabulary: lowercase a-z, apostrophes inside words, single spaces."""
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'")).encode("ascii", "ignore").decode().lower()
    text = text.replace("%", " percent ").replace("&", " and ")
    text = _NUMBER.sub(_say_number, text)
    text = re.sub(r"[-/]", " ", text)
    text = re.sub(r"[^a-z' ]", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return " ".join(TITLES.get(w, w) for w in text.split())


def encode(text: str, vocab: tuple[str, ...]) -> list[int]:
    """Label ids of already normalised ``text`` (characters outside ``vocab`` are skipped)."""
    index = {ch: i for i, ch in enumerate(vocab) if i}
    return [index[ch] for ch in text if ch in index]

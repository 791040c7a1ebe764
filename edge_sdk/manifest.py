"""Reading evaluation manifests (speech TSV, vision TSV, text JSONL) as UTF-8 text."""

from __future__ import annotations

from pathlib import Path

from edge_sdk.errors import InvalidInputError


def read_utf8_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file (the file's existence is checked by the caller).

    Raises:
        InvalidInputError: The file is not UTF-8 text, or holds a NUL byte (binary), naming the byte offset.
    """
    data = Path(path).read_bytes()
    if (nul := data.find(b"\0")) >= 0:  # binary; Python 3.10's csv module would also stop on it with its own error
        raise InvalidInputError(f"{path} is not text: a NUL byte at byte {nul}; give a UTF-8 text file")
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 4]!r}); save it as UTF-8") from exc

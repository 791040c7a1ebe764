"""Input files given by a caller: checked to be regular, readable files, and read within a size limit.

The audio, image and text readers share these checks, so each names a directory, a named pipe, a
missing or an unreadable file the same way (a FIFO is never opened: reading it would block).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from edge_sdk.errors import InputNotFoundError, InputTooLargeError, InvalidInputError


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path after checking it names a regular file this process can read.

    Raises:
        InputNotFoundError: No such file.
        InvalidInputError: A directory, a FIFO or another non-regular file, or a file this process may not read.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise InputNotFoundError(f"{what} {str(p)!r} does not exist") from None
    except PermissionError:
        raise InvalidInputError(f"cannot read {what} {str(p)!r}: permission denied on a folder of its path") from None
    kind = ("a directory" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else None)
    if kind:
        raise InvalidInputError(f"{what} {str(p)!r} is {kind}, not a regular file; give the path of a file")
    if not os.access(p, os.R_OK):
        raise InvalidInputError(f"cannot read {what} {str(p)!r}: permission denied; check its owner and mode (ls -l)")
    return p


def read_input_file(p: Path, what: str, max_bytes: int) -> bytes:
    """The bytes of a checked file, refusing one over ``max_bytes`` without reading it.

    Raises:
        InputTooLargeError: The file is larger than ``max_bytes``.
        InvalidInputError: The file cannot be read (permission denied, I/O error).
    """
    size = p.stat().st_size
    if size > max_bytes:
        raise InputTooLargeError(f"{what} {str(p)!r} is {size} bytes; files over {max_bytes} bytes are refused")
    try:
        return p.read_bytes()
    except PermissionError:
        raise InvalidInputError(f"cannot read {what} {str(p)!r}: permission denied; check its owner and mode (ls -l)") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {str(p)!r}: {exc.strerror or exc}") from None


def open_input_file(p: Path, what: str) -> BinaryIO:
    """A checked file opened for reading in binary, for readers that stream it (long text).

    Raises:
        InvalidInputError: The file cannot be opened (permission denied, I/O error).
    """
    try:
        return p.open("rb")
    except PermissionError:
        raise InvalidInputError(f"cannot read {what} {str(p)!r}: permission denied; check its owner and mode (ls -l)") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {str(p)!r}: {exc.strerror or exc}") from None

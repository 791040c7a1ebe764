"""systemd's notify protocol (``Type=notify``, ``WatchdogSec=``) over a plain datagram socket: no dependency.

systemd sets ``NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace) and, with ``WatchdogSec=``,
``WATCHDOG_USEC`` (and ``WATCHDOG_PID``). Outside systemd both are unset and every call here does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``, ``"WATCHDOG=1"``, ``"STOPPING=1"``) to systemd.

    Returns:
        True when it was sent; False when ``NOTIFY_SOCKET`` is unset or the socket cannot be reached (logged).
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
        return True
    except OSError as exc:
        log.warning("sd_notify %r to %s failed: %s", state, os.environ.get("NOTIFY_SOCKET"), exc)
        return False


def watchdog_interval_s() -> float | None:
    """How often to send ``WATCHDOG=1``: half of ``WATCHDOG_USEC``, as sd_watchdog_enabled(3) advises; None when the
    watchdog is off or meant for another process (``WATCHDOG_PID``)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 1e6 / 2

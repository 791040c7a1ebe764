"""Device profiles: what a target runs (providers, precision, threads, capture hints).

Profiles are TOML data under ``devices/profiles``. :func:`detect` reads the machine,
:func:`resolve` turns a profile into the frozen :class:`ResolvedDevice` that sessions use.
Nothing heavy is imported at module load.
"""

from edge_sdk.devices.detect import MachineFacts, detect, read_machine
from edge_sdk.devices.profile import Profile, list_profiles, load_profile
from edge_sdk.devices.resolve import ResolvedDevice, resolve, resolve_device

__all__ = [
    "MachineFacts",
    "Profile",
    "ResolvedDevice",
    "detect",
    "list_profiles",
    "load_profile",
    "read_machine",
    "resolve",
    "resolve_device",
]

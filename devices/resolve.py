"""Turn a profile into what will really run: providers, options, variant order, threads."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from edge_sdk.devices.detect import MachineFacts, available_providers, detect
from edge_sdk.devices.profile import CaptureHints, Profile, load_profile
from edge_sdk.errors import ProviderUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedDevice:
    """A profile resolved against this machine's onnxruntime. Frozen and printable.

    ``fallback`` is None when every provider the profile asked for is present; otherwise it
    says what was missing and what runs instead. Every result carries it.
    """

    profile: str
    providers: tuple[str, ...]
    provider_options: tuple[dict, ...]
    variants: tuple[str, ...]
    int8_format: str
    intra_op_threads: int
    capture: CaptureHints
    fallback: str | None = None
    require_signed: bool = False  # refuse bundles without a trusted signature (edge_sdk.signing)
    trusted_keys: tuple[str, ...] = ()  # the profile's keyring; empty: $EDGE_SDK_HOME/trusted_keys
    cpu_mem_arena: bool = False  # onnxruntime's CPU arena (off: activations return to the system after each run)
    intra_op_spinning: bool = False  # onnxruntime's intra-op threads busy-wait between operators
    mem_pattern: bool = False  # onnxruntime plans a run's activations from the previous run's shapes
    malloc_mmap_threshold_kb: int = 1024  # glibc's fixed mmap threshold (0: its own dynamic rule)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def onnxruntime_providers(self) -> list[tuple[str, dict]]:
        """``providers=`` argument for ``onnxruntime.InferenceSession``."""
        return list(zip(self.providers, self.provider_options, strict=True))


def _threads(requested: int) -> int:
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def resolve(profile: Profile, providers: tuple[str, ...] | None = None) -> ResolvedDevice:
    """Resolve ``profile`` against the providers onnxruntime really offers.

    Raises:
        ProviderUnavailableError: A provider the profile needs is missing and the profile
            does not allow a fallback. The message lists the available providers.
    """
    available = available_providers() if providers is None else tuple(providers)
    chosen, options, missing = [], [], []
    for spec in profile.providers:
        if spec.name in available:
            opts = {k: (str(Path(v).expanduser()) if k.endswith("_path") else v) for k, v in spec.options}
            chosen.append(spec.name)
            options.append(opts)
        else:
            missing.append(spec.name)
    fallback = None
    if missing:
        if not profile.allow_fallback or not chosen:
            raise ProviderUnavailableError(
                f"profile {profile.name!r} needs {missing} but onnxruntime offers only {list(available)}; "
                f"install the build that has it (e.g. pip install 'edge-sdk-ondevice[cuda]') or pick another profile "
                f"with --profile (one of the CPU profiles runs here)"
            )
        fallback = f"{', '.join(missing)} unavailable; running on {', '.join(chosen)}"
        log.warning("profile %s: %s", profile.name, fallback)
    variants = profile.variants
    if fallback and chosen == ["CPUExecutionProvider"]:
        # fp16 is slower than fp32 on most CPUs; keep the order otherwise.
        variants = tuple(v for v in variants if "fp16" not in v) + tuple(v for v in variants if "fp16" in v)
    return ResolvedDevice(
        profile=profile.name,
        providers=tuple(chosen),
        provider_options=tuple(options),
        variants=variants,
        int8_format=profile.int8_format,
        intra_op_threads=_threads(profile.intra_op_threads),
        capture=profile.capture,
        fallback=fallback,
        require_signed=profile.require_signed,
        trusted_keys=profile.trusted_keys,
        cpu_mem_arena=profile.cpu_mem_arena,
        intra_op_spinning=profile.intra_op_spinning,
        mem_pattern=profile.mem_pattern,
        malloc_mmap_threshold_kb=profile.malloc_mmap_threshold_kb,
    )


def resolve_device(device: str | Profile | ResolvedDevice | None = "auto") -> ResolvedDevice:
    """Resolve ``"auto"``/None (detect), a profile name or path, or a :class:`Profile`.

    ``EDGE_SDK_PROFILE`` overrides detection for ``"auto"``.
    """
    if isinstance(device, ResolvedDevice):
        return device
    if isinstance(device, Profile):
        return resolve(device)
    if device in (None, "auto"):
        device = os.environ.get("EDGE_SDK_PROFILE") or detect()[0]
    return resolve(load_profile(device))


def describe_machine(facts: MachineFacts | None = None) -> dict:
    """Machine description for reports."""
    return (facts or detect()[1]).describe()

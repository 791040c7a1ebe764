"""onnxruntime sessions for bundle models: the only module that creates them. (The benchmark's reference sessions,
onnxruntime with its defaults on purpose, come from :func:`edge_sdk.bench.references.onnxruntime_default_session`;
``edge_sdk.bench.gpu_check`` compares bare providers.)"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import platform
from dataclasses import dataclass

import onnxruntime as ort

from edge_sdk.bundle import Bundle, Variant, load_bundle
from edge_sdk.devices.kernels import kernel_int8_format
from edge_sdk.devices.resolve import ResolvedDevice, resolve_device
from edge_sdk.errors import BundleError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A bundle variant with one session per file role, and the providers really used."""

    bundle: Bundle
    variant: Variant
    device: ResolvedDevice
    sessions: dict[str, ort.InferenceSession]

    @property
    def providers(self) -> tuple[str, ...]:
        """Providers of the first session, as onnxruntime reports them."""
        first = next(iter(self.sessions.values()), None)
        return tuple(first.get_providers()) if first else ()


def session_options(device: ResolvedDevice) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = device.intra_op_threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.enable_cpu_mem_arena = device.cpu_mem_arena
    opts.enable_mem_pattern = device.mem_pattern
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if device.intra_op_spinning else "0")
    return opts


@functools.cache
def set_malloc_mmap_threshold(kb: int) -> bool:
    """Fix glibc's mmap threshold at ``kb`` KiB for this process (0: leave glibc's dynamic rule), so that freed large
    activations go back to the system; True when set. Does nothing off glibc. Once per value and process."""
    if kb <= 0 or platform.libc_ver()[0] != "glibc":
        return False
    m_mmap_threshold = -3  # <malloc.h>
    ok = bool(ctypes.CDLL(None).mallopt(m_mmap_threshold, kb * 1024))
    if not ok:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d KiB) refused", kb)
    return ok


def create_session(model: bytes | str, device: ResolvedDevice, name: str = "model") -> ort.InferenceSession:
    """An ``InferenceSession`` from verified model bytes, or the path of a verified file, on the resolved providers.

    Raises:
        BundleError: onnxruntime cannot load the model (truncated or not ONNX).
    """
    try:
        return ort.InferenceSession(model, sess_options=session_options(device), providers=device.onnxruntime_providers())
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise BundleError(f"onnxruntime cannot load {name}: {str(exc).splitlines()[0][:300]}") from exc


def load_model(
    bundle: str | Bundle,
    variant: str | None = None,
    device: str | ResolvedDevice | None = "auto",
    task: str | None = None,
    roles: tuple[str, ...] | None = None,
    allow_refused: bool = False,
) -> LoadedModel:
    """Load a bundle variant: verify every file, then create one session per ONNX file (a speech bundle first fixes
    glibc's mmap threshold, :func:`set_malloc_mmap_threshold`).

    Args:
        bundle: Store name, folder path, or a loaded :class:`Bundle`.
        variant: Variant name; None picks the profile's first preference the bundle has.
        device: Profile name, ``"auto"``, or a :class:`ResolvedDevice`.
        task: When given, the bundle must be of this task.
        roles: File roles to create sessions for; default every ``.onnx`` file of the variant.
        allow_refused: Load ``variant`` even when its own quality gate refused it (for inspection).

    Raises:
        BundleError: A file fails verification, or the profile requires signed bundles and this one is unsigned or
            not signed by a trusted key (checked before any file is read).
        MissingDependencyError: The profile requires signed bundles and ``cryptography`` is not installed.
        RefusedVariantError: ``variant`` was refused by its quality gate and ``allow_refused`` is False.
    """
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    if task and b.task != task:
        raise BundleError(f"bundle {b.name!r} is a {b.task} bundle, not {task}")
    dev = resolve_device(device)
    if dev.require_signed:
        from edge_sdk.signing import check_required_signature

        kid = check_required_signature(b, dev.require_signed, dev.trusted_keys)
        log.info("bundle %s: signature by trusted key %s", b.name, kid)
    v = b.choose_variant(variant, dev.variants, kernel_int8_format(), allow_refused)  # the kernel here, not the profile, decides
    if b.task == "speech":  # its 30 s attention scores and vocabulary logits are what the threshold gives back
        set_malloc_mmap_threshold(dev.malloc_mmap_threshold_kb)
    wanted = roles or tuple(r for r, f in v.files.items() if f.path.endswith(".onnx"))
    with contextlib.ExitStack() as verified:  # every hash checked before any session; no Python copy of a model
        paths = {role: verified.enter_context(b.verified_path(v.files[role])) for role in wanted}
        sessions = {role: create_session(path, dev, f"{b.name}/{v.files[role].path}") for role, path in paths.items()}
    log.info("loaded %s/%s on %s", b.name, v.name, dev.providers)
    return LoadedModel(bundle=b, variant=v, device=dev, sessions=sessions)

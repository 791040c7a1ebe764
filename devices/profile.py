"""Profile data: one TOML file per target under ``devices/profiles``."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (JetPack 6): the same parser, packaged as tomli
    import tomli as tomllib

from edge_sdk.errors import InvalidInputError

PROFILE_DIR = Path(__file__).parent / "profiles"
KNOWN_VARIANTS = ("fp32", "fp16", "int8", "distilled", "distilled-int8", "distilled-fp16")


@dataclass(frozen=True)
class ProviderSpec:
    """One execution provider a profile asks for, with its onnxruntime options."""

    name: str
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CaptureHints:
    """How live sources should be opened on this target."""

    audio_block_ms: int = 32  # one Silero VAD window at 16 kHz: the endpoint is seen as soon as it is captured
    camera_backend: str = "any"
    camera_pipeline: str = ""


@dataclass(frozen=True)
class Profile:
    """A device profile as written in its TOML file."""

    name: str
    description: str
    providers: tuple[ProviderSpec, ...]
    variants: tuple[str, ...]
    int8_format: str = "u8s8"
    intra_op_threads: int = 0
    allow_fallback: bool = False
    capture: CaptureHints = field(default_factory=CaptureHints)
    # Signed bundles (edge_sdk.signing): when true, the runtime refuses a bundle whose bundle.sig is missing or not
    # made by a trusted key. trusted_keys (.pub files or folders of them) replace $EDGE_SDK_HOME/trusted_keys when
    # set, so a target can pin keys kept outside the folder that holds the bundles.
    require_signed: bool = False
    trusted_keys: tuple[str, ...] = ()
    # onnxruntime's CPU arena keeps the largest activations it ever held (Whisper's 30 s encoder attention, the long
    # windows) for the life of the session; off, they go back to the system after each run: peak RSS 542 -> 351 MB
    # for 20 shared clips then speech/long with the int8 speech bundle (AMD EPYC), for about 5 % more CPU time.
    cpu_mem_arena: bool = False
    # onnxruntime's intra-op threads busy-wait for work between operators by default. On a small CPU that the app
    # shares (its capture threads, the VAD, other processes) the spinning threads take cores from the ones with work:
    # off, the int8 speech bundle took 101-105 ms per shared clip (p50) instead of 159-170 ms and 35 % less CPU time,
    # the int8 vision bundle 8.6-10.2 ms per photo instead of 9.6-12.0 ms and 40 % less CPU (AMD EPYC, 2 cores).
    intra_op_spinning: bool = False
    # onnxruntime's memory pattern plans one block for a run's activations from the shapes of the run before; window
    # lengths change from call to call, so each new shape plans (and holds) another block. Off: peak RSS 238 -> 218 MB
    # on the shared clips with the int8 speech bundle, transcripts identical.
    mem_pattern: bool = False
    # glibc serves allocations up to its mmap threshold from the heap, and raises the threshold (to 32 MB) each time a
    # larger mmapped block is freed, so after the first run the encoder's attention scores and the decoder's logits
    # stay in the heap and its top is not given back: peak RSS varied 263-307 MB (clips) and 346-363 MB (speech/long)
    # run to run. A fixed threshold (KiB) keeps big activations mmapped, returned on free. speech/long, int8, quiet
    # 2-core EPYC, one process each: no fixed threshold 340 MB, 10.8 CPU s; 128 KiB 266 MB, 15.8 CPU s (every mid-sized
    # buffer mapped and faulted in again); 1024 KiB 276 MB, 11.3 CPU s. 0 leaves glibc's own rule. Applied through
    # mallopt, for the whole process, when a speech model loads on glibc.
    malloc_mmap_threshold_kb: int = 1024

    def __post_init__(self) -> None:
        if not self.providers:
            raise InvalidInputError(f"profile {self.name!r} lists no execution providers")
        unknown = [v for v in self.variants if v not in KNOWN_VARIANTS]
        if unknown:
            raise InvalidInputError(
                f"profile {self.name!r} names unknown variants {unknown}; known: {list(KNOWN_VARIANTS)}"
            )
        if self.int8_format not in ("u8s8", "u8u8", "s8s8", "none"):
            raise InvalidInputError(f"profile {self.name!r}: int8_format {self.int8_format!r} is not one of u8s8, u8u8, s8s8, none")
        kb = self.malloc_mmap_threshold_kb
        if isinstance(kb, bool) or not isinstance(kb, int) or not 0 <= kb <= 32 * 1024:
            raise InvalidInputError(f"profile {self.name!r}: malloc_mmap_threshold_kb {kb!r} must be KiB from 0 (glibc's own "
                                    "rule) to 32768")


def _trusted_keys(data: dict, base: Path | None) -> tuple[str, ...]:
    keys = data.get("trusted_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise InvalidInputError(f"profile {data.get('name', '?')!r}: trusted_keys must be a list of paths (.pub files or folders)")
    paths = (Path(k).expanduser() for k in keys)
    return tuple(str(p if p.is_absolute() or base is None else base / p) for p in paths)


def parse_profile(data: dict, base: Path | None = None) -> Profile:
    """Build a :class:`Profile` from the parsed TOML table; relative ``trusted_keys`` paths are taken from ``base``
    (the folder of the profile file)."""
    for flag in ("require_signed", "cpu_mem_arena", "intra_op_spinning", "mem_pattern"):
        if not isinstance(data.get(flag, False), bool):
            raise InvalidInputError(f"profile {data.get('name', '?')!r}: {flag} must be true or false")
    try:
        providers = tuple(
            ProviderSpec(p["name"], tuple(sorted((str(k), str(v)) for k, v in p.get("options", {}).items())))
            for p in data["providers"]
        )
        return Profile(
            name=data["name"],
            description=data.get("description", ""),
            providers=providers,
            variants=tuple(data["variants"]),
            int8_format=data.get("int8_format", "u8s8"),
            intra_op_threads=int(data.get("intra_op_threads", 0)),
            allow_fallback=bool(data.get("allow_fallback", False)),
            capture=CaptureHints(**data.get("capture", {})),
            require_signed=data.get("require_signed", False),
            trusted_keys=_trusted_keys(data, base),
            cpu_mem_arena=data.get("cpu_mem_arena", False),
            intra_op_spinning=data.get("intra_op_spinning", False),
            mem_pattern=data.get("mem_pattern", False),
            malloc_mmap_threshold_kb=data.get("malloc_mmap_threshold_kb", 1024),
        )
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"profile {data.get('name', '?')!r} is missing or misuses a field: {exc}") from exc


def list_profiles() -> list[str]:
    """Names of the profiles shipped under ``devices/profiles``."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name, or any profile TOML file by path.

    Raises:
        InvalidInputError: When no such profile exists or the file is malformed.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise InvalidInputError(f"no device profile {str(name_or_path)!r}; shipped profiles: {list_profiles()}")
    with path.open("rb") as f:
        return parse_profile(tomllib.load(f), path.resolve().parent)

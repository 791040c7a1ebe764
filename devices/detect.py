"""Read the machine (CPU flags, Jetson model, providers, memory) and pick a profile."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MachineFacts:
    """What detection saw. ``root`` lets tests point it at fixture copies of /proc and /etc."""

    arch: str
    cpu_model: str
    cpu_flags: frozenset[str]
    jetson_model: str
    tegra_release: str
    providers: tuple[str, ...]
    memory_bytes: int
    cores: int
    u8s8_saturates: bool | None = None  # measured by edge_sdk.devices.kernels on the live machine; None: not measured

    @property
    def has_vnni(self) -> bool:
        """VNNI in the CPU flags and, where measured, in the integer kernel onnxruntime really runs."""
        return bool({"avx512_vnni", "avx_vnni"} & self.cpu_flags) and not self.u8s8_saturates

    @property
    def has_dotprod(self) -> bool:
        return "asimddp" in self.cpu_flags

    def describe(self) -> dict:
        """A JSON-friendly summary (flags cut to the ones that matter for inference)."""
        wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_int8", "asimd", "asimddp", "fphp", "sve")
        return {
            "arch": self.arch,
            "cpu_model": self.cpu_model,
            "cpu_flags": [f for f in wanted if f in self.cpu_flags],
            "cores": self.cores,
            "int8_u8s8_saturates": self.u8s8_saturates,
            "memory_gb": round(self.memory_bytes / 2**30, 1),
            "jetson_model": self.jetson_model or None,
            "tegra_release": self.tegra_release or None,
            "onnxruntime_providers": list(self.providers),
        }


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# arm64 kernels print no "model name": the core is named from MIDR_EL1's implementer and part (Linux's cputype.h).
ARM_IMPLEMENTERS = {0x41: "ARM", 0x46: "Fujitsu", 0x48: "HiSilicon", 0x4E: "NVIDIA", 0x51: "Qualcomm", 0x61: "Apple",
                    0xC0: "Ampere"}
ARM_PARTS = {
    (0x41, 0xD03): "Cortex-A53", (0x41, 0xD04): "Cortex-A35", (0x41, 0xD05): "Cortex-A55", (0x41, 0xD07): "Cortex-A57",
    (0x41, 0xD08): "Cortex-A72", (0x41, 0xD09): "Cortex-A73", (0x41, 0xD0A): "Cortex-A75", (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD0C): "Neoverse-N1", (0x41, 0xD0D): "Cortex-A77", (0x41, 0xD40): "Neoverse-V1", (0x41, 0xD41): "Cortex-A78",
    (0x41, 0xD42): "Cortex-A78AE", (0x41, 0xD44): "Cortex-X1", (0x41, 0xD46): "Cortex-A510", (0x41, 0xD47): "Cortex-A710",
    (0x41, 0xD48): "Cortex-X2", (0x41, 0xD49): "Neoverse-N2", (0x41, 0xD4F): "Neoverse-V2", (0x41, 0xD80): "Cortex-A520",
    (0x41, 0xD81): "Cortex-A720", (0x41, 0xD84): "Neoverse-V3", (0x46, 0x001): "A64FX",
}


def _arm_core(implementer: str, part: str) -> str:
    """``"ARM Cortex-A72"`` from cpuinfo's "CPU implementer" and "CPU part" (hex), or ``""``."""
    try:
        imp, num = int(implementer, 16), int(part, 16)
    except ValueError:
        return ""
    vendor = ARM_IMPLEMENTERS.get(imp, f"implementer {imp:#04x}")
    return f"{vendor} {ARM_PARTS.get((imp, num), f'part {num:#05x}')}"


def _cpuinfo(text: str) -> tuple[str, frozenset[str], str]:
    """``(model name, flags, arm64 core name)`` of a /proc/cpuinfo text."""
    model, flags, midr = "", set(), {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
        elif key in ("cpu implementer", "cpu part"):
            midr.setdefault(key, value.strip())
    core = _arm_core(midr["cpu implementer"], midr["cpu part"]) if len(midr) == 2 else ""
    return model, frozenset(flags), core


def _memory_bytes(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def available_providers() -> tuple[str, ...]:
    """The execution providers this onnxruntime build really offers."""
    import onnxruntime

    return tuple(onnxruntime.get_available_providers())


def read_machine(root: str | Path = "/", providers: tuple[str, ...] | None = None, arch: str | None = None) -> MachineFacts:
    """Collect :class:`MachineFacts` from files under ``root``.

    Args:
        root: Filesystem root to read ``proc/cpuinfo``, ``proc/meminfo``,
            ``proc/device-tree/model`` and ``etc/nv_tegra_release`` from.
        providers: onnxruntime providers; queried from onnxruntime when None.
        arch: Machine architecture; inferred from cpuinfo under a fixture root, else ``platform.machine()``.

    On the live x86 machine the integer kernel is also probed (:func:`edge_sdk.devices.kernels.u8s8_saturates`): an
    emulator or a virtual machine may report VNNI in the flags while the kernel onnxruntime picks has none.
    """
    root = Path(root)
    model, flags, core = _cpuinfo(_read(root / "proc/cpuinfo"))
    if arch is None:
        if root != Path("/"):
            arch = "aarch64" if "asimd" in flags else "x86_64"
        else:
            arch = platform.machine()
    jetson = _read(root / "proc/device-tree/model").strip("\x00\n ")
    saturates = None
    if root == Path("/") and arch in ("x86_64", "AMD64"):
        from edge_sdk.devices.kernels import u8s8_saturates

        saturates = u8s8_saturates()
    cores = sum(1 for line in _read(root / "proc/cpuinfo").splitlines() if line.lower().startswith("processor"))
    return MachineFacts(
        arch=arch,
        cpu_model=model or jetson or core,  # the board's device-tree name before the bare core's
        cpu_flags=flags,
        jetson_model=jetson if "jetson" in jetson.lower() or "orin" in jetson.lower() else "",
        tegra_release=_read(root / "etc/nv_tegra_release").strip(),
        providers=available_providers() if providers is None else tuple(providers),
        memory_bytes=_memory_bytes(_read(root / "proc/meminfo")),
        cores=cores or (os.cpu_count() or 1),
        u8s8_saturates=saturates,
    )


def choose_profile(facts: MachineFacts) -> str:
    """The shipped profile name that fits ``facts`` best."""
    jetson = facts.jetson_model.lower()
    if jetson or facts.tegra_release:
        return "jetson-orin" if "orin" in jetson else "jetson-nano"
    if "CUDAExecutionProvider" in facts.providers:
        return "cuda"
    if facts.arch in ("aarch64", "arm64"):
        return "arm64"
    return "x86_64-vnni" if facts.has_vnni else "x86_64-avx2"


def detect(root: str | Path = "/", providers: tuple[str, ...] | None = None) -> tuple[str, MachineFacts]:
    """Detect the machine and return ``(profile_name, facts)``."""
    facts = read_machine(root, providers)
    return choose_profile(facts), facts

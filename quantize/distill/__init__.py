"""Knowledge distillation: train a smaller student to imitate a bundle's teacher, measure it, ship it.

Laid out by role: ``students/`` builds and trains each student (``text``, ``vision``, ``speech``, ``ctc``);
``data/`` reads and fetches what they train on; ``training/`` holds the process layout (``engine``) and the
shared, resumable training loop (``loop``); ``ship/`` the export, side-by-side timing (``measure``) and the
write-or-refuse of a variant (``refusal``); and ``cli`` the ``python -m edge_sdk.quantize distill`` entry point::

    python -m edge_sdk.quantize distill text   [--steps N] [--data DIR ...] [--out DIR]   # MiniLM 6 -> 3 layers
    python -m edge_sdk.quantize distill vision [--teacher efficientnet-lite2] [--data DIR_OR_VIDEO ...]
    python -m edge_sdk.quantize distill speech [--teacher whisper-tiny.en]                # decoder 4 -> 2 layers
    python -m edge_sdk.quantize distill ctc    [--teacher whisper-tiny.en]                # CNN+GRU+CTC from scratch, own bundle

Each run resumes from ``<out>/checkpoint.pt`` (a larger ``--steps`` continues a finished run),
logs every evaluation to ``<out>/metrics.jsonl`` and writes ``<out>/report.json``. A student within
its quality budget is written as ``distilled`` / ``distilled-int8`` with its recipe and metrics; one
outside it is recorded under ``refused_variants`` in ``bundle.json`` instead, because device profiles
prefer ``distilled-int8`` over ``fp32`` and would otherwise pick it silently. The ``ctc`` student is a new
model, not a variant: it is installed as its own ``ctc`` bundle, its WER stated beside the teacher's.
"""

STUDENTS = ("text", "vision", "speech", "ctc")

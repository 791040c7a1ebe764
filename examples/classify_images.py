"""Classify image files with the default EfficientNet-Lite0 bundle.

    python examples/classify_images.py data/images/*.png

Build the bundle first with ``edge-sdk prepare vision``.
"""

from __future__ import annotations

import sys

from edge_sdk import FrameClassifier, FrameClassifierOptions


def main(argv: list[str] | None = None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or ["data/images/coffee.png"]
    options = FrameClassifierOptions(bundle="efficientnet-lite0", top_k=3)  # variant chosen by the device profile
    with FrameClassifier.create(options) as classifier:
        for path in paths:
            result = classifier.classify_file(path)
            labels = ", ".join(f"{c.label} {c.score:.2f}" for c in result.categories)
            print(f"{path}: {labels}  ({result.variant} on {result.providers[0]}, {result.latency_ms:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

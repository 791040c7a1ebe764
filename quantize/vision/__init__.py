"""Vision model preparation: plain-torch models, weight import, ONNX export, int8/fp16, bundles, bench."""

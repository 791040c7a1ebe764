"""The vision runtime never imports torch (or timm/transformers/optimum)."""

from __future__ import annotations

import subprocess
import sys


def test_vision_runtime_imports_without_torch():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'timm', 'transformers', 'optimum', 'torchvision'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import edge_sdk.vision.classifier, edge_sdk.vision.camera, edge_sdk.vision.loop, edge_sdk.vision.cli\n"
        "import edge_sdk.vision.evaluate, edge_sdk.vision.preprocess, edge_sdk.vision.image_io\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr

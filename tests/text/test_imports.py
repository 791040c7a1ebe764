"""The text runtime imports without torch, transformers or optimum."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers', 'optimum'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import edge_sdk.text.summarizer, edge_sdk.text.rolling, edge_sdk.text.abstractive, edge_sdk.text.evaluate, edge_sdk.text.cli
print('ok')
"""


def test_text_runtime_does_not_import_torch() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

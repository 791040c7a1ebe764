"""The one ``CalibrationDataReader`` of the project: int8 recipes and the onnxruntime-defaults reference
(``edge_sdk.bench.references``) feed calibration inputs through it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from onnxruntime.quantization import CalibrationDataReader


class CalibrationReader(CalibrationDataReader):
    """Feeds calibration inputs to ``quantize_static`` one batch of one at a time.

    Args:
        inputs: a batch array (split into batches of one), or an iterable of ready batches.
        input_name: the model input they feed.
    """

    def __init__(self, inputs: np.ndarray | Iterable[np.ndarray], input_name: str):
        batches = (inputs[i : i + 1] for i in range(len(inputs))) if isinstance(inputs, np.ndarray) else iter(inputs)
        self._it, self.input_name = batches, input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {self.input_name: x}

"""The int8 quality gate: tries each exclusion in order, refuses with what it tried."""

from __future__ import annotations

import pytest

from edge_sdk.errors import QualityGateError
from edge_sdk.quantize.speech.prepare import INT8_ATTEMPTS, gate_int8


def test_gate_accepts_the_first_attempt_within_budget():
    wers = iter([6.2, 5.8, 5.0])
    calls = []

    def attempt(label, exclude):
        calls.append(label)
        return {"wer": next(wers)}

    metrics, tried = gate_int8(INT8_ATTEMPTS, attempt, fp32_wer=5.6)
    assert metrics == {"wer": 5.8} and calls == [a[0] for a in INT8_ATTEMPTS[:2]] and len(tried) == 2


def test_gate_refuses_and_lists_every_attempt():
    with pytest.raises(QualityGateError) as info:
        gate_int8(INT8_ATTEMPTS, lambda label, exclude: {"wer": 9.0}, fp32_wer=5.6)
    message = str(info.value)
    assert "refused" in message and all(label in message for label, _ in INT8_ATTEMPTS)
    assert "9.00% vs fp32 5.60%" in message

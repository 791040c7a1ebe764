"""Speed-ups over several timing rounds: one ratio per round, and their median."""

from edge_sdk.quantize.distill.ship.measure import speedup_rounds


def test_speedup_rounds_takes_each_rounds_ratio_and_their_median():
    rounds = [{"teacher": 50.0, "student": 10.0}, {"teacher": 30.0, "student": 20.0}, {"teacher": 90.0, "student": 30.0}]
    out = speedup_rounds(rounds, {"student": ("teacher", "student")})
    assert out["speedup_per_round"] == {"student": [5.0, 1.5, 3.0]}
    assert out["median_speedup"] == {"student": 3.0}  # the median of the ratios, not the ratio of the medians (50 / 20)
    assert out["rounds_ms"] is rounds

"""Quantization-aware fine-tuning: the simulation rounds as onnxruntime does, and tuning brings it closer to the float model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_sdk.quantize.vision import int8, qat
from edge_sdk.quantize.vision.models import ARCHS


@pytest.mark.parametrize("signed", [True, False])
def test_weights_are_rounded_onto_onnxruntimes_per_channel_grid(signed):
    rng = np.random.default_rng(0)
    w = (rng.normal(size=(12, 4, 3, 3)) * rng.uniform(0.01, 2, size=(12, 1, 1, 1)) + 0.1).astype(np.float32)
    got = qat.fake_quant_weight(torch.from_numpy(w), signed).numpy()
    np.testing.assert_allclose(got, int8._fake_quant_weight(w, signed), rtol=0, atol=1e-6)
    # the rounding passes gradients straight through
    t = torch.from_numpy(w).requires_grad_()
    qat.fake_quant_weight(t, signed).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 1.0, atol=1e-3)


def test_activations_round_to_uint8_over_a_range_holding_zero():
    x = torch.tensor([-1.0, 0.0, 0.3, 2.0, 7.0])
    got = qat.fake_quant_act(x, 0.5, 6.0)  # the range is widened to [0, 6]: 0 is exact, -1 and 7 saturate
    step = 6.0 / 255
    np.testing.assert_allclose(got.numpy(), [0.0, 0.0, round(0.3 / step) * step, round(2.0 / step) * step, 6.0], atol=1e-6)


def test_folding_batchnorm_gives_the_same_outputs():
    torch.manual_seed(0)
    conv, bn = torch.nn.Conv2d(4, 6, 3, padding=1, bias=False), torch.nn.BatchNorm2d(6, eps=1e-3)
    bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.1, 2), bn.weight.data.uniform_(0.5, 2), bn.bias.data.uniform_(-1, 1)
    x = torch.randn(2, 4, 8, 8)
    w, b = qat.fold(conv, bn.eval())
    torch.testing.assert_close(torch.nn.functional.conv2d(x, w, b, padding=1), bn(conv(x)), atol=1e-5, rtol=1e-5)


@pytest.fixture
def one_thread():
    """One torch thread, as the distillation tests use: 8 steps of fine-tuning land elsewhere with another summation
    order (the simulated int8 KL falls to 0.73 of its start with 1 thread, 0.82 with 2, on an Intel Xeon)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_few_steps_bring_lite0s_int8_simulation_closer_to_its_float_outputs(data_dir, one_thread):
    from edge_sdk.quantize.vision import data
    from edge_sdk.quantize.vision.weights import load_lite

    model, _ = load_lite("efficientnet-lite0")
    photos = data.photo_sets(data_dir / "images")
    cfg = qat.QatConfig(steps=8, batch_size=8, lr=2e-5, views_per_image=4, observe_every=4)
    views = qat.training_views(list(photos.calibration[:4]), ARCHS["efficientnet-lite0"].preprocess, cfg)
    assert views.shape == (16, 3, 224, 224)

    def sim_kl(m):
        sim = qat.QuantSim(m)
        sim.observe([views])
        with torch.no_grad():
            return float(torch.nn.functional.kl_div(torch.log_softmax(sim(views), -1), torch.log_softmax(model(views), -1),
                                                    log_target=True, reduction="batchmean"))

    before = sim_kl(model)
    tuned, report = qat.fine_tune(model, views, cfg)
    assert report["steps"] == 8 and report["last_kl"] < report["first_kl"]
    assert sim_kl(tuned) < 0.8 * before
    # the float model given back is a tuned copy: the original is untouched, BatchNorm statistics and scales are kept
    assert not torch.equal(tuned.conv_head.weight, model.conv_head.weight)
    assert torch.equal(tuned.bn2.running_var, model.bn2.running_var) and torch.equal(tuned.bn2.weight, model.bn2.weight)


def test_prepare_vision_asks_for_the_qat_fallback_and_a_qat_recipe_needs_the_torch_model(tmp_path, monkeypatch):
    from edge_sdk.cli import build_parser
    from edge_sdk.quantize import prepare

    args = build_parser().parse_args(["prepare", "vision", "--qat"])
    assert (args.what, args.qat) == ("vision", True) and build_parser().parse_args(["prepare"]).qat is False
    assert build_parser().parse_args(["prepare", "vision", "--check-kernels", "x86_64-avx2,aarch64-neon"]).check_kernels == "x86_64-avx2,aarch64-neon"
    seen = {}
    monkeypatch.setattr("edge_sdk.quantize.vision.prepare.build", lambda store, force, qat_fallback, check_kernels: seen.setdefault("qat", qat_fallback))
    monkeypatch.setattr("edge_sdk.quantize.text.prepare.build", lambda store, force, **kw: seen.setdefault("text", kw))
    prepare.prepare("vision", store=tmp_path, qat=True)
    prepare.prepare("text", store=tmp_path, qat=True)  # the flag reaches the vision build only
    assert seen == {"qat": True, "text": {}}
    assert int8.QAT_RUNG["qat"] and int8.Int8Recipe(**int8.QAT_RUNG).label() == "percentile/u8s8/exclude=stem/qat"

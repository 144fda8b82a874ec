"""The training-throughput benchmark runs and reports every library (a smoke test: no timing asserts).

PyTorch is optional (``pip install 'scratchconv[bench]'``): the tests that need it skip without it;
the others leave it out.
"""

import json

import numpy as np
import pytest

from scratchconv.nn import benchmark
from scratchconv.nn.networks import fashion_mnist_model, monkeys_model


def test_benchmark_runs_both_libraries_side_by_side(tmp_path, capsys):
    saved = tmp_path / "throughput.json"
    benchmark.main(["--models", "separable", "monkeys", "--batch-size", "8", "--samples", "16",
                    "--monkeys-batch-size", "2", "--monkeys-samples", "4", "--rounds", "2", "--threads", "1",
                    "--no-torch", "--json", str(saved)])
    table = capsys.readouterr().out
    results = json.loads(saved.read_text())
    assert list(results) == ["separable", "monkeys"]
    for kind, (samples, batch) in (("separable", (16, 8)), ("monkeys", (4, 2))):
        result = results[kind]
        assert (result["samples"], result["batch_size"]) == (samples, batch)
        assert "torch" not in result and "ratio_torch" not in result
        for library in ("scratchconv", "keras"):
            assert result[library]["samples_per_s"] > 0 and len(result[library]["rounds"]) == 2
            assert result[library]["peak_mb"] >= result[library]["baseline_mb"] > 0
        assert result["ratio"] == result["scratchconv"]["samples_per_s"] / result["keras"]["samples_per_s"]
        assert result["ratio_per_round"] > 0 and result["ratio_faster_half"] > 0
    assert "separable          scratchconv" in table and "monkeys            keras" in table
    assert "monkeys 4 / 2" in table and "/torch" not in table
    for kind, result in results.items():
        rounds = result["rounds_faster"] + result["rounds_slower"]
        assert rounds <= len(result["keras"]["rounds"]) and 0 < result["sign_test_p"] <= 1
        assert f"{kind}: scratchconv faster than Keras in {result['rounds_faster']} of {rounds} rounds" in table


def test_ratios_by_hand():
    # Keras bimodal (two slow rounds at half speed): the faster half is its rounds 100, 110, 120.
    got = benchmark.ratios([100, 100, 110, 90, 100], [50, 100, 55, 110, 120])
    assert got["ratio"] == 100 / 100
    assert got["ratio_per_round"] == 1.0  # the per-round ratios 2, 1, 2, 0.818, 0.833
    assert got["ratio_faster_half"] == 100 / 110
    assert "ratio_torch" not in got
    # faster in rounds 0 and 2, slower in 3 and 4, a tie in 1: a 2-2 split, p = 1
    assert (got["rounds_faster"], got["rounds_slower"], got["sign_test_p"]) == (2, 2, 1.0)
    got = benchmark.ratios([2.0] * 6, [1.0] * 6)
    assert (got["rounds_faster"], got["rounds_slower"]) == (6, 0) and got["sign_test_p"] == pytest.approx(2 / 64)
    got = benchmark.ratios([100, 100, 110, 90, 100], [50, 100, 55, 110, 120], [200, 180, 220, 200, 190])
    assert got["ratio_torch"] == 100 / 200
    assert got["ratio_torch_per_round"] == 0.5  # the median of 0.5, 0.556, 0.5, 0.45, 0.526
    assert got["ratio_best_peer"] == 100 / 200  # PyTorch's median beats Keras's
    assert benchmark.ratios([100], [150], [120])["ratio_best_peer"] == 100 / 150


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="models must be among"):
        benchmark.run(models=("resnet",), torch=False)


@pytest.mark.parametrize("model", [fashion_mnist_model("separable", seed=1), fashion_mnist_model("standard", seed=1),
                                   monkeys_model("standard", seed=2, image_size=(16, 16)),
                                   monkeys_model("separable", seed=2, image_size=(16, 16))],
                         ids=["separable", "standard", "monkeys", "monkeys-separable"])
def test_torch_model_is_the_same_network(model):
    # PyTorch only. Same weights, same outputs, in both memory formats: the comparison trains the same network.
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, *model.input_shape[1:])).astype(np.float32)  # (3, H, W, C)
    expected = model.predict(x, verbose=0)
    for fmt in (torch.contiguous_format, torch.channels_last):
        net = benchmark.torch_model(model, torch).to(memory_format=fmt)
        with torch.no_grad():
            logits = net(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt))
        np.testing.assert_allclose(torch.softmax(logits, 1).numpy(), expected, atol=2e-6)
    # (torch_trainer runs in test_benchmark_with_torch's worker processes: torch.optim imports
    # torch._dynamo and triton, which crash in a process that has loaded TensorFlow, as pytest's has.)


def test_benchmark_with_torch():
    pytest.importorskip("torch")
    results = benchmark.run(models=("separable",), batch_size=8, samples=16, rounds=2, threads=1, torch=True)
    result = results["separable"]
    for library in ("scratchconv", "keras", "torch-nchw", "torch-cl"):
        assert result[library]["samples_per_s"] > 0 and len(result[library]["rounds"]) == 2
    faster = max(("torch-nchw", "torch-cl"), key=lambda name: result[name]["samples_per_s"])
    assert result["torch"]["rounds"] == result[faster]["rounds"]
    assert result["torch"]["memory_format"] == {"torch-nchw": "nchw", "torch-cl": "channels_last"}[faster]
    ours = result["scratchconv"]["samples_per_s"]
    assert result["ratio_torch"] == pytest.approx(ours / result["torch"]["samples_per_s"])
    assert result["ratio_best_peer"] == pytest.approx(
        ours / max(result["keras"]["samples_per_s"], result["torch"]["samples_per_s"]))
    table = benchmark.format_table(results, 8, 16, 2, 1)
    assert "separable          torch (" in table and "/peer" in table and "torch-nchw" in table
    assert f"{result['blas_core']} kernels" in table  # which OpenBLAS kernels scratchconv's products ran on

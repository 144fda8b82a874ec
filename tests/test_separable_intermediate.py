"""separable_conv2d can hand its depthwise output to the backward pass instead of recomputing it."""

import numpy as np
import pytest

from scratchconv import naive, separable_conv2d, separable_conv2d_backward


def _case(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 7, 6, 3)).astype(dtype)
    dk = rng.standard_normal((3, 2, 3, 2)).astype(dtype)
    pk = rng.standard_normal((1, 1, 6, 4)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    return x, dk, pk, bias


@pytest.mark.parametrize("module", [naive, None], ids=["naive", "fast"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_with_the_kept_depthwise_output_equals_the_recomputing_one(module, dtype):
    forward = naive.separable_conv2d if module else separable_conv2d
    backward = naive.separable_conv2d_backward if module else separable_conv2d_backward
    x, dk, pk, bias = _case(dtype)
    window = dict(strides=(2, 1), padding="same", dilation_rate=1)
    y, z = forward(x, dk, pk, bias, return_depthwise_output=True, **window)
    np.testing.assert_array_equal(y, forward(x, dk, pk, bias, **window))
    assert z.shape == (2, 4, 6, 6)  # (N, H_out, W_out, C*M)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    kept = backward(dy, x, dk, pk, bias, depthwise_output=z, **window)
    recomputed = backward(dy, x, dk, pk, bias, **window)
    for a, b in zip(kept, recomputed):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((2, 4, 6, 5), np.float32), ValueError, r"depthwise_output must have .*\(2, 4, 6, 6\)"),
    (np.zeros((2, 4, 6, 6), np.float64), TypeError, "depthwise_output"),
    ("z", TypeError, "depthwise_output"),
])
def test_a_wrong_depthwise_output_is_rejected(bad, error, match):
    x, dk, pk, bias = _case(np.float32)
    dy = np.zeros((2, 4, 6, 4), np.float32)
    with pytest.raises(error, match=match):
        separable_conv2d_backward(dy, x, dk, pk, bias, strides=(2, 1), padding="same", depthwise_output=bad)

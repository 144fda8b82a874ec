"""Every kernel against Keras: forward, dx, every weight gradient and the bias gradient.

Property tests draw random configurations (kernel_cases.cases) that TensorFlow computes and
compare scratchconv's fast kernels with keras_reference (Keras ops, tf.GradientTape). The
loop-by-loop versions are tied to the fast ones in test_kernels_naive_vs_fast.py.
Configurations TensorFlow's CPU kernels refuse are compared with the same Keras ops run on
an explicitly padded input at stride 1 (keras_reference's via='decomposed'), and in
test_kernels_finite_diff.py with finite differences.
"""

from functools import partial
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given
from hypothesis import strategies as st

import scratchconv
from kernel_cases import KINDS, cases, make_case, output_size
from keras_reference import (
    DirectOpUnusable,
    Reference,
    assert_matches,
    assert_matches_keras,
    keras_reference,
    needs_decomposition,
)


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_kernel_equals_keras(kind, data):
    case = data.draw(cases(kind, tf_computable=True), label="case")
    assert_matches_keras(case, scratchconv)


def forcing(algorithm):
    """A stand-in for the scratchconv module whose conv2d/conv2d_backward run ``algorithm``."""
    return SimpleNamespace(conv2d=partial(scratchconv.conv2d, algorithm=algorithm),
                           conv2d_backward=partial(scratchconv.conv2d_backward, algorithm=algorithm))


@pytest.mark.parametrize("algorithm", ["rows", "im2col", "winograd"])
@given(data=st.data())
def test_conv2d_algorithms_equal_keras(algorithm, data):
    """conv2d's algorithm=... forced on every case (the small random images would mostly take
    im2col under "auto"); Winograd's cases are 3x3 at stride 1, the only ones it computes."""
    case = data.draw(cases("conv2d", tf_computable=True, winograd=algorithm == "winograd"), label="case")
    assume(algorithm != "im2col" or case.config["groups"] == 1)  # im2col is for groups == 1
    assert_matches_keras(case, forcing(algorithm))


@pytest.mark.parametrize("kind", ["conv2d", "depthwise", "separable"])
@given(data=st.data())
def test_kernel_equals_keras_where_tf_kernels_refuse(kind, data):
    """conv2d with strides > 1 and dilation > 1 (and float32 strided conv2d, where TF is unsafe),
    depthwise/separable with unequal strides: Keras's op at stride 1 on the padded input."""
    case = data.draw(cases(kind), label="case")
    config = case.config
    assume(needs_decomposition(kind, case.dtype, config["strides"], config["dilation_rate"]))
    assert_matches_keras(case, scratchconv, via="decomposed")


# ----------------------------------------------------------------------------- degenerate cases


def _degenerate():
    """(id, case) pairs: the corners the random ranges reach only rarely."""
    out = []
    for kind in KINDS:
        for dtype in (np.float32, np.float64):
            t = np.dtype(dtype).name
            base = dict(out=3, multiplier=2, seed=7)
            out += [
                # kernel as large as the input: one output pixel ('valid'); 'same' pads 2+2.
                (f"{kind}-{t}-kernel-as-input-valid", make_case(kind, dtype, 2, 5, 4, 3, kernel_hw=(5, 4), **base)),
                (f"{kind}-{t}-kernel-as-input-same", make_case(kind, dtype, 2, 5, 4, 3, kernel_hw=(5, 4), padding="same", **base)),
                # 1x1 input with 'same': only the kernel's centre (top-left of centre for even sizes) sees it.
                (f"{kind}-{t}-1x1-input-same", make_case(kind, dtype, 2, 1, 1, 2, kernel_hw=(3, 2), padding="same", **base)),
                (f"{kind}-{t}-1x1-input-same-dilated", make_case(kind, dtype, 1, 1, 1, 2, kernel_hw=(3, 3), dilation_rate=(3, 2), padding="same", **base)),
                # stride larger than the kernel: some input pixels are never read.
                (f"{kind}-{t}-stride-over-kernel-valid", make_case(kind, dtype, 2, 7, 8, 2, kernel_hw=(2, 1), strides=(3, 3), **base)),
                (f"{kind}-{t}-stride-over-kernel-same", make_case(kind, dtype, 1, 8, 7, 2, kernel_hw=(1, 2), strides=(3, 3), padding="same", **base)),
                # 1x1 kernel (a depthwise scale / a pointwise mix) and a single channel.
                (f"{kind}-{t}-1x1-kernel-1-channel", make_case(kind, dtype, 3, 4, 6, 1, kernel_hw=(1, 1), out=1, multiplier=1, seed=3)),
            ]
    for dtype in (np.float32, np.float64):
        t = np.dtype(dtype).name
        # groups = channels = filters: a depthwise conv expressed as a grouped conv2d.
        out.append((f"conv2d-{t}-groups-equal-channels", make_case("conv2d", dtype, 2, 6, 5, 4, kernel_hw=(3, 3), out=4, groups=4, padding="same", seed=1)))
        out.append((f"conv2d-{t}-groups-6-out-12", make_case("conv2d", dtype, 1, 5, 5, 6, kernel_hw=(2, 3), out=12, groups=6, seed=2)))
    return out


DEGENERATE = _degenerate()


@pytest.mark.parametrize("case", [c for _, c in DEGENERATE], ids=[i for i, _ in DEGENERATE])
def test_degenerate_case_equals_keras(case):
    direct = not needs_decomposition(case.kind, case.dtype, case.config.get("strides", 1), case.config.get("dilation_rate", 1))
    assert_matches_keras(case, scratchconv, via="ops" if direct else "decomposed")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_batch_of_zero(kind, dtype, padding):
    """An empty batch gives empty outputs of the right shapes and zero weight and bias gradients.

    TensorFlow is no reference for the values here: on an empty batch its float32 (oneDNN)
    kernels return the input's shape (conv, depthwise) or raise (separable), and its float64
    depthwise filter gradient returns uninitialised memory. Its float64 forward shapes are
    right, so Keras gives the output shape; the weight and bias gradients are sums over an
    empty batch, i.e. exactly zero.
    """
    case = make_case(kind, dtype, 0, 6, 5, 3, kernel_hw=(3, 2), out=4, multiplier=2, strides=(2, 2), padding=padding)
    as64 = [a.astype(np.float64) for a in (case.x, *case.weights, case.bias, case.dy)]
    keras_y = keras_reference(kind, as64[0], as64[1:-2], as64[-2], as64[-1], **case.config).y
    assert keras_y.shape == case.dy.shape  # (0, H_out, W_out, n_out)
    expected = Reference(
        np.zeros(keras_y.shape, dtype),
        (np.zeros(case.x.shape, dtype), *(np.zeros(w.shape, dtype) for w in case.weights), np.zeros(case.bias.shape, dtype)),
    )
    assert_matches(case, case.forward(scratchconv), case.backward(scratchconv), expected)


# ----------------------------------------------------------------------------- NaN and Inf


def _nan_case(kind, dtype, padding):
    return make_case(kind, dtype, 2, 7, 6, 3, kernel_hw=(3, 2), out=4, multiplier=2, padding=padding, seed=11)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_nan_and_inf_in_x_and_bias_propagate_like_keras(kind, dtype, padding):
    """NaN and +-Inf in x (corners next to the padding included) or in the bias end up exactly
    where Keras puts them, in y and in every gradient; nothing crashes."""
    case = _nan_case(kind, dtype, padding)
    x = case.x.copy()
    x[0, 1, 2, 0] = np.nan
    x[1, 4, 4, 1] = np.inf
    x[1, 0, 0, 2] = -np.inf  # top-left corner
    x[1, 6, 5, 0] = np.inf  # bottom-right corner
    bias = case.bias.copy()
    bias[1] = -np.inf
    bias[-1] = np.nan
    assert_matches_keras(case.with_arrays(x=x), scratchconv)
    assert_matches_keras(case.with_arrays(bias=bias), scratchconv)


def _cast(case, dtype):
    cast = [a.astype(dtype) for a in (case.x, *case.weights, case.bias, case.dy)]
    return case.with_arrays(x=cast[0], weights=cast[1:-2], bias=cast[-2], dy=cast[-1])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_nan_and_inf_in_weights_and_dy_propagate_like_keras(kind, dtype, padding):
    """NaN/Inf in a weight or in dy: agree with Keras wherever Keras agrees with itself.

    A non-finite weight (or dy value) meets the zero padding, or the zeros TensorFlow pads
    dy with to compute dx, and 0 * Inf is NaN. TensorFlow disagrees with itself there: its
    float32 kernels (oneDNN) skip those zero terms and stay finite, its float64 kernels
    (Eigen) multiply them and give NaN, even with 'valid' padding. So the check is:
    wherever Keras (same dtype) is finite, ours is finite and within tolerance (no NaN out
    of nowhere), and wherever Keras float32 and float64 are both non-finite, ours is too.
    """
    case = _nan_case(kind, dtype, padding)
    weights = [w.copy() for w in case.weights]
    weights[0][0, 0, 0, 0] = np.inf
    weights[-1][-1, -1, -1, -1] = np.nan
    dy = case.dy.copy()
    dy[1, 2, 1, 0] = np.nan
    dy[0, 0, 0, -1] = -np.inf
    for bad in (case.with_arrays(weights=weights), case.with_arrays(dy=dy)):
        ours = (bad.forward(scratchconv), *bad.backward(scratchconv))
        refs = []
        for t in (np.float32, np.float64):
            c = _cast(bad, t)
            r = keras_reference(c.kind, c.x, c.weights, c.bias, c.dy, **c.config)
            refs.append((r.y, *r.grads))
        same = refs[0] if dtype == np.float32 else refs[1]
        rtol = 1e-5 if dtype == np.float32 else 1e-10
        for name, a, ref, r32, r64 in zip(("y", *bad.names), ours, same, *refs):
            finite = np.isfinite(ref)
            scale = max(1.0, float(np.max(np.abs(ref[finite]), initial=0.0)))
            np.testing.assert_allclose(a[finite], ref[finite], rtol=0, atol=rtol * scale, err_msg=f"{name} where Keras is finite")
            both = ~np.isfinite(r32) & ~np.isfinite(r64)
            assert not np.isfinite(a[both]).any(), f"{name}: finite where Keras float32 and float64 are not"


# ----------------------------------------------------------------------------- Keras rejects, we reject


def test_groups_not_dividing_channels_rejected_like_keras():
    x = np.ones((1, 5, 5, 5), np.float32)  # 5 channels
    kernel = np.ones((3, 3, 2, 4), np.float32)  # groups would be 5 / 2
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        keras.ops.conv(x, kernel).numpy()
    with pytest.raises(ValueError, match="groups"):
        scratchconv.conv2d(x, kernel, groups=2)


def test_filters_not_divisible_by_groups_rejected_like_keras():
    with pytest.raises(ValueError):
        keras.layers.Conv2D(5, 3, groups=2)
    x = np.ones((1, 5, 5, 4), np.float32)
    kernel = np.ones((3, 3, 2, 5), np.float32)  # 5 filters, groups = 2
    with pytest.raises(ValueError, match="groups"):
        scratchconv.conv2d(x, kernel, groups=2)


def test_empty_output_rejected_like_keras():
    x = np.ones((1, 3, 3, 2), np.float32)
    kernel = np.ones((2, 2, 2, 1), np.float32)
    with pytest.raises(Exception):
        keras.layers.Conv2D(1, 2, dilation_rate=3)(x)  # dilated window 4x4 over a 3x3 input
    with pytest.raises(ValueError, match="empty"):
        scratchconv.conv2d(x, kernel, dilation_rate=3)


# ----------------------------------------------------------------------------- the reference itself


REFERENCE_CONFIGS = [
    ("conv2d", dict(kernel_hw=(3, 2), strides=(2, 1), padding="same")),
    ("conv2d", dict(kernel_hw=(2, 3), dilation_rate=(2, 3), padding="same")),
    ("conv2d", dict(kernel_hw=(3, 3), groups=3, strides=(1, 2), padding="same")),
    ("conv2d", dict(kernel_hw=(2, 2), groups=3, dilation_rate=(2, 1))),
    ("depthwise", dict(kernel_hw=(3, 2), strides=(2, 2), padding="same")),
    ("depthwise", dict(kernel_hw=(2, 3), strides=(3, 3), dilation_rate=(2, 3), padding="same")),
    ("pointwise", dict()),
    ("separable", dict(kernel_hw=(3, 3), strides=(2, 2), dilation_rate=(1, 2), padding="same")),
    ("separable", dict(kernel_hw=(2, 1), dilation_rate=(3, 1))),
]


# Where the direct op can serve (float32 strided conv2d cannot: TF's oneDNN filter gradient is
# unsafe there, see keras_reference.needs_decomposition; float64 covers those configurations).
REFERENCE_PARAMS = [
    pytest.param(kind, config, dtype, id=f"{kind}-{np.dtype(dtype).name}-{i}")
    for i, (kind, config) in enumerate(REFERENCE_CONFIGS)
    for dtype in (np.float32, np.float64)
    if not needs_decomposition(kind, dtype, config.get("strides", 1), config.get("dilation_rate", 1))
]


def _reference_case(kind, dtype, config):
    return make_case(kind, dtype, 2, 9, 8, 6, out=6, multiplier=2, seed=5, **config)


@pytest.mark.parametrize("kind,config,dtype", REFERENCE_PARAMS)
def test_reference_ops_equal_keras_layers(kind, config, dtype):
    """The fast 'ops' reference (grouped conv split per group) equals the Keras layers themselves."""
    case = _reference_case(kind, dtype, config)
    ops = keras_reference(case.kind, case.x, case.weights, case.bias, case.dy, via="ops", **case.config)
    layer = keras_reference(case.kind, case.x, case.weights, case.bias, case.dy, via="layer", **case.config)
    # float32: the split grouped conv and Keras's XLA grouped conv sum in different orders.
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert_matches(case, ops.y, ops.grads, layer, rtol)


@pytest.mark.parametrize("kind,config,dtype", REFERENCE_PARAMS)
def test_reference_decomposition_equals_keras_ops(kind, config, dtype):
    """Explicit padding + stride 1 + slicing (used where TF refuses) equals the op where TF computes."""
    case = _reference_case(kind, dtype, config)
    ops = keras_reference(case.kind, case.x, case.weights, case.bias, case.dy, via="ops", **case.config)
    dec = keras_reference(case.kind, case.x, case.weights, case.bias, case.dy, via="decomposed", **case.config)
    # float32: different summation orders in the two TF paths.
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert_matches(case, dec.y, dec.grads, ops, rtol)


def test_reference_refuses_what_tf_refuses():
    case = make_case("conv2d", np.float64, 1, 9, 9, 2, kernel_hw=(3, 3), out=2, strides=(2, 2), dilation_rate=(2, 2))
    with pytest.raises(DirectOpUnusable):
        keras_reference(case.kind, case.x, case.weights, case.bias, case.dy, **case.config)
    with pytest.raises(ValueError):  # Keras itself refuses it
        keras.ops.conv(case.x, case.weights[0], 2, dilation_rate=2)


def test_output_size_formula_matches_keras():
    """kernel_cases.output_size (used to shape dy) agrees with Keras's compute_output_shape."""
    for size in range(1, 9):
        for k in range(1, 5):
            for s in range(1, 4):
                for d in range(1, 4):
                    for padding in ("valid", "same"):
                        if padding == "valid" and (k - 1) * d + 1 > size:
                            continue
                        layer = keras.layers.DepthwiseConv2D((k, 1), strides=(s, 1), dilation_rate=(d, 1), padding=padding)
                        expected = layer.compute_output_shape((1, size, 1, 1))[1]
                        assert output_size(size, k, s, d, padding) == expected, (size, k, s, d, padding)

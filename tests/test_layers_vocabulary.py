"""The layers without weights (pooling.py, reshaping.py, noise.py) against Keras's.

Each deterministic layer is built in Keras with the same arguments; hypothesis draws the
arguments, the input shape (odd sizes, windows that do not divide the input, both data
formats, float32/float64) and the data, and y, dx (``tf.GradientTape`` with a random upstream
dy) and ``compute_output_shape`` (batch None) must match. The linear ones also pass the adjoint
test <forward(x), dy> = <x, backward(dy)> in float64, which needs no framework.

Dropout's and GaussianNoise's random draws are our own, so those are tested by their
statistics (drop fraction, scale, whole channels, seeding), by Keras's own training output
obeying the same formula (y = where(keep, x * scale, 0), same scale to the last bit), and
against Keras at inference, where they are the identity.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf  # a missing TensorFlow is an error here, never a skip
import keras
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keras_reference import RTOL, assert_close
from scratchconv import layers
from scratchconv.kernels.average_pooling import (average_pool2d, average_pool2d_backward,
                                                 average_pool2d_backward_naive, average_pool2d_naive)

REPO = Path(__file__).resolve().parents[1]


def examples(fraction, minimum=5):
    """A fraction of the active hypothesis profile's max_examples (30 of ci's 300 at 0.1)."""
    return max(minimum, round(settings.default.max_examples * fraction))


def keras_run(layer, x, dy, training=False):
    """Keras's (y, dx) by tf.GradientTape (eager) with upstream dy."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=training)
        loss = tf.reduce_sum(y * dy)
    return np.asarray(y), np.asarray(tape.gradient(loss, xt))


def check_against_keras(ours, theirs, x, seed, linear=True):
    """y, dx and compute_output_shape of ours equal Keras's; the adjoint identity when linear."""
    rng = np.random.default_rng(seed)
    ours.build((None, *x.shape[1:]))
    y = ours.forward(x)
    dy = rng.uniform(-1, 1, y.shape).astype(ours.dtype)
    dx = ours.backward(dy)
    y_ref, dx_ref = keras_run(theirs, x, dy)
    rtol = RTOL[ours.dtype]
    assert_close("y", y, y_ref, rtol)
    assert_close("dx", dx, dx_ref, rtol)
    for batch in (None, x.shape[0]):
        shape = (batch, *x.shape[1:])
        assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
    assert ours.compute_output_shape(x.shape) == y.shape
    if linear:  # <A x, dy> = <x, A^T dy>: the backward is the forward's transpose
        lhs, rhs = np.vdot(y.astype(np.float64), dy), np.vdot(x.astype(np.float64), dx)
        assert abs(lhs - rhs) <= 100 * rtol * (np.abs(y).sum() + 1) * np.abs(dy).max(initial=1)


@st.composite
def images(draw, max_size=9):
    """(x, dtype name, data_format, seed): a random batch, sizes 1..max_size, in the drawn layout."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    n, h, w, c = draw(st.integers(1, 3)), draw(st.integers(1, max_size)), draw(st.integers(1, max_size)), \
        draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    shape = (n, h, w, c) if data_format == "channels_last" else (n, c, h, w)
    x = np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)
    return x, dtype, data_format, seed


def hw(x, data_format):
    return x.shape[1:3] if data_format == "channels_last" else x.shape[2:4]


# --------------------------------------------------------------------------- pooling


@settings(max_examples=examples(0.2))
@given(images(), st.tuples(st.integers(1, 4), st.integers(1, 4)), st.one_of(st.none(), st.tuples(
    st.integers(1, 4), st.integers(1, 4))), st.sampled_from(["valid", "same"]))
def test_average_pooling_matches_keras(image, pool, strides, padding):
    x, dtype, data_format, seed = image
    if padding == "valid":
        assume(all(size >= p for size, p in zip(hw(x, data_format), pool)))
    kwargs = dict(pool_size=pool, strides=strides, padding=padding, data_format=data_format, dtype=dtype)
    check_against_keras(layers.AveragePooling2D(**kwargs), keras.layers.AveragePooling2D(**kwargs), x, seed)


@settings(max_examples=examples(0.2))
@given(images(), st.booleans(), st.booleans(), st.booleans())
def test_global_pooling_matches_keras(image, use_max, keepdims, ties):
    x, dtype, data_format, seed = image
    if ties:  # small integers: most channels hold their maximum more than once
        x = np.round(x * 2).astype(dtype)
    kwargs = dict(data_format=data_format, keepdims=keepdims, dtype=dtype)
    ours, theirs = ((layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling2D) if use_max else
                    (layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling2D))
    check_against_keras(ours(**kwargs), theirs(**kwargs), x, seed, linear=not use_max)


def test_global_max_pooling_splits_ties_and_nan_like_tensorflow():
    # TF's reduce_max gradient: dx = (x == y) / count * dy. Channel 0: a three-way tie; channel 1: a NaN
    # (y NaN, every dx 0/0 = NaN); channel 2: all -inf (a tie of every cell).
    x = np.zeros((1, 2, 2, 3), np.float32)
    x[0, :, :, 0] = [[2, 2], [1, 2]]
    x[0, :, :, 1] = [[1, np.nan], [3, 0]]
    x[0, :, :, 2] = -np.inf
    ours = layers.GlobalMaxPooling2D()
    y = ours.forward(x)
    dy = np.array([[3, 5, 8]], np.float32)
    dx = ours.backward(dy)
    y_ref, dx_ref = keras_run(keras.layers.GlobalMaxPooling2D(), x, dy)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 1], [0, 1]])  # 3 split three ways
    assert np.isnan(dx[0, :, :, 1]).all() and (dx[0, :, :, 2] == 2).all()


def test_average_pooling_same_divides_by_the_real_cells():
    # Independent of Keras: a 2x2 'same' window over the corner of a 3x3 image of ones averages 1, not 1/4.
    y = layers.AveragePooling2D(2, padding="same").forward(np.ones((1, 3, 3, 1), np.float32))
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))


@settings(max_examples=examples(0.2))
@given(st.integers(1, 3), st.integers(1, 10), st.integers(1, 10), st.integers(1, 3),
       st.tuples(st.integers(1, 4), st.integers(1, 4)), st.tuples(st.integers(1, 4), st.integers(1, 4)),
       st.sampled_from(["valid", "same"]), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_average_pooling_kernels_match_the_loops(n, h, w, c, pool, strides, padding, dtype, seed):
    assume(padding == "same" or (h >= pool[0] and w >= pool[1]))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    y = average_pool2d(x, pool, strides, padding)
    assert_close("y", y, average_pool2d_naive(x, pool, strides, padding), RTOL[np.dtype(dtype)])
    dy = rng.standard_normal(y.shape).astype(dtype)
    assert_close("dx", average_pool2d_backward(dy, x.shape, pool, strides, padding),
                 average_pool2d_backward_naive(dy, x.shape, pool, strides, padding), RTOL[np.dtype(dtype)])


# --------------------------------------------------------------------------- reshaping


pair = st.tuples(st.integers(0, 3), st.integers(0, 3))
pads = st.one_of(st.integers(0, 3), pair, st.tuples(pair, pair))  # the three forms Keras takes


def spans(pad):
    """(rows, cols) a padding/cropping argument takes in total."""
    if isinstance(pad, int):
        return 2 * pad, 2 * pad
    return tuple(2 * p if isinstance(p, int) else sum(p) for p in pad)


@settings(max_examples=examples(0.2))
@given(images(), pads, st.booleans())
def test_zero_padding_and_cropping_match_keras(image, pad, crop):
    x, dtype, data_format, seed = image
    if crop:
        assume(all(size > total for size, total in zip(hw(x, data_format), spans(pad))))
        ours, theirs = layers.Cropping2D, keras.layers.Cropping2D
    else:
        ours, theirs = layers.ZeroPadding2D, keras.layers.ZeroPadding2D
    kwargs = dict(data_format=data_format, dtype=dtype)
    check_against_keras(ours(pad, **kwargs), theirs(pad, **kwargs), x, seed)


@settings(max_examples=examples(0.2))
@given(images(max_size=6), st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
def test_up_sampling_matches_keras(image, size):
    x, dtype, data_format, seed = image
    kwargs = dict(size=size, data_format=data_format, dtype=dtype)
    check_against_keras(layers.UpSampling2D(**kwargs), keras.layers.UpSampling2D(**kwargs), x, seed)


@settings(max_examples=examples(0.2))
@given(images(max_size=6), st.data())
def test_reshape_matches_keras(image, data):
    x, dtype, _, seed = image
    sample = x.shape[1:]
    size = int(np.prod(sample))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    first = data.draw(st.sampled_from(divisors))
    target = data.draw(st.sampled_from([(size,), (first, size // first), (first, -1), (-1, first),
                                        (first, 1, size // first), (1, -1, first)]))
    check_against_keras(layers.Reshape(target, dtype=dtype), keras.layers.Reshape(target, dtype=dtype), x, seed)


@settings(max_examples=examples(0.1))
@given(images(max_size=5), st.sampled_from(["python float", "np.float64", "per channel"]), st.booleans())
def test_rescaling_matches_keras(image, kind, as_uint8):
    # A Python float scale is rounded to float32 by Keras even in a float64 layer; ours follows.
    x, dtype, _, seed = image
    rng = np.random.default_rng(seed)
    scale = {"python float": float, "np.float64": np.float64, "per channel": np.asarray}[kind](
        rng.uniform(-2, 2, None if kind != "per channel" else x.shape[-1]))
    offset = float(rng.uniform(-1, 1))
    ours, theirs = layers.Rescaling(scale, offset, dtype=dtype), keras.layers.Rescaling(scale, offset, dtype=dtype)
    if as_uint8:  # Rescaling(1 / 255) on images: integers in, the layer's dtype out, as Keras
        x = rng.integers(0, 256, x.shape).astype(np.uint8)
        assert_close("y", ours.forward(x), np.asarray(theirs(x)), RTOL[np.dtype(dtype)])
    else:
        check_against_keras(ours, theirs, x, seed, linear=False)


# --------------------------------------------------------------------------- noise


@pytest.mark.parametrize("make_ours, make_theirs", [
    (lambda: layers.Dropout(0.4, dtype="float64"), lambda: keras.layers.Dropout(0.4, dtype="float64")),
    (lambda: layers.SpatialDropout2D(0.4, "channels_first"),
     lambda: keras.layers.SpatialDropout2D(0.4, "channels_first")),
    (lambda: layers.GaussianNoise(0.5, seed=1), lambda: keras.layers.GaussianNoise(0.5, seed=1)),
])
def test_noise_layers_are_the_identity_at_inference_like_keras(make_ours, make_theirs):
    ours, theirs = make_ours(), make_theirs()
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(ours.dtype)
    check_against_keras(ours, theirs, x, seed=0)
    np.testing.assert_array_equal(ours.forward(x), x)


def scale_of(rate, dtype):
    one = np.dtype(dtype).type(1)
    return one / (one - np.dtype(dtype).type(rate))


@settings(max_examples=examples(0.1))
@given(st.sampled_from(["float32", "float64"]), st.sampled_from([0.1, 0.25, 0.5, 0.7]), st.integers(0, 2**32 - 1))
def test_dropout_follows_keras_formula(dtype, rate, seed):
    # Keras's training output and gradient, with its own mask (read off y: x is never 0), are
    # where(keep, x * scale, 0) and where(keep, dy * scale, 0) with our scale to the last bit; ours the same.
    rng = np.random.default_rng(seed)
    x = (rng.uniform(0.5, 1, (4, 50)) * rng.choice([-1, 1], (4, 50))).astype(dtype)
    dy = rng.uniform(-1, 1, x.shape).astype(dtype)
    scale = scale_of(rate, dtype)
    ours = layers.Dropout(rate, seed=seed % 1000, dtype=dtype)
    y_ref, dx_ref = keras_run(keras.layers.Dropout(rate, seed=seed % 1000, dtype=dtype), x, dy, training=True)
    for y, dx in [(y_ref, dx_ref), (ours.forward(x, training=True), None)]:
        keep = y != 0
        np.testing.assert_array_equal(y, np.where(keep, x * scale, 0))
        dx = ours.backward(dy) if dx is None else dx
        np.testing.assert_array_equal(dx, np.where(keep, dy * scale, 0))
        assert y.dtype == dx.dtype == np.dtype(dtype)


def test_dropout_statistics_and_seeding():
    x = np.ones((200, 100), np.float32)
    layer = layers.Dropout(0.3, seed=7)
    y = layer.forward(x, training=True)
    dropped = y == 0
    assert abs(dropped.mean() - 0.3) < 0.015  # 20,000 draws: 4.7 standard deviations
    assert (y[~dropped] == scale_of(0.3, np.float32)).all()
    assert abs(y.mean() - 1) < 0.03  # inverted dropout keeps the expected value
    np.testing.assert_array_equal(layer.backward(x), y)  # backward: the same mask
    again = layers.Dropout(0.3, seed=7)
    np.testing.assert_array_equal(again.forward(x, training=True), y)  # same seed, same masks
    assert not np.array_equal(layer.forward(x, training=True), y)  # a fresh mask per call
    unseeded = [layers.Dropout(0.3).forward(x, training=True) for _ in range(2)]
    assert not np.array_equal(*unseeded)
    np.testing.assert_array_equal(layers.Dropout(0.0).forward(x, training=True), x)  # rate 0: identity
    np.testing.assert_array_equal(layers.Dropout(1.0).forward(x, training=True), 0 * x)  # rate 1: all dropped...
    np.testing.assert_array_equal(keras.layers.Dropout(1.0)(x, training=True), 0 * x)  # ...as in Keras
    # noise_shape (None, 1): one draw per row, broadcast along it (None takes the input's size)
    rows = layers.Dropout(0.5, noise_shape=(None, 1), seed=1).forward(x, training=True)
    assert ((rows == 0).all(axis=1) | (rows == 2).all(axis=1)).all() and 0 < (rows == 0).mean() < 1


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_drops_whole_channels(data_format):
    shape = (40, 3, 4, 25) if data_format == "channels_last" else (40, 25, 3, 4)
    maps = (1, 2) if data_format == "channels_last" else (2, 3)
    x = np.ones(shape, np.float64)
    y = layers.SpatialDropout2D(0.5, data_format, seed=2, dtype="float64").forward(x, training=True)
    y_ref = keras.layers.SpatialDropout2D(0.5, data_format, seed=2, dtype="float64")(x, training=True).numpy()
    for out in (y, y_ref):  # Keras's and ours: each (sample, channel) map all 0 or all 2
        assert ((out == 0).all(axis=maps) | (out == 2).all(axis=maps)).all()
        assert abs((out == 0).mean() - 0.5) < 0.1  # 1,000 draws of a map
    layer = layers.SpatialDropout2D(0.5, data_format, seed=2, dtype="float64")
    np.testing.assert_array_equal(layer.forward(x, training=True), y)  # seeded
    np.testing.assert_array_equal(layer.backward(x), y)


def test_gaussian_noise_statistics_seeding_and_backward():
    x = np.zeros((100, 1000), np.float32)
    layer = layers.GaussianNoise(0.2, seed=3)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32 and abs(y.mean()) < 0.002 and abs(y.std() - 0.2) < 0.002
    np.testing.assert_array_equal(layers.GaussianNoise(0.2, seed=3).forward(x, training=True), y)
    assert not np.array_equal(layer.forward(x, training=True), y)
    dy = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    y_ref = keras.layers.GaussianNoise(0.2, seed=3)(x, training=True).numpy()  # Keras's noise: the same law
    assert abs(y_ref.mean()) < 0.002 and abs(y_ref.std() - 0.2) < 0.002


# --------------------------------------------------------------------------- bad arguments and shapes


@pytest.mark.parametrize("make, error, match", [
    (lambda: layers.AveragePooling2D(0), ValueError, "pool_size"),
    (lambda: layers.AveragePooling2D(2, strides=(1, 2, 3)), ValueError, "strides"),
    (lambda: layers.AveragePooling2D(2, padding="full"), ValueError, "padding"),
    (lambda: layers.AveragePooling2D(2, data_format="nhwc"), ValueError, "data_format"),
    (lambda: layers.GlobalMaxPooling2D(keepdims="yes"), TypeError, "keepdims"),
    (lambda: layers.GlobalAveragePooling2D(data_format="NCHW"), ValueError, "data_format"),
    (lambda: layers.ZeroPadding2D(-1), ValueError, "padding"),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), ValueError, "padding"),
    (lambda: layers.ZeroPadding2D(((1, -2), (0, 0))), ValueError, "1st entry of padding"),
    (lambda: layers.Cropping2D(((0, 0), (1, 2, 3))), ValueError, "2nd entry of cropping"),
    (lambda: layers.Cropping2D("1"), ValueError, "cropping"),
    (lambda: layers.UpSampling2D(0), ValueError, "size"),
    (lambda: layers.UpSampling2D(interpolation="bilinear"), ValueError, "'bilinear'.*only interpolation='nearest'"),
    (lambda: layers.UpSampling2D(interpolation="lanczos3"), ValueError, "'lanczos3'"),
    (lambda: layers.Reshape((2, -1, -1)), ValueError, "at most one -1"),
    (lambda: layers.Reshape((2, -3)), ValueError, "target_shape"),
    (lambda: layers.Reshape(6), TypeError, "target_shape"),
    (lambda: layers.Rescaling("1/255"), TypeError, "scale"),
    (lambda: layers.Rescaling(1.0, offset=[1, "a"]), TypeError, "offset"),
    (lambda: layers.Dropout(1.5), ValueError, "rate"),
    (lambda: layers.Dropout(-0.1), ValueError, "rate"),
    (lambda: layers.Dropout("0.5"), TypeError, "rate"),
    (lambda: layers.Dropout(0.5, noise_shape=(None, 0)), ValueError, "noise_shape"),
    (lambda: layers.Dropout(0.5, noise_shape="1, 2"), ValueError, "noise_shape"),
    (lambda: layers.Dropout(0.5, seed=1.5), ValueError, "seed"),
    (lambda: layers.SpatialDropout2D(2.0), ValueError, "rate"),
    (lambda: layers.SpatialDropout2D(0.5, data_format="nchw"), ValueError, "data_format"),
    (lambda: layers.GaussianNoise(2.0), ValueError, "stddev"),
    (lambda: layers.GaussianNoise(0.1, dtype="float16"), TypeError, "dtype"),
])
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("ours, theirs, input_shape, match", [
    # input shapes Keras also refuses: our message names the layer, the argument and both shapes
    (layers.Cropping2D(((2, 2), (0, 0))), keras.layers.Cropping2D(((2, 2), (0, 0))), (None, 4, 5, 1), "cropping"),
    (layers.Cropping2D(((0, 0), (1, 1)), "channels_first"), keras.layers.Cropping2D(((0, 0), (1, 1)), "channels_first"),
     (None, 8, 5, 2), "cropping"),
    (layers.Reshape((7,)), keras.layers.Reshape((7,)), (None, 2, 3), "target_shape"),
    (layers.Reshape((4, -1)), keras.layers.Reshape((4, -1)), (None, 2, 3), "target_shape"),
    (layers.AveragePooling2D(5), keras.layers.AveragePooling2D(5), (None, 2, 9, 1), "pool_size"),
])
def test_input_shapes_keras_refuses_are_refused_before_any_kernel(ours, theirs, input_shape, match):
    with pytest.raises(ValueError):
        theirs.compute_output_shape(input_shape)
    with pytest.raises(ValueError, match=f"layer '{ours.name}'.*{match}.*" + re.escape(str(input_shape))):
        ours.build(input_shape)
    with pytest.raises(ValueError, match=f"layer '{ours.name}'"):
        ours.forward(np.zeros((1, *input_shape[1:]), np.float32))


@pytest.mark.parametrize("layer, input_shape, match", [
    (layers.AveragePooling2D(2), (None, 4, 4), "rank-4"),
    (layers.GlobalMaxPooling2D(), (None, 4, 4, 3, 1), "rank-4"),
    (layers.ZeroPadding2D(), (None, 4), "rank-4"),
    (layers.UpSampling2D(), (None, 4, 4), "rank-4"),
    (layers.SpatialDropout2D(0.5), (None, 4, 4), "rank-4"),
    (layers.Dropout(0.5, noise_shape=(None, 1, 5)), (None, 4, 4), "noise_shape"),
    (layers.Dropout(0.5, noise_shape=(None, 1)), (None, 4, 4), "noise_shape"),
    (layers.Rescaling(np.ones(3)), (None, 4, 4, 2), "scale"),
    (layers.Rescaling(1.0, np.ones((2, 1, 1, 1))), (None, 4, 4, 1), "offset"),
])
def test_build_names_the_layer_and_the_argument(layer, input_shape, match):
    with pytest.raises(ValueError, match=f"layer '{layer.name}'.*{match}"):
        layer.build(input_shape)


def test_backward_before_forward_and_a_wrong_dy_are_refused():
    layer = layers.AveragePooling2D(2)
    with pytest.raises(ValueError, match="forward"):
        layer.backward(np.zeros((1, 2, 2, 1), np.float32))
    layer.forward(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.zeros((1, 3, 2, 1), np.float32))
    with pytest.raises(ValueError, match="input_shape"):
        average_pool2d_backward(np.zeros((1, 2, 2, 1), np.float32), (1, 4, 4))


def test_layers_keep_float64_and_cast_to_their_dtype():
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3))
    for make in (lambda **k: layers.AveragePooling2D(2, padding="same", **k), layers.GlobalMaxPooling2D,
                 layers.ZeroPadding2D, layers.UpSampling2D, lambda **k: layers.Reshape((-1,), **k),
                 lambda **k: layers.Dropout(0.5, **k), lambda **k: layers.GaussianNoise(0.1, **k)):
        for dtype, x_in in (("float64", x), ("float32", x), ("float64", x.astype(np.float32))):
            layer = make(dtype=dtype)
            y = layer.forward(x_in, training=True)
            assert y.dtype == np.dtype(dtype) and layer.backward(np.ones_like(y)).dtype == np.dtype(dtype)


def test_average_pooling_runs_as_plain_python_with_numba_disabled(tmp_path):
    # The kernels must also run with NUMBA_DISABLE_JIT=1 (to step through them in a debugger), and
    # give the jitted kernels' results to the bit: the same float operations in the same order.
    rng = np.random.default_rng(9)
    cases = [((2, 5, 6, 3), np.float32, 3, 2, "same"), ((1, 7, 4, 2), np.float64, (2, 3), (3, 1), "valid"),
             ((1, 6, 6, 1), np.float32, 2, 3, "valid")]  # the last: cells no window holds
    arrays = {}
    for i, (shape, dtype, pool, strides, padding) in enumerate(cases):
        arrays[f"x{i}"] = rng.standard_normal(shape).astype(dtype)
        y = average_pool2d(arrays[f"x{i}"], pool, strides, padding)
        arrays[f"dy{i}"] = rng.standard_normal(y.shape).astype(dtype)
    np.savez(tmp_path / "in.npz", **arrays)
    script = (
        "import sys, numpy as np, numba\n"
        "assert numba.config.DISABLE_JIT, 'NUMBA_DISABLE_JIT did not reach the subprocess'\n"
        "from numba.core.dispatcher import Dispatcher\n"
        "from scratchconv.kernels import average_pooling as m\n"
        "assert not isinstance(m.average_pool2d_kernel, Dispatcher)\n"
        f"cases = {[c[2:] for c in cases]!r}\n"
        f"a = np.load({str(tmp_path / 'in.npz')!r})\n"
        "out = {}\n"
        "for i, (pool, strides, padding) in enumerate(cases):\n"
        "    x = a[f'x{i}']\n"
        "    out[f'y{i}'] = m.average_pool2d(x, pool, strides, padding)\n"
        "    out[f'dx{i}'] = m.average_pool2d_backward(a[f'dy{i}'], x.shape, pool, strides, padding)\n"
        f"np.savez({str(tmp_path / 'out.npz')!r}, **out)\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    out = np.load(tmp_path / "out.npz")
    for i, (shape, dtype, pool, strides, padding) in enumerate(cases):
        x, dy = arrays[f"x{i}"], arrays[f"dy{i}"]
        np.testing.assert_array_equal(out[f"y{i}"], average_pool2d(x, pool, strides, padding))
        np.testing.assert_array_equal(out[f"dx{i}"], average_pool2d_backward(dy, x.shape, pool, strides, padding))
        assert_close("dx loops", out[f"dx{i}"], average_pool2d_backward_naive(dy, x.shape, pool, strides, padding),
                     RTOL[np.dtype(dtype)])

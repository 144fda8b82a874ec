"""Every Keras 3 activation, and the ReLU / LeakyReLU / ELU / Softmax layers, against Keras.

Forward values and gradients (tf.GradientTape) on random inputs plus the kinks (0, +-3, 6, the
threshold, max_value) and large |x|, in float32 and float64; keras.activations functions as
identifiers; the error messages; and every activation with NUMBA_DISABLE_JIT=1.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import scipy.special
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from scratchconv import layers as L
from scratchconv.kernels import activations

NAMES = sorted(activations.ACTIVATIONS)
KINKS = [-3.0, -1e-30, 0.0, 1e-30, 3.0, 6.0, -20.0, -80.0, -100.0, 30.0, 80.0, 100.0]

# (rtol, atol) on values of order 1. float32: TensorFlow's own float32 exp, tanh, erfc and
# logistic are a few ulp off the correctly rounded value (Eigen's approximations), so 1e-6 relative
# (8 ulp) with an absolute floor of 2e-7 for values that cancel near 0 (elu, selu, mish and
# tanh_shrink near x = 0, where TF's exp(x) - 1 and x - tanh(x) lose digits).
TOL = {np.float32: (1e-6, 2e-7), np.float64: (1e-12, 1e-14)}
LOOSER = {  # (name, dtype): (rtol, atol), each with its reason
    # tanh_shrink's gradient dy - dy*(1 - tanh^2) and gelu's 0.5*erfc + x*phi cancel near 0 and for
    # x < 0: a difference of a few ulp of the larger term, which is ~1 (float32) / ~1e-16 (float64)
    ("tanh_shrink", np.float32): (1e-6, 6e-7), ("gelu", np.float32): (1e-6, 6e-7),
    ("tanh_shrink", np.float64): (1e-12, 1e-15),
    # mish = x * tanh(softplus(x)) chains three float32 approximations in TF
    ("mish", np.float32): (2e-6, 4e-7),
    # TensorFlow's float64 erfc (Eigen's) is only ~float32-accurate: up to 5.7e-7 relative off
    # scipy's; ours is checked against scipy to 1e-12 in test_gelu_equals_scipy_in_float64
    ("gelu", np.float64): (1e-6, 1e-9),
}
# For -6e-8 < x < 0 (float32; -1e-16 in float64) TensorFlow's selu computes e^x - 1 = 0, so
# SeluGrad sees y = 0 and takes the x >= 0 slope; ours (expm1) keeps y < 0 and gives the x < 0
# slope, the true derivative there: the tiny negative kink is compared with the formula instead.
TINY_NEGATIVE = KINKS.index(-1e-30)


def keras_values(function, x, dy):
    """function(x) and the gradient of sum(function(x) * dy) with tf.GradientTape, as arrays."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = function(xt)
    return yt.numpy(), tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()


def inputs(dtype, seed, rows=6, cols=17):
    """Random values (spread over -8..8) with the kinks and large |x| written into the first row."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, cols)) * 4).astype(dtype)
    x[0, : len(KINKS)] = KINKS
    return x, rng.standard_normal(x.shape).astype(dtype)


def assert_close(ours, theirs, rtol, atol, what):
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=what)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_activation_equals_keras(name, dtype):
    x, dy = inputs(dtype, NAMES.index(name))
    forward, backward = activations.get(name)
    y_keras, dx_keras = keras_values(keras.activations.get(name), x, dy)
    with np.errstate(over="ignore"):  # exponential(100) is inf in float32, in both
        y = forward(x)
        dx = backward(dy, x, y)
    rtol, atol = LOOSER.get((name, dtype), TOL[dtype])
    assert_close(y, y_keras, rtol, atol, f"{name} forward")
    if name == "selu":
        slope = activations.SELU_SCALE * activations.SELU_ALPHA
        np.testing.assert_allclose(dx[0, TINY_NEGATIVE], dy[0, TINY_NEGATIVE] * slope, rtol=rtol)
        dx_keras[0, TINY_NEGATIVE] = dx[0, TINY_NEGATIVE]
    assert_close(dx, dx_keras, rtol, atol * np.abs(dy).max(), f"{name} gradient")


def test_gelu_equals_scipy_in_float64():
    """The exact GELU and its derivative against scipy's erfc, independent of TensorFlow and Numba."""
    x = np.concatenate([np.linspace(-40, 10, 2001), KINKS])
    y = activations.get("gelu")[0](x)
    dx = activations.get("gelu")[1](np.ones_like(x), x, y)
    # 1e-12: for x << 0 (erfc's argument > 20) libm's erfc and scipy's differ by up to ~2.4e-13
    np.testing.assert_allclose(y, 0.5 * x * scipy.special.erfc(-x / np.sqrt(2)), rtol=1e-12, atol=1e-300)
    derivative = 0.5 * scipy.special.erfc(-x / np.sqrt(2)) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(dx, derivative, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", NAMES)
def test_nan_and_inf_give_what_keras_gives(name):
    x = np.array([[np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0]], np.float32)
    with np.errstate(all="ignore"):
        ours = activations.get(name)[0](x)
    theirs = keras.activations.get(name)(tf.constant(x)).numpy()
    if name == "softmax":  # ours is NaN on the whole row; TF's max skips the NaN: [nan nan 0 0 0 0]
        assert np.isnan(ours).all() and np.isnan(theirs[0, :2]).all()
        return
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("swish", "hard_swish")])
def test_keras_functions_are_accepted_by_name(name):
    function = getattr(keras.activations, name)
    assert activations.name_of(function) == name
    assert activations.get(function) is activations.get(name)
    layer = L.Dense(3, activation=function)
    assert layer.activation == name  # a string, so that configs round-trip
    assert L.Conv2D(2, 3, activation=function).activation == name


def test_swish_keeps_its_name():
    assert L.Dense(3, activation="swish").activation == "swish"
    assert L.Conv2D(2, 3, activation="swish").activation == "swish"
    assert L.Activation("hard_swish").activation == "hard_swish"
    # keras.activations.swish *is* silu (one function, two exports): its own name is 'silu'
    assert keras.activations.swish is keras.activations.silu
    assert L.Dense(3, activation=keras.activations.swish).activation == "silu"
    assert L.Dense(3, activation=None).activation == "linear"


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"layer 'conv2d_1': activation must be one of \[.*'elu'.*\], got 'foo'"):
        L.Conv2D(2, 3, activation="foo", name="conv2d_1")
    with pytest.raises(ValueError, match="layer 'dense_7': activation must be one of"):
        L.Dense(2, activation="Relu", name="dense_7")
    with pytest.raises(ValueError, match="layer 'dw': activation must be one of"):
        L.DepthwiseConv2D(3, activation="swishy", name="dw")
    with pytest.raises(TypeError, match="layer 'act': activation must be a name"):
        L.Activation(lambda x: x, name="act")
    with pytest.raises(ValueError, match="activation must be one of"):  # a Keras function we lack
        activations.get(keras.activations.celu)
    with pytest.raises(ValueError, match=r"^activation must be one of"):  # no layer: no prefix
        activations.get("foo")


# --------------------------------------------------------------------------- the layers

SLOPES = st.sampled_from([0.0, 0.0, 0.1, 0.3, 0.5, 1.0, 2.5])
MAX_VALUES = st.sampled_from([None, None, 6.0, 6, 0.0, 0.5, 1.0, 5.0, 10.0])
THRESHOLDS = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0, 7.0])
SHAPES = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


def layer_values(ours, theirs, x, dy):
    """(ours forward, ours dx, Keras's forward, Keras's dx) for one input."""
    y = ours(x)
    dx = ours.backward(dy)
    y_keras, dx_keras = keras_values(theirs, x, dy)
    return y, dx, y_keras, dx_keras


def grid_input(shape, dtype, seed, points):
    """Values on a grid of quarters in [-10, 10] (exact in both dtypes) with the kink points mixed in."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-40, 41, size=shape).astype(dtype) / 4
    flat = x.reshape(-1)
    spots = rng.integers(0, flat.size, size=min(flat.size, len(points)))
    flat[spots] = np.asarray(points, dtype)[: len(spots)]
    return x, rng.standard_normal(shape).astype(dtype)


@given(max_value=MAX_VALUES, negative_slope=SLOPES, threshold=THRESHOLDS, shape=SHAPES,
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_relu_layer_equals_keras(max_value, negative_slope, threshold, shape, dtype, seed):
    kinks = [0.0, 6.0, threshold, -threshold, 0.1 + threshold] + ([] if max_value is None else [max_value])
    x, dy = grid_input(shape, dtype, seed, kinks)
    args = dict(max_value=max_value, negative_slope=negative_slope, threshold=threshold)
    ours = L.ReLU(**args, dtype=dtype)
    theirs = keras.layers.ReLU(**args, dtype=np.dtype(dtype).name)
    y, dx, y_keras, dx_keras = layer_values(ours, theirs, x, dy)
    # exact: the same operations in the same order, each rounded once in the input's dtype
    assert_close(y, y_keras, 0, 0, f"ReLU({args}) forward")
    assert_close(dx, dx_keras, 0, 0, f"ReLU({args}) gradient")


@given(negative_slope=SLOPES, shape=SHAPES, dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_leaky_relu_layer_equals_keras(negative_slope, shape, dtype, seed):
    x, dy = grid_input(shape, dtype, seed, [0.0, -0.0])
    ours = L.LeakyReLU(negative_slope, dtype=dtype)
    theirs = keras.layers.LeakyReLU(negative_slope, dtype=np.dtype(dtype).name)
    y, dx, y_keras, dx_keras = layer_values(ours, theirs, x, dy)
    assert_close(y, y_keras, 0, 0, f"LeakyReLU({negative_slope}) forward")
    assert_close(dx, dx_keras, 0, 0, f"LeakyReLU({negative_slope}) gradient")  # negative_slope at x = 0


def test_relu_layer_defaults_and_fast_paths():
    assert (L.ReLU().max_value, L.ReLU().negative_slope, L.ReLU().threshold) == (None, 0.0, 0.0)
    assert L.LeakyReLU().negative_slope == 0.3 == keras.layers.LeakyReLU().negative_slope
    assert L.ReLU()._pair is activations.get("relu")
    assert L.ReLU(6.0)._pair is activations.get("relu6")  # MobileNet's ReLU(6.): the Numba relu6 passes
    x = np.array([[-1.0, 0.0, 3.0, 6.0, 7.0, np.nan]], np.float32)
    np.testing.assert_array_equal(L.ReLU(6.0)(x), [[0, 0, 3, 6, 6, np.nan]])


@pytest.mark.parametrize("args", [dict(max_value=-1.0), dict(negative_slope=-0.1), dict(negative_slope=None),
                                  dict(threshold=-0.5), dict(threshold=None), dict(max_value=-1, threshold=-1)])
def test_relu_layer_rejects_what_keras_rejects(args):
    with pytest.raises(ValueError) as keras_error:
        keras.layers.ReLU(**args)
    with pytest.raises(ValueError) as our_error:
        L.ReLU(**args)
    assert str(our_error.value) == str(keras_error.value)


@pytest.mark.parametrize("negative_slope", [-0.2, None])
def test_leaky_relu_layer_rejects_what_keras_rejects(negative_slope):
    with pytest.raises(ValueError) as keras_error:
        keras.layers.LeakyReLU(negative_slope)
    with pytest.raises(ValueError) as our_error:
        L.LeakyReLU(negative_slope)
    assert str(our_error.value) == str(keras_error.value)


def test_leaky_relu_takes_the_legacy_alpha_with_a_warning():
    with pytest.warns(UserWarning, match="alpha"):
        ours = L.LeakyReLU(alpha=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ours.negative_slope == keras.layers.LeakyReLU(alpha=0.1).negative_slope == 0.1


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0, 0.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_layer_equals_keras(alpha, dtype):
    x, dy = inputs(dtype, 11)
    y, dx, y_keras, dx_keras = layer_values(L.ELU(alpha, dtype=dtype),
                                            keras.layers.ELU(alpha, dtype=np.dtype(dtype).name), x, dy)
    rtol, atol = TOL[dtype]  # TF's exp(x) - 1 against our expm1 (see TOL)
    assert_close(y, y_keras, rtol, atol * max(alpha, 1), f"ELU({alpha}) forward")
    assert_close(dx, dx_keras, rtol, atol * max(alpha, 1) * np.abs(dy).max(), f"ELU({alpha}) gradient")
    assert dx[0, KINKS.index(0.0)] == dx_keras[0, KINKS.index(0.0)] == dtype(alpha) * dy[0, KINKS.index(0.0)]


@pytest.mark.parametrize("axis", [-1, 1, 0, [1, 2]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_layer_equals_keras(axis, dtype):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((2, 3, 4)) * 5).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    y, dx, y_keras, dx_keras = layer_values(L.Softmax(axis, dtype=dtype),
                                            keras.layers.Softmax(axis, dtype=np.dtype(dtype).name), x, dy)
    rtol, atol = TOL[dtype]
    assert_close(y, y_keras, rtol, atol, f"Softmax({axis}) forward")
    assert_close(dx, dx_keras, rtol, 4 * atol, f"Softmax({axis}) gradient")  # a sum of 4-12 products


# --------------------------------------------------------------------------- without the JIT

CHILD = """
import numpy as np, numba
assert numba.config.DISABLE_JIT
from scratchconv.kernels import activations as a
from scratchconv import layers as L
d = np.load('in.npz'); x, dy = d['x'], d['dy']; out = {}
with np.errstate(all='ignore'):
    for n in sorted(a.ACTIVATIONS):
        f, b = a.get(n); out[n + '_y'] = f(x); out[n + '_dx'] = b(dy, x, out[n + '_y'])
    for i, args in enumerate(ARGS):
        layer = L.ReLU(**args); out[f'relu{i}_y'] = layer(x); out[f'relu{i}_dx'] = layer.backward(dy)
np.savez('out.npz', **out)
"""
RELU_ARGS = [dict(max_value=6.0), dict(max_value=5.0, negative_slope=0.2, threshold=1.0),
             dict(max_value=6.0, negative_slope=0.5), dict(threshold=2.0)]


def test_every_activation_runs_without_jit(tmp_path):
    """NUMBA_DISABLE_JIT=1 runs the same code as plain Python, with the same results."""
    x = np.concatenate([KINKS, [5.0, 6.0, 7.0, 2.0], np.linspace(-9, 9, 41)]).astype(np.float32)[None]
    dy = np.random.default_rng(13).standard_normal(x.shape).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x, dy=dy)
    repo = Path(activations.__file__).resolve().parents[2]
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(repo))
    done = subprocess.run([sys.executable, "-c", CHILD.replace("ARGS", repr(RELU_ARGS))], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = np.load(tmp_path / "out.npz")
    with np.errstate(all="ignore"):
        for name in NAMES:
            forward, backward = activations.get(name)
            y = forward(x)
            # compiled, gelu's erfc and exp may be other libm routines than Python's: 1 ulp apart
            np.testing.assert_allclose(out[name + "_y"], y, rtol=2.5e-7, atol=0, err_msg=name)
            np.testing.assert_allclose(out[name + "_dx"], backward(dy, x, y), rtol=2.5e-7, atol=0, err_msg=name)
    for i, args in enumerate(RELU_ARGS):
        layer = L.ReLU(**args)
        np.testing.assert_array_equal(out[f"relu{i}_y"], layer(x))
        np.testing.assert_array_equal(out[f"relu{i}_dx"], layer.backward(dy))

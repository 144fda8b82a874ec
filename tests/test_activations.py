"""Activations and initializers against Keras."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from scratchconv import activations, initializers

VALUES = np.array([[-30.0, -2.5, -1e-3, 0.0, 1e-3, 0.7, 3.0, 40.0, np.nan, np.inf, -np.inf]])


@pytest.mark.parametrize("name", ["linear", "relu", "selu", "softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_forward_and_gradient_equal_keras(name, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 7)).astype(dtype) * 3
    x[0, :3] = (-1e-3, 0.0, 1e-3)  # around the kink
    dy = rng.standard_normal(x.shape).astype(dtype)
    forward, backward = activations.get(name)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = keras.activations.get(name)(xt)
    dx_keras = tape.gradient(yt, xt, output_gradients=tf.constant(dy))
    y = forward(x)
    dx = backward(dy, x, y)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(y, yt.numpy(), **tol)
    np.testing.assert_allclose(dx, dx_keras.numpy(), **tol)


@pytest.mark.parametrize("name", ["relu", "selu"])
def test_nan_and_inf_propagate_like_keras(name):
    x = VALUES.astype(np.float32)
    forward, _ = activations.get(name)
    with np.errstate(all="ignore"):
        ours = forward(x)
    theirs = keras.activations.get(name)(tf.constant(x)).numpy()
    # Same NaN/Inf positions; finite values agree to float32 rounding (TensorFlow's selu computes
    # exp(x) - 1, ours the more accurate expm1(x): near 0 the two differ by ~1e-9 absolute).
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="activation must be one of"):
        activations.get("swishy")
    with pytest.raises(TypeError, match="activation"):
        activations.get(3)
    assert activations.get(None) is activations.get("linear")


@pytest.mark.parametrize("shape", [(3, 3, 8, 16), (5, 1, 3, 2), (784, 128), (3, 3, 32, 1)])
def test_glorot_uniform_matches_keras_limits(shape):
    ours = initializers.glorot_uniform(shape, rng=1)
    theirs = keras.initializers.GlorotUniform(seed=1)(shape).numpy()
    fan_in, fan_out = initializers.compute_fans(shape)
    limit = np.sqrt(6 / (fan_in + fan_out))
    assert ours.dtype == np.float32 and ours.shape == shape
    assert np.abs(ours).max() <= limit
    # Same distribution as Keras: same bound, so both samples spread to nearly the same extremes.
    np.testing.assert_allclose(np.abs(ours).max(), np.abs(theirs).max(), rtol=0.25)
    assert np.abs(theirs).max() <= limit * (1 + 1e-6)

"""Activations and initializers against Keras."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from scratchconv.kernels import activations
from scratchconv.layers import initializers

VALUES = np.array([[-30.0, -2.5, -1e-3, 0.0, 1e-3, 0.7, 3.0, 40.0, np.nan, np.inf, -np.inf]])


def _keras_activation(name, x, dy):
    """Keras's activation y(x) and its gradient for the upstream dy (tf.GradientTape), as arrays."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = keras.activations.get(name)(xt)
    return yt.numpy(), tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()


@pytest.mark.parametrize("name", ["linear", "relu", "selu", "softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_forward_and_gradient_equal_keras(name, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 7)).astype(dtype) * 3
    x[0, :3] = (-1e-3, 0.0, 1e-3)  # around the kink
    dy = rng.standard_normal(x.shape).astype(dtype)
    forward, backward = activations.get(name)
    y_keras, dx_keras = _keras_activation(name, x, dy)
    y = forward(x)
    dx = backward(dy, x, y)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(y, y_keras, **tol)
    np.testing.assert_allclose(dx, dx_keras, **tol)


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


@pytest.mark.parametrize("name", ["relu", "selu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_activation_on_a_large_batch_equals_keras(name, dtype):
    # A 28x28x32 batch (many blocks, every thread) plus a sweep through e^x's whole range.
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(32 * 28 * 28 * 32) * 3, np.linspace(-100, 5, 100_003)]).astype(dtype)
    x[5:16] = VALUES.ravel()
    dy = rng.standard_normal(x.shape).astype(dtype)
    forward, backward = activations.get(name)
    y_keras, dx_keras = _keras_activation(name, x, dy)
    with np.errstate(all="ignore"):
        y = forward(x)
        dx = backward(dy, x, y)
    # TensorFlow computes exp(x) - 1: near 0 that cancels, an absolute error up to ~1.2e-7 in float32
    tol = dict(rtol=1e-6, atol=2e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_keras))
    np.testing.assert_allclose(y, y_keras, **tol)
    finite = np.isfinite(x)  # TensorFlow's gradients at +-Inf and NaN inputs are its own business
    # selu' = y + scale*alpha for x < 0 cancels as y -> -scale*alpha: a 1-ulp difference in y
    # becomes ~1.2e-7 * |dy| in dx, in both libraries
    slack = tol["rtol"] * np.abs(dx_keras) + (tol["atol"] + 1.3 * np.spacing(dtype(2))) * np.abs(dy)
    assert np.all((np.abs(dx - dx_keras) <= slack)[finite])
    # and against the formulas in float64 (an independent derivation: expm1, not TF's exp - 1)
    x64 = x.astype(np.float64)
    truth = {"relu": np.maximum(x64, 0),
             "selu": np.where(x64 > 0, activations.SELU_SCALE * x64,
                              activations.SELU_SCALE * activations.SELU_ALPHA * np.expm1(np.minimum(x64, 0)))}[name]
    ulp = np.spacing(np.abs(truth).astype(dtype)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        assert np.nanmax(np.abs(y - truth)[finite] / ulp[finite]) <= 2.0  # float32: at most 2 ulp


def _outputs_without_jit(tmp_path, child):
    """Runs the script child in tmp_path with NUMBA_DISABLE_JIT=1; returns the out.npz it writes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    child = "import numpy as np, numba; assert numba.config.DISABLE_JIT\nfrom scratchconv.kernels import activations as a\n" + child
    repo = Path(activations.__file__).resolve().parents[2]  # the repository root
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(repo))
    done = subprocess.run([sys.executable, "-c", child], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return np.load(tmp_path / "out.npz")


def test_activations_run_without_jit(tmp_path):
    """NUMBA_DISABLE_JIT=1 runs the same kernels as plain Python, with the same results."""
    x = np.concatenate([VALUES.ravel(), np.linspace(-90, 3, 40)]).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = _outputs_without_jit(tmp_path, (
        "x = np.load('x.npy'); dy = np.ones_like(x)\n"
        "with np.errstate(all='ignore'):\n"
        "    out = {n: (a.get(n)[0](x), a.get(n)[1](dy, x, a.get(n)[0](x))) for n in ('relu', 'selu')}\n"
        "np.savez('out.npz', **{f'{n}_{i}': v for n, p in out.items() for i, v in enumerate(p)})\n"))
    for name in ("relu", "selu"):
        forward, backward = activations.get(name)
        with np.errstate(all="ignore"):
            y = forward(x)
            dx = backward(np.ones_like(x), x, y)
        np.testing.assert_array_equal(out[f"{name}_0"], y)
        np.testing.assert_array_equal(out[f"{name}_1"], dx)


@pytest.mark.parametrize("name", ["relu", "selu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(32, 28, 28, 32), (3, 5, 7, 3), (0, 4, 4, 8), (7, 128)])
def test_bias_with_activation_equals_the_two_steps(name, dtype, shape):
    # forward_with_bias = activation(z + bias) and backward_with_bias = (activation'(dy), its column
    # sums), checked against the separate functions and a float64 sum; values from e^x's whole range
    rng = np.random.default_rng(6)
    z = (rng.standard_normal(shape) * 4).astype(dtype)
    z.reshape(-1)[: min(z.size, VALUES.size)] = VALUES.ravel()[: z.size]
    bias = rng.standard_normal(shape[-1]).astype(dtype)
    forward, backward = activations.get(name)
    with np.errstate(all="ignore"):
        expected = forward(z + bias)
        y = activations.forward_with_bias(z.copy(), bias, name)
    np.testing.assert_array_equal(y, expected)
    dy = rng.standard_normal(shape).astype(dtype)
    with np.errstate(all="ignore"):
        dz_expected = backward(dy, None, expected)
        dz, dbias = activations.backward_with_bias(dy, expected, name)
    np.testing.assert_array_equal(dz, dz_expected)
    assert dbias.dtype == dtype and dbias.shape == (shape[-1],)
    exact = dz_expected.astype(np.float64).reshape(-1, shape[-1]).sum(axis=0)
    scale = np.abs(dz_expected.astype(np.float64)).reshape(-1, shape[-1]).sum(axis=0) + 1e-300
    # a float32 sum of n terms: error <= ~n*eps*sum|terms| in the worst case; blocks of 256 rows
    # then float64 keep it near 256*eps
    tol = 300 * np.finfo(dtype).eps
    assert np.all(np.abs(dbias - exact) <= tol * scale)


def test_bias_with_activation_runs_without_jit(tmp_path):
    """The fused bias + activation kernels run as plain Python with NUMBA_DISABLE_JIT=1, same results."""
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((2, 3, 5, 6)) * 3).astype(np.float32)
    bias, dy = rng.standard_normal(6).astype(np.float32), rng.standard_normal(z.shape).astype(np.float32)
    np.savez(tmp_path / "in.npz", z=z, bias=bias, dy=dy)
    out = _outputs_without_jit(tmp_path, (
        "d = np.load('in.npz'); out = {}\n"
        "for n in ('relu', 'selu'):\n"
        "    y = a.forward_with_bias(d['z'].copy(), d['bias'], n)\n"
        "    out[n + '_y'] = y; out[n + '_dz'], out[n + '_db'] = a.backward_with_bias(d['dy'], y, n)\n"
        "np.savez('out.npz', **out)\n"))
    for name in ("relu", "selu"):
        y = activations.forward_with_bias(z.copy(), bias, name)
        dz, dbias = activations.backward_with_bias(dy, y, name)
        if name == "relu":
            np.testing.assert_array_equal(out[f"{name}_y"], y)
            np.testing.assert_array_equal(out[f"{name}_dz"], dz)
        else:  # compiled, SELU's polynomial fuses its multiply-adds (one rounding each, not two)
            np.testing.assert_allclose(out[f"{name}_y"], y, rtol=2.5e-7, atol=0)
            np.testing.assert_allclose(out[f"{name}_dz"], dz, rtol=5e-7, atol=1e-7)
        np.testing.assert_allclose(out[f"{name}_db"], dbias, rtol=1e-6, atol=1e-6)

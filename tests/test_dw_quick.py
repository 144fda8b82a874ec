"""Quick checks of the depthwise, pointwise and separable kernels (the thorough Keras property
tests live elsewhere): naive vs fast, float64 finite differences, a few Keras cross-checks,
awkward inputs, bad arguments, and a run with NUMBA_DISABLE_JIT=1.

Tolerances: float64 1e-10 relative to the output's scale; float32 1e-5.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from scratchconv.kernels import depthwise, pointwise, separable

# (N, H, W, C, M, kh, kw, strides, dilation_rate, padding)
DEPTHWISE_CASES = [
    (2, 7, 6, 3, 1, 3, 3, 1, 1, "same"),  # the fast row kernel
    (2, 7, 6, 3, 2, 3, 2, 1, 1, "same"),  # depth multiplier 2
    (1, 9, 8, 2, 3, 2, 3, 1, 2, "valid"),  # dilation, non-square kernel
    (2, 10, 11, 2, 1, 3, 3, 2, 2, "same"),  # strides and dilation together
    (2, 9, 10, 3, 1, 3, 2, (1, 2), 1, "same"),  # unequal strides (TF refuses them)
    (2, 9, 10, 2, 2, 2, 3, (2, 1), (1, 2), "valid"),  # unequal strides, row stride > 1
    (1, 5, 5, 4, 1, 5, 5, 1, 1, "same"),  # kernel as large as the input
    (1, 1, 1, 2, 2, 3, 3, 1, 1, "same"),  # 1x1 input with 'same'
    (2, 6, 7, 1, 1, 1, 1, 3, 1, "valid"),  # 1x1 kernel, stride larger than the kernel
]


def _relative_error(a, b):
    return float(np.abs(a - b).max(initial=0.0) / max(np.abs(b).max(initial=0.0), 1e-30))


def _depthwise_arrays(case, dtype, rng, bias=True):
    n, h, w, c, m, kh, kw = case[:7]
    x = rng.standard_normal((n, h, w, c)).astype(dtype)  # (N, H, W, C)
    k = rng.standard_normal((kh, kw, c, m)).astype(dtype)  # (kh, kw, C, M)
    b = rng.standard_normal(c * m).astype(dtype) if bias else None  # (C*M,)
    return x, k, b, dict(strides=case[7], dilation_rate=case[8], padding=case[9])


@pytest.mark.parametrize("case", DEPTHWISE_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_naive_equals_fast(case, dtype):
    rng = np.random.default_rng(0)
    x, k, b, kwargs = _depthwise_arrays(case, dtype, rng)
    y = depthwise.depthwise_conv2d_naive(x, k, b, **kwargs)
    y_fast = depthwise.depthwise_conv2d(x, k, b, **kwargs)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    assert y_fast.dtype == dtype and y_fast.shape == y.shape
    assert _relative_error(y_fast, y) < tol
    dy = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(
        depthwise.depthwise_conv2d_backward(dy, x, k, b, **kwargs),
        depthwise.depthwise_conv2d_backward_naive(dy, x, k, b, **kwargs),
    ):
        assert got.dtype == dtype and got.shape == want.shape
        assert _relative_error(got, want) < tol


@pytest.mark.parametrize("case", DEPTHWISE_CASES[:6])
def test_separable_naive_equals_fast(case):
    rng = np.random.default_rng(1)
    x, k, _, kwargs = _depthwise_arrays(case, np.float64, rng, bias=False)
    pk = rng.standard_normal((1, 1, k.shape[2] * k.shape[3], 4))  # (1, 1, C*M, F)
    b = rng.standard_normal(4)  # (F,)
    y = separable.separable_conv2d_naive(x, k, pk, b, **kwargs)
    assert _relative_error(separable.separable_conv2d(x, k, pk, b, **kwargs), y) < 1e-10
    dy = rng.standard_normal(y.shape)
    grads = separable.separable_conv2d_backward(dy, x, k, pk, b, **kwargs)
    for got, want in zip(grads, separable.separable_conv2d_backward_naive(dy, x, k, pk, b, **kwargs)):
        assert got.shape == want.shape and _relative_error(got, want) < 1e-10


def test_pointwise_naive_equals_fast():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5, 6))  # (N, H, W, C_in)
    k = rng.standard_normal((1, 1, 6, 7))  # (1, 1, C_in, F)
    b = rng.standard_normal(7)  # (F,)
    assert _relative_error(pointwise.pointwise_conv2d(x, k, b), pointwise.pointwise_conv2d_naive(x, k, b)) < 1e-10
    dy = rng.standard_normal((3, 4, 5, 7))
    fast = pointwise.pointwise_conv2d_backward(dy, x, k, b)
    for got, want in zip(fast, pointwise.pointwise_conv2d_backward_naive(dy, x, k, b)):
        assert _relative_error(got, want) < 1e-10


def _finite_difference(f, a, eps=1e-6):
    """d(f)/d(a) by central differences; f returns a scalar. (a.shape)"""
    grad = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        saved = a[index]
        a[index] = saved + eps
        plus = f()
        a[index] = saved - eps
        minus = f()
        a[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("strides, padding", [((1, 2), "same"), ((2, 1), "valid"), ((3, 2), "same")])
def test_depthwise_unequal_strides_finite_differences(strides, padding):
    """TF has no unequal depthwise strides: check against float64 finite differences instead."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 6, 7, 2))
    k = rng.standard_normal((3, 2, 2, 2))
    b = rng.standard_normal(4)
    kwargs = dict(strides=strides, padding=padding, dilation_rate=(1, 2))
    dy = rng.standard_normal(depthwise.depthwise_conv2d(x, k, b, **kwargs).shape)

    def loss():
        return float(np.sum(depthwise.depthwise_conv2d(x, k, b, **kwargs) * dy))

    dx, dk, db = depthwise.depthwise_conv2d_backward(dy, x, k, b, **kwargs)
    for got, wrt in [(dx, x), (dk, k), (db, b)]:
        assert _relative_error(got, _finite_difference(loss, wrt)) < 1e-7  # central differences: O(eps^2) + rounding


def _keras_gradients(layer, x, dy):
    import tensorflow as tf

    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        y = layer(x_t)
        loss = tf.reduce_sum(y * tf.constant(dy))
    return y.numpy(), [g.numpy() for g in tape.gradient(loss, [x_t] + layer.trainable_weights)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_three_kinds_match_keras(dtype):
    """One configuration per kind against Keras (never skipped: CI installs TensorFlow)."""
    import keras

    rng = np.random.default_rng(4)
    tol = 1e-10 if dtype == "float64" else 1e-5
    x = rng.standard_normal((2, 9, 8, 3)).astype(dtype)
    layers = {
        "depthwise": keras.layers.DepthwiseConv2D(
            3, strides=2, padding="same", depth_multiplier=2, bias_initializer="random_normal", dtype=dtype
        ),
        "pointwise": keras.layers.Conv2D(5, 1, bias_initializer="random_normal", dtype=dtype),
        "separable": keras.layers.SeparableConv2D(
            4, (3, 2), dilation_rate=2, padding="same", bias_initializer="random_normal", dtype=dtype
        ),
    }
    functions = {
        "depthwise": (depthwise.depthwise_conv2d, depthwise.depthwise_conv2d_backward, dict(strides=2, padding="same")),
        "pointwise": (pointwise.pointwise_conv2d, pointwise.pointwise_conv2d_backward, {}),
        "separable": (
            separable.separable_conv2d,
            separable.separable_conv2d_backward,
            dict(dilation_rate=2, padding="same"),
        ),
    }
    for kind, layer in layers.items():
        layer.build(x.shape)
        y_shape = layer.compute_output_shape(x.shape)
        dy = rng.standard_normal(y_shape).astype(dtype)
        y_keras, grads_keras = _keras_gradients(layer, x, dy)
        forward, backward, kwargs = functions[kind]
        weights = layer.get_weights()
        assert _relative_error(forward(x, *weights, **kwargs), y_keras) < tol, kind
        for got, want in zip(backward(dy, x, *weights, **kwargs), grads_keras):
            assert got.dtype == dtype and _relative_error(got, want) < tol, kind


def test_awkward_inputs_work_and_are_not_modified():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    k = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    pk = rng.standard_normal((1, 1, 6, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y = separable.separable_conv2d(x, k, pk, b, padding="same")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grads = separable.separable_conv2d_backward(dy, x, k, pk, b, padding="same")
    variants = {
        "fortran": lambda a: np.asfortranarray(a),
        "read-only": lambda a: _read_only(a.copy()),
        "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    }
    for name, make in variants.items():
        args = [make(a) for a in (dy, x, k, pk, b)]
        copies = [a.copy() for a in args]
        assert np.allclose(separable.separable_conv2d(*args[1:], padding="same"), y, rtol=1e-5, atol=1e-5), name
        for got, want in zip(separable.separable_conv2d_backward(*args, padding="same"), grads):
            assert np.allclose(got, want, rtol=1e-5, atol=1e-5), name
        assert all(np.array_equal(a, c) for a, c in zip(args, copies)), name


def _read_only(a):
    a.flags.writeable = False
    return a


def test_batch_of_zero():
    x = np.zeros((0, 5, 4, 3), np.float32)
    k = np.ones((3, 3, 3, 2), np.float32)
    pk = np.ones((1, 1, 6, 4), np.float32)
    b = np.ones(4, np.float32)
    assert depthwise.depthwise_conv2d(x, k, padding="same").shape == (0, 5, 4, 6)
    dx, dk, db = depthwise.depthwise_conv2d_backward(np.zeros((0, 3, 2, 6), np.float32), x, k, np.ones(6, np.float32))
    assert dx.shape == x.shape and dk.shape == k.shape and not dk.any() and db.shape == (6,)
    assert pointwise.pointwise_conv2d(x, pk[:, :, :3], b).shape == (0, 5, 4, 4)
    y = separable.separable_conv2d(x, k, pk, b, strides=2)
    assert y.shape == (0, 2, 1, 4)
    grads = separable.separable_conv2d_backward(y, x, k, pk, b, strides=2)
    assert [g.shape for g in grads] == [x.shape, k.shape, pk.shape, b.shape]


def test_no_bias_gives_no_bias_gradient():
    x = np.ones((1, 4, 4, 2))
    k = np.ones((3, 3, 2, 1))
    pk = np.ones((1, 1, 2, 3))
    assert depthwise.depthwise_conv2d_backward(np.ones((1, 2, 2, 2)), x, k)[2] is None
    assert pointwise.pointwise_conv2d_backward(np.ones((1, 4, 4, 3)), x, pk)[2] is None
    assert separable.separable_conv2d_backward(np.ones((1, 2, 2, 3)), x, k, pk)[3] is None


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: depthwise.depthwise_conv2d(np.ones((4, 4, 2)), np.ones((3, 3, 2, 1))), ValueError, "x must have rank 4"),
        (lambda: depthwise.depthwise_conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 3, 1))), ValueError, "depthwise_kernel"),
        (lambda: depthwise.depthwise_conv2d(np.ones((1, 4, 4, 2), int), np.ones((3, 3, 2, 1))), TypeError, "float32"),
        (
            lambda: depthwise.depthwise_conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 1), np.float32)),
            TypeError,
            "dtype",
        ),
        (lambda: depthwise.depthwise_conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 1)), np.ones(3)), ValueError, "bias"),
        (lambda: depthwise.depthwise_conv2d(np.ones((1, 2, 2, 2)), np.ones((3, 3, 2, 1))), ValueError, "empty"),
        (lambda: depthwise.depthwise_conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 1)), strides=0), ValueError, "strides"),
        (
            lambda: depthwise.depthwise_conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 1)), padding="full"),
            ValueError,
            "padding",
        ),
        (
            lambda: depthwise.depthwise_conv2d_backward(np.ones((1, 3, 3, 2)), np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 1))),
            ValueError,
            "dy",
        ),
        (lambda: pointwise.pointwise_conv2d(np.ones((1, 4, 4, 2)), np.ones((1, 1, 3, 5))), ValueError, "kernel"),
        (lambda: pointwise.pointwise_conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 5))), ValueError, "(1, 1, 2, F)"),
        (
            lambda: separable.separable_conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 2)), np.ones((1, 1, 2, 5))),
            ValueError,
            "pointwise_kernel",
        ),
        (
            lambda: separable.separable_conv2d(
                np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 1)), np.ones((1, 1, 2, 5)), np.ones(2)
            ),
            ValueError,
            "bias",
        ),
    ],
)
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_kernels_run_with_numba_jit_disabled():
    """The kernel bodies also run as plain Python (NUMBA_DISABLE_JIT=1), as a learner steps through them."""
    script = textwrap.dedent(
        """
        import numpy as np
        from scratchconv.kernels import depthwise, separable
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 5, 6, 2)); k = rng.standard_normal((3, 3, 2, 2)); pk = rng.standard_normal((1, 1, 4, 3))
        for kwargs in (dict(padding="same"), dict(strides=(2, 1), dilation_rate=(1, 2))):
            y = separable.separable_conv2d(x, k, pk, **kwargs)
            assert np.allclose(y, separable.separable_conv2d_naive(x, k, pk, **kwargs), rtol=1e-10, atol=1e-12)
            dy = rng.standard_normal(y.shape)
            for a, b in zip(separable.separable_conv2d_backward(dy, x, k, pk, **kwargs)[:3],
                            separable.separable_conv2d_backward_naive(dy, x, k, pk, **kwargs)[:3]):
                assert np.allclose(a, b, rtol=1e-10, atol=1e-12)
        print("ok")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=path)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]

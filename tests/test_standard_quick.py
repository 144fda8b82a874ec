"""Quick checks of scratchconv/standard.py that need no TensorFlow: hand-computed cases,
float64 finite differences, naive vs fast, bad input, odd memory layouts, NaN/Inf.

The thorough Keras property tests live in test_kernels_*.py.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from scratchconv.kernels import standard, standard_rows
from scratchconv.kernels.arguments import as_pair, conv_geometry
from scratchconv.kernels.standard import conv2d, conv2d_backward, conv2d_backward_naive, conv2d_naive

FORWARDS = [conv2d_naive, conv2d]
BACKWARDS = [conv2d_backward_naive, conv2d_backward]


@pytest.mark.parametrize("forward", FORWARDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hand_computed_valid_and_same(forward, dtype):
    x = np.arange(1, 10, dtype=dtype).reshape(1, 3, 3, 1)  # [[1 2 3] [4 5 6] [7 8 9]]
    ones = np.ones((2, 2, 1, 1), dtype)
    valid = forward(x, ones, np.array([0.5], dtype))
    assert valid.dtype == dtype
    np.testing.assert_array_equal(valid[0, :, :, 0], [[12.5, 16.5], [24.5, 28.5]])
    # 'same' with a 2x2 window pads one row at the bottom and one column at the right (as Keras)
    same = forward(x, ones, padding="same")
    np.testing.assert_array_equal(same[0, :, :, 0], [[12, 16, 9], [24, 28, 15], [15, 17, 9]])


@pytest.mark.parametrize("forward", FORWARDS)
def test_hand_computed_strides_dilation_and_groups(forward):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 4))
    kernel = rng.standard_normal((2, 2, 2, 6))  # groups=2: 2 input channels and 3 filters per group
    y = forward(x, kernel, strides=(2, 1), dilation_rate=(1, 2), groups=2)
    # valid: rows ceil((7 - 1) / 2) = 3, columns ceil((6 - 2) / 1) = 4
    expected = np.zeros((2, 3, 4, 6))
    for ky in range(2):
        for kx in range(2):
            window = x[:, ky : ky + 5 : 2, 2 * kx : 2 * kx + 4, :]  # (2, 3, 4, 4)
            expected[..., :3] += window[..., :2] @ kernel[ky, kx, :, :3]
            expected[..., 3:] += window[..., 2:] @ kernel[ky, kx, :, 3:]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def _loss(x, kernel, bias, dy, config):
    return float(np.sum(conv2d(x, kernel, bias, **config) * dy))  # fast forward: tied to conv2d_naive below


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize(
    "config",
    [
        dict(strides=(2, 1), padding="same", dilation_rate=1, groups=2),
        dict(strides=1, padding="same", dilation_rate=(1, 2), groups=1),
        dict(strides=(1, 3), padding="valid", dilation_rate=1, groups=4),
    ],
)
def test_backward_equals_finite_differences(backward, config):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 6, 4))
    kernel = rng.standard_normal((3, 2, 4 // config["groups"], 4))
    bias = rng.standard_normal(4)
    dy = rng.standard_normal(conv2d_naive(x, kernel, bias, **config).shape)
    grads = backward(dy, x, kernel, bias, **config)
    eps = 1e-6
    for arg, grad in zip((x, kernel, bias), grads):
        numeric = np.zeros_like(arg)
        for index in np.ndindex(arg.shape):
            saved = arg[index]
            arg[index] = saved + eps
            up = _loss(x, kernel, bias, dy, config)
            arg[index] = saved - eps
            down = _loss(x, kernel, bias, dy, config)
            arg[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("tiny_chunks", [False, True])
def test_naive_equals_fast(monkeypatch, tiny_chunks):
    # The row method on every configuration (conv2d would send these narrow images to the
    # full im2col, tested below), groups included.
    monkeypatch.setattr(standard, "use_im2col", lambda kernel, groups, g: False)
    if tiny_chunks:  # one image per chunk: exercises the chunk loop on small inputs
        monkeypatch.setattr(standard_rows, "CHUNK_BYTES", 1)
        monkeypatch.setattr(standard_rows, "CHUNK_MIN_ROWS", 1)
    rng = np.random.default_rng(2)
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        for strides, dilation, padding, groups in [(1, 1, "same", 1), ((2, 3), 1, "same", 3), (1, (2, 1), "valid", 1)]:
            x = rng.standard_normal((3, 8, 7, 6)).astype(dtype)
            kernel = rng.standard_normal((3, 3, 6 // groups, 6)).astype(dtype)
            bias = rng.standard_normal(6).astype(dtype)
            config = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
            y = conv2d(x, kernel, bias, **config)
            assert y.dtype == dtype
            np.testing.assert_allclose(y, conv2d_naive(x, kernel, bias, **config), rtol=0, atol=rtol * 10)
            dy = rng.standard_normal(y.shape).astype(dtype)
            for fast, slow in zip(conv2d_backward(dy, x, kernel, bias, **config), conv2d_backward_naive(dy, x, kernel, bias, **config)):
                assert fast.dtype == dtype and fast.shape == slow.shape
                np.testing.assert_allclose(fast, slow, rtol=0, atol=rtol * max(1.0, np.abs(slow).max()))


@pytest.mark.parametrize("tiny_chunks", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 6])  # 1: the transposed cols^T layout; 2, 6: cols
def test_naive_equals_fast_on_the_im2col_path(monkeypatch, tiny_chunks, channels):
    # The full im2col, taken by few input channels for many filters (kh*kw*C < kw*F: 1 and 2
    # channels) and by column strides; with 6 channels it is forced on every configuration.
    # Windows that stick out on every side, strides that skip columns, dilation, 'valid' remainders.
    if channels == 6:
        monkeypatch.setattr(standard, "use_im2col", lambda kernel, groups, g: True)
    if tiny_chunks:
        monkeypatch.setattr(standard_rows, "CHUNK_BYTES", 1)
        monkeypatch.setattr(standard_rows, "CHUNK_MIN_ROWS", 1)
    rng = np.random.default_rng(3)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        for size, strides, dilation, padding in [((3, 3), 1, 1, "same"), ((3, 3), (2, 3), 1, "same"),
                                                 ((2, 4), 1, (2, 1), "valid"), ((5, 5), 2, 1, "same"),
                                                 ((1, 3), (1, 2), 1, "valid"), ((4, 4), 3, 1, "same")]:
            x = rng.standard_normal((3, 9, 7, channels)).astype(dtype)
            kernel = rng.standard_normal((*size, channels, 16)).astype(dtype)
            g = conv_geometry(x.shape, size, as_pair(strides, "strides"), padding, as_pair(dilation, "dilation_rate"))
            assert standard.use_im2col(kernel, 1, g)
            bias = rng.standard_normal(16).astype(dtype)
            config = dict(strides=strides, padding=padding, dilation_rate=dilation)
            y = conv2d(x, kernel, bias, **config)
            np.testing.assert_allclose(y, conv2d_naive(x, kernel, bias, **config), rtol=0, atol=tol * 10)
            dy = rng.standard_normal(y.shape).astype(dtype)
            slow = conv2d_backward_naive(dy, x, kernel, bias, **config)
            for fast, expected in zip(conv2d_backward(dy, x, kernel, bias, **config), slow):
                np.testing.assert_allclose(fast, expected, rtol=0, atol=tol * max(1.0, np.abs(expected).max()))
            dx, dkernel, _ = standard._conv2d_backward(dy, x, kernel, False, g, 1, input_gradient=False)
            assert dx is None
            np.testing.assert_allclose(dkernel, slow[1], rtol=0, atol=tol * max(1.0, np.abs(slow[1]).max()))


@pytest.mark.parametrize("function", FORWARDS + BACKWARDS)
def test_bad_input_is_named(function):
    x = np.zeros((1, 5, 5, 4), np.float32)
    kernel = np.zeros((3, 3, 4, 2), np.float32)

    def call(x=x, kernel=kernel, dy=None, **config):
        if function in BACKWARDS:
            dy = np.zeros((1, 3, 3, kernel.shape[3]), x.dtype) if dy is None else dy
            return function(dy, x, kernel, **config)
        return function(x, kernel, **config)

    with pytest.raises(ValueError, match=r"kernel must have shape \(kh, kw, C_in // groups, F\) = \(3, 3, 2, 2\)"):
        call(groups=2)  # kernel.shape[2] is 4, groups=2 wants 2
    with pytest.raises(ValueError, match="divisible by groups"):
        call(kernel=np.zeros((3, 3, 1, 2), np.float32), groups=3)
    with pytest.raises(ValueError, match="groups must be >= 1"):
        call(groups=0)
    with pytest.raises(TypeError, match="groups must be an int"):
        call(groups=1.0)
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        call(x=np.zeros((1, 5, 5, 4), np.int32))
    with pytest.raises(TypeError, match="kernel has dtype float64"):
        call(kernel=kernel.astype(np.float64))
    with pytest.raises(ValueError, match="output would be empty"):
        call(x=np.zeros((1, 2, 5, 4), np.float32))
    if function in BACKWARDS:
        with pytest.raises(ValueError, match="dy must have the forward output's shape"):
            call(dy=np.zeros((1, 3, 4, 2), np.float32))


def test_odd_layouts_work_and_inputs_are_untouched():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 2, 3, 5)).astype(np.float32)
    dy = rng.standard_normal((2, 9, 8, 5)).astype(np.float32)
    expected = (conv2d(x, kernel, padding="same"), *conv2d_backward(dy, x, kernel, padding="same"))
    odd_x = np.asfortranarray(x)
    odd_kernel = np.repeat(kernel, 2, axis=3)[..., ::2]  # non-contiguous view
    odd_dy = np.asfortranarray(dy)
    for a in (odd_x, odd_kernel, odd_dy):
        a.flags.writeable = False
    copies = [a.copy() for a in (odd_x, odd_kernel, odd_dy)]
    got = (conv2d(odd_x, odd_kernel, padding="same"), *conv2d_backward(odd_dy, odd_x, odd_kernel, padding="same"))
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    for a, b in zip((odd_x, odd_kernel, odd_dy), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("forward, backward", zip(FORWARDS, BACKWARDS))
def test_batch_of_zero(forward, backward):
    x = np.zeros((0, 6, 6, 4), np.float32)
    kernel = np.ones((3, 3, 2, 6), np.float32)
    y = forward(x, kernel, np.ones(6, np.float32), padding="same", groups=2)
    assert y.shape == (0, 6, 6, 6) and y.dtype == np.float32
    dx, dkernel, dbias = backward(y, x, kernel, np.ones(6, np.float32), padding="same", groups=2)
    assert dx.shape == x.shape and dkernel.shape == kernel.shape and dbias.shape == (6,)
    assert not dkernel.any() and not dbias.any()


def test_inf_weight_never_meets_the_padding():
    """As TensorFlow's float32 kernels: padding is skipped, not multiplied (0 * Inf would be NaN)."""
    x = np.ones((1, 3, 3, 1), np.float32)
    kernel = np.ones((3, 3, 1, 1), np.float32)
    kernel[0, 0, 0, 0] = np.inf  # the top-left tap reads padding for the first output row and column
    y = conv2d(x, kernel, padding="same")[0, :, :, 0]
    np.testing.assert_array_equal(y, [[4, 6, 4], [6, np.inf, np.inf], [4, np.inf, np.inf]])
    x[0, 0, 0, 0] = np.inf  # and an Inf pixel only reaches the taps that read it
    dx, dkernel, _ = conv2d_backward(np.ones((1, 3, 3, 1), np.float32), x, np.ones((3, 3, 1, 1), np.float32), padding="same")
    # pixel (0, 0) is read by taps ky, kx in {0, 1} (row oy + ky - 1 = 0 for oy = 0, 1)
    assert np.isinf(dkernel[:2, :2, 0, 0]).all()
    assert np.isfinite(dkernel[2, :, 0, 0]).all() and np.isfinite(dkernel[:, 2, 0, 0]).all()
    np.testing.assert_array_equal(dx[0, :, :, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


@pytest.mark.parametrize("path", ["rows", "rows, one image per chunk", "im2col"])
@pytest.mark.parametrize("activation", ["relu", "selu"])
def test_backward_through_the_activation_before(monkeypatch, path, activation):
    # With x = activation(z + b) of the layer before, the backward hands back that layer's dz and
    # dbias (the row method folds each dx row through activation'(x) while it is in cache; the
    # other paths take a pass of their own): against the loop-by-loop dx times activation'(x).
    from scratchconv.kernels import activations
    from scratchconv.kernels.arguments import conv_geometry

    monkeypatch.setattr(standard, "use_im2col", lambda kernel, groups, g: path == "im2col")
    if "one image" in path:
        monkeypatch.setattr(standard_rows, "CHUNK_BYTES", 1)
        monkeypatch.setattr(standard_rows, "CHUNK_MIN_ROWS", 1)
    forward, derivative = activations.get(activation)
    rng = np.random.default_rng(6)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        for strides, dilation, padding, groups in [(1, 1, "same", 1), ((2, 1), 1, "same", 2), (1, (1, 2), "valid", 1)]:
            groups = 1 if path == "im2col" else groups
            x = forward(rng.standard_normal((3, 8, 7, 4)).astype(dtype) * 2)  # the layer before's output
            kernel = rng.standard_normal((3, 3, 4 // groups, 6)).astype(dtype)
            config = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
            dy = rng.standard_normal(conv2d(x, kernel, **config).shape).astype(dtype)
            dx, dkernel, _ = conv2d_backward_naive(dy, x, kernel, **config)
            expected_dz = derivative(dx, None, x)  # dx * activation'(x), from y = x
            g = conv_geometry(x.shape, (3, 3), as_pair(strides, "s"), padding, as_pair(dilation, "d"))
            dz, got_dkernel, dbias, db = standard._conv2d_backward(dy, x, kernel, False, g, groups, activation=activation)
            assert dbias is None and dz.dtype == db.dtype == dtype and db.shape == (4,)
            scale = max(1.0, np.abs(expected_dz).max())
            np.testing.assert_allclose(dz, expected_dz, rtol=0, atol=tol * scale)
            np.testing.assert_allclose(got_dkernel, dkernel, rtol=0, atol=tol * max(1.0, np.abs(dkernel).max()))
            np.testing.assert_allclose(db, expected_dz.astype(np.float64).sum(axis=(0, 1, 2)), rtol=0,
                                       atol=tol * np.abs(expected_dz).sum(axis=(0, 1, 2)).max())


def test_runs_without_jit():
    """NUMBA_DISABLE_JIT=1: the fast kernels run as plain Python (a debugger can step through them)."""
    code = (
        "import numpy as np; from scratchconv.kernels.standard import *; from scratchconv.kernels.standard import _conv2d_backward, _prepare\n"
        "r = np.random.default_rng(4); x = r.standard_normal((2, 5, 4, 4)); k = r.standard_normal((3, 2, 2, 4))\n"
        "c = dict(strides=(1, 2), padding='same', dilation_rate=(2, 1), groups=2)\n"
        "y = conv2d(x, k, **c); dy = r.standard_normal(y.shape)\n"
        "d = max(abs(y - conv2d_naive(x, k, **c)).max(), *(abs(a - b).max() for a, b in\n"
        "        zip(conv2d_backward(dy, x, k, **c), conv2d_backward_naive(dy, x, k, **c)) if a is not None))\n"
        "from scratchconv.kernels import activations as a\n"
        "xs = a.selu_forward(x); dx = conv2d_backward(dy, xs, k, **c)[0]\n"
        "g = _prepare(xs, k, None, c['strides'], c['padding'], c['dilation_rate'], c['groups'])[4]\n"
        "dz, _, _, db = _conv2d_backward(dy, xs, k, False, g, 2, activation='selu')\n"
        "ez, eb = a.backward_with_bias(dx, xs, 'selu')\n"
        "d = max(d, abs(dz - ez).max(), abs(db - eb).max())\n"
        "assert d < 1e-12, d; print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_layer_s_backward_runs_what_its_training_forward_kept(monkeypatch):
    """_conv2d_backward with "auto" and a kept array runs the algorithm that kept it, whatever the
    backward alone would pick (here made to pick im2col); the result equals the public functions'."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 28, 28, 16)).astype(np.float32)  # 16 channels: the row method
    kernel = (rng.standard_normal((3, 3, 16, 16)) / 12).astype(np.float32)
    dy = rng.standard_normal((2, 28, 28, 16)).astype(np.float32)
    g = standard._prepare(x, kernel, None, 1, "same", 1, 1)[4]
    y, kept = standard._conv2d_forward(x, kernel, None, g, 1, keep=True)
    rule = standard.auto_algorithm

    def im2col_when_alone(kernel, groups, g, purpose="forward", itemsize=4):
        return "im2col" if purpose == "backward" else rule(kernel, groups, g, purpose, itemsize)

    monkeypatch.setattr(standard, "auto_algorithm", im2col_when_alone)
    assert kept[0] == "rows" and standard.auto_algorithm(kernel, 1, g, "backward") == "im2col"
    ran = []
    original = standard.conv2d_backward_rows
    monkeypatch.setattr(standard, "conv2d_backward_rows", lambda *a, **k: ran.append(1) or original(*a, **k))
    got = standard._conv2d_backward(dy, x, kernel, False, g, 1, kept=kept)
    assert ran == [1]
    want = conv2d_backward(dy, x, kernel, padding="same", algorithm="im2col")  # nothing kept
    np.testing.assert_allclose(y, conv2d(x, kernel, padding="same"), rtol=1e-4, atol=1e-5)
    for a, b in zip(got[:2], want[:2]):  # dkernel sums 1,568 pixels: float32 rounding to its scale
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())

